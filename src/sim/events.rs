//! Simulated smart-camera events, street alert buttons and patrol cars driving around the
//! city, sent to `vigie events` as the real ones would be (HTTP JSON events, positions over
//! UDP or HTTP). One thread ("camsim events").

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Camera;
use crate::events::client::EventClient;
use crate::events::{Event, EventKind, Position, VehicleStatus, event_json, geo, position_json};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct EventSimOptions {
    /// The event endpoint (HTTP).
    pub events: SocketAddr,
    /// Positions go here over UDP when set, else over HTTP.
    pub positions_udp: Option<SocketAddr>,
    /// A smart-camera event every this many seconds on average (0: none).
    pub event_every_s: f64,
    /// An alert-button press every this many seconds on average (0: none).
    pub button_every_s: f64,
    pub patrol_cars: u32,
    pub seed: u64,
    /// Sends as this declared source: its bearer token on HTTP, its name and UDP key on each
    /// position datagram's MAC line.
    pub source: Option<SimSource>,
}

/// A declared source the simulator speaks as (`[[source]]` of the rules file).
#[derive(Clone)]
pub struct SimSource {
    pub name: String,
    pub token: String,
    pub udp_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for SimSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SimSource {{ name: {:?}, secrets: <hidden> }}",
            self.name
        )
    }
}

/// The simulated street alert buttons: (id, latitude, longitude).
pub const BUTTONS: [(&str, f64, f64); 3] = [
    ("btn-place-armes", 50.35740, 3.52590),
    ("btn-gare", 50.36270, 3.51660),
    ("btn-nungesser", 50.35230, 3.52020),
];

struct Car {
    id: String,
    at: (f64, f64),
    to: (f64, f64),
    speed_kmh: f64,
    status: VehicleStatus,
    status_until: Instant,
}

/// The running simulation; dropping it stops the thread.
pub struct EventSim {
    stop: Arc<AtomicBool>,
    presses: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EventSim {
    pub fn start(opts: EventSimOptions, cameras: Vec<Camera>) -> std::io::Result<EventSim> {
        let stop = Arc::new(AtomicBool::new(false));
        let presses: Arc<Mutex<Vec<String>>> = Arc::default();
        let (s2, p2) = (stop.clone(), presses.clone());
        let thread = std::thread::Builder::new()
            .name("camsim events".into())
            .spawn(move || run(opts, cameras, &s2, &p2))?;
        Ok(EventSim {
            stop,
            presses,
            thread: Some(thread),
        })
    }

    /// Presses alert button `id` now (it must be one of [`BUTTONS`]).
    pub fn press(&self, id: &str) -> bool {
        if !BUTTONS.iter().any(|b| b.0 == id) {
            return false;
        }
        self.presses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.to_owned());
        true
    }
}

