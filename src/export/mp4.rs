//! A whole (progressive) MP4 of recorded samples, without re-encoding: `ftyp`, `moov` with the
//! complete sample tables and an edit list, then one `mdat` holding the samples' bytes exactly
//! as recorded. The `moov` comes first, so players start at once, and its size is known before
//! any sample is copied (64-bit chunk offsets, a 64-bit `mdat` header).

use crate::record::fmp4::{Boxes, TrackConfig, VideoCodec, media_info};

const TIMESCALE: u32 = 90_000;
/// Seconds from 1904-01-01 (the MP4 epoch) to 1970-01-01.
const MP4_EPOCH_OFFSET_S: i64 = 2_082_844_800;

/// One sample of the file to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutSample {
    pub size: u32,
    pub duration_90k: u32,
    pub keyframe: bool,
}

/// What the `moov` says besides the samples.
#[derive(Clone, Debug)]
pub struct Movie {
    pub track: TrackConfig,
    /// Creation time of the footage (its first shown instant), UTC ns.
    pub created_utc_ns: i64,
    /// Where presentation starts in the track, 90 kHz ticks from its first sample (the range
    /// asked can start after the keyframe the file must start on).
    pub edit_start_90k: u64,
    /// How long is shown from there, 90 kHz ticks.
    pub edit_duration_90k: u64,
}

/// Length of the `mdat` header written by [`header`].
const MDAT_HEADER: u64 = 16;

/// `ftyp` + `moov` + the `mdat` header for `samples`; their bytes, in order, follow it.
pub fn header(movie: &Movie, samples: &[OutSample]) -> Vec<u8> {
    // The chunk offset is the header's own length: build once to measure, then for real
    // (every field has a fixed size, so the length does not change).
    let probe = build(movie, samples, 0);
    build(movie, samples, probe.len() as u64)
}

fn build(movie: &Movie, samples: &[OutSample], data_offset: u64) -> Vec<u8> {
    let mut b = Boxes::new();
    let media_90k: u64 = samples.iter().map(|s| s.duration_90k as u64).sum();
    let created =
        (movie.created_utc_ns.div_euclid(1_000_000_000) + MP4_EPOCH_OFFSET_S).max(0) as u64;

    b.begin(b"ftyp");
    b.bytes(b"isom");
    b.u32(0x200);
    for brand in [
        b"isom",
        b"iso2",
        b"mp41",
        if movie.track.codec == VideoCodec::H264 {
            b"avc1"
        } else {
            b"hvc1"
        },
    ] {
        b.bytes(brand);
    }
    b.end();

    b.begin(b"moov");
    b.full(b"mvhd", 1, 0);
    b.u64(created);
    b.u64(created);
    b.u32(TIMESCALE);
    b.u64(movie.edit_duration_90k);
    b.u32(0x0001_0000);
    b.u16(0x0100);
    b.zeros(10);
    b.matrix();
    b.zeros(24);
    b.u32(2);
    b.end();

    b.begin(b"trak");
    b.full(b"tkhd", 1, 0x3);
    b.u64(created);
    b.u64(created);
    b.u32(1);
    b.u32(0);
    b.u64(movie.edit_duration_90k);
    b.zeros(8);
    b.u16(0);
    b.u16(0);
    b.u16(0);
    b.u16(0);
    b.matrix();
    b.u32((movie.track.width as u32) << 16);
    b.u32((movie.track.height as u32) << 16);
    b.end();

    // The edit list: show [edit_start, edit_start + duration) of the media.
    b.begin(b"edts");
    b.full(b"elst", 1, 0);
    b.u32(1);
    b.u64(movie.edit_duration_90k);
    b.u64(movie.edit_start_90k);
    b.u16(1); // rate 1.0
    b.u16(0);
    b.end();
    b.end();

    b.begin(b"mdia");
    b.full(b"mdhd", 1, 0);
    b.u64(created);
    b.u64(created);
    b.u32(TIMESCALE);
    b.u64(media_90k);
    b.u16(0x55c4);
    b.u16(0);
    b.end();
    media_info(&mut b, &movie.track);

    // stts: runs of equal durations.
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for s in samples {
        match runs.last_mut() {
            Some((n, d)) if *d == s.duration_90k => *n += 1,
            _ => runs.push((1, s.duration_90k)),
        }
    }
    b.full(b"stts", 0, 0);
    b.u32(runs.len() as u32);
    for (n, d) in runs {
        b.u32(n);
        b.u32(d);
    }
    b.end();
    // stss: the keyframes, numbered from 1.
    b.full(b"stss", 0, 0);
    let keys: Vec<u32> = (1..)
        .zip(samples)
        .filter(|(_, s)| s.keyframe)
        .map(|(i, _)| i)
        .collect();
    b.u32(keys.len() as u32);
    for k in keys {
        b.u32(k);
    }
    b.end();
    // One chunk holds every sample: they lie back to back in the mdat.
    b.full(b"stsc", 0, 0);
    b.u32(1);
    b.u32(1);
    b.u32(samples.len() as u32);
    b.u32(1);
    b.end();
    b.full(b"stsz", 0, 0);
    b.u32(0);
    b.u32(samples.len() as u32);
    for s in samples {
        b.u32(s.size);
    }
    b.end();
    b.full(b"co64", 0, 0);
    b.u32(1);
    b.u64(data_offset);
    b.end();
    b.end(); // stbl
    b.end(); // minf
    b.end(); // mdia
    b.end(); // trak
    b.end(); // moov

    let payload: u64 = samples.iter().map(|s| s.size as u64).sum();
    b.u32(1); // 64-bit size follows
    b.bytes(b"mdat");
    b.u64(MDAT_HEADER + payload);
    b.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_offset_points_past_the_header() {
        let movie = Movie {
            track: TrackConfig {
                codec: VideoCodec::H264,
                width: 640,
                height: 360,
                decoder_config: vec![1, 0x42, 0, 0x1e, 0xff, 0xe0, 0],
            },
            created_utc_ns: 1_700_000_000_000_000_000,
            edit_start_90k: 3600,
            edit_duration_90k: 90_000,
        };
        let samples = [
            OutSample {
                size: 10,
                duration_90k: 3600,
                keyframe: true,
            },
            OutSample {
                size: 4,
                duration_90k: 3600,
                keyframe: false,
            },
        ];
        let h = header(&movie, &samples);
        let co64 = h.windows(4).position(|w| w == b"co64").expect("co64");
        let offset = u64::from_be_bytes(h[co64 + 12..co64 + 20].try_into().unwrap());
        assert_eq!(offset, h.len() as u64);
        assert_eq!(&h[h.len() - 12..h.len() - 8], b"mdat");
        let mdat = u64::from_be_bytes(h[h.len() - 8..].try_into().unwrap());
        assert_eq!(mdat, 16 + 14);
    }
}
