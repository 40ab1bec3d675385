//! When each recorded picture was captured, and the local clock it is checked against.
//!
//! A camera's pictures carry RTP timestamps: a free-running counter (90 kHz for video) with an
//! arbitrary origin. The camera's RTCP sender reports pair one RTP timestamp with its own wall
//! clock (NTP format), which maps the counter to UTC. The recorder:
//!
//! 1. anchors each connection once, on its first picture: through the latest sender report when
//!    one arrived within [`SR_WAIT`] and the camera's clock agrees with the local clock within
//!    the configured bound; otherwise on the picture's local arrival time, and flags it;
//! 2. times every later picture of the connection from that anchor by its RTP timestamp, so
//!    durations are exact and segments of one connection follow each other without overlap
//!    whatever the clocks do meanwhile;
//! 3. never places a connection's footage before the end of the camera's previous segment: the
//!    anchor is moved forward instead, and that is reported.
//!
//! The local clock ([`LocalClock`]) is the monotonic clock plus a wall-clock offset. A step of
//! the wall clock (an operator or NTP setting it) is detected by comparing the two, reported
//! as a discontinuity, and the offset follows it.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

pub use crate::store::TimeSource;

/// How long a new connection waits for its first sender report before timing on arrival.
pub const SR_WAIT: Duration = Duration::from_secs(8);

/// A wall-clock change larger than this between two checks is a step, not a drift.
pub const STEP_THRESHOLD_NS: i64 = 1_000_000_000;

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// An NTP timestamp (32.32 fixed point seconds since 1900) as UTC nanoseconds since 1970.
pub fn ntp_to_utc_ns(ntp: u64) -> i64 {
    let secs = (ntp >> 32) as i64 - NTP_UNIX_OFFSET_S as i64;
    let frac = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    secs * 1_000_000_000 + frac as i64
}

/// `ticks` of a `rate` Hz clock in nanoseconds (exact to the nanosecond, floored).
pub fn ticks_to_ns(ticks: i64, rate: u32) -> i64 {
    (ticks as i128 * 1_000_000_000 / rate.max(1) as i128) as i64
}

/// A camera's latest sender report: this RTP timestamp (extended) was this UTC instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderReport {
    pub rtp: i64,
    pub utc_ns: i64,
}

/// The time base of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub rtp: i64,
    pub utc_ns: i64,
    pub clock_rate: u32,
    pub source: TimeSource,
}

impl Anchor {
    /// UTC of the picture with extended RTP timestamp `rtp`.
    pub fn utc_ns(&self, rtp: i64) -> i64 {
        self.utc_ns + ticks_to_ns(rtp - self.rtp, self.clock_rate)
    }
}

/// What anchoring decided, for the log and the index's events.
#[derive(Clone, Debug, PartialEq)]
pub enum AnchorNote {
    /// Through the sender report, camera and local clocks agreeing.
    Reported,
    /// No sender report within [`SR_WAIT`]: timed on arrival.
    NoReports,
    /// The camera's clock is off the local clock by this much (camera minus local): timed on
    /// arrival.
    ClockOff { skew_ns: i64 },
}

/// Anchors a connection whose first picture has RTP timestamp `rtp` (extended, `clock_rate`
/// Hz) and arrived at local UTC `arrival_ns`, given the latest sender report if any.
pub fn anchor(
    rtp: i64,
    clock_rate: u32,
    arrival_ns: i64,
    report: Option<SenderReport>,
    max_skew_ns: i64,
) -> (Anchor, AnchorNote) {
    let on_arrival = Anchor {
        rtp,
        utc_ns: arrival_ns,
        clock_rate,
        source: TimeSource::Arrival,
    };
    let Some(sr) = report else {
        return (on_arrival, AnchorNote::NoReports);
    };
    let camera_ns = sr.utc_ns + ticks_to_ns(rtp - sr.rtp, clock_rate);
    // The camera captured the picture before it arrived here; the difference is the
    // camera's latency plus the two clocks' disagreement.
    let skew_ns = camera_ns - arrival_ns;
    if skew_ns.abs() > max_skew_ns {
        return (on_arrival, AnchorNote::ClockOff { skew_ns });
    }
    (
        Anchor {
            rtp,
            utc_ns: camera_ns,
            clock_rate,
            source: TimeSource::Rtcp,
        },
        AnchorNote::Reported,
    )
}

/// Moves `anchor` so that its first picture (`rtp`) is not before `not_before_ns` (the end of
/// the camera's previous segment); returns by how much it moved.
pub fn clamp_after(anchor: &mut Anchor, rtp: i64, not_before_ns: Option<i64>) -> i64 {
    let Some(floor) = not_before_ns else { return 0 };
    let first = anchor.utc_ns(rtp);
    if first >= floor {
        return 0;
    }
    anchor.utc_ns += floor - first;
    floor - first
}

/// The recorder's clock: monotonic time plus an offset to UTC taken from the wall clock, so
/// that time between two readings is never affected by the wall clock being set.
pub struct LocalClock {
    base: Mutex<(Instant, i64)>,
    /// A test clock: milliseconds added to the system's wall clock, read from a file.
    offset_file: Option<PathBuf>,
    offset_ns: AtomicI64,
}

