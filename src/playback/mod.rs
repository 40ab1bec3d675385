//! Playback of recorded footage: the picture of a camera at any instant, exact to the frame.
//!
//! A seek asks the index for the segment and the keyframe at or before the instant (no file
//! scanning), reads that one fragment (our segments hold one GOP per fragment), decodes from
//! the keyframe forward to the picture whose interval contains the instant and shows it. The
//! decoded pictures of the last GOPs stay in a bounded cache: stepping forward continues the
//! decode where it stopped, stepping or playing backward decodes the previous GOP forward and
//! shows it backward. Pictures are `media::Frame`s, the live path's type, so tiles, shaders and
//! overlays are shared.
//!
//! Contract: no egui or wgpu here; readers of the index only (never blocks the recorder).

pub mod decode;
pub mod redact;
pub mod source;
pub mod timeline;
pub mod worker;

use std::collections::VecDeque;
use std::path::Path;

use crate::ingest::VideoCodec;
use crate::media::Frame;
use crate::record::fmp4;
use crate::store::StoreError;
use decode::GopDecoder;
pub use source::{FootageSource, LocalFootage, Near, RawGop};

/// Why a picture cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("camera {camera}: nothing recorded at {at}")]
    NoFootage { camera: String, at: String },
    #[error("{path}: damaged segment: {why}")]
    Damaged { path: String, why: String },
    #[error("decoding {path}: {why}")]
    Decode { path: String, why: String },
    /// The site server could not answer (the message says why).
    #[error("{0}")]
    Server(String),
}

/// A picture and the interval of the timeline it stands for.
#[derive(Clone)]
pub struct Shown {
    pub frame: Frame,
    /// When it was captured: the start of its interval.
    pub start_utc_ns: i64,
    /// When the next picture was captured.
    pub end_utc_ns: i64,
    pub segment_id: i64,
}

/// The pictures of one GOP decoded so far.
struct Gop {
    raw: RawGop,
    frames: Vec<Frame>,
}

impl Gop {
    fn interval(&self, i: usize) -> (i64, i64) {
        let s = &self.raw.samples[i];
        let row = &self.raw.segment.row;
        let start = row.start_utc_ns + ticks_ns(s.time_90k);
        let end = row.start_utc_ns + ticks_ns(s.time_90k + s.duration_90k as u64);
        (start, end.min(row.end_utc_ns).max(start + 1))
    }

    /// The sample whose interval holds `at`.
    /// (Compared in nanoseconds as [`Gop::interval`] computes them, so that the end of one
    /// interval is the start of the next whatever the rounding.)
    fn index_at(&self, at: i64) -> usize {
        let start = self.raw.segment.row.start_utc_ns;
        self.raw
            .samples
            .iter()
            .rposition(|s| start + ticks_ns(s.time_90k) <= at)
            .unwrap_or(0)
    }

    fn span(&self) -> (i64, i64) {
        (
            self.interval(0).0,
            self.interval(self.raw.samples.len() - 1).1,
        )
    }
}

/// 90 kHz ticks as nanoseconds.
pub(crate) fn ticks_ns(t90: u64) -> i64 {
    (t90 as i128 * 1_000_000_000 / 90_000) as i64
}

/// GOPs kept decoded per player: the one shown and the one before or after it.
const CACHED_GOPS: usize = 2;

/// Plays one camera's recordings.
pub struct Player {
    camera: String,
    source: Box<dyn FootageSource>,
    decoder: Option<(VideoCodec, Vec<u8>, GopDecoder)>,
    /// Most recently used first.
    cache: VecDeque<Gop>,
    /// The GOP (segment id, fragment offset) the decoder last fed, and how far.
    fed: Option<(i64, u64, usize)>,
}

impl Player {
    /// A player of `camera` over the recorder's data folder `data`.
    pub fn open(data: &Path, camera: &str) -> Result<Player, PlaybackError> {
        Ok(Player::with_source(
            Box::new(LocalFootage::open(data)?),
            camera,
        ))
    }

