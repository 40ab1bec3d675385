//! Live video through the site server: the messages on a workstation's live connection
//! ([`wire`]), the server's per-stream fan-out with bounded per-workstation queues ([`hub`]),
//! and what the workstation's decoding side asks of its connection ([`Relay`]).
//!
//! Pure: std, serde and tokio's `Notify` only. The camera sessions that feed the hub are
//! `record`'s; the WebSocket ends are `server::relay` and `client::relay`; the decoding is
//! `ingest`'s.

pub mod hub;
pub mod wire;

use crate::config::StreamKind;

/// What reaches a relayed stream's decoder, in order.
#[derive(Debug)]
pub enum Incoming {
    Config(wire::CodecConfig),
    Unit(wire::Unit),
    Notice(wire::Notice),
    /// The connection to the server is down (why), and is being made again.
    Disconnected(String),
    /// The workstation read this stream too late (its connection's backlog) and pictures were
    /// dropped to a fresh keyframe: times so far on this side.
    Behind(u64),
}

/// A workstation's live connection, as its decoders see it.
pub trait Relay: Send + Sync {
    /// Asks for a camera stream; what comes for it is sent to `to` (never blocking the
    /// connection: a full channel drops pictures until the next keyframe). Returns the
    /// subscription's number.
    fn subscribe(
        &self,
        camera: &str,
        kind: StreamKind,
        keyframes_only: bool,
        to: std::sync::mpsc::SyncSender<Incoming>,
    ) -> u32;
    fn unsubscribe(&self, id: u32);
    /// The decode budget's keyframes-only mode, as a request: the server sends less too.
    fn keyframes_only(&self, id: u32, on: bool);
}