impl Drop for EventSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    opts: EventSimOptions,
    cameras: Vec<Camera>,
    stop: &AtomicBool,
    presses: &Mutex<Vec<String>>,
) {
    let mut rng = fastrand::Rng::with_seed(opts.seed);
    let mut client = EventClient::new(opts.events, opts.source.as_ref().map(|s| s.token.clone()));
    let udp = opts
        .positions_udp
        .and_then(|_| UdpSocket::bind(("127.0.0.1", 0)).ok());
    let spot = |rng: &mut fastrand::Rng| -> (f64, f64) {
        match cameras.get(rng.usize(..cameras.len().max(1))) {
            Some(c) => (c.latitude, c.longitude),
            None => (50.3572, 3.5263),
        }
    };
    let mut cars: Vec<Car> = (1..=opts.patrol_cars)
        .map(|n| Car {
            id: format!("PM-{n}"),
            at: spot(&mut rng),
            to: spot(&mut rng),
            speed_kmh: 25.0 + rng.f64() * 15.0,
            status: VehicleStatus::Available,
            status_until: Instant::now() + Duration::from_secs(rng.u64(60..300)),
        })
        .collect();
    let mut warned = false;
    let mut report =
        |client: &mut EventClient, path: &str, body: String| match client.post(path, &body) {
            Ok((s, _)) if s < 300 => {}
            Ok((s, msg)) => tracing::warn!("camsim events: {path}: {s} {msg}"),
            Err(e) => {
                if !warned {
                    tracing::warn!("camsim events: {} unreachable: {e}", opts.events);
                    warned = true;
                }
            }
        };
    let tick = Duration::from_millis(250);
    let mut last_positions = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(tick);
        let now = crate::time::now_utc_ns();
        let p = tick.as_secs_f64();
        if opts.event_every_s > 0.0 && rng.f64() < p / opts.event_every_s && !cameras.is_empty() {
            let cam = &cameras[rng.usize(..cameras.len())];
            let kind = [
                EventKind::AbnormalBehaviour,
                EventKind::Loitering,
                EventKind::Intrusion,
                EventKind::LineCrossing,
            ][rng.usize(..4)];
            let (w, h) = (0.05 + rng.f32() * 0.2, 0.1 + rng.f32() * 0.4);
            let e = Event {
                kind,
                at_utc_ns: now,
                camera: Some(cam.id.clone()),
                button: None,
                confidence: Some(0.6 + rng.f32() * 0.38),
                bbox: Some([rng.f32() * (1.0 - w), rng.f32() * (1.0 - h), w, h]),
                location: None,
            };
            report(&mut client, "/v1/events", event_json(&e));
        }
        let mut pressed: Vec<String> =
            std::mem::take(&mut *presses.lock().unwrap_or_else(|e| e.into_inner()));
        if opts.button_every_s > 0.0 && rng.f64() < p / opts.button_every_s {
            pressed.push(BUTTONS[rng.usize(..BUTTONS.len())].0.to_owned());
        }
        for id in pressed {
            if let Some((id, lat, lon)) = BUTTONS.iter().find(|b| b.0 == id) {
                let e = Event {
                    kind: EventKind::AlertButton,
                    at_utc_ns: now,
                    camera: None,
                    button: Some((*id).to_owned()),
                    confidence: None,
                    bbox: None,
                    location: Some((*lat, *lon)),
                };
                report(&mut client, "/v1/events", event_json(&e));
            }
        }
        if last_positions.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let dt = last_positions.elapsed().as_secs_f64();
        last_positions = Instant::now();
        for car in &mut cars {
            let step = car.speed_kmh / 3.6 * dt;
            let left = geo::distance_m(car.at, car.to);
            if left <= step {
                car.at = car.to;
                car.to = spot(&mut rng);
            } else {
                let f = step / left;
                car.at = (
                    car.at.0 + (car.to.0 - car.at.0) * f,
                    car.at.1 + (car.to.1 - car.at.1) * f,
                );
            }
            if Instant::now() >= car.status_until {
                car.status = match car.status {
                    VehicleStatus::Available if rng.f32() < 0.3 => VehicleStatus::Busy,
                    VehicleStatus::Available => VehicleStatus::Available,
                    _ => VehicleStatus::Available,
                };
                car.status_until = Instant::now() + Duration::from_secs(rng.u64(60..300));
            }
            let pos = Position {
                vehicle: car.id.clone(),
                latitude: car.at.0,
                longitude: car.at.1,
                heading_deg: Some(geo::bearing_deg(car.at, car.to) as f32),
                speed_kmh: Some(car.speed_kmh as f32),
                status: car.status,
                at_utc_ns: now,
            };
            let body = position_json(&pos);
            match (&udp, opts.positions_udp) {
                (Some(sock), Some(to)) => {
                    let datagram = match opts.source.as_ref() {
                        Some(SimSource {
                            name,
                            udp_key: Some(key),
                            ..
                        }) => crate::events::signed_datagram(name, key, body.as_bytes()),
                        _ => body.into_bytes(),
                    };
                    let _ = sock.send_to(&datagram, to);
                }
                _ => report(&mut client, "/v1/positions", body),
            }
        }
    }
}
