//! Driving real windows as a person would: an X server (Xvfb, started by `xvfb-run` in the
//! test command), a window manager (openbox), `xdotool` for the mouse and keyboard, and
//! screenshots read back with ffmpeg's X11 grabber.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A screenshot of the whole X screen, RGB.
pub struct Shot {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Shot {
    /// Grabs the X screen `display` into `png` (kept for the person reading a failure) and
    /// decodes it.
    pub fn grab(display: &str, png: &Path) -> Shot {
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "x11grab"])
            .args(["-i", display, "-frames:v", "1"])
            .arg(png)
            .output()
            .expect("ffmpeg runs");
        assert!(
            out.status.success(),
            "ffmpeg could not grab {display}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = std::fs::File::open(png).expect("screenshot file");
        let mut dec = png::Decoder::new(std::io::BufReader::new(file));
        dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = dec.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
        let info = reader.next_frame(&mut buf).expect("png frame");
        let channels = info.color_type.samples();
        let rgb = buf[..info.buffer_size()]
            .chunks(channels)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        Shot {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y.min(self.height - 1) * self.width + x.min(self.width - 1)) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// BT.709 luma of a pixel.
    pub fn luma(&self, x: u32, y: u32) -> u8 {
        let [r, g, b] = self.pixel(x, y);
        (0.2126 * r as f64 + 0.7152 * g as f64 + 0.0722 * b as f64).round() as u8
    }

    /// The bounding box (x0, y0, x1, y1, exclusive ends) of the pixels within `tol` of `rgb`
    /// inside `area`, and how many there are.
    pub fn find(&self, rgb: [u8; 3], tol: u8, area: (u32, u32, u32, u32)) -> Option<Found> {
        let (ax0, ay0, ax1, ay1) = area;
        let mut f = Found {
            x0: u32::MAX,
            y0: u32::MAX,
            x1: 0,
            y1: 0,
            count: 0,
        };
        for y in ay0..ay1.min(self.height) {
            for x in ax0..ax1.min(self.width) {
                let p = self.pixel(x, y);
                if p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= tol) {
                    f.x0 = f.x0.min(x);
                    f.y0 = f.y0.min(y);
                    f.x1 = f.x1.max(x + 1);
                    f.y1 = f.y1.max(y + 1);
                    f.count += 1;
                }
            }
        }
        (f.count > 0).then_some(f)
    }

    /// How many pixels of `area` differ from the pixel at its top-left corner: a plain
    /// background gives 0.
    pub fn busy(&self, area: (u32, u32, u32, u32)) -> usize {
        let base = self.pixel(area.0, area.1);
        let mut n = 0;
        for y in area.1..area.3.min(self.height) {
            for x in area.0..area.2.min(self.width) {
                if self.pixel(x, y) != base {
                    n += 1;
                }
            }
        }
        n
    }
}

/// Pixels of one colour found on screen.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
    pub count: u64,
}

/// The X display of this test run, its window manager, and a folder for screenshots.
pub struct Desktop {
    pub display: String,
    wm: Option<Child>,
    pub shots: PathBuf,
    n: u32,
}

