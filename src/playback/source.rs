//! Where a player's footage comes from: one GOP at a time, with what decoding it needs.
//!
//! [`LocalFootage`] reads the data folder (the server, and commands run as its user): the index
//! names the segment and the keyframe at or before the instant, and one fragment is read. A
//! workstation uses the site server's GOP endpoint instead (`client::footage`), which answers
//! [`LocalFootage`]'s GOP in the [`RawGop::encode`] form; decoding stays on the workstation.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{PlaybackError, rfc3339, ticks_ns};
use crate::record::fmp4::{self, SampleInfo, VideoCodec};
use crate::store::{INDEX_FILE, Segment, SegmentRow, Store, TimeSource};

/// One GOP of a segment: its pictures' bytes, their times, and the track to decode them with.
#[derive(Clone, Debug)]
pub struct RawGop {
    /// The segment (its path is for messages; a GOP from the server names no file).
    pub segment: Segment,
    /// Where the GOP's fragment starts in its segment (with the segment id, its identity).
    pub moof_offset: u64,
    pub codec: VideoCodec,
    /// The decoder configuration (avcC or hvcC).
    pub config: Vec<u8>,
    /// The pictures in decode order; offsets are into `bytes`, times from the segment's start.
    pub samples: Vec<SampleInfo>,
    pub bytes: Vec<u8>,
}

/// Which GOP to find when nothing is recorded at the instant asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Near {
    /// Only the GOP holding the instant.
    At,
    /// Else the first GOP after it (within 30 days).
    After,
    /// Else the last GOP before it (within 30 days).
    Before,
}

impl Near {
    pub fn as_str(self) -> &'static str {
        match self {
            Near::At => "at",
            Near::After => "after",
            Near::Before => "before",
        }
    }
    pub fn parse(s: &str) -> Option<Near> {
        match s {
            "at" => Some(Near::At),
            "after" => Some(Near::After),
            "before" => Some(Near::Before),
            _ => None,
        }
    }
}

/// What a player reads its GOPs from.
pub trait FootageSource: Send {
    /// The GOP of `camera` holding `at` (or near it, as `near` says); `NoFootage` if none.
    fn gop(&mut self, camera: &str, at: i64, near: Near) -> Result<RawGop, PlaybackError>;
}

const MONTH_NS: i64 = 30 * 86_400_000_000_000;

/// Footage read from the data folder.
pub struct LocalFootage {
    data: PathBuf,
    store: Store,
}

impl LocalFootage {
    pub fn open(data: &Path) -> Result<LocalFootage, PlaybackError> {
        Ok(LocalFootage {
            data: data.to_owned(),
            store: Store::open_readonly(&data.join(INDEX_FILE))?,
        })
    }

    /// Footage of `data` read through an index connection already open.
    pub fn with_store(data: &Path, store: Store) -> LocalFootage {
        LocalFootage {
            data: data.to_owned(),
            store,
        }
    }

    /// The index connection, given back.
    pub fn into_store(self) -> Store {
        self.store
    }

    /// The GOP holding `at` exactly: indexed, or in the segment being written.
    fn gop_at(&mut self, camera: &str, at: i64) -> Result<Option<RawGop>, PlaybackError> {
        match self.store.seek(camera, at)? {
            Some(seek) => self.read_gop(seek.segment, seek.keyframe.offset).map(Some),
            None => self.live_edge(camera, at),
        }
    }

