//! Alarm rules (TOML): which events become alarms, how urgent, which cameras to show, what to
//! do; the street alert buttons and where they stand; who may post events.
//!
//! ```toml
//! [[button]]
//! id = "btn-gare"
//! name = "Gare - parvis"
//! zone = "Gare"
//! latitude = 50.36290
//! longitude = 3.51641
//! cameras = ["cam021", "cam022"]    # optional: else the nearest cameras
//!
//! [[rule]]
//! name = "Intrusion at the depot"
//! types = ["intrusion"]             # event types the rule takes
//! sources = ["cam04*"]              # optional: cameras or buttons (a trailing * matches a prefix)
//! min_confidence = 0.6              # optional
//! priority = 2                      # 1 (most urgent) to 5
//! linked = 3                        # nearest other cameras shown with it (default 2)
//! link_within_m = 250               # default 300
//! instructions = "Call the depot's night guard: 03 27 00 00 00."
//! sound = "chime"                   # alert | chime | none (default chime)
//! escalate_after_s = 120            # still new after this: escalated (default none)
//! comment_to_close = false          # alert buttons: always true
//! merge_within_s = 30               # same rule and source: joins the open alarm (default 30)
//!
//! [[source]]                        # when any is declared, posts need a bearer token
//! name = "smart cameras"
//! token_sha256 = "<hex SHA-256 of the token>"
//! may = ["cam*"]                    # what it may speak for
//! udp_key = "<64 hex digits>"       # optional: its position datagrams carry a MAC by it
//! ```
//!
//! A file with a `udp_key` must not be readable by every user (the key is a shared secret).
//!
//! The file's rules are tried in order; the built-in rules (one per event type) follow them.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::Digest;

use super::geo;
use super::{Event, EventKind};
use crate::config::{Camera, ConfigError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawButton {
    id: String,
    name: String,
    #[serde(default)]
    zone: String,
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    cameras: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    types: Vec<String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    min_confidence: f32,
    priority: u8,
    linked: Option<usize>,
    link_within_m: Option<f64>,
    #[serde(default)]
    instructions: String,
    sound: Option<String>,
    escalate_after_s: Option<u32>,
    #[serde(default)]
    comment_to_close: bool,
    merge_within_s: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    token_sha256: String,
    may: Vec<String>,
    udp_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default)]
    button: Vec<toml::Spanned<RawButton>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRule>>,
    #[serde(default)]
    source: Vec<toml::Spanned<RawSource>>,
}

/// A street alert button.
#[derive(Clone, Debug, PartialEq)]
pub struct Button {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Cameras that see it; empty: the nearest.
    pub cameras: Vec<String>,
}

/// How events of some types become alarms.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: String,
    pub kinds: Vec<EventKind>,
    /// Cameras or buttons (`prefix*` allowed); empty: all.
    pub sources: Vec<String>,
    pub min_confidence: f32,
    pub priority: u8,
    pub linked: usize,
    pub link_within_m: f64,
    pub instructions: String,
    pub sound: String,
    pub escalate_after_s: Option<u32>,
    pub comment_to_close: bool,
    pub merge_within_s: u32,
}

/// A sender of events with its own token.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub name: String,
    pub token_sha256: [u8; 32],
    pub may: Vec<String>,
    /// The key of the HMAC its UDP position datagrams carry; none: it may not send them.
    pub udp_key: Option<[u8; 32]>,
}

/// The rules in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub rules: Vec<Rule>,
    pub buttons: Vec<Button>,
    pub sources: Vec<Source>,
}

/// Where an alarm is and what it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub cameras: Vec<String>,
    pub location: Option<(f64, f64)>,
    pub zone: String,
}

/// `pattern` is an id, or a prefix followed by `*`.
pub fn matches(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => pattern == id,
    }
}

