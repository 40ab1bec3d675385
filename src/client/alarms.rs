//! The workstation's alarm feed: the server's server-sent event stream of alarm changes, read
//! on a thread of its own ("alarm feed") and handed to the window through a channel.
//!
//! The feed remembers the `rev` of the last alarm it passed on; after a broken connection it
//! reconnects (0.2 s, doubling to 5 s) asking for what changed after it, so nothing is missed and
//! nothing comes twice. It stops for good when the server ends the session (the message says
//! why) or when [`AlarmFeed`] is dropped.

use std::sync::mpsc;

use super::ClientError;
use super::sse::{Events, Feed, Link};
use crate::store::AlarmRow;

/// What the feed hands the window.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedMessage {
    /// An alarm, new or changed.
    Alarm(Box<AlarmRow>),
    /// The connection broke; the feed is reconnecting.
    Reconnecting(String),
    /// Connected (again): what follows is complete.
    Connected,
    /// The server ended the session (signed out, disabled, idle, expired): sign in again.
    Ended(String),
}

/// A running feed; dropping it stops the thread (within its read timeout).
pub struct AlarmFeed {
    _feed: Feed,
}

impl AlarmFeed {
    pub fn start(
        base: url::Url,
        ca_pem: &[u8],
        token: String,
        after: i64,
        out: mpsc::Sender<FeedMessage>,
    ) -> Result<AlarmFeed, ClientError> {
        let events = Alarms { last: after, out };
        Ok(AlarmFeed {
            _feed: Feed::start(base, ca_pem, token, "alarm feed", events)?,
        })
    }
}

/// The alarm stream's events: `alarm` (a row, its `rev` increasing).
struct Alarms {
    /// The `rev` of the last alarm passed on.
    last: i64,
    out: mpsc::Sender<FeedMessage>,
}

impl Events for Alarms {
    fn path(&self) -> String {
        format!("/v1/alarms/feed?after={}", self.last)
    }

    fn event(&mut self, name: &str, data: &str) -> bool {
        if name != "alarm" {
            return true;
        }
        match serde_json::from_str::<AlarmRow>(data) {
            Ok(row) if row.rev > self.last => {
                self.last = row.rev;
                self.out.send(FeedMessage::Alarm(Box::new(row))).is_ok()
            }
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("alarm feed: an unreadable alarm: {e}");
                true
            }
        }
    }

    fn link(&mut self, link: Link) -> bool {
        self.out
            .send(match link {
                Link::Connected => FeedMessage::Connected,
                Link::Reconnecting(why) => FeedMessage::Reconnecting(why),
                Link::Ended(why) => FeedMessage::Ended(why),
            })
            .is_ok()
    }
}
