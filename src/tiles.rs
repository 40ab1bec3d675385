//! Map backgrounds: raster tiles from an XYZ tile service (the city's GIS) kept in a disk cache,
//! from an MBTiles file, or one georeferenced image.
//!
//! Contract: [`TileLoader`] is a thread ("map tiles") that answers tile requests with decoded
//! RGBA pictures or an error; the UI never waits for it. A tile fetched once is kept on disk, so
//! the map works offline with what was seen. Nothing here knows egui or wgpu.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// Where the map's background comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Background {
    /// No background: a projected grid with a scale bar and coordinates.
    Grid,
    /// `http(s)://gis.example/tiles/{z}/{x}/{y}.png`, cached under `cache`; https servers are
    /// checked against the system's trust store and `ca` (a PEM file, the site's own CA).
    Xyz {
        template: String,
        cache: PathBuf,
        ca: Option<PathBuf>,
    },
    /// An MBTiles file (PNG or JPEG tiles).
    MbTiles(PathBuf),
    /// A PNG or JPEG image covering (south, west, north, east) in degrees.
    Image { path: PathBuf, bounds: [f64; 4] },
}

impl Background {
    /// Reads a `--map` value: an http(s) template with {z}/{x}/{y}, an `.mbtiles` file, or a
    /// `.png` image with its bounds.
    pub fn parse(
        spec: &str,
        bounds: Option<[f64; 4]>,
        cache_root: &Path,
    ) -> Result<Background, String> {
        if spec.starts_with("http://") || spec.starts_with("https://") {
            for k in ["{z}", "{x}", "{y}"] {
                if !spec.contains(k) {
                    return Err(format!(
                        "--map {spec:?}: a tile URL needs {{z}}, {{x}} and {{y}}"
                    ));
                }
            }
            use sha2::Digest;
            let h: [u8; 32] = sha2::Sha256::digest(spec.as_bytes()).into();
            let cache = cache_root.join(crate::auth::audit::hex(&h[..8]));
            return Ok(Background::Xyz {
                template: spec.to_owned(),
                cache,
                ca: None,
            });
        }
        let path = PathBuf::from(spec);
        if !path.is_file() {
            return Err(format!("--map {spec:?}: no such file"));
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("mbtiles") => Ok(Background::MbTiles(path)),
            Some("png" | "jpg" | "jpeg") => {
                let bounds = bounds.ok_or_else(|| {
                    format!("--map {spec:?}: an image needs --map-bounds SOUTH,WEST,NORTH,EAST")
                })?;
                if !(bounds[0] < bounds[2] && bounds[1] < bounds[3]) {
                    return Err("--map-bounds: south < north and west < east".into());
                }
                Ok(Background::Image { path, bounds })
            }
            _ => Err(format!(
                "--map {spec:?}: give a tile URL, an .mbtiles file or a .png or .jpg image"
            )),
        }
    }
}

/// A decoded picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// The largest side of a map tile, in pixels: dimensions are checked against it from the
/// header, before any picture buffer is allocated (a crafted tile claiming 65535x65535 asks
/// for nothing).
pub const MAX_TILE_SIDE: u32 = 4096;

fn check_side(w: u32, h: u32) -> Result<(), String> {
    if w == 0 || h == 0 || w > MAX_TILE_SIDE || h > MAX_TILE_SIDE {
        return Err(format!(
            "{w}x{h}: a tile is at most {MAX_TILE_SIDE}x{MAX_TILE_SIDE}"
        ));
    }
    Ok(())
}

/// Decodes a PNG into RGBA.
pub fn decode_png(bytes: &[u8]) -> Result<Rgba, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    {
        let header = reader.info();
        check_side(header.width, header.height)?;
    }
    let mut buf = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("PNG: {e}"))?;
    let (w, h) = (info.width, info.height);
    check_side(w, h)?;
    let src = &buf[..info.buffer_size()];
    let pixels: Vec<u8> = match info.color_type {
        png::ColorType::Rgba => src.to_vec(),
        png::ColorType::Rgb => src
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::Grayscale => src.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::GrayscaleAlpha => src
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Indexed => return Err("indexed PNG not expanded".into()),
    };
    Ok(Rgba {
        width: w,
        height: h,
        pixels,
    })
}

/// Decodes a JPEG into RGBA.
pub fn decode_jpeg(bytes: &[u8]) -> Result<Rgba, String> {
    let mut d = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
    d.read_info().map_err(|e| format!("JPEG: {e}"))?;
    let header = d.info().ok_or("JPEG without a header")?;
    check_side(header.width as u32, header.height as u32)?;
    d.set_max_decoding_buffer_size(MAX_TILE_SIDE as usize * MAX_TILE_SIDE as usize * 3);
    let px = d.decode().map_err(|e| format!("JPEG: {e}"))?;
    let info = d.info().ok_or("JPEG without a header")?;
    let pixels: Vec<u8> = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => px
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        jpeg_decoder::PixelFormat::L8 => px.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        f => return Err(format!("JPEG pixel format {f:?} not supported")),
    };
    Ok(Rgba {
        width: info.width as u32,
        height: info.height as u32,
        pixels,
    })
}

