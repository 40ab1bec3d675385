//! Polygons of a picture: privacy masks, motion zones.

/// A privacy mask: a polygon of the picture, its points in fractions of the picture's width
/// and height (0..1, y down). The compositor paints it in `render::MASK_RGB`, whatever the video.
pub type Polygon = Vec<[f32; 2]>;

/// True when `(x, y)` (picture fractions) is inside `poly`: the even-odd rule, as the shader
/// applies it.
pub fn polygon_contains(poly: &Polygon, x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = poly.len().wrapping_sub(1);
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > y) != (b[1] > y) {
            let cx = (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0];
            if x < cx {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}
