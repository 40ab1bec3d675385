//! Distances and directions on the ground, and patrol arrival estimates.

/// Mean Earth radius, metres.
const EARTH_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two (latitude, longitude) points in degrees.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_M * h.sqrt().min(1.0).asin()
}

/// Initial bearing from `a` to `b`, degrees clockwise from north (0..360).
pub fn bearing_deg(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let dlo = (b.1 - a.1).to_radians();
    let y = dlo.sin() * la2.cos();
    let x = la1.cos() * la2.sin() - la1.sin() * la2.cos() * dlo.cos();
    (y.atan2(x).to_degrees() + 360.0) % 360.0
}

/// Streets are longer than the straight line: the usual urban detour factor.
pub const DETOUR: f64 = 1.35;
/// Average speed of a patrol answering a call in town, km/h (lights and siren).
pub const URBAN_KMH: f64 = 30.0;

/// Estimated time for a patrol `distance_m` away (straight line) to arrive, seconds.
pub fn eta_s(distance_m: f64) -> f64 {
    distance_m * DETOUR / (URBAN_KMH / 3.6)
}

/// Web Mercator: (latitude, longitude) to world coordinates in 0..1 (x east, y south).
pub fn mercator(lat: f64, lon: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0;
    (x, y)
}

/// The inverse of [`mercator`].
pub fn unmercator(x: f64, y: f64) -> (f64, f64) {
    let lon = x * 360.0 - 180.0;
    let n = std::f64::consts::PI * (1.0 - 2.0 * y);
    (n.sinh().atan().to_degrees(), lon)
}

/// The `n` points of `points` nearest to `at` within `within_m`, nearest first.
pub fn nearest<'a, T>(
    at: (f64, f64),
    points: impl IntoIterator<Item = (&'a T, (f64, f64))>,
    n: usize,
    within_m: f64,
) -> Vec<(&'a T, f64)>
where
    T: ?Sized + 'a,
{
    let mut found: Vec<(&T, f64)> = points
        .into_iter()
        .map(|(t, p)| (t, distance_m(at, p)))
        .filter(|(_, d)| *d <= within_m)
        .collect();
    found.sort_by(|a, b| a.1.total_cmp(&b.1));
    found.truncate(n);
    found
}

/// "2 min 17 s".
pub fn eta_label(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_bearings_and_projection() {
        // Valenciennes, Place d'Armes to the station: about 1.1 km west-north-west.
        let place = (50.35717, 3.52628);
        let gare = (50.36290, 3.51641);
        let d = distance_m(place, gare);
        assert!((900.0..1100.0).contains(&d), "{d}");
        let b = bearing_deg(place, gare);
        assert!((300.0..330.0).contains(&b), "{b}");
        // One degree of latitude is about 111.2 km everywhere.
        let one = distance_m((50.0, 3.0), (51.0, 3.0));
        assert!((one - 111_195.0).abs() < 50.0, "{one}");
        let (x, y) = mercator(place.0, place.1);
        let back = unmercator(x, y);
        assert!((back.0 - place.0).abs() < 1e-9 && (back.1 - place.1).abs() < 1e-9);
        assert!((eta_s(1000.0) - 162.0).abs() < 0.5);
        let pts = [("a", (50.0, 3.0)), ("b", (50.001, 3.0)), ("c", (50.1, 3.0))];
        let near = nearest((50.0, 3.0), pts.iter().map(|(n, p)| (*n, *p)), 5, 1000.0);
        let names: Vec<&str> = near.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
