//! The timecode stripe that `vigie camsim` burns into every picture, and its reader.
//!
//! The stripe spans the full width at the top of the picture; its height is
//! [`stripe_height`]. It is split into [`TIMECODE_CELLS`] equal cells; cell `k` (0 = left) is
//! white (Y = 235) when bit `47 - k` of the capture time in milliseconds since the Unix epoch
//! (UTC) is set, black (Y = 16) otherwise.

/// Number of cells (bits) in the stripe.
pub const TIMECODE_CELLS: u32 = 48;

/// Stripe height for a picture `height` pixels tall: `max(8, height / 16)`, rounded down to
/// an even number.
pub fn stripe_height(height: u32) -> u32 {
    ((height / 16) & !1).max(8)
}

/// Reads the stripe of a `width` x `height` picture through `luma(x, y)`, which returns the
/// brightness (0..=255) of a pixel; it works on decoded Y planes and on rendered RGB alike.
/// Each cell is sampled at its centre on the stripe's middle row.
pub fn decode_timecode_luma(width: u32, height: u32, luma: impl Fn(u32, u32) -> u8) -> i64 {
    let y = stripe_height(height) / 2;
    let mut value: i64 = 0;
    for k in 0..TIMECODE_CELLS {
        let x = ((2 * k + 1) as u64 * width as u64 / (2 * TIMECODE_CELLS as u64)) as u32;
        let bit = luma(x.min(width - 1), y) > 125;
        value = (value << 1) | bit as i64;
    }
    value
}

/// Cell `k` covers the pixel columns `cell_span(k, width)`.
pub fn cell_span(k: u32, width: u32) -> std::ops::Range<u32> {
    let a = (k as u64 * width as u64 / TIMECODE_CELLS as u64) as u32;
    let b = ((k + 1) as u64 * width as u64 / TIMECODE_CELLS as u64) as u32;
    a..b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_height_is_even_and_at_least_eight() {
        assert_eq!(stripe_height(360), 22);
        assert_eq!(stripe_height(720), 44);
        assert_eq!(stripe_height(1080), 66);
        assert_eq!(stripe_height(100), 8);
    }

    #[test]
    fn a_painted_stripe_reads_back() {
        let (w, h) = (640u32, 360u32);
        let t: i64 = 1_795_000_123_456;
        let mut row = vec![16u8; w as usize];
        for k in 0..TIMECODE_CELLS {
            if (t >> (47 - k)) & 1 == 1 {
                for x in cell_span(k, w) {
                    row[x as usize] = 235;
                }
            }
        }
        assert_eq!(decode_timecode_luma(w, h, |x, _| row[x as usize]), t);
    }
}
