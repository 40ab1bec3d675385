//! The map: cameras with their view cones, open alarms, patrol vehicles moving live; click a
//! camera to view it, select an alarm to rank the vehicles by distance with an arrival
//! estimate and dispatch one. Web Mercator; background tiles from [`crate::tiles`], or a
//! projected grid with a scale bar and coordinates when there is none (or offline).

use std::collections::HashMap;
use std::sync::Arc;

use egui::{Color32, FontId, Pos2, Rect, Sense, Shape, Stroke, TextureHandle, pos2, vec2};

use super::alarms::{AlarmBoard, eta_label, kind_label, priority_colour};
use crate::config::Camera;
use crate::events::geo::{mercator, unmercator};
use crate::tiles::{Background, Rgba, TileKey, TileLoader};

/// What the user asked of the workspace from the map.
#[derive(Clone, Debug, PartialEq)]
pub enum MapAction {
    ShowCamera(String),
    SelectAlarm(i64),
    Dispatch {
        alarm: i64,
        vehicle: String,
        distance_m: f64,
        eta_s: f64,
    },
}

enum Tex {
    Ready(TextureHandle),
    Failed,
}

/// The map's state on a workstation.
pub struct MapView {
    background: Background,
    /// World coordinates (0..1) at the centre of the view.
    center: (f64, f64),
    /// World size in points is 256 * 2^zoom.
    zoom: f64,
    fitted: bool,
    /// The alarm whose vehicles are ranked.
    pub focus_alarm: Option<i64>,
    loader: Option<TileLoader>,
    loader_started: bool,
    tiles: HashMap<TileKey, Tex>,
    /// The georeferenced image, once decoded (on a thread).
    image: Option<Result<TextureHandle, String>>,
    image_rx: Option<std::sync::mpsc::Receiver<Result<Rgba, String>>>,
    /// Dispatch answers shown under the list.
    pub note: Option<String>,
}

impl Default for MapView {
    fn default() -> Self {
        MapView::new(Background::Grid)
    }
}

/// Metres per world unit at the equator.
const EARTH_CIRCUMFERENCE_M: f64 = 40_075_016.686;
/// Vehicle reports older than this are drawn faded.
const STALE_NS: i64 = 60_000_000_000;

fn to_image(img: &Rgba) -> egui::ColorImage {
    egui::ColorImage::from_rgba_unmultiplied([img.width as usize, img.height as usize], &img.pixels)
}

impl MapView {
    pub fn new(background: Background) -> MapView {
        MapView {
            background,
            center: mercator(50.3572, 3.5263),
            zoom: 15.0,
            fitted: false,
            focus_alarm: None,
            loader: None,
            loader_started: false,
            tiles: HashMap::new(),
            image: None,
            image_rx: None,
            note: None,
        }
    }

    pub fn background(&self) -> &Background {
        &self.background
    }

    fn world_px(&self) -> f64 {
        256.0 * 2f64.powf(self.zoom)
    }

    fn to_screen(&self, rect: Rect, w: (f64, f64)) -> Pos2 {
        let s = self.world_px();
        pos2(
            rect.center().x + ((w.0 - self.center.0) * s) as f32,
            rect.center().y + ((w.1 - self.center.1) * s) as f32,
        )
    }

    fn to_world(&self, rect: Rect, p: Pos2) -> (f64, f64) {
        let s = self.world_px();
        (
            self.center.0 + (p.x - rect.center().x) as f64 / s,
            self.center.1 + (p.y - rect.center().y) as f64 / s,
        )
    }

    /// Centres the view on (lat, lon).
    pub fn center_on(&mut self, lat: f64, lon: f64) {
        self.center = mercator(lat, lon);
        self.fitted = true;
    }

    /// Shows every camera.
    fn fit(&mut self, rect: Rect, cameras: &[Camera]) {
        if cameras.is_empty() || rect.width() < 10.0 {
            return;
        }
        let pts: Vec<(f64, f64)> = cameras
            .iter()
            .map(|c| mercator(c.latitude, c.longitude))
            .collect();
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (x, y) in &pts {
            (x0, y0, x1, y1) = (x0.min(*x), y0.min(*y), x1.max(*x), y1.max(*y));
        }
        self.center = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let span = ((x1 - x0) / rect.width() as f64).max((y1 - y0) / rect.height() as f64) * 1.15;
        self.zoom = if span > 0.0 {
            (1.0 / (256.0 * span)).log2().clamp(3.0, 19.0)
        } else {
            16.0
        };
        self.fitted = true;
    }