impl LocalClock {
    /// A clock following the system's wall clock, plus the offset in milliseconds written in
    /// `offset_file` when given (tests move the wall clock this way).
    pub fn new(offset_file: Option<PathBuf>) -> LocalClock {
        let clock = LocalClock {
            base: Mutex::new((Instant::now(), 0)),
            offset_file,
            offset_ns: AtomicI64::new(0),
        };
        clock.read_offset();
        let wall = clock.wall_ns();
        *clock.base.lock().unwrap_or_else(|e| e.into_inner()) = (Instant::now(), wall);
        clock
    }

    fn read_offset(&self) {
        if let Some(f) = &self.offset_file {
            let ms = std::fs::read_to_string(f)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .unwrap_or(0);
            self.offset_ns.store(ms * 1_000_000, Ordering::SeqCst);
        }
    }

    /// The wall clock as the system (and the test offset) has it now.
    fn wall_ns(&self) -> i64 {
        let sys = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i64,
            Err(e) => -(e.duration().as_nanos() as i64),
        };
        sys + self.offset_ns.load(Ordering::SeqCst)
    }

    /// UTC now.
    pub fn now_ns(&self) -> i64 {
        self.at_ns(Instant::now())
    }

    /// UTC at a monotonic instant.
    pub fn at_ns(&self, t: Instant) -> i64 {
        let (mono, utc) = *self.base.lock().unwrap_or_else(|e| e.into_inner());
        match t.checked_duration_since(mono) {
            Some(d) => utc + d.as_nanos() as i64,
            None => utc - mono.duration_since(t).as_nanos() as i64,
        }
    }

    /// Compares the wall clock with the monotonic one and follows it. Returns the step (wall
    /// minus expected) when it exceeds [`STEP_THRESHOLD_NS`]; small drifts are followed
    /// silently. Called about once a second.
    pub fn check(&self) -> Option<i64> {
        self.read_offset();
        let now = Instant::now();
        let wall = self.wall_ns();
        let expected = self.at_ns(now);
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) = (now, wall);
        let step = wall - expected;
        (step.abs() > STEP_THRESHOLD_NS).then_some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn ntp_times_convert_to_unix_nanoseconds() {
        // 2026-01-01T00:00:00Z is 1767225600 s after 1970.
        let ntp = (1_767_225_600u64 + NTP_UNIX_OFFSET_S) << 32 | 0x8000_0000;
        assert_eq!(ntp_to_utc_ns(ntp), 1_767_225_600 * S + S / 2);
    }

    #[test]
    fn a_report_maps_rtp_to_the_camera_clock() {
        let sr = SenderReport {
            rtp: 90_000,
            utc_ns: 1_000 * S,
        };
        // The picture 2 s of RTP after the report, arriving 30 ms after it was captured.
        let (a, note) = anchor(270_000, 90_000, 1_002 * S + 30_000_000, Some(sr), 2 * S);
        assert_eq!(note, AnchorNote::Reported);
        assert_eq!(a.source, TimeSource::Rtcp);
        assert_eq!(a.utc_ns(270_000), 1_002 * S);
        assert_eq!(a.utc_ns(270_000 + 3_600), 1_002 * S + 40_000_000);
    }

    #[test]
    fn a_camera_without_reports_or_with_a_wrong_clock_is_timed_on_arrival() {
        let (a, note) = anchor(5, 90_000, 77 * S, None, 2 * S);
        assert_eq!(
            (a.source, a.utc_ns(5), note),
            (TimeSource::Arrival, 77 * S, AnchorNote::NoReports)
        );
        let sr = SenderReport {
            rtp: 0,
            utc_ns: 10 * S, // an hour behind
        };
        let (a, note) = anchor(0, 90_000, 3_610 * S, Some(sr), 2 * S);
        assert_eq!(a.source, TimeSource::Arrival);
        assert_eq!(a.utc_ns(0), 3_610 * S);
        assert_eq!(
            note,
            AnchorNote::ClockOff {
                skew_ns: -3_600 * S
            }
        );
    }

    #[test]
    fn a_connection_never_starts_before_the_previous_segment_ends() {
        let (mut a, _) = anchor(0, 90_000, 100 * S, None, S);
        assert_eq!(clamp_after(&mut a, 0, Some(50 * S)), 0);
        assert_eq!(clamp_after(&mut a, 0, Some(160 * S)), 60 * S);
        assert_eq!(a.utc_ns(90_000), 161 * S);
        assert_eq!(clamp_after(&mut a, 0, None), 0);
    }

    #[test]
    fn a_wall_clock_step_is_detected_and_followed() {
        let dir = std::env::temp_dir().join(format!("vigie-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("offset");
        std::fs::write(&f, "0").unwrap();
        let clock = LocalClock::new(Some(f.clone()));
        assert_eq!(clock.check(), None);
        let before = clock.now_ns();
        std::fs::write(&f, "3600000").unwrap();
        let step = clock.check().expect("a step");
        assert!((step - 3_600 * S).abs() < S / 10, "{step}");
        assert!((clock.now_ns() - before - 3_600 * S).abs() < S / 10);
        std::fs::write(&f, "0").unwrap();
        let step = clock.check().expect("a step back");
        assert!((step + 3_600 * S).abs() < S / 10, "{step}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
