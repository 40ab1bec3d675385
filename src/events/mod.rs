//! Events, alarms and patrol vehicles.
//!
//! Contract: events arrive as JSON (smart cameras, street alert buttons, vehicle positions)
//! through [`service::EventService`] (an HTTP endpoint and a UDP port on a tokio runtime), are
//! checked by [`parse_event`] / [`parse_position`] (a clear error naming the field, never a
//! panic), turned into alarms by [`rules::Rules`] on one writer thread, and kept in the index
//! (`alarm_event`, `alarm`, `alarm_note`, `vehicle`, `dispatch`). Workstations read the changes
//! (`Store::alarms_since`) and act on alarms through [`alarm::plan`], the state machine.
//! Nothing here knows egui or wgpu.

pub mod alarm;
pub mod client;
pub mod geo;
pub mod http;
pub mod motion;
pub mod rules;
pub mod service;

use serde::Deserialize;

pub use alarm::{AlarmAction, AlarmState};

/// Largest event or position accepted, bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A smart camera's analytics: abnormal behaviour (a fight, a fall, a crowd forming).
    AbnormalBehaviour,
    Loitering,
    Intrusion,
    LineCrossing,
    /// A citizen pressed a street alert button.
    AlertButton,
    /// The workstation's own motion detection on a camera's sub stream.
    Motion,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::AbnormalBehaviour,
        EventKind::Loitering,
        EventKind::Intrusion,
        EventKind::LineCrossing,
        EventKind::AlertButton,
        EventKind::Motion,
    ];

    /// The name used in JSON, rules and the index.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AbnormalBehaviour => "abnormal_behaviour",
            EventKind::Loitering => "loitering",
            EventKind::Intrusion => "intrusion",
            EventKind::LineCrossing => "line_crossing",
            EventKind::AlertButton => "alert_button",
            EventKind::Motion => "motion",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How an operator reads it.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::AbnormalBehaviour => "Abnormal behaviour",
            EventKind::Loitering => "Loitering",
            EventKind::Intrusion => "Intrusion",
            EventKind::LineCrossing => "Line crossing",
            EventKind::AlertButton => "ALERT BUTTON",
            EventKind::Motion => "Motion",
        }
    }
}

/// One event, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// When it happened (the sender's clock), UTC ns.
    pub at_utc_ns: i64,
    /// The camera that saw it (smart cameras, motion).
    pub camera: Option<String>,
    /// The button pressed (alert buttons).
    pub button: Option<String>,
    pub confidence: Option<f32>,
    /// [x, y, w, h], fractions of the picture.
    pub bbox: Option<[f32; 4]>,
    /// Where (alert buttons send theirs; cameras are placed by the cameras file).
    pub location: Option<(f64, f64)>,
}

impl Event {
    /// The camera or button the event is from.
    pub fn source(&self) -> &str {
        self.camera
            .as_deref()
            .or(self.button.as_deref())
            .unwrap_or("")
    }
}

/// A patrol vehicle's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VehicleStatus {
    Available,
    Busy,
    Dispatched,
    OffDuty,
}

impl VehicleStatus {
    pub const ALL: [VehicleStatus; 4] = [
        VehicleStatus::Available,
        VehicleStatus::Busy,
        VehicleStatus::Dispatched,
        VehicleStatus::OffDuty,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VehicleStatus::Available => "available",
            VehicleStatus::Busy => "busy",
            VehicleStatus::Dispatched => "dispatched",
            VehicleStatus::OffDuty => "off duty",
        }
    }

    pub fn parse(s: &str) -> Option<VehicleStatus> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A patrol vehicle's position report.
#[derive(Clone, Debug, PartialEq)]
pub struct Position {
    pub vehicle: String,
    pub latitude: f64,
    pub longitude: f64,
    pub heading_deg: Option<f32>,
    pub speed_kmh: Option<f32>,
    pub status: VehicleStatus,
    pub at_utc_ns: i64,
}

/// Why an event or a position was refused: the field and the reason, for the sender.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    pub field: String,
    pub message: String,
}

fn bad(field: &str, message: impl Into<String>) -> InputError {
    InputError {
        field: field.to_owned(),
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    time: String,
    camera: Option<String>,
    button: Option<String>,
    confidence: Option<f64>,
    #[serde(rename = "box")]
    bbox: Option<Vec<f64>>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPosition {
    vehicle: String,
    latitude: f64,
    longitude: f64,
    heading: Option<f64>,
    speed_kmh: Option<f64>,
    status: String,
    time: String,
}

/// The JSON's own error, with the field serde names when it names one.
fn json_error(e: serde_json::Error) -> InputError {
    let msg = e.to_string();
    let field = msg
        .split('`')
        .nth(1)
        .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or("body")
        .to_owned();
    InputError {
        field,
        message: msg,
    }
}

fn parse_time(field: &str, text: &str) -> Result<i64, InputError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| bad(field, format!("{text:?} is not an RFC 3339 time")))
}

