//! The decode budget: how many decoded pixels per second each kind of decoder may take, and
//! graceful degradation when the screens ask for more — the streams of the least important
//! tiles drop to keyframes only (one picture a GOP, decoded from the keyframe alone) before any
//! stream stutters; they come back, most important first, once there is room again.
//!
//! Measured, not guessed: each stream's rate is the pictures its slot received over the last
//! second times their size. A stream on keyframes only is counted at its keyframe rate, and
//! remembered at its full rate for the decision to bring it back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::media::FrameSlot;

/// Which hardware (or none) decodes a stream, from the decoder element's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecoderKind {
    Software,
    Nvidia,
    VaApi,
    /// Direct3D 11 or 12 video decoding (Windows, any GPU vendor).
    Direct3D,
}

impl DecoderKind {
    pub fn of(decoder: &str) -> DecoderKind {
        if decoder.starts_with("nv") {
            DecoderKind::Nvidia
        } else if decoder.starts_with("va") {
            DecoderKind::VaApi
        } else if decoder.starts_with("d3d1") {
            DecoderKind::Direct3D
        } else {
            DecoderKind::Software
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DecoderKind::Software => "software",
            DecoderKind::Nvidia => "NVDEC",
            DecoderKind::VaApi => "VA-API",
            DecoderKind::Direct3D => "Direct3D",
        }
    }
}

/// Decoded megapixels per second one CPU core sustains in software (640x360 H.264 at 25 fps,
/// 5.8 Mpx/s, costs about 6 % of a core here).
const SOFTWARE_MPX_PER_CORE: f64 = 96.0;
/// Share of the CPU the software decoders may take (the rest: compositing, the UI, ingest).
const SOFTWARE_SHARE: f64 = 0.7;
/// A conservative figure for one NVDEC engine and for VA-API, Mpx/s.
const NVDEC_MPX: f64 = 1500.0;
/// VA-API, and Direct3D video decoding on Windows (the same kind of integrated engines).
const VAAPI_MPX: f64 = 500.0;
/// Brought back only below this share of the budget (hysteresis).
const RESTORE_BELOW: f64 = 0.8;
/// How often the budget is balanced.
const PERIOD: Duration = Duration::from_secs(1);

/// A stream as the budget sees it this frame.
pub struct BudgetStream<'a> {
    pub id: u64,
    pub slot: &'a Arc<FrameSlot>,
    /// Larger is more important: the tile's size in pixels, more for a selected or maximised
    /// tile.
    pub priority: f64,
}

#[derive(Default)]
struct Seen {
    published: u64,
    /// Pixels per second when decoding every picture (last measured so).
    full_rate: f64,
    /// Pixels per second over the last period.
    rate: f64,
}

/// One decoder kind's load, for the meter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    pub kind: DecoderKind,
    /// Decoded pixels per second.
    pub used: f64,
    pub limit: f64,
    /// Streams on keyframes only.
    pub degraded: usize,
}

/// Balances the decoders' load against their budgets.
pub struct DecodeBudget {
    limits: HashMap<DecoderKind, f64>,
    seen: HashMap<u64, Seen>,
    last: Option<Instant>,
    loads: Vec<Load>,
}

impl Default for DecodeBudget {
    fn default() -> DecodeBudget {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        DecodeBudget::new(&[
            (
                DecoderKind::Software,
                cores * SOFTWARE_MPX_PER_CORE * SOFTWARE_SHARE * 1e6,
            ),
            (DecoderKind::Nvidia, NVDEC_MPX * 1e6),
            (DecoderKind::VaApi, VAAPI_MPX * 1e6),
            (DecoderKind::Direct3D, VAAPI_MPX * 1e6),
        ])
    }
}

impl DecodeBudget {
    /// Budgets in decoded pixels per second.
    pub fn new(limits: &[(DecoderKind, f64)]) -> DecodeBudget {
        DecodeBudget {
            limits: limits.iter().copied().collect(),
            seen: HashMap::new(),
            last: None,
            loads: Vec::new(),
        }
    }

    /// Each decoder kind's load at the last balance.
    pub fn loads(&self) -> &[Load] {
        &self.loads
    }

    /// A stream's decoded pixels per second over the last period.
    pub fn rate(&self, id: u64) -> f64 {
        self.seen.get(&id).map(|e| e.rate).unwrap_or(0.0)
    }