    /// Reads the fragment at `moof_offset` of `segment`, whole.
    fn read_gop(&self, segment: Segment, moof_offset: u64) -> Result<RawGop, PlaybackError> {
        let damaged = |why: String| PlaybackError::Damaged {
            path: segment.row.path.clone(),
            why,
        };
        let mut f = std::fs::File::open(self.data.join(&segment.row.path))
            .map_err(|e| damaged(e.to_string()))?;
        let (codec, config) = read_init(&mut f).map_err(damaged)?;
        // The moof of a GOP is 12 bytes a picture plus ~100: 64 KiB covers 5000 pictures.
        let mut head = vec![0u8; 64 << 10];
        f.seek(SeekFrom::Start(moof_offset))
            .map_err(|e| damaged(e.to_string()))?;
        let n = read_up_to(&mut f, &mut head).map_err(|e| damaged(e.to_string()))?;
        head.truncate(n);
        let (mut samples, _, _) = fmp4::read_fragment(&head, moof_offset)
            .ok_or_else(|| damaged(format!("no readable fragment at byte {moof_offset}")))?;
        if samples.is_empty() || !samples[0].keyframe {
            return Err(damaged(format!(
                "the fragment at byte {moof_offset} does not start with a keyframe"
            )));
        }
        let first = samples[0].offset;
        let end = samples
            .iter()
            .map(|s| s.offset + s.size as u64)
            .max()
            .unwrap_or(first);
        // Sizes are read from the file: believed only as far as the file holds them.
        let file_len = f.metadata().map_err(|e| damaged(e.to_string()))?.len();
        if end > file_len {
            return Err(damaged(format!(
                "the fragment at byte {moof_offset} lists pictures up to byte {end}, past the file's end ({file_len})"
            )));
        }
        let mut bytes = vec![0u8; (end - first) as usize];
        f.seek(SeekFrom::Start(first))
            .map_err(|e| damaged(e.to_string()))?;
        f.read_exact(&mut bytes).map_err(|e| {
            damaged(format!(
                "the pictures of the fragment at byte {moof_offset}: {e}"
            ))
        })?;
        for s in &mut samples {
            s.offset -= first;
        }
        Ok(RawGop {
            segment,
            moof_offset,
            codec,
            config,
            samples,
            bytes,
        })
    }

    /// The GOP holding `at` in the segment the recorder is still writing (not indexed until it
    /// ends): the newest file of the camera's day folder that starts after its indexed
    /// footage, read up to its last complete fragment.
    fn live_edge(&self, camera: &str, at: i64) -> Result<Option<RawGop>, PlaybackError> {
        let indexed_end = self.store.last_segment_end(camera)?.unwrap_or(i64::MIN);
        if at < indexed_end {
            return Ok(None);
        }
        let mut best: Option<(i64, PathBuf, String)> = None;
        for day_start in [at, at - 86_400_000_000_000] {
            let day = chrono::DateTime::from_timestamp_nanos(day_start)
                .format("%Y-%m-%d")
                .to_string();
            let rel_dir = format!("{camera}/{day}");
            let Ok(entries) = std::fs::read_dir(self.data.join(&rel_dir)) else {
                continue;
            };
            let prefix = format!("{camera}-");
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let start = name
                    .strip_prefix(&prefix)
                    .and_then(|n| n.strip_suffix(".mp4"))
                    .and_then(|n| n.parse::<i64>().ok());
                if let Some(start) = start
                    && start <= at
                    && start >= indexed_end.saturating_sub(1_000_000_000)
                    && best.as_ref().is_none_or(|b| start > b.0)
                {
                    best = Some((start, e.path(), format!("{rel_dir}/{name}")));
                }
            }
        }
        let Some((start, path, rel)) = best else {
            return Ok(None);
        };
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        let Some(table) = fmp4::sample_table(&bytes) else {
            return Ok(None);
        };
        let Some(last) = table.samples.last() else {
            return Ok(None);
        };
        let end = start + ticks_ns(last.time_90k + last.duration_90k as u64);
        if at >= end {
            return Ok(None);
        }
        let key = table
            .samples
            .iter()
            .rposition(|s| start + ticks_ns(s.time_90k) <= at && s.keyframe)
            .unwrap_or(0);
        let next_key = table.samples[key + 1..]
            .iter()
            .position(|s| s.keyframe)
            .map_or(table.samples.len(), |p| key + 1 + p);
        let mut samples = table.samples[key..next_key].to_vec();
        let first = samples[0].offset;
        let stop = samples
            .iter()
            .map(|s| s.offset + s.size as u64)
            .max()
            .unwrap_or(first);
        let gop_bytes = bytes[first as usize..stop as usize].to_vec();
        for s in &mut samples {
            s.offset -= first;
        }
        let segment = Segment {
            // Not indexed yet: an id of its own that no row has.
            id: -start,
            row: SegmentRow {
                camera_id: camera.to_owned(),
                start_utc_ns: start,
                end_utc_ns: end,
                path: rel,
                bytes: bytes.len() as u64,
                sha256: [0; 32],
                codec: codec_name(table.codec).into(),
                keyframes: Vec::new(),
                time_source: TimeSource::Arrival,
            },
        };
        Ok(Some(RawGop {
            segment,
            moof_offset: first,
            codec: table.codec,
            config: table.decoder_config.clone(),
            samples,
            bytes: gop_bytes,
        }))
    }
}