/// An identifier as cameras, buttons and vehicles have: 1-40 letters, digits, '-', '_', '.'.
fn check_id(field: &str, id: &str) -> Result<(), InputError> {
    if id.is_empty()
        || id.len() > 40
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(bad(
            field,
            "must be 1 to 40 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

fn check_location(lat: Option<f64>, lon: Option<f64>) -> Result<Option<(f64, f64)>, InputError> {
    match (lat, lon) {
        (None, None) => Ok(None),
        (Some(a), Some(o)) => {
            if !(-90.0..=90.0).contains(&a) {
                return Err(bad("latitude", format!("{a} is not within -90..90")));
            }
            if !(-180.0..=180.0).contains(&o) {
                return Err(bad("longitude", format!("{o} is not within -180..180")));
            }
            Ok(Some((a, o)))
        }
        (Some(_), None) => Err(bad("longitude", "missing (latitude was given)")),
        (None, Some(_)) => Err(bad("latitude", "missing (longitude was given)")),
    }
}

/// Checks a smart-camera or alert-button event.
///
/// ```json
/// {"type": "intrusion", "camera": "cam012", "time": "2026-11-26T22:14:03.120Z",
///  "confidence": 0.91, "box": [0.42, 0.30, 0.10, 0.25]}
/// {"type": "alert_button", "button": "btn-gare", "time": "2026-11-26T22:14:03Z",
///  "latitude": 50.3632, "longitude": 3.5176}
/// ```
pub fn parse_event(body: &[u8]) -> Result<Event, InputError> {
    if body.len() > MAX_BODY {
        return Err(bad(
            "body",
            format!("{} bytes, more than {MAX_BODY}", body.len()),
        ));
    }
    let raw: RawEvent = serde_json::from_slice(body).map_err(json_error)?;
    let kind = EventKind::parse(&raw.kind).ok_or_else(|| {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        bad(
            "type",
            format!("{:?} is not one of {}", raw.kind, names.join(", ")),
        )
    })?;
    let at_utc_ns = parse_time("time", &raw.time)?;
    if let Some(c) = &raw.camera {
        check_id("camera", c)?;
    }
    if let Some(b) = &raw.button {
        check_id("button", b)?;
    }
    match kind {
        EventKind::AlertButton if raw.button.is_none() => {
            return Err(bad("button", "an alert_button event names its button"));
        }
        EventKind::AlertButton => {}
        _ if raw.camera.is_none() => {
            return Err(bad(
                "camera",
                format!("a {} event names its camera", kind.as_str()),
            ));
        }
        _ => {}
    }
    let confidence = match raw.confidence {
        Some(c) if !(0.0..=1.0).contains(&c) => {
            return Err(bad("confidence", format!("{c} is not within 0..1")));
        }
        c => c.map(|c| c as f32),
    };
    let bbox = match raw.bbox {
        None => None,
        Some(b) => {
            let ok = b.len() == 4
                && b.iter().all(|v| (0.0..=1.0).contains(v))
                && b[0] + b[2] <= 1.0 + 1e-6
                && b[1] + b[3] <= 1.0 + 1e-6;
            if !ok {
                return Err(bad(
                    "box",
                    "must be [x, y, width, height], fractions of the picture within 0..1",
                ));
            }
            Some([b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32])
        }
    };
    Ok(Event {
        kind,
        at_utc_ns,
        camera: raw.camera,
        button: raw.button,
        confidence,
        bbox,
        location: check_location(raw.latitude, raw.longitude)?,
    })
}

/// Checks a vehicle position report.
///
/// ```json
/// {"vehicle": "PM-3", "latitude": 50.3571, "longitude": 3.5262, "heading": 270,
///  "speed_kmh": 32, "status": "available", "time": "2026-11-26T22:14:03Z"}
/// ```
pub fn parse_position(body: &[u8]) -> Result<Position, InputError> {
    if body.len() > MAX_BODY {
        return Err(bad(
            "body",
            format!("{} bytes, more than {MAX_BODY}", body.len()),
        ));
    }
    let raw: RawPosition = serde_json::from_slice(body).map_err(json_error)?;
    check_id("vehicle", &raw.vehicle)?;
    let (latitude, longitude) = check_location(Some(raw.latitude), Some(raw.longitude))?
        .ok_or_else(|| bad("latitude", "missing"))?;
    let status = VehicleStatus::parse(&raw.status).ok_or_else(|| {
        bad(
            "status",
            format!(
                "{:?} is not one of available, busy, dispatched, off duty",
                raw.status
            ),
        )
    })?;
    let heading_deg = match raw.heading {
        Some(h) if !(0.0..=360.0).contains(&h) => {
            return Err(bad("heading", format!("{h} is not within 0..360")));
        }
        h => h.map(|h| h as f32),
    };
    let speed_kmh = match raw.speed_kmh {
        Some(v) if !(0.0..=400.0).contains(&v) => {
            return Err(bad("speed_kmh", format!("{v} is not within 0..400")));
        }
        v => v.map(|v| v as f32),
    };
    Ok(Position {
        vehicle: raw.vehicle,
        latitude,
        longitude,
        heading_deg,
        speed_kmh,
        status,
        at_utc_ns: parse_time("time", &raw.time)?,
    })
}

/// An event as JSON (what the simulator, the bench and the motion detector send).
pub fn event_json(e: &Event) -> String {
    let mut v = serde_json::json!({
        "type": e.kind.as_str(),
        "time": crate::time::rfc3339(e.at_utc_ns),
    });
    if let Some(c) = &e.camera {
        v["camera"] = c.as_str().into();
    }
    if let Some(b) = &e.button {
        v["button"] = b.as_str().into();
    }
    if let Some(c) = e.confidence {
        v["confidence"] = ((c as f64 * 1000.0).round() / 1000.0).into();
    }
    if let Some(b) = e.bbox {
        v["box"] = b
            .iter()
            .map(|x| (*x as f64 * 1000.0).round() / 1000.0)
            .collect::<Vec<f64>>()
            .into();
    }
    if let Some((a, o)) = e.location {
        v["latitude"] = a.into();
        v["longitude"] = o.into();
    }
    v.to_string()
}

/// A position as JSON.
pub fn position_json(p: &Position) -> String {
    let mut v = serde_json::json!({
        "vehicle": p.vehicle,
        "latitude": p.latitude,
        "longitude": p.longitude,
        "status": p.status.as_str(),
        "time": crate::time::rfc3339(p.at_utc_ns),
    });
    if let Some(h) = p.heading_deg {
        v["heading"] = (h as f64).into();
    }
    if let Some(s) = p.speed_kmh {
        v["speed_kmh"] = (s as f64).into();
    }
    v.to_string()
}

/// What starts the last line of a position datagram from a declared source:
/// `vigie-mac SOURCE HEX`, HEX the HMAC-SHA256 of the report before that line under the
/// source's `udp_key`.
pub const MAC_LINE: &[u8] = b"\nvigie-mac ";

/// The MAC line of a datagram: the source it names and the digest it carries (as sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramMac<'a> {
    pub source: &'a [u8],
    pub digest: &'a [u8],
}

/// Splits a position datagram into its report and its MAC line, if it ends with one.
pub fn split_datagram(d: &[u8]) -> (&[u8], Option<DatagramMac<'_>>) {
    let Some(at) = d.windows(MAC_LINE.len()).rposition(|w| w == MAC_LINE) else {
        return (d, None);
    };
    let line = d[at + MAC_LINE.len()..].trim_ascii_end();
    let (source, digest) = match line.iter().position(|b| *b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    (&d[..at], Some(DatagramMac { source, digest }))
}

/// The HMAC-SHA256 of `report` under `key`, in hexadecimal: what a sender puts on its
/// datagram's MAC line.
pub fn datagram_mac(key: &[u8; 32], report: &[u8]) -> String {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    m.update(report);
    crate::auth::audit::hex(&m.finalize().into_bytes())
}

/// A position datagram: `report`, then its MAC line for `source`.
pub fn signed_datagram(source: &str, key: &[u8; 32], report: &[u8]) -> Vec<u8> {
    let mut d = report.to_vec();
    d.extend_from_slice(MAC_LINE);
    d.extend_from_slice(source.as_bytes());
    d.push(b' ');
    d.extend_from_slice(datagram_mac(key, report).as_bytes());
    d
}

/// Whether `digest_hex` is the HMAC-SHA256 of `report` under `key` (compared in constant
/// time).
pub fn verify_mac(key: &[u8; 32], report: &[u8], digest_hex: &[u8]) -> bool {
    use hmac::Mac;
    let Some(digest) = std::str::from_utf8(digest_hex)
        .ok()
        .and_then(crate::auth::audit::unhex)
        .filter(|d| d.len() == 32)
    else {
        return false;
    };
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    m.update(report);
    m.verify_slice(&digest).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_checked_field_by_field() {
        let e = parse_event(br#"{"type":"intrusion","camera":"cam012","time":"2026-11-26T22:14:03.120Z","confidence":0.91,"box":[0.42,0.3,0.1,0.25]}"#).expect("valid");
        assert_eq!(e.kind, EventKind::Intrusion);
        assert_eq!(e.camera.as_deref(), Some("cam012"));
        assert_eq!(e.at_utc_ns, 1_795_731_243_120_000_000);
        assert_eq!(
            parse_event(event_json(&e).as_bytes()).expect("round trip"),
            e
        );

        let cases: &[(&[u8], &str)] = &[
            (br#"{"type":"fire","camera":"c","time":"2026-11-26T22:14:03Z"}"#, "type"),
            (br#"{"type":"intrusion","time":"2026-11-26T22:14:03Z"}"#, "camera"),
            (br#"{"type":"alert_button","time":"2026-11-26T22:14:03Z"}"#, "button"),
            (br#"{"type":"intrusion","camera":"c","time":"yesterday"}"#, "time"),
            (br#"{"type":"intrusion","camera":"c","time":"2026-11-26T22:14:03Z","confidence":1.5}"#, "confidence"),
            (br#"{"type":"intrusion","camera":"c","time":"2026-11-26T22:14:03Z","box":[0.9,0,0.5,0.5]}"#, "box"),
            (br#"{"type":"intrusion","camera":"../etc","time":"2026-11-26T22:14:03Z"}"#, "camera"),
            (br#"{"type":"alert_button","button":"b","time":"2026-11-26T22:14:03Z","latitude":91,"longitude":3}"#, "latitude"),
            (br#"{"type":"intrusion","camera":"c","time":"2026-11-26T22:14:03Z","colour":"red"}"#, "colour"),
            (br#"{"type":"intrusion","camera":"c""#, "body"),
        ];
        for (body, field) in cases {
            let err = parse_event(body).expect_err(std::str::from_utf8(body).unwrap_or("?"));
            assert_eq!(&err.field, field, "{err}");
        }
        let big = vec![b' '; MAX_BODY + 1];
        assert_eq!(parse_event(&big).expect_err("too big").field, "body");
    }

    #[test]
    fn positions_are_checked() {
        let p = parse_position(br#"{"vehicle":"PM-3","latitude":50.3571,"longitude":3.5262,"heading":270,"speed_kmh":32,"status":"available","time":"2026-11-26T22:14:03Z"}"#).expect("valid");
        assert_eq!(p.status, VehicleStatus::Available);
        assert_eq!(
            parse_position(position_json(&p).as_bytes()).expect("round trip"),
            p
        );
        let e = parse_position(br#"{"vehicle":"PM-3","latitude":50.3,"longitude":3.5,"status":"asleep","time":"2026-11-26T22:14:03Z"}"#).expect_err("status");
        assert_eq!(e.field, "status");
        let e = parse_position(
            br#"{"latitude":50.3,"longitude":3.5,"status":"busy","time":"2026-11-26T22:14:03Z"}"#,
        )
        .expect_err("vehicle");
        assert_eq!(e.field, "vehicle");
    }

    /// Random bytes and random edits of valid payloads never panic the parsers.
    #[test]
    fn fuzzed_payloads_never_panic() {
        let seeds: [&[u8]; 3] = [
            br#"{"type":"alert_button","button":"btn-1","time":"2026-11-26T22:14:03Z","latitude":50.36,"longitude":3.52}"#,
            br#"{"type":"loitering","camera":"cam001","time":"2026-11-26T22:14:03Z","confidence":0.5,"box":[0.1,0.1,0.2,0.2]}"#,
            br#"{"vehicle":"PM-1","latitude":50.3,"longitude":3.5,"heading":90,"speed_kmh":20,"status":"busy","time":"2026-11-26T22:14:03Z"}"#,
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut accepted = 0;
        for i in 0..30_000 {
            let mut body: Vec<u8> = if i % 5 == 0 {
                (0..rng.usize(0..300)).map(|_| rng.u8(..)).collect()
            } else {
                seeds[i % 3].to_vec()
            };
            for _ in 0..rng.usize(1..6) {
                if body.is_empty() {
                    break;
                }
                let at = rng.usize(..body.len());
                match rng.u8(0..4) {
                    0 => body[at] = rng.u8(..),
                    1 => {
                        body.remove(at);
                    }
                    2 => body.insert(at, b"{}[]\",:0-9e.\\"[rng.usize(0..13)]),
                    _ => body.truncate(at),
                }
            }
            accepted += parse_event(&body).is_ok() as u32 + parse_position(&body).is_ok() as u32;
        }
        // Some edits leave a valid payload (a changed digit); most do not.
        assert!(accepted < 30_000, "{accepted}");
    }
}