impl Rule {
    fn builtin(kind: EventKind) -> Rule {
        let (priority, linked, escalate, sound, instructions) = match kind {
            EventKind::AlertButton => (
                1,
                4,
                Some(60),
                "alert",
                "A citizen pressed the alert button. Look at the linked cameras and the replay, \
                 answer on the button's intercom, send the nearest patrol. Closing needs a comment.",
            ),
            EventKind::Intrusion => (
                2,
                2,
                Some(120),
                "chime",
                "Check the scene on the linked cameras; send a patrol if someone is inside.",
            ),
            EventKind::AbnormalBehaviour => (
                2,
                2,
                Some(120),
                "chime",
                "Check the scene: a fight, a fall, a crowd forming? Send a patrol or call the emergency services.",
            ),
            EventKind::Loitering => (
                3,
                1,
                Some(300),
                "chime",
                "Watch the place; note a description if the person stays.",
            ),
            EventKind::LineCrossing => (
                3,
                1,
                Some(300),
                "chime",
                "Check who crossed and where they go.",
            ),
            EventKind::Motion => (4, 0, None, "none", "Motion seen in a watched zone."),
        };
        Rule {
            name: match kind {
                EventKind::AlertButton => "Street alert button".to_owned(),
                k => k.label().to_owned(),
            },
            kinds: vec![kind],
            sources: Vec::new(),
            min_confidence: 0.0,
            priority,
            linked,
            link_within_m: 300.0,
            instructions: instructions.to_owned(),
            sound: sound.to_owned(),
            escalate_after_s: escalate,
            comment_to_close: kind == EventKind::AlertButton,
            merge_within_s: if kind == EventKind::AlertButton {
                60
            } else {
                30
            },
        }
    }

    /// True when this rule takes `event`.
    pub fn takes(&self, event: &Event) -> bool {
        self.kinds.contains(&event.kind)
            && (self.sources.is_empty() || self.sources.iter().any(|p| matches(p, event.source())))
            && event.confidence.unwrap_or(1.0) >= self.min_confidence
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            rules: EventKind::ALL.into_iter().map(Rule::builtin).collect(),
            buttons: Vec::new(),
            sources: Vec::new(),
        }
    }
}