/// Decodes a PNG or a JPEG tile, told apart by their signatures.
pub fn decode_tile(bytes: &[u8]) -> Result<Rgba, String> {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => decode_png(bytes),
        [0xFF, 0xD8, ..] => decode_jpeg(bytes),
        _ => Err("neither a PNG nor a JPEG tile".into()),
    }
}

/// A tile's address (XYZ scheme: y grows southward).
pub type TileKey = (u8, u32, u32);

/// The TLS client for https tile services: the system's trust store (ca-certificates) and,
/// if given, the site's own CA (PEM).
pub fn tls_client(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let _ = roots.add_parsable_certificates(native.certs);
    if let Some(ca) = ca {
        for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
            let c = c.map_err(|e| format!("{}: {e}", ca.display()))?;
            roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// The tile service's HTTP client (http, and https with `tls`), its connections kept between
/// tiles.
pub fn http_client(
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client set-up: {e}"))
}

/// Largest tile answer taken.
const MAX_TILE_BYTES: u64 = 32 << 20;

/// Fetches `url` and returns the body of a 200 answer.
pub fn http_get(http: &reqwest::blocking::Client, url: &str) -> Result<Vec<u8>, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{url}: {}:// is not supported", u.scheme()));
    }
    let r = http.get(u).send().map_err(|e| {
        let mut why = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            why = format!("{why}: {s}");
            src = s.source();
        }
        format!("{url}: {why}")
    })?;
    if r.status() != reqwest::StatusCode::OK {
        return Err(format!("{url}: HTTP {}", r.status().as_u16()));
    }
    if r.content_length().is_some_and(|n| n > MAX_TILE_BYTES) {
        return Err(format!("{url}: answer over 32 MiB"));
    }
    let mut body = Vec::new();
    r.take(MAX_TILE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("{url}: {e}"))?;
    if body.len() as u64 > MAX_TILE_BYTES {
        return Err(format!("{url}: answer over 32 MiB"));
    }
    Ok(body)
}

/// The background's tile source, on the loader thread.
enum Source {
    Xyz {
        template: String,
        cache: PathBuf,
        /// The HTTP client, or why there is none.
        http: Result<reqwest::blocking::Client, String>,
    },
    MbTiles(Result<crate::store::MbTiles, String>),
}

impl Source {
    fn tile(&self, (z, x, y): TileKey) -> Result<Rgba, String> {
        match self {
            Source::Xyz {
                template,
                cache,
                http,
            } => {
                let file = cache.join(format!("{z}/{x}/{y}.tile"));
                if let Ok(bytes) = std::fs::read(&file) {
                    return decode_tile(&bytes);
                }
                let url = template
                    .replace("{z}", &z.to_string())
                    .replace("{x}", &x.to_string())
                    .replace("{y}", &y.to_string());
                let http = http.as_ref().map_err(|e| e.clone())?;
                let bytes = http_get(http, &url)?;
                let img = decode_tile(&bytes)?;
                // Kept for next time and for offline use; written whole then renamed.
                if let Some(dir) = file.parent()
                    && std::fs::create_dir_all(dir).is_ok()
                {
                    let tmp = file.with_extension("part");
                    if std::fs::write(&tmp, &bytes).is_ok() {
                        let _ = std::fs::rename(&tmp, &file);
                    }
                }
                Ok(img)
            }
            Source::MbTiles(file) => {
                let file = file.as_ref().map_err(|e| e.clone())?;
                let bytes = file.tile(z, x, y)?.ok_or("no tile here")?;
                decode_tile(&bytes)
            }
        }
    }
}

/// A tile answered by the loader.
pub struct Loaded {
    pub key: TileKey,
    pub tile: Result<Rgba, String>,
}