    /// Measures and rebalances once a second (call every frame).
    pub fn balance(&mut self, streams: &[BudgetStream<'_>]) {
        self.balance_at(Instant::now(), streams);
    }

    /// [`balance`](Self::balance) at `now` (tests).
    pub fn balance_at(&mut self, now: Instant, streams: &[BudgetStream<'_>]) {
        let dt = match self.last {
            Some(t) if now.duration_since(t) < PERIOD => return,
            Some(t) => now.duration_since(t).as_secs_f64(),
            None => {
                self.last = Some(now);
                for s in streams {
                    self.seen.entry(s.id).or_default().published = s.slot.stats().published;
                }
                return;
            }
        };
        self.last = Some(now);
        // Measure.
        let mut by_kind: HashMap<DecoderKind, Vec<&BudgetStream<'_>>> = HashMap::new();
        for s in streams {
            let published = s.slot.stats().published;
            let px = s
                .slot
                .last()
                .map(|f| f.width as f64 * f.height as f64)
                .unwrap_or(0.0);
            let e = self.seen.entry(s.id).or_default();
            e.rate = published.saturating_sub(e.published) as f64 / dt * px;
            e.published = published;
            if !s.slot.keyframes_only() && e.rate > 0.0 {
                e.full_rate = e.rate;
            }
            by_kind
                .entry(DecoderKind::of(&s.slot.decoder()))
                .or_default()
                .push(s);
        }
        let ids: std::collections::HashSet<u64> = streams.iter().map(|s| s.id).collect();
        self.seen.retain(|id, _| ids.contains(id));
        // Decide, kind by kind.
        self.loads.clear();
        let mut kinds: Vec<_> = by_kind.into_iter().collect();
        kinds.sort_by_key(|(k, _)| *k);
        for (kind, mut list) in kinds {
            let limit = self.limits.get(&kind).copied().unwrap_or(f64::INFINITY);
            let rate = |s: &BudgetStream<'_>| self.seen.get(&s.id).map(|e| e.rate).unwrap_or(0.0);
            let full = |s: &BudgetStream<'_>| {
                self.seen
                    .get(&s.id)
                    .map(|e| e.full_rate.max(e.rate))
                    .unwrap_or(0.0)
            };
            // What the decoders would do with everything at full rate but the degraded ones.
            let mut projected: f64 = list
                .iter()
                .map(|s| {
                    if s.slot.keyframes_only() {
                        rate(s)
                    } else {
                        full(s)
                    }
                })
                .sum();
            list.sort_by(|a, b| a.priority.total_cmp(&b.priority));
            if projected > limit {
                // Least important first, to keyframes only (about a GOP's worth less).
                for s in list.iter().filter(|s| !s.slot.keyframes_only()) {
                    if projected <= limit {
                        break;
                    }
                    s.slot.set_keyframes_only(true);
                    projected -= full(s) * (1.0 - 1.0 / 25.0);
                }
            } else {
                // Most important first, back to every picture while it stays well inside.
                for s in list.iter().rev().filter(|s| s.slot.keyframes_only()) {
                    let extra = full(s) - rate(s);
                    if projected + extra > limit * RESTORE_BELOW {
                        break;
                    }
                    s.slot.set_keyframes_only(false);
                    projected += extra;
                }
            }
            self.loads.push(Load {
                kind,
                used: list.iter().map(|s| rate(s)).sum(),
                limit,
                degraded: list.iter().filter(|s| s.slot.keyframes_only()).count(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Colorimetry, Frame};

    #[test]
    fn each_decoder_element_says_which_hardware_it_uses() {
        for (element, kind, label) in [
            ("avdec_h264", DecoderKind::Software, "software"),
            ("nvh265dec", DecoderKind::Nvidia, "NVDEC"),
            ("vah264dec", DecoderKind::VaApi, "VA-API"),
            ("d3d12h264dec", DecoderKind::Direct3D, "Direct3D"),
            ("d3d11h265dec", DecoderKind::Direct3D, "Direct3D"),
        ] {
            assert_eq!(DecoderKind::of(element), kind, "{element}");
            assert_eq!(kind.label(), label);
        }
    }

    fn publish(slot: &FrameSlot, n: usize) {
        for _ in 0..n {
            slot.publish(Frame::from_i420(
                100,
                100,
                Colorimetry::default(),
                vec![0; 10_000],
                vec![128; 2500],
                vec![128; 2500],
            ));
        }
    }

    #[test]
    fn the_least_important_streams_drop_to_keyframes_first_and_come_back_first_last() {
        // Budget: 25 pictures of 100x100 a second, 50_000 px/s... for 4 streams at 25 fps
        // (250_000 px/s each) a budget of 600_000 px/s holds two of them at full rate.
        let slots: Vec<Arc<FrameSlot>> = (0..4).map(|_| FrameSlot::new()).collect();
        for s in &slots {
            s.set_decoder("avdec_h264");
        }
        let mut b = DecodeBudget::new(&[(DecoderKind::Software, 600_000.0)]);
        let streams: Vec<BudgetStream<'_>> = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| BudgetStream {
                id: i as u64,
                slot,
                priority: i as f64,
            })
            .collect();
        let t0 = Instant::now();
        b.balance_at(t0, &streams);
        for s in &slots {
            publish(s, 25);
        }
        b.balance_at(t0 + PERIOD, &streams);
        let degraded: Vec<bool> = slots.iter().map(|s| s.keyframes_only()).collect();
        assert_eq!(
            degraded,
            [true, true, false, false],
            "the two least important"
        );
        let load = b.loads()[0];
        assert_eq!((load.kind, load.degraded), (DecoderKind::Software, 2));
        assert!((load.used - 1_000_000.0).abs() < 1.0, "{load:?}");
        // Now the two degraded streams send a keyframe a second; the budget gets room for one.
        let mut b2 = DecodeBudget::new(&[(DecoderKind::Software, 1_000_000.0)]);
        b2.seen = b.seen;
        b2.last = b.last;
        for (i, s) in slots.iter().enumerate() {
            publish(s, if i < 2 { 1 } else { 25 });
        }
        b2.balance_at(t0 + 2 * PERIOD, &streams);
        let degraded: Vec<bool> = slots.iter().map(|s| s.keyframes_only()).collect();
        assert_eq!(
            degraded,
            [true, false, false, false],
            "the more important comes back"
        );
    }
}