impl Rules {
    pub fn load(path: &Path) -> Result<Rules, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let rules = Self::parse(path, &text)?;
        if let Some(s) = rules.sources.iter().find(|s| s.udp_key.is_some())
            && let Some(mode) =
                crate::config::readable_by_all(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                line: crate::config::line_of(&text, text.find("udp_key").unwrap_or(0)),
                field: format!("source {:?}: udp_key", s.name),
                message: format!(
                    "the file is readable by every user (mode {mode:o}) and holds a key: chmod o-r"
                ),
            });
        }
        Ok(rules)
    }

    /// The declared source called `name`.
    pub fn source_named(&self, name: &[u8]) -> Option<&Source> {
        self.sources.iter().find(|s| s.name.as_bytes() == name)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Rules, ConfigError> {
        let invalid = |line: usize, field: String, message: String| ConfigError::Invalid {
            path: PathBuf::from(path),
            line,
            field,
            message,
        };
        let raw: RawRules = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| crate::config::line_of(text, s.start))
                .unwrap_or(1);
            invalid(line, "file".into(), e.message().trim().to_owned())
        })?;
        let mut rules = Rules {
            rules: Vec::new(),
            buttons: Vec::new(),
            sources: Vec::new(),
        };
        for b in raw.button {
            let line = crate::config::line_of(text, b.span().start);
            let b = b.into_inner();
            let at = |f: &str, m: String| invalid(line, format!("button {:?}: {f}", b.id), m);
            super::check_id("id", &b.id).map_err(|e| at("id", e.message))?;
            super::check_location(Some(b.latitude), Some(b.longitude))
                .map_err(|e| at(&e.field, e.message))?;
            if rules.buttons.iter().any(|x: &Button| x.id == b.id) {
                return Err(at("id", "declared twice".into()));
            }
            rules.buttons.push(Button {
                id: b.id.clone(),
                name: b.name.clone(),
                zone: b.zone.clone(),
                latitude: b.latitude,
                longitude: b.longitude,
                cameras: b.cameras.clone(),
            });
        }
        for r in raw.rule {
            let line = crate::config::line_of(text, r.span().start);
            let r = r.into_inner();
            let at = |f: &str, m: String| invalid(line, format!("rule {:?}: {f}", r.name), m);
            let mut kinds = Vec::new();
            for t in &r.types {
                kinds.push(EventKind::parse(t).ok_or_else(|| {
                    let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    at("types", format!("{t:?} is not one of {}", names.join(", ")))
                })?);
            }
            if kinds.is_empty() {
                return Err(at("types", "names no event type".into()));
            }
            if !(1..=5).contains(&r.priority) {
                return Err(at("priority", format!("{} is not within 1..5", r.priority)));
            }
            if !(0.0..=1.0).contains(&r.min_confidence) {
                return Err(at(
                    "min_confidence",
                    format!("{} is not within 0..1", r.min_confidence),
                ));
            }
            let sound = r.sound.clone().unwrap_or_else(|| "chime".into());
            if !["alert", "chime", "none"].contains(&sound.as_str()) {
                return Err(at(
                    "sound",
                    format!("{sound:?} is not alert, chime or none"),
                ));
            }
            let within = r.link_within_m.unwrap_or(300.0);
            if !(0.0..=50_000.0).contains(&within) {
                return Err(at(
                    "link_within_m",
                    format!("{within} is not within 0..50000"),
                ));
            }
            rules.rules.push(Rule {
                comment_to_close: r.comment_to_close || kinds.contains(&EventKind::AlertButton),
                name: r.name.clone(),
                kinds,
                sources: r.sources.clone(),
                min_confidence: r.min_confidence,
                priority: r.priority,
                linked: r.linked.unwrap_or(2).min(16),
                link_within_m: within,
                instructions: r.instructions.clone(),
                sound,
                escalate_after_s: r.escalate_after_s,
                merge_within_s: r.merge_within_s.unwrap_or(30),
            });
        }
        for s in raw.source {
            let line = crate::config::line_of(text, s.span().start);
            let s = s.into_inner();
            let at = |f: &str, m: String| invalid(line, format!("source {:?}: {f}", s.name), m);
            let hash = crate::auth::audit::unhex32(&s.token_sha256)
                .ok_or_else(|| at("token_sha256", "must be 64 hexadecimal digits".into()))?;
            let udp_key = match &s.udp_key {
                None => None,
                Some(k) => Some(
                    crate::auth::audit::unhex32(k)
                        .ok_or_else(|| at("udp_key", "must be 64 hexadecimal digits".into()))?,
                ),
            };
            rules.sources.push(Source {
                name: s.name.clone(),
                token_sha256: hash,
                may: s.may.clone(),
                udp_key,
            });
        }
        rules.rules.extend(Rules::default().rules);
        Ok(rules)
    }

    /// The first rule that takes `event`.
    pub fn rule_for(&self, event: &Event) -> Option<&Rule> {
        self.rules.iter().find(|r| r.takes(event))
    }

    /// The source a bearer `token` belongs to, when sources are declared: `Ok(None)` when none
    /// is (the endpoint is then open to whoever reaches it: loopback by default).
    pub fn source_of(&self, token: Option<&str>) -> Result<Option<&Source>, &'static str> {
        if self.sources.is_empty() {
            return Ok(None);
        }
        let token = token.ok_or("a bearer token is required")?;
        let hash: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        // Compared in full whatever the first differing byte.
        self.sources
            .iter()
            .find(|s| {
                s.token_sha256
                    .iter()
                    .zip(hash.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
            })
            .map(Some)
            .ok_or("the token is not known")
    }

    /// Which cameras an alarm from `event` under `rule` shows, where it is and its zone. An
    /// unknown camera or button (without a position of its own) is an error naming it.
    pub fn place(
        &self,
        rule: &Rule,
        event: &Event,
        cameras: &[Camera],
    ) -> Result<Placement, super::InputError> {
        let near = |at: (f64, f64), skip: Option<&str>, n: usize| -> Vec<String> {
            geo::nearest(
                at,
                cameras
                    .iter()
                    .filter(|c| Some(c.id.as_str()) != skip)
                    .map(|c| (c.id.as_str(), (c.latitude, c.longitude))),
                n,
                rule.link_within_m,
            )
            .into_iter()
            .map(|(id, _)| id.to_owned())
            .collect()
        };
        if let Some(cam) = &event.camera {
            let c = cameras.iter().find(|c| &c.id == cam).ok_or_else(|| {
                super::bad("camera", format!("{cam:?} is not a camera of this site"))
            })?;
            let at = (c.latitude, c.longitude);
            let mut list = vec![c.id.clone()];
            list.extend(near(at, Some(&c.id), rule.linked));
            return Ok(Placement {
                cameras: list,
                location: Some(at),
                zone: c.zone.clone(),
            });
        }
        let id = event.button.as_deref().unwrap_or("");
        match self.buttons.iter().find(|b| b.id == id) {
            Some(b) => {
                let at = (b.latitude, b.longitude);
                let list = if b.cameras.is_empty() {
                    near(at, None, rule.linked.max(1))
                } else {
                    b.cameras.clone()
                };
                Ok(Placement {
                    cameras: list,
                    location: Some(at),
                    zone: b.zone.clone(),
                })
            }
            None => {
                let at = event.location.ok_or_else(|| {
                    super::bad(
                        "button",
                        format!("{id:?} is not a declared button and the event has no latitude/longitude"),
                    )
                })?;
                let list = near(at, None, rule.linked.max(1));
                let zone = list
                    .first()
                    .and_then(|c| cameras.iter().find(|x| &x.id == c))
                    .map(|c| c.zone.clone())
                    .unwrap_or_default();
                Ok(Placement {
                    cameras: list,
                    location: Some(at),
                    zone,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cams() -> Vec<Camera> {
        crate::sim::demo_cameras()
    }

    #[test]
    fn builtin_rules_link_the_nearest_cameras() {
        let rules = Rules::default();
        let cams = cams();
        let e = super::super::parse_event(
            br#"{"type":"alert_button","button":"b1","time":"2026-11-26T22:14:03Z","latitude":50.35717,"longitude":3.52628}"#,
        )
        .expect("event");
        let rule = rules.rule_for(&e).expect("a rule");
        assert_eq!((rule.priority, rule.comment_to_close), (1, true));
        let p = rules.place(rule, &e, &cams).expect("placed");
        assert_eq!(p.cameras.len(), 4);
        assert_eq!(p.cameras[0], "cam001", "the camera at the spot comes first");
        let e = super::super::parse_event(
            br#"{"type":"intrusion","camera":"cam404","time":"2026-11-26T22:14:03Z"}"#,
        )
        .expect("event");
        let err = rules.place(rules.rule_for(&e).expect("rule"), &e, &cams);
        assert_eq!(err.expect_err("unknown").field, "camera");
    }

    #[test]
    fn rules_file_errors_name_line_and_field() {
        let p = Path::new("alarms.toml");
        let ok = Rules::parse(
            p,
            "[[rule]]\nname = \"depot\"\ntypes = [\"intrusion\"]\nsources = [\"cam04*\"]\npriority = 1\n\n[[source]]\nname = \"s\"\ntoken_sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\nmay = [\"cam*\"]\n",
        )
        .expect("valid");
        assert_eq!(ok.rules[0].name, "depot");
        assert!(matches("cam04*", "cam041") && !matches("cam04*", "cam051"));
        assert_eq!(
            ok.source_of(Some("test"))
                .expect("known")
                .map(|s| s.name.as_str()),
            Some("s")
        );
        assert!(ok.source_of(Some("nope")).is_err() && ok.source_of(None).is_err());
        assert!(Rules::default().source_of(None).expect("open").is_none());
        for (text, want) in [
            (
                "[[rule]]\nname = \"x\"\ntypes = [\"fire\"]\npriority = 1\n",
                "alarms.toml:1: rule \"x\": types",
            ),
            (
                "\n[[rule]]\nname = \"x\"\ntypes = [\"intrusion\"]\npriority = 9\n",
                "alarms.toml:2: rule \"x\": priority",
            ),
            (
                "[[button]]\nid = \"b\"\nname = \"b\"\nlatitude = 95.0\nlongitude = 3.0\n",
                "alarms.toml:1: button \"b\": latitude",
            ),
            (
                "[[source]]\nname = \"s\"\ntoken_sha256 = \"abc\"\nmay = []\n",
                "alarms.toml:1: source \"s\": token_sha256",
            ),
        ] {
            let e = Rules::parse(p, text).expect_err(text).to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
