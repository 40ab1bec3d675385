//! What travels on a workstation's live connection (one WebSocket over the server's TLS).
//!
//! Server to workstation, binary messages (integers little-endian):
//! - codec configuration, sent before a subscription's first access unit and whenever it
//!   changes: `1`, subscription `u32`, codec `u8` (1 H.264, 2 H.265), width `u16`, height
//!   `u16`, then the `avcC`/`hvcC` record;
//! - access unit: `2`, subscription `u32`, flags `u8` (bit 0 keyframe, bit 1 timed on arrival
//!   at the server), capture time `i64` (UTC nanoseconds, the recorder's time base), sequence
//!   `u64` (per camera stream: a hole is a skip), sent `u32` (milliseconds since the connection
//!   opened, on the server's monotonic clock: how far behind the workstation reads), then the
//!   length-prefixed NAL units.
//!
//! Server to workstation, text messages: a [`Notice`] (a subscription's state, skips counted).
//! Workstation to server, text messages: a [`Control`] (subscribe, unsubscribe, keyframes only).

use serde::{Deserialize, Serialize};

use crate::config::StreamKind;

/// A stream's codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

/// What a decoder needs before the first access unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecConfig {
    pub codec: Codec,
    pub width: u16,
    pub height: u16,
    /// The AVCDecoderConfigurationRecord or HEVCDecoderConfigurationRecord.
    pub decoder_config: Vec<u8>,
}

/// One picture of a camera stream, as the server relays it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub keyframe: bool,
    /// True when the server timed it on arrival (no usable sender report from the camera).
    pub timed_on_arrival: bool,
    /// UTC nanoseconds: when the camera captured it, in the recorder's time base.
    pub capture_utc_ns: i64,
    /// Numbered per camera stream from its connection's first picture.
    pub seq: u64,
    /// When the server sent it: milliseconds since the connection opened (0 in the hub).
    pub sent_ms: u32,
    /// Length-prefixed NAL units (4-byte lengths).
    pub data: Vec<u8>,
}

const CONFIG: u8 = 1;
const UNIT: u8 = 2;
/// Bytes before an access unit's data.
pub const UNIT_HEADER: usize = 1 + 4 + 1 + 8 + 8 + 4;

/// A codec configuration message.
pub fn encode_config(id: u32, c: &CodecConfig) -> Vec<u8> {
    let mut m = Vec::with_capacity(10 + c.decoder_config.len());
    m.push(CONFIG);
    m.extend_from_slice(&id.to_le_bytes());
    m.push(match c.codec {
        Codec::H264 => 1,
        Codec::H265 => 2,
    });
    m.extend_from_slice(&c.width.to_le_bytes());
    m.extend_from_slice(&c.height.to_le_bytes());
    m.extend_from_slice(&c.decoder_config);
    m
}

/// An access unit message, sent `sent_ms` after the connection opened.
pub fn encode_unit(id: u32, u: &Unit, sent_ms: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(UNIT_HEADER + u.data.len());
    m.push(UNIT);
    m.extend_from_slice(&id.to_le_bytes());
    m.push(u.keyframe as u8 | (u.timed_on_arrival as u8) << 1);
    m.extend_from_slice(&u.capture_utc_ns.to_le_bytes());
    m.extend_from_slice(&u.seq.to_le_bytes());
    m.extend_from_slice(&sent_ms.to_le_bytes());
    m.extend_from_slice(&u.data);
    m
}

/// A binary message read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binary {
    Config(u32, CodecConfig),
    Unit(u32, Unit),
}

/// Reads a binary message; the error says what is wrong with it.
pub fn decode(m: &[u8]) -> Result<Binary, String> {
    let id = |m: &[u8]| -> Result<u32, String> {
        m.get(1..5)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
            .ok_or_else(|| format!("a message of {} bytes has no subscription", m.len()))
    };
    match m.first() {
        Some(&CONFIG) => {
            if m.len() < 10 {
                return Err(format!("codec configuration of {} bytes", m.len()));
            }
            let codec = match m[5] {
                1 => Codec::H264,
                2 => Codec::H265,
                n => return Err(format!("codec {n} is neither H.264 (1) nor H.265 (2)")),
            };
            Ok(Binary::Config(
                id(m)?,
                CodecConfig {
                    codec,
                    width: u16::from_le_bytes([m[6], m[7]]),
                    height: u16::from_le_bytes([m[8], m[9]]),
                    decoder_config: m[10..].to_vec(),
                },
            ))
        }
        Some(&UNIT) => {
            if m.len() < UNIT_HEADER {
                return Err(format!("access unit of {} bytes", m.len()));
            }
            let i64_at = |o: usize| i64::from_le_bytes(m[o..o + 8].try_into().unwrap_or_default());
            Ok(Binary::Unit(
                id(m)?,
                Unit {
                    keyframe: m[5] & 1 != 0,
                    timed_on_arrival: m[5] & 2 != 0,
                    capture_utc_ns: i64_at(6),
                    seq: i64_at(14) as u64,
                    sent_ms: u32::from_le_bytes(m[22..26].try_into().unwrap_or_default()),
                    data: m[UNIT_HEADER..].to_vec(),
                },
            ))
        }
        Some(k) => Err(format!("unknown message kind {k}")),
        None => Err("an empty message".into()),
    }
}