    /// Draws the map in the space left in `ui`.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        cameras: &[Camera],
        board: Option<&AlarmBoard>,
        now_utc_ns: i64,
    ) -> Option<MapAction> {
        let full = ui.available_rect_before_wrap();
        let side_w = if self.focus_alarm.is_some() {
            290.0f32.min(full.width() * 0.4)
        } else {
            0.0
        };
        let rect = Rect::from_min_max(full.min, pos2(full.max.x - side_w, full.max.y));
        let resp = ui.allocate_rect(rect, Sense::click_and_drag());
        if !self.fitted {
            self.fit(rect, cameras);
        }
        // Pan and zoom (about the pointer).
        if resp.dragged() {
            let d = resp.drag_delta();
            let s = self.world_px();
            self.center.0 -= d.x as f64 / s;
            self.center.1 -= d.y as f64 / s;
        }
        if resp.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0
                && let Some(p) = resp.hover_pos()
            {
                let before = self.to_world(rect, p);
                self.zoom = (self.zoom + scroll as f64 / 240.0).clamp(3.0, 20.0);
                let after = self.to_world(rect, p);
                self.center.0 += before.0 - after.0;
                self.center.1 += before.1 - after.1;
            }
        }
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_rgb(28, 32, 36));
        let covered = self.background_layer(ui.ctx(), &painter, rect);
        if !covered {
            self.grid(&painter, rect);
        }
        self.scale_bar(&painter, rect);

        let mut action = None;
        let click = resp
            .clicked()
            .then(|| resp.interact_pointer_pos())
            .flatten();
        let hover = resp.hover_pos();
        let mut best_click: Option<(f32, MapAction)> = None;
        let mut consider = |pos: Pos2, radius: f32, a: MapAction| {
            if let Some(c) = click {
                let d = c.distance(pos);
                if d <= radius && best_click.as_ref().is_none_or(|(bd, _)| d < *bd) {
                    best_click = Some((d, a));
                }
            }
        };

        // Cameras and their view cones.
        let cone_px =
            ((60.0 * self.world_px() / EARTH_CIRCUMFERENCE_M / 0.64) as f32).clamp(14.0, 90.0);
        let labels = self.zoom >= 16.5;
        for c in cameras {
            let p = self.to_screen(rect, mercator(c.latitude, c.longitude));
            if !rect.expand(cone_px).contains(p) {
                continue;
            }
            if let (Some(h), Some(f)) = (c.heading_deg, c.fov_deg) {
                let steps = 10;
                let mut pts = vec![p];
                for k in 0..=steps {
                    let a = (h - f / 2.0 + f * k as f32 / steps as f32).to_radians();
                    pts.push(p + vec2(a.sin(), -a.cos()) * cone_px);
                }
                painter.add(Shape::convex_polygon(
                    pts,
                    Color32::from_rgba_unmultiplied(120, 190, 255, 40),
                    Stroke::new(1.0, Color32::from_rgba_unmultiplied(120, 190, 255, 110)),
                ));
            }
            painter.circle(
                p,
                4.5,
                Color32::from_rgb(120, 190, 255),
                Stroke::new(1.0, Color32::BLACK),
            );
            let hovered = hover.is_some_and(|h| h.distance(p) < 8.0);
            if labels || hovered {
                painter.text(
                    p + vec2(6.0, -6.0),
                    egui::Align2::LEFT_BOTTOM,
                    if hovered {
                        format!("{} · {}", c.id, c.name)
                    } else {
                        c.id.clone()
                    },
                    FontId::proportional(11.0),
                    Color32::from_rgb(200, 225, 255),
                );
            }
            consider(p, 9.0, MapAction::ShowCamera(c.id.clone()));
        }

        // Vehicles: a triangle pointing where they drive, coloured by status.
        if let Some(b) = board {
            for v in b.vehicles.values() {
                let p = self.to_screen(rect, mercator(v.latitude, v.longitude));
                if !rect.expand(20.0).contains(p) {
                    continue;
                }
                let mut colour = vehicle_colour(&v.status);
                if now_utc_ns - v.at_utc_ns > STALE_NS {
                    colour = colour.gamma_multiply(0.4);
                }
                let a = v.heading_deg.unwrap_or(0.0).to_radians();
                let fwd = vec2(a.sin(), -a.cos());
                let side = vec2(-fwd.y, fwd.x);
                painter.add(Shape::convex_polygon(
                    vec![
                        p + fwd * 10.0,
                        p - fwd * 7.0 + side * 6.5,
                        p - fwd * 4.0,
                        p - fwd * 7.0 - side * 6.5,
                    ],
                    colour,
                    Stroke::new(1.0, Color32::BLACK),
                ));
                painter.text(
                    p + vec2(9.0, 4.0),
                    egui::Align2::LEFT_TOP,
                    format!("{} · {}", v.id, v.status),
                    FontId::proportional(11.0),
                    colour,
                );
            }
        }

        // Open alarms, alert buttons larger; the focused one ringed.
        if let Some(b) = board {
            let pulse = ((now_utc_ns / 100_000_000) % 10) as f32 / 10.0;
            for a in b.open_alarms() {
                let Some((lat, lon)) = a.location else {
                    continue;
                };
                let p = self.to_screen(rect, mercator(lat, lon));
                if !rect.expand(30.0).contains(p) {
                    continue;
                }
                let button = a.kind == "alert_button";
                let r = if button { 11.0 } else { 8.0 };
                let colour = priority_colour(a.priority);
                if a.state == "new" {
                    painter.circle_stroke(
                        p,
                        r + 4.0 + 8.0 * pulse,
                        Stroke::new(2.0, colour.gamma_multiply(1.0 - pulse)),
                    );
                }
                painter.circle(p, r, colour, Stroke::new(2.0, Color32::WHITE));
                painter.text(
                    p,
                    egui::Align2::CENTER_CENTER,
                    "!",
                    FontId::proportional(r * 1.4),
                    Color32::WHITE,
                );
                if self.focus_alarm == Some(a.id) {
                    painter.circle_stroke(p, r + 6.0, Stroke::new(2.5, Color32::WHITE));
                }
                painter.text(
                    p + vec2(r + 4.0, 0.0),
                    egui::Align2::LEFT_CENTER,
                    format!("P{} {} · {}", a.priority, kind_label(&a.kind), a.source),
                    FontId::proportional(12.0),
                    Color32::WHITE,
                );
                consider(p, r + 4.0, MapAction::SelectAlarm(a.id));
            }
        }
        if let Some((_, a)) = best_click {
            if let MapAction::SelectAlarm(id) = a {
                self.focus_alarm = Some(id);
            }
            action = Some(a);
        }

        // The focused alarm's nearest vehicles, with lines to the three nearest.
        if side_w > 0.0
            && let (Some(id), Some(b)) = (self.focus_alarm, board)
        {
            let side = Rect::from_min_max(pos2(rect.max.x, full.min.y), full.max);
            if let Some(a) = b.alarms.get(&id)
                && let Some((lat, lon)) = a.location
            {
                let at = self.to_screen(rect, mercator(lat, lon));
                let ranked = b.candidates(id);
                for (v, _, _) in ranked.iter().take(3) {
                    let p = self.to_screen(rect, mercator(v.latitude, v.longitude));
                    painter.add(Shape::dashed_line(
                        &[at, p],
                        Stroke::new(1.5, Color32::from_white_alpha(150)),
                        6.0,
                        4.0,
                    ));
                }
                let mut child = ui.new_child(egui::UiBuilder::new().max_rect(side.shrink(6.0)));
                if let Some(a) = self.vehicle_list(&mut child, a, &ranked) {
                    action = Some(a);
                }
            } else {
                self.focus_alarm = None;
            }
        }
        action
    }

    fn vehicle_list(
        &mut self,
        ui: &mut egui::Ui,
        a: &crate::store::AlarmRow,
        ranked: &[(&crate::store::VehicleRow, f64, f64)],
    ) -> Option<MapAction> {
        let mut action = None;
        ui.heading(format!("Alarm {} · P{}", a.id, a.priority));
        ui.label(format!("{} · {}", kind_label(&a.kind), a.source));
        ui.label(format!(
            "{} · {}",
            a.state,
            crate::time::paris(a.at_utc_ns, "%H:%M:%S")
        ));
        ui.add_space(8.0);
        ui.label("Nearest patrols, by distance:");
        if ranked.is_empty() {
            ui.weak("No vehicle position received.");
        }
        egui::Grid::new("vehicle ranking")
            .striped(true)
            .show(ui, |ui| {
                for (v, d, eta) in ranked {
                    ui.colored_label(vehicle_colour(&v.status), &v.id);
                    ui.label(if *d < 1000.0 {
                        format!("{d:.0} m")
                    } else {
                        format!("{:.2} km", d / 1000.0)
                    });
                    ui.label(eta_label(*eta));
                    if v.status == "available" {
                        if ui.button("Dispatch").clicked() {
                            action = Some(MapAction::Dispatch {
                                alarm: a.id,
                                vehicle: v.id.clone(),
                                distance_m: *d,
                                eta_s: *eta,
                            });
                        }
                    } else {
                        ui.weak(&v.status);
                    }
                    ui.end_row();
                }
            });
        if let Some(n) = &self.note {
            ui.label(n);
        }
        if ui.button("Close").clicked() {
            self.focus_alarm = None;
        }
        action
    }

    /// Draws the background; false when it does not cover the view (the grid is drawn then).
    fn background_layer(
        &mut self,
        ctx: &egui::Context,
        painter: &egui::Painter,
        rect: Rect,
    ) -> bool {
        match self.background.clone() {
            Background::Grid => false,
            Background::Image { path, bounds } => {
                if self.image.is_none() && self.image_rx.is_none() {
                    let (tx, rx) = std::sync::mpsc::channel();
                    let c = ctx.clone();
                    let _ = std::thread::Builder::new()
                        .name("map image".into())
                        .spawn(move || {
                            let r = std::fs::read(&path)
                                .map_err(|e| format!("{}: {e}", path.display()))
                                .and_then(|b| crate::tiles::decode_tile(&b));
                            let _ = tx.send(r);
                            c.request_repaint();
                        });
                    self.image_rx = Some(rx);
                }
                if let Some(rx) = &self.image_rx
                    && let Ok(r) = rx.try_recv()
                {
                    self.image = Some(r.map(|img| {
                        ctx.load_texture("map image", to_image(&img), Default::default())
                    }));
                    self.image_rx = None;
                }
                match &self.image {
                    Some(Ok(tex)) => {
                        let nw = self.to_screen(rect, mercator(bounds[2], bounds[1]));
                        let se = self.to_screen(rect, mercator(bounds[0], bounds[3]));
                        painter.image(
                            tex.id(),
                            Rect::from_min_max(nw, se),
                            Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                            Color32::WHITE,
                        );
                        false
                    }
                    Some(Err(e)) => {
                        painter.text(
                            rect.left_bottom() + vec2(8.0, -30.0),
                            egui::Align2::LEFT_BOTTOM,
                            e,
                            FontId::proportional(12.0),
                            Color32::from_rgb(255, 120, 100),
                        );
                        false
                    }
                    None => false,
                }
            }
            bg @ (Background::Xyz { .. } | Background::MbTiles(_)) => {
                if !self.loader_started {
                    let c = ctx.clone();
                    self.loader = TileLoader::start(&bg, Arc::new(move || c.request_repaint()));
                    self.loader_started = true;
                }
                let Some(mut loader) = self.loader.take() else {
                    return false;
                };
                for l in loader.answers() {
                    let t = match l.tile {
                        Ok(img) => Tex::Ready(ctx.load_texture(
                            format!("tile {:?}", l.key),
                            to_image(&img),
                            Default::default(),
                        )),
                        Err(e) => {
                            tracing::debug!("map tile {:?}: {e}", l.key);
                            Tex::Failed
                        }
                    };
                    self.tiles.insert(l.key, t);
                }
                let z = self.zoom.round().clamp(0.0, 19.0) as u8;
                let n = 1u32 << z;
                let tile_world = 1.0 / n as f64;
                let (w0, h0) = self.to_world(rect, rect.min);
                let (w1, h1) = self.to_world(rect, rect.max);
                let (x0, x1) = (
                    (w0 / tile_world).floor().max(0.0) as u32,
                    ((w1 / tile_world).floor() as u32).min(n - 1),
                );
                let (y0, y1) = (
                    (h0 / tile_world).floor().max(0.0) as u32,
                    ((h1 / tile_world).floor() as u32).min(n - 1),
                );
                let mut all = true;
                let mut visible = Vec::new();
                for y in y0..=y1 {
                    for x in x0..=x1 {
                        let key = (z, x, y);
                        visible.push(key);
                        let min =
                            self.to_screen(rect, (x as f64 * tile_world, y as f64 * tile_world));
                        let max = self.to_screen(
                            rect,
                            ((x + 1) as f64 * tile_world, (y + 1) as f64 * tile_world),
                        );
                        match self.tiles.get(&key) {
                            Some(Tex::Ready(t)) => {
                                painter.image(
                                    t.id(),
                                    Rect::from_min_max(min, max),
                                    Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                                    Color32::WHITE,
                                );
                            }
                            Some(Tex::Failed) => all = false,
                            None => {
                                all = false;
                                loader.ask(key);
                            }
                        }
                    }
                }
                // Keep the textures of what is seen, and a margin of others.
                if self.tiles.len() > 400 {
                    let keep: std::collections::HashSet<TileKey> = visible.into_iter().collect();
                    let drop: Vec<TileKey> = self
                        .tiles
                        .keys()
                        .filter(|k| !keep.contains(k))
                        .copied()
                        .collect();
                    for k in drop {
                        self.tiles.remove(&k);
                        loader.forget(k);
                    }
                }
                self.loader = Some(loader);
                all
            }
        }
    }

    /// Metres per point at the view's centre.
    fn metres_per_point(&self) -> f64 {
        let (lat, _) = unmercator(self.center.0, self.center.1);
        EARTH_CIRCUMFERENCE_M * lat.to_radians().cos() / self.world_px()
    }

    /// A round distance that spans about `px` points.
    fn nice_step(&self, px: f64) -> f64 {
        let target = self.metres_per_point() * px;
        let mut step = 1.0;
        while step * 10.0 <= target {
            step *= 10.0;
        }
        for m in [1.0, 2.0, 5.0, 10.0] {
            if step * m >= target {
                return step * m;
            }
        }
        step * 10.0
    }

    fn grid(&self, painter: &egui::Painter, rect: Rect) {
        let step_m = self.nice_step(110.0);
        let (lat, _) = unmercator(self.center.0, self.center.1);
        let step_world = step_m / (EARTH_CIRCUMFERENCE_M * lat.to_radians().cos());
        let (w0, h0) = self.to_world(rect, rect.min);
        let (w1, h1) = self.to_world(rect, rect.max);
        let line = Stroke::new(1.0, Color32::from_gray(62));
        let label = Color32::from_gray(150);
        let font = FontId::monospace(10.0);
        let mut x = (w0 / step_world).floor() * step_world;
        while x <= w1 {
            let px = self.to_screen(rect, (x, 0.0)).x;
            painter.line_segment([pos2(px, rect.min.y), pos2(px, rect.max.y)], line);
            let (_, lon) = unmercator(x, self.center.1);
            painter.text(
                pos2(px + 3.0, rect.min.y + 3.0),
                egui::Align2::LEFT_TOP,
                format!("{lon:.4}°"),
                font.clone(),
                label,
            );
            x += step_world;
        }
        let mut y = (h0 / step_world).floor() * step_world;
        while y <= h1 {
            let py = self.to_screen(rect, (0.0, y)).y;
            painter.line_segment([pos2(rect.min.x, py), pos2(rect.max.x, py)], line);
            let (lat, _) = unmercator(self.center.0, y);
            painter.text(
                pos2(rect.min.x + 3.0, py - 2.0),
                egui::Align2::LEFT_BOTTOM,
                format!("{lat:.4}°"),
                font.clone(),
                label,
            );
            y += step_world;
        }
    }

    fn scale_bar(&self, painter: &egui::Painter, rect: Rect) {
        let step_m = self.nice_step(120.0);
        let px = (step_m / self.metres_per_point()) as f32;
        let y = rect.max.y - 14.0;
        let x0 = rect.min.x + 14.0;
        let bar = Rect::from_min_max(pos2(x0 - 6.0, y - 20.0), pos2(x0 + px + 6.0, y + 6.0));
        painter.rect_filled(bar, 3.0, Color32::from_black_alpha(170));
        let s = Stroke::new(2.0, Color32::WHITE);
        painter.line_segment([pos2(x0, y), pos2(x0 + px, y)], s);
        painter.line_segment([pos2(x0, y - 5.0), pos2(x0, y + 3.0)], s);
        painter.line_segment([pos2(x0 + px, y - 5.0), pos2(x0 + px, y + 3.0)], s);
        let text = if step_m >= 1000.0 {
            format!("{} km", step_m / 1000.0)
        } else {
            format!("{step_m} m")
        };
        painter.text(
            pos2(x0 + px / 2.0, y - 6.0),
            egui::Align2::CENTER_BOTTOM,
            text,
            FontId::proportional(11.0),
            Color32::WHITE,
        );
    }
}

/// The colour of a vehicle status.
pub fn vehicle_colour(status: &str) -> Color32 {
    match status {
        "available" => Color32::from_rgb(80, 210, 110),
        "busy" => Color32::from_rgb(240, 160, 40),
        "dispatched" => Color32::from_rgb(90, 150, 255),
        _ => Color32::from_gray(140),
    }
}