impl FootageSource for LocalFootage {
    fn gop(&mut self, camera: &str, at: i64, near: Near) -> Result<RawGop, PlaybackError> {
        if let Some(g) = self.gop_at(camera, at)? {
            return Ok(g);
        }
        let found = match near {
            Near::At => None,
            Near::After => match self.store.segments(camera, at, at + MONTH_NS)?.first() {
                Some(s) => self.gop_at(camera, s.row.start_utc_ns.max(at))?,
                None => None,
            },
            Near::Before => match self.store.segments(camera, at - MONTH_NS, at)?.last() {
                Some(s) => self.gop_at(camera, (s.row.end_utc_ns - 1).min(at))?,
                None => None,
            },
        };
        found.ok_or_else(|| PlaybackError::NoFootage {
            camera: camera.to_owned(),
            at: rfc3339(at),
        })
    }
}

pub(crate) fn codec_name(c: VideoCodec) -> &'static str {
    match c {
        VideoCodec::H264 => "h264",
        VideoCodec::H265 => "h265",
    }
}

/// The codec and decoder configuration of the file's init segment.
fn read_init(f: &mut std::fs::File) -> Result<(VideoCodec, Vec<u8>), String> {
    let mut head = vec![0u8; 16 << 10];
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let n = read_up_to(f, &mut head).map_err(|e| e.to_string())?;
    let (codec, config, _, _) =
        fmp4::read_track(&head[..n]).ok_or_else(|| "no readable init segment".to_owned())?;
    Ok((codec, config))
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The wire form of a GOP: its description as JSON, then its bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    segment_id: i64,
    camera: String,
    start_utc_ns: i64,
    end_utc_ns: i64,
    time_source: String,
    moof_offset: u64,
    codec: String,
    config: String,
    /// (size, time_90k, duration_90k, keyframe), in order; each picture follows the one before.
    samples: Vec<(u32, u64, u32, bool)>,
}

