//! Map backgrounds: raster tiles from an XYZ tile service (the city's GIS) kept in a disk cache,
//! from an MBTiles file, or one georeferenced image.
//!
//! Contract: [`TileLoader`] is a thread ("map tiles") that answers tile requests with decoded
//! RGBA pictures or an error; the UI never waits for it. A tile fetched once is kept on disk, so
//! the map works offline with what was seen. Nothing here knows egui or wgpu.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// Where the map's background comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Background {
    /// No background: a projected grid with a scale bar and coordinates.
    Grid,
    /// `http://gis.example/tiles/{z}/{x}/{y}.png`, cached under `cache`.
    Xyz { template: String, cache: PathBuf },
    /// An MBTiles file (PNG tiles).
    MbTiles(PathBuf),
    /// A PNG covering (south, west, north, east) in degrees.
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
            if spec.starts_with("https://") {
                return Err(format!(
                    "--map {spec:?}: https tile services are not supported; use the GIS's http:// address on the site network, or an MBTiles file"
                ));
            }
            use sha2::Digest;
            let h: [u8; 32] = sha2::Sha256::digest(spec.as_bytes()).into();
            let cache = cache_root.join(crate::auth::audit::hex(&h[..8]));
            return Ok(Background::Xyz {
                template: spec.to_owned(),
                cache,
            });
        }
        let path = PathBuf::from(spec);
        if !path.is_file() {
            return Err(format!("--map {spec:?}: no such file"));
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("mbtiles") => Ok(Background::MbTiles(path)),
            Some("png") => {
                let bounds = bounds.ok_or_else(|| {
                    format!("--map {spec:?}: an image needs --map-bounds SOUTH,WEST,NORTH,EAST")
                })?;
                if !(bounds[0] < bounds[2] && bounds[1] < bounds[3]) {
                    return Err("--map-bounds: south < north and west < east".into());
                }
                Ok(Background::Image { path, bounds })
            }
            _ => Err(format!(
                "--map {spec:?}: give a tile URL, an .mbtiles file or a .png image"
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

/// Decodes a PNG into RGBA.
pub fn decode_png(bytes: &[u8]) -> Result<Rgba, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("PNG: {e}"))?;
    let (w, h) = (info.width, info.height);
    if w > 8192 || h > 8192 {
        return Err(format!("{w}x{h}: too large"));
    }
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

/// A tile's address (XYZ scheme: y grows southward).
pub type TileKey = (u8, u32, u32);

/// Fetches `url` (http only) and returns the body of a 200 answer.
pub fn http_get(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    if u.scheme() != "http" {
        return Err(format!("{url}: only http:// is supported"));
    }
    let host = u.host_str().ok_or_else(|| format!("{url}: no host"))?;
    let port = u.port().unwrap_or(80);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: vigie/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    s.take(32 << 20)
        .read_to_end(&mut all)
        .map_err(|e| format!("{host}: {e}"))?;
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{url}: malformed answer"))?;
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    let body = &all[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{url}: malformed status"))?;
    if status != 200 {
        return Err(format!("{url}: HTTP {status}"));
    }
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    if !chunked {
        return Ok(body.to_vec());
    }
    // Chunked: size line, data, CRLF, until a zero size.
    let (mut out, mut rest) = (Vec::new(), body);
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| format!("{url}: malformed chunk"))?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("{url}: malformed chunk size"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err(format!("{url}: chunk cut short"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// The background's tile source, on the loader thread.
enum Source {
    Xyz { template: String, cache: PathBuf },
    MbTiles(Result<rusqlite::Connection, String>),
}

impl Source {
    fn tile(&self, (z, x, y): TileKey) -> Result<Rgba, String> {
        match self {
            Source::Xyz { template, cache } => {
                let file = cache.join(format!("{z}/{x}/{y}.png"));
                if let Ok(bytes) = std::fs::read(&file) {
                    return decode_png(&bytes);
                }
                let url = template
                    .replace("{z}", &z.to_string())
                    .replace("{x}", &x.to_string())
                    .replace("{y}", &y.to_string());
                let bytes = http_get(&url, Duration::from_secs(5))?;
                let img = decode_png(&bytes)?;
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
            Source::MbTiles(conn) => {
                let conn = conn.as_ref().map_err(|e| e.clone())?;
                // MBTiles rows count from the south (TMS).
                let row = (1u32 << z) - 1 - y;
                let bytes: Vec<u8> = conn
                    .query_row(
                        "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
                        rusqlite::params![z, x, row],
                        |r| r.get(0),
                    )
                    .map_err(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => "no tile here".to_owned(),
                        e => e.to_string(),
                    })?;
                decode_png(&bytes)
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
            Background::Xyz { template, cache } => Source::Xyz {
                template: template.clone(),
                cache: cache.clone(),
            },
            Background::MbTiles(p) => {
                let p = p.clone();
                // Opened on the thread: a connection lives where it is used.
                return Some(Self::spawn(wake, move || {
                    Source::MbTiles(
                        rusqlite::Connection::open_with_flags(
                            &p,
                            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                        )
                        .map_err(|e| format!("{}: {e}", p.display())),
                    )
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
        let e = Background::parse("https://gis.example/{z}/{x}/{y}.png", None, root)
            .expect_err("https");
        assert!(e.contains("MBTiles"), "{e}");
        assert!(Background::parse("/nonexistent.mbtiles", None, root).is_err());
    }
}

#[cfg(test)]
mod loader_tests {
    use super::*;

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