/// The loader thread. Dropping it stops the thread after the tile in hand.
pub struct TileLoader {
    requests: Option<mpsc::Sender<TileKey>>,
    answers: mpsc::Receiver<Loaded>,
    asked: HashSet<TileKey>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TileLoader {
    /// A loader for `background` (None for the grid and the image, which need no tiles).
    pub fn start(background: &Background, wake: Arc<dyn Fn() + Send + Sync>) -> Option<TileLoader> {
        let source = match background {
            Background::Xyz {
                template,
                cache,
                ca,
            } => Source::Xyz {
                template: template.clone(),
                cache: cache.clone(),
                http: tls_client(ca.as_deref())
                    .and_then(|t| http_client(t, Duration::from_secs(5))),
            },
            Background::MbTiles(p) => {
                let p = p.clone();
                // Opened on the thread: a connection lives where it is used.
                return Some(Self::spawn(wake, move || {
                    Source::MbTiles(crate::store::MbTiles::open(&p))
                }));
            }
            _ => return None,
        };
        Some(Self::spawn(wake, move || source))
    }

    fn spawn(
        wake: Arc<dyn Fn() + Send + Sync>,
        source: impl FnOnce() -> Source + Send + 'static,
    ) -> TileLoader {
        let (tx, rx) = mpsc::channel::<TileKey>();
        let (atx, answers) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("map tiles".into())
            .spawn(move || {
                let source = source();
                while let Ok(key) = rx.recv() {
                    let tile = source.tile(key);
                    if atx.send(Loaded { key, tile }).is_err() {
                        return;
                    }
                    wake();
                }
            })
            .ok();
        TileLoader {
            requests: Some(tx),
            answers,
            asked: HashSet::new(),
            thread,
        }
    }

    /// Asks for `key` once.
    pub fn ask(&mut self, key: TileKey) {
        if self.asked.insert(key)
            && let Some(tx) = &self.requests
        {
            let _ = tx.send(key);
        }
    }

    /// Forgets `key` so that it may be asked again (after eviction).
    pub fn forget(&mut self, key: TileKey) {
        self.asked.remove(&key);
    }

    /// Tiles answered since the last call.
    pub fn answers(&self) -> Vec<Loaded> {
        self.answers.try_iter().collect()
    }
}

impl Drop for TileLoader {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backgrounds_are_named_by_what_they_are() {
        let root = Path::new("/tmp/cache");
        assert!(matches!(
            Background::parse("http://gis.local/t/{z}/{x}/{y}.png", None, root),
            Ok(Background::Xyz { .. })
        ));
        assert!(Background::parse("http://gis.local/t.png", None, root).is_err());
        assert!(matches!(
            Background::parse("https://gis.example/{z}/{x}/{y}.png", None, root),
            Ok(Background::Xyz { .. })
        ));
        assert!(Background::parse("/nonexistent.mbtiles", None, root).is_err());
    }
}

#[cfg(test)]
mod loader_tests {
    use super::*;
    use std::io::Write;