    /// A player of `camera` reading its GOPs from `source` (the site server, for a workstation).
    pub fn with_source(source: Box<dyn FootageSource>, camera: &str) -> Player {
        Player {
            camera: camera.to_owned(),
            source,
            decoder: None,
            cache: VecDeque::new(),
            fed: None,
        }
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// The picture whose interval contains `at_utc_ns`.
    pub fn frame_at(&mut self, at_utc_ns: i64) -> Result<Shown, PlaybackError> {
        self.frame_near(at_utc_ns, Near::At, false)
    }

    /// The picture at `at` or, where nothing is recorded, the nearest one the way `near` says.
    fn frame_near(&mut self, at: i64, near: Near, keyframe: bool) -> Result<Shown, PlaybackError> {
        // A cached GOP first: stepping and playing stay off the index, the disk and the network.
        if let Some(pos) = self.cache.iter().position(|g| {
            let (first, last) = g.span();
            (first..last).contains(&at)
        }) {
            let gop = self.cache.remove(pos).expect("cached");
            return self.show(gop, at, keyframe);
        }
        let raw = self.source.gop(&self.camera, at, near)?;
        let gop = Gop {
            raw,
            frames: Vec::new(),
        };
        let (first, last) = gop.span();
        let at = at.clamp(first, last - 1);
        self.show(gop, at, keyframe)
    }

    /// Fast play: the keyframe of the GOP holding `at_utc_ns`, standing for the whole GOP (its
    /// interval runs to the next keyframe). One picture decoded per GOP, however fast.
    pub fn keyframe_at(&mut self, at_utc_ns: i64) -> Result<Shown, PlaybackError> {
        let mut shown = self.frame_near(at_utc_ns, Near::At, true)?;
        if let Some(gop) = self.cache.front() {
            shown.end_utc_ns = gop.span().1;
        }
        Ok(shown)
    }

    /// The picture after `shown` (across segments and over gaps); None at the end.
    pub fn next(&mut self, shown: &Shown) -> Result<Option<Shown>, PlaybackError> {
        match self.frame_near(shown.end_utc_ns, Near::After, false) {
            Ok(s) => Ok(Some(s)),
            Err(PlaybackError::NoFootage { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The picture before `shown` (across segments and over gaps); None at the start.
    pub fn previous(&mut self, shown: &Shown) -> Result<Option<Shown>, PlaybackError> {
        match self.frame_near(shown.start_utc_ns - 1, Near::Before, false) {
            Ok(s) => Ok(Some(s)),
            Err(PlaybackError::NoFootage { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Decodes `gop` as far as the picture at `at` (continuing where the decoder stopped when
    /// it last fed this GOP), caches it, and returns that picture.
    fn show(&mut self, mut gop: Gop, at: i64, keyframe: bool) -> Result<Shown, PlaybackError> {
        let want = if keyframe { 0 } else { gop.index_at(at) };
        if want >= gop.frames.len() {
            self.ensure_decoder(&gop.raw)?;
            let key = (gop.raw.segment.id, gop.raw.moof_offset);
            let resume = self
                .fed
                .is_some_and(|(s, o, n)| (s, o) == key && n == gop.frames.len());
            if !resume {
                gop.frames.clear();
            }
            let from = gop.frames.len();
            let frames = self.decode(&gop.raw, from, want)?;
            gop.frames.extend(frames);
            self.fed = Some((key.0, key.1, gop.frames.len()));
        }
        let (start, end) = gop.interval(want);
        let mut frame = gop.frames[want].clone();
        frame.capture_utc_ms = start.div_euclid(1_000_000);
        frame.timed_on_arrival =
            gop.raw.segment.row.time_source == crate::store::TimeSource::Arrival;
        let shown = Shown {
            frame,
            start_utc_ns: start,
            end_utc_ns: end,
            segment_id: gop.raw.segment.id,
        };
        self.cache.push_front(gop);
        self.cache.truncate(CACHED_GOPS);
        Ok(shown)
    }

    /// A decoder for the GOP's track (kept while the track does not change).
    fn ensure_decoder(&mut self, raw: &RawGop) -> Result<(), PlaybackError> {
        let codec = match raw.codec {
            fmp4::VideoCodec::H264 => VideoCodec::H264,
            fmp4::VideoCodec::H265 => VideoCodec::H265,
        };
        if self
            .decoder
            .as_ref()
            .is_some_and(|(c, cfg, _)| *c == codec && *cfg == raw.config)
        {
            return Ok(());
        }
        self.decoder = None;
        self.fed = None;
        let dec = GopDecoder::new(codec, &raw.config).map_err(|why| PlaybackError::Decode {
            path: raw.segment.row.path.clone(),
            why,
        })?;
        self.decoder = Some((codec, raw.config.clone(), dec));
        Ok(())
    }

    /// Decodes samples `from..=to` of `raw` (from 0, or where the decoder stopped).
    fn decode(
        &mut self,
        raw: &RawGop,
        from: usize,
        to: usize,
    ) -> Result<Vec<Frame>, PlaybackError> {
        let units: Vec<(Vec<u8>, u64)> = raw.samples[from..=to]
            .iter()
            .map(|s| {
                let at = s.offset as usize;
                (
                    raw.bytes[at..at + s.size as usize].to_vec(),
                    ticks_ns(s.time_90k) as u64,
                )
            })
            .collect();
        let Some((_, _, dec)) = self.decoder.as_mut() else {
            return Err(PlaybackError::Damaged {
                path: raw.segment.row.path.clone(),
                why: "no decoder".into(),
            });
        };
        dec.decode(units).map_err(|why| {
            // A decoder that failed mid-GOP is rebuilt for the next request.
            PlaybackError::Decode {
                path: raw.segment.row.path.clone(),
                why,
            }
        })
    }
}

pub use crate::time::rfc3339;
