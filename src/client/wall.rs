//! A live wall's side of wall control: the commands the server relays to this workstation
//! (`GET /v1/wall/feed`), read on a thread of their own ("wall control") and drained by the
//! window each frame; and sending one to another workstation.

use std::sync::{Arc, Mutex, mpsc};

use super::sse::{Events, Feed, Link};
use super::{Api, ClientError};
pub use crate::server::wall::{ConnectedWall, SendCommand, Sent, WallCommand};

/// What the window is told.
#[derive(Clone, Debug, PartialEq)]
pub enum WallMessage {
    Command(WallCommand),
    Link(Link),
}

/// The commands for this workstation; dropping it stops listening.
pub struct WallFeed {
    _feed: Feed,
    rx: Mutex<mpsc::Receiver<WallMessage>>,
    pub workstation: String,
}

struct Commands {
    path: String,
    out: mpsc::Sender<WallMessage>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl Events for Commands {
    fn path(&self) -> String {
        self.path.clone()
    }

    fn event(&mut self, name: &str, data: &str) -> bool {
        if name != "command" {
            return true;
        }
        match serde_json::from_str::<WallCommand>(data) {
            Ok(c) => {
                let ok = self.out.send(WallMessage::Command(c)).is_ok();
                (self.wake)();
                ok
            }
            Err(e) => {
                tracing::warn!("wall control: an unreadable command: {e}");
                true
            }
        }
    }

    fn link(&mut self, link: Link) -> bool {
        let ok = self.out.send(WallMessage::Link(link)).is_ok();
        (self.wake)();
        ok
    }
}

impl WallFeed {
    /// Listens for the commands sent to `workstation`; `wake` is called after each message.
    pub fn start(
        api: &Api,
        workstation: &str,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<WallFeed, ClientError> {
        let token = api
            .token()
            .ok_or_else(|| ClientError::Trust("not signed in".into()))?
            .to_owned();
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("workstation", workstation);
        let (out, rx) = mpsc::channel();
        let events = Commands {
            path: format!("/v1/wall/feed?{}", q.finish()),
            out,
            wake,
        };
        Ok(WallFeed {
            _feed: Feed::start(
                api.base().clone(),
                api.ca_pem(),
                token,
                "wall control",
                events,
            )?,
            rx: Mutex::new(rx),
            workstation: workstation.to_owned(),
        })
    }

    /// What came since the last call.
    pub fn drain(&self) -> Vec<WallMessage> {
        self.rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_iter()
            .collect()
    }
}

impl Api {
    /// Sends `command` to the walls of `workstation`; the answer says how many took it.
    pub fn send_wall_command(
        &self,
        workstation: &str,
        command: &WallCommand,
    ) -> Result<Sent, ClientError> {
        self.post(
            "/v1/wall/commands",
            &SendCommand {
                workstation: workstation.to_owned(),
                screen: command.screen.clone(),
                camera: command.camera.clone(),
                tile: command.tile,
                layout: command.layout.clone(),
            },
        )
    }

    /// The walls listening for commands now.
    pub fn connected_walls(&self) -> Result<Vec<ConnectedWall>, ClientError> {
        self.get("/v1/wall/workstations")
    }
}