impl RawGop {
    /// `u32` big-endian length of a JSON header, the header, then the pictures' bytes in order.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.bytes.len());
        let mut samples = Vec::with_capacity(self.samples.len());
        for s in &self.samples {
            let at = s.offset as usize;
            bytes.extend_from_slice(&self.bytes[at..at + s.size as usize]);
            samples.push((s.size, s.time_90k, s.duration_90k, s.keyframe));
        }
        let header = Header {
            segment_id: self.segment.id,
            camera: self.segment.row.camera_id.clone(),
            start_utc_ns: self.segment.row.start_utc_ns,
            end_utc_ns: self.segment.row.end_utc_ns,
            time_source: self.segment.row.time_source.as_str().into(),
            moof_offset: self.moof_offset,
            codec: codec_name(self.codec).into(),
            config: crate::auth::audit::hex(&self.config),
            samples,
        };
        let json = serde_json::to_vec(&header).unwrap_or_default();
        let mut out = Vec::with_capacity(4 + json.len() + bytes.len());
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&bytes);
        out
    }

    /// Reads [`RawGop::encode`]'s form; the error says what is wrong with it.
    pub fn decode(wire: &[u8]) -> Result<RawGop, String> {
        let len = wire
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or("shorter than its header's length")?;
        let json = wire.get(4..4 + len).ok_or("shorter than its header")?;
        let h: Header = serde_json::from_slice(json).map_err(|e| format!("header: {e}"))?;
        let bytes = wire[4 + len..].to_vec();
        let mut offset = 0u64;
        let mut samples = Vec::with_capacity(h.samples.len());
        for (size, time_90k, duration_90k, keyframe) in h.samples {
            samples.push(SampleInfo {
                offset,
                size,
                time_90k,
                duration_90k,
                keyframe,
            });
            offset += size as u64;
        }
        if offset != bytes.len() as u64 {
            return Err(format!(
                "{} bytes of pictures where the header lists {offset}",
                bytes.len()
            ));
        }
        if samples.first().is_none_or(|s| !s.keyframe) {
            return Err("it does not start with a keyframe".into());
        }
        let codec = match h.codec.as_str() {
            "h264" => VideoCodec::H264,
            "h265" => VideoCodec::H265,
            other => return Err(format!("codec {other:?}")),
        };
        let config = crate::auth::audit::unhex(&h.config).ok_or("config: not hex")?;
        Ok(RawGop {
            segment: Segment {
                id: h.segment_id,
                row: SegmentRow {
                    path: format!("{} segment from {}", h.camera, rfc3339(h.start_utc_ns)),
                    camera_id: h.camera,
                    start_utc_ns: h.start_utc_ns,
                    end_utc_ns: h.end_utc_ns,
                    bytes: 0,
                    sha256: [0; 32],
                    codec: h.codec,
                    keyframes: Vec::new(),
                    time_source: TimeSource::parse(&h.time_source).unwrap_or(TimeSource::Arrival),
                },
            },
            moof_offset: h.moof_offset,
            codec,
            config,
            samples,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gop_survives_its_wire_form() {
        let gop = RawGop {
            segment: Segment {
                id: 7,
                row: SegmentRow {
                    camera_id: "cam001".into(),
                    start_utc_ns: 1_000,
                    end_utc_ns: 2_000_000_000,
                    path: "cam001 segment from 1970-01-01T00:00:00.000001Z".into(),
                    bytes: 0,
                    sha256: [0; 32],
                    codec: "h264".into(),
                    keyframes: Vec::new(),
                    time_source: TimeSource::Rtcp,
                },
            },
            moof_offset: 1234,
            codec: VideoCodec::H264,
            config: vec![1, 2, 3],
            samples: vec![
                SampleInfo {
                    offset: 0,
                    size: 3,
                    time_90k: 0,
                    duration_90k: 3600,
                    keyframe: true,
                },
                SampleInfo {
                    offset: 3,
                    size: 2,
                    time_90k: 3600,
                    duration_90k: 3600,
                    keyframe: false,
                },
            ],
            bytes: vec![9, 9, 9, 8, 8],
        };
        let wire = gop.encode();
        let back = RawGop::decode(&wire).expect("decoded");
        assert_eq!(back.samples, gop.samples);
        assert_eq!(back.bytes, gop.bytes);
        assert_eq!(back.config, gop.config);
        assert_eq!(back.segment.row.start_utc_ns, 1_000);
        assert_eq!(back.segment.row.time_source, TimeSource::Rtcp);
        // A cut answer is refused, naming why.
        let e = RawGop::decode(&wire[..wire.len() - 1]).expect_err("cut");
        assert!(e.contains("bytes of pictures"), "{e}");
        assert!(RawGop::decode(&wire[..3]).is_err());
    }
}