impl Desktop {
    /// None without an X display (the test command runs the suite under `xvfb-run`).
    pub fn start(shots: &Path) -> Option<Desktop> {
        let display = std::env::var("DISPLAY").ok()?;
        std::fs::create_dir_all(shots).expect("screenshot folder");
        let wm = if wm_running() {
            None
        } else {
            let child = Command::new("openbox")
                .args(["--sm-disable"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("openbox starts (packaging/install-deps.sh installs it)");
            wait_for("the window manager", Duration::from_secs(10), wm_running);
            Some(child)
        };
        Some(Desktop {
            display,
            wm,
            shots: shots.to_owned(),
            n: 0,
        })
    }

    /// A screenshot, saved as `NN-what.png` in the screenshot folder.
    pub fn shot(&mut self, what: &str) -> Shot {
        self.n += 1;
        let png = self.shots.join(format!("{:02}-{what}.png", self.n));
        Shot::grab(&self.display, &png)
    }

    /// The first window whose title contains `name`, waiting up to `limit`.
    pub fn window(&self, name: &str, limit: Duration) -> Window {
        let mut id = None;
        wait_for(&format!("a window titled {name:?}"), limit, || {
            id = xdotool(&["search", "--onlyvisible", "--name", name])
                .lines()
                .next()
                .map(str::to_owned);
            id.is_some()
        });
        Window {
            id: id.unwrap_or_default(),
        }
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        if let Some(mut wm) = self.wm.take() {
            let _ = wm.kill();
            let _ = wm.wait();
        }
    }
}

/// A top-level window, found by title.
pub struct Window {
    pub id: String,
}

impl Window {
    /// Puts the window at the screen's top-left corner with this inner size, raised and
    /// focused, so the same place in it is the same place on the screen.
    pub fn place(&self, width: u32, height: u32) {
        xdotool(&["windowactivate", "--sync", &self.id]);
        xdotool(&["windowmove", "--sync", &self.id, "0", "0"]);
        xdotool(&[
            "windowsize",
            "--sync",
            &self.id,
            &width.to_string(),
            &height.to_string(),
        ]);
    }

    /// The window's inner area on screen: (x, y, width, height).
    pub fn geometry(&self) -> (i32, i32, u32, u32) {
        let out = xdotool(&["getwindowgeometry", "--shell", &self.id]);
        let get = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0)
        };
        (
            get("X") as i32,
            get("Y") as i32,
            get("WIDTH") as u32,
            get("HEIGHT") as u32,
        )
    }

    /// Clicks at (x, y) inside the window, `count` times.
    pub fn click(&self, x: i32, y: i32, count: u32) {
        xdotool(&["windowactivate", "--sync", &self.id]);
        xdotool(&[
            "mousemove",
            "--window",
            &self.id,
            &x.to_string(),
            &y.to_string(),
        ]);
        // A first motion event that egui sees before the press (hover, then click).
        xdotool(&["mousemove_relative", "--", "1", "0"]);
        xdotool(&["mousemove_relative", "--", "-1", "0"]);
        std::thread::sleep(Duration::from_millis(100));
        xdotool(&[
            "click",
            "--repeat",
            &count.to_string(),
            "--delay",
            "80",
            "1",
        ]);
    }

    /// Presses the button at `from`, moves in steps to `to` and releases it there.
    pub fn drag(&self, from: (i32, i32), to: (i32, i32)) {
        xdotool(&["windowactivate", "--sync", &self.id]);
        let at = |x: i32, y: i32| {
            xdotool(&[
                "mousemove",
                "--window",
                &self.id,
                &x.to_string(),
                &y.to_string(),
            ]);
        };
        // Slowly, as a hand does: egui sees the hover, the press, then the moves in frames
        // of their own.
        at(from.0, from.1);
        std::thread::sleep(Duration::from_millis(300));
        xdotool(&["mousedown", "1"]);
        std::thread::sleep(Duration::from_millis(300));
        for i in 1..=20 {
            at(
                from.0 + (to.0 - from.0) * i / 20,
                from.1 + (to.1 - from.1) * i / 20,
            );
            std::thread::sleep(Duration::from_millis(60));
        }
        std::thread::sleep(Duration::from_millis(500));
        xdotool(&["mouseup", "1"]);
    }

    /// Types `text` into the focused widget of the window.
    pub fn type_text(&self, text: &str) {
        xdotool(&["windowactivate", "--sync", &self.id]);
        xdotool(&["type", "--delay", "40", text]);
    }

    /// Presses a key by its X name (`Return`, `Tab`...).
    pub fn key(&self, key: &str) {
        xdotool(&["windowactivate", "--sync", &self.id]);
        xdotool(&["key", "--delay", "40", key]);
    }
}

/// Runs `xdotool`; its standard output.
pub fn xdotool(args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .output()
        .expect("xdotool runs (packaging/install-deps.sh installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wm_running() -> bool {
    Command::new("xprop")
        .args(["-root", "_NET_SUPPORTING_WM_CHECK"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("window id"))
}

/// Waits until `cond` holds, checking every 100 ms; panics naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "no {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