    /// A 256x256 PNG of one colour.
    pub(crate) fn png_tile(rgb: [u8; 3]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 256, 256);
            enc.set_color(png::ColorType::Rgb);
            let mut w = enc.write_header().expect("header");
            let data: Vec<u8> = (0..256 * 256).flat_map(|_| rgb).collect();
            w.write_image_data(&data).expect("data");
        }
        out
    }

    fn wait(loader: &TileLoader) -> Loaded {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(l) = loader.answers().pop() {
                return l;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "no answer");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// CRC-32 (PNG's), bit by bit.
    fn crc32(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn a_tile_claiming_huge_dimensions_is_refused_before_any_allocation() {
        // A good tile whose header now says 60000x60000 (its CRC made right again): 14 GB of
        // pixels asked for, if the header were believed.
        let mut png = png_tile([1, 2, 3]);
        png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = decode_tile(&png).expect_err("refused");
        assert!(e.contains("60000x60000") && e.contains("at most"), "{e}");
        // A JPEG whose frame header says 65535x65535.
        let mut jpeg = vec![
            0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8, 0xFF, 0xFF, 0xFF, 0xFF, 3,
        ];
        for id in 1..=3u8 {
            jpeg.extend_from_slice(&[id, 0x11, 0]);
        }
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        let e = decode_tile(&jpeg).expect_err("refused");
        assert!(e.contains("65535x65535") && e.contains("at most"), "{e}");
        // A tile of the usual size still decodes.
        assert_eq!(decode_tile(&png_tile([1, 2, 3])).expect("tile").width, 256);
    }

    #[test]
    fn mbtiles_rows_count_from_the_south() {
        let dir = std::env::temp_dir().join(format!("vigie-mbtiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("city.mbtiles");
        let db = rusqlite::Connection::open(&path).expect("db");
        db.execute_batch(
            "CREATE TABLE metadata (name TEXT, value TEXT);
             CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);",
        )
        .expect("schema");
        // XYZ (15, 16704, 10998) is TMS row 2^15 - 1 - 10998 = 21769.
        db.execute(
            "INSERT INTO tiles VALUES (15, 16704, 21769, ?1)",
            [png_tile([200, 40, 40])],
        )
        .expect("tile");
        drop(db);
        let loader =
            TileLoader::start(&Background::MbTiles(path), Arc::new(|| {})).expect("loader");
        let mut loader = loader;
        loader.ask((15, 16704, 10998));
        let l = wait(&loader);
        let img = l.tile.expect("the tile");
        assert_eq!(
            (img.width, &img.pixels[..4]),
            (256, &[200, 40, 40, 255][..])
        );
        loader.ask((15, 16704, 10999));
        assert_eq!(wait(&loader).tile.expect_err("none"), "no tile here");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn xyz_tiles_are_cached_and_serve_offline() {
        let dir = std::env::temp_dir().join(format!("vigie-xyz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A tile server on loopback answering tile paths with one green tile, until stopped.
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        server.set_nonblocking(true).expect("nonblocking");
        let port = server.local_addr().expect("addr").port();
        let body = png_tile([40, 160, 60]);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let t = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((mut s, _)) = server.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap_or(0);
                if buf[..n].starts_with(b"GET /tiles/") {
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(&body);
                } else {
                    let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
            }
        });
        let bg = Background::parse(
            &format!("http://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}.png"),
            None,
            &dir,
        )
        .expect("background");
        let mut loader = TileLoader::start(&bg, Arc::new(|| {})).expect("loader");
        loader.ask((14, 8352, 5499));
        let img = wait(&loader).tile.expect("fetched");
        assert_eq!(&img.pixels[..4], &[40, 160, 60, 255]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        t.join().expect("server");
        drop(loader);
        // The server is gone: the tile seen comes from the disk cache; another one fails
        // cleanly.
        let mut loader = TileLoader::start(&bg, Arc::new(|| {})).expect("loader");
        loader.ask((14, 8352, 5499));
        assert_eq!(
            &wait(&loader).tile.expect("cached").pixels[..4],
            &[40, 160, 60, 255]
        );
        loader.ask((14, 8353, 5499));
        assert!(wait(&loader).tile.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod https_tests {
    use super::*;
    use std::io::Write;

    /// Runs `cmd`; None when the tool is missing (the test then has nothing to check with).
    fn run(cmd: &mut std::process::Command) -> bool {
        cmd.output().is_ok_and(|o| o.status.success())
    }

    #[test]
    fn https_jpeg_tiles_from_a_server_signed_by_the_sites_ca() {
        let dir = std::env::temp_dir().join(format!("vigie-https-tiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let (cert, key, jpeg) = (dir.join("gis.crt"), dir.join("gis.key"), dir.join("t.jpg"));
        assert!(run(std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1"
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=gis"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)));
        // A real JPEG tile, orange-red, from GStreamer's encoder.
        assert!(run(std::process::Command::new("gst-launch-1.0")
            .args(["-q", "videotestsrc", "num-buffers=1", "pattern=solid-color"])
            .args([
                "foreground-color=0xffc03020",
                "!",
                "video/x-raw,width=256,height=256"
            ])
            .args(["!", "jpegenc", "!", "filesink"])
            .arg(format!("location={}", jpeg.display()))));
        let body = std::fs::read(&jpeg).expect("jpeg");
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(&cert)
            .expect("pem")
            .map(|c| c.expect("cert"))
            .collect();
        let k = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).expect("key");
        let server = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, k)
            .expect("config"),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let t = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = tcp.set_nonblocking(false);
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(conn) = rustls::ServerConnection::new(server.clone()) else {
                    continue;
                };
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(n) if n > 0 => req.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        });
        let template = format!("https://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}.jpg");
        let wait = |loader: &TileLoader| {
            let t0 = std::time::Instant::now();
            loop {
                if let Some(l) = loader.answers().pop() {
                    return l.tile;
                }
                assert!(t0.elapsed() < Duration::from_secs(10), "no answer");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        // Not trusted without the site's CA: refused, named.
        let bg = Background::Xyz {
            template: template.clone(),
            cache: dir.join("cache-untrusted"),
            ca: None,
        };
        let mut loader = TileLoader::start(&bg, Arc::new(|| {})).expect("loader");
        loader.ask((14, 8352, 5499));
        let e = wait(&loader).expect_err("untrusted");
        assert!(e.to_lowercase().contains("certificate"), "{e}");
        // With it: the JPEG tile, decoded.
        let bg = Background::Xyz {
            template,
            cache: dir.join("cache"),
            ca: Some(cert.clone()),
        };
        let mut loader = TileLoader::start(&bg, Arc::new(|| {})).expect("loader");
        loader.ask((14, 8352, 5499));
        let img = wait(&loader).expect("the tile");
        let p = &img.pixels[(128 * 256 + 128) * 4..][..4];
        let near = |a: u8, b: u8| a.abs_diff(b) <= 12;
        assert!(
            near(p[0], 0xc0) && near(p[1], 0x30) && near(p[2], 0x20),
            "{p:?}"
        );
        assert_eq!(img.width, 256);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        t.join().expect("server");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
