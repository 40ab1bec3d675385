//! The compact keyframe index stored with each segment: LEB128 varints, per keyframe the
//! delta of its time (90 kHz ticks from the segment start) and of its byte offset in the file,
//! each from the previous keyframe. A 60 s segment with a 2 s GOP takes about 150 bytes.

/// One keyframe of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyframe {
    /// Time from the segment's start, 90 kHz ticks.
    pub time_90k: u64,
    /// Byte offset of the keyframe's sample (or fragment) in the segment file.
    pub offset: u64,
}

/// Why a stored index cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("keyframe index is damaged at byte {at}")]
pub struct KeyframeIndexError {
    pub at: usize,
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get(data: &[u8], pos: &mut usize) -> Result<u64, KeyframeIndexError> {
    let start = *pos;
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some(&b) = data.get(*pos) else {
            return Err(KeyframeIndexError { at: start });
        };
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(KeyframeIndexError { at: start })
}

/// Encodes keyframes given in increasing time and offset.
pub fn encode(keyframes: &[Keyframe]) -> Vec<u8> {
    let mut out = Vec::with_capacity(keyframes.len() * 5);
    let (mut t, mut o) = (0u64, 0u64);
    for k in keyframes {
        put(&mut out, k.time_90k.saturating_sub(t));
        put(&mut out, k.offset.saturating_sub(o));
        (t, o) = (k.time_90k, k.offset);
    }
    out
}

/// Decodes a whole index.
pub fn decode(data: &[u8]) -> Result<Vec<Keyframe>, KeyframeIndexError> {
    let mut out = Vec::new();
    let (mut pos, mut t, mut o) = (0usize, 0u64, 0u64);
    while pos < data.len() {
        t += get(data, &mut pos)?;
        o += get(data, &mut pos)?;
        out.push(Keyframe {
            time_90k: t,
            offset: o,
        });
    }
    Ok(out)
}

/// The last keyframe at or before `time_90k` (the first one when `time_90k` precedes it),
/// found without building the whole list.
pub fn at_or_before(data: &[u8], time_90k: u64) -> Result<Option<Keyframe>, KeyframeIndexError> {
    let (mut pos, mut t, mut o) = (0usize, 0u64, 0u64);
    let mut found = None;
    while pos < data.len() {
        t += get(data, &mut pos)?;
        o += get(data, &mut pos)?;
        if t > time_90k && found.is_some() {
            break;
        }
        found = Some(Keyframe {
            time_90k: t,
            offset: o,
        });
        if t > time_90k {
            break;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lookup() {
        let ks: Vec<Keyframe> = (0..30)
            .map(|i| Keyframe {
                time_90k: i * 180_000,
                offset: i * 250_000 + 40,
            })
            .collect();
        let enc = encode(&ks);
        assert!(enc.len() <= 30 * 6, "{} bytes", enc.len());
        assert_eq!(decode(&enc), Ok(ks.clone()));
        assert_eq!(at_or_before(&enc, 0), Ok(Some(ks[0])));
        assert_eq!(at_or_before(&enc, 180_000 * 5 + 1), Ok(Some(ks[5])));
        assert_eq!(at_or_before(&enc, u64::MAX), Ok(Some(ks[29])));
        assert_eq!(at_or_before(&[], 10), Ok(None));
        assert!(decode(&enc[..enc.len() - 1]).is_err());
    }
}