/// A workstation's request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    /// Send this camera's stream under subscription `id` (the workstation's number).
    Subscribe {
        id: u32,
        camera: String,
        stream: Stream,
        #[serde(default)]
        keyframes_only: bool,
    },
    Unsubscribe {
        id: u32,
    },
    /// Only keyframes (one picture a GOP) while `on`: the workstation's decode budget.
    KeyframesOnly {
        id: u32,
        on: bool,
    },
}

/// Which of a camera's encodings, on the wire.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Main,
    Sub,
}

impl From<StreamKind> for Stream {
    fn from(k: StreamKind) -> Stream {
        match k {
            StreamKind::Main => Stream::Main,
            StreamKind::Sub => Stream::Sub,
        }
    }
}

impl From<Stream> for StreamKind {
    fn from(s: Stream) -> StreamKind {
        match s {
            Stream::Main => StreamKind::Main,
            Stream::Sub => StreamKind::Sub,
        }
    }
}

/// A subscription's state as the server sees it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for the camera (connecting, or for the first keyframe).
    Connecting,
    Live,
    /// The camera stopped sending; the server reconnects.
    Lost,
    /// The camera cannot be shown as configured (credentials, path, codec, transport).
    Failed,
    /// Not granted to this user, or no such camera: the subscription is over.
    Refused,
}

/// The server's word on a subscription.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub id: u32,
    pub state: State,
    /// Said to a person: why lost, failed or refused (no address, no credential).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// UTC milliseconds since when the camera is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_utc_ms: Option<i64>,
    /// Times this subscription fell behind and was moved to the stream's next keyframe.
    #[serde(default)]
    pub skips: u64,
    /// The server sends this stream's keyframes only (a bandwidth cap or the request).
    #[serde(default)]
    pub keyframes_only: bool,
    /// The main stream was asked; the camera's sub stream is sent instead (a bandwidth cap).
    #[serde(default)]
    pub sub_for_main: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_as_written() {
        let c = CodecConfig {
            codec: Codec::H265,
            width: 1920,
            height: 1080,
            decoder_config: vec![1, 2, 3],
        };
        assert_eq!(decode(&encode_config(7, &c)).unwrap(), Binary::Config(7, c));
        let u = Unit {
            keyframe: true,
            timed_on_arrival: true,
            capture_utc_ns: 1_764_000_000_123_456_789,
            seq: 42,
            sent_ms: 1234,
            data: vec![0, 0, 0, 1, 0x65],
        };
        let m = encode_unit(9, &u, 1234);
        assert_eq!(m.len(), UNIT_HEADER + 5);
        assert_eq!(decode(&m).unwrap(), Binary::Unit(9, u));
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        assert!(decode(&[]).unwrap_err().contains("empty"));
        assert!(
            decode(&[2, 0, 0])
                .unwrap_err()
                .contains("access unit of 3 bytes")
        );
        assert!(
            decode(&[1, 0, 0, 0, 0, 9, 0, 0, 0, 0])
                .unwrap_err()
                .contains("codec 9")
        );
        assert!(decode(&[5]).unwrap_err().contains("kind 5"));
        let c: Result<Control, _> = serde_json::from_str(r#"{"op":"subscribe","id":1}"#);
        assert!(c.is_err());
        let c: Control =
            serde_json::from_str(r#"{"op":"subscribe","id":1,"camera":"cam001","stream":"sub"}"#)
                .unwrap();
        assert_eq!(
            c,
            Control::Subscribe {
                id: 1,
                camera: "cam001".into(),
                stream: Stream::Sub,
                keyframes_only: false
            }
        );
    }
}
