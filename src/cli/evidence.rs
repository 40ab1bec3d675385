//! The commands that touch footage or its trace — recordings, still, hold, export, verify —
//! each run by a signed-in user, checked against the permission table and logged.

use std::path::Path;

use anyhow::{Context, bail};

use super::hold::HoldCommand;
use super::masks::MasksCommand;
use super::still::write_still;
use super::{Login, parse_instant, read_password, rfc3339};
use crate::auth::{Action, Session};
use crate::store::{INDEX_FILE, Store};

fn open_index(data: &Path) -> anyhow::Result<Store> {
    let index = data.join(INDEX_FILE);
    if !index.exists() {
        bail!(
            "{}: no recording index here ({INDEX_FILE} is missing)",
            data.display()
        );
    }
    Ok(Store::open(&index)?)
}

/// Signs `login.user` in against the index at `data` (the attempt is logged either way).
pub(super) fn sign_in(data: &Path, login: &Login) -> anyhow::Result<Session> {
    open_index(data)?;
    let password = read_password(
        &format!("Vigie password for {}: ", login.user),
        login.password_stdin,
    )?;
    Ok(crate::auth::login(data, &login.user, &password)?)
}

/// `--from`/`--to` of a listing: the last 30 days by default.
fn listing_range(from: Option<&str>, to: Option<&str>) -> anyhow::Result<(i64, i64)> {
    let to = match to {
        Some(t) => parse_instant("--to", t)?,
        None => crate::time::now_utc_ns(),
    };
    let from = match from {
        Some(t) => parse_instant("--from", t)?,
        None => to - 30 * 86_400 * 1_000_000_000,
    };
    if from >= to {
        bail!("--from must be before --to");
    }
    Ok((from, to))
}

/// `vigie recordings --server`: the same listing, decided, logged and answered by the server.
pub(super) fn recordings_from_server(
    conn: &super::conn::ServerConn,
    camera: &str,
    from: Option<&str>,
    to: Option<&str>,
    json: bool,
    login: &Login,
) -> anyhow::Result<()> {
    let (from, to) = listing_range(from, to)?;
    let mut api = conn.sign_in(login)?;
    let segments = api.recordings(camera, from, to)?;
    let _ = api.sign_out();
    if json {
        let rows: Vec<serde_json::Value> = segments
            .iter()
            .map(|s| {
                serde_json::json!({
                    "camera": camera,
                    "start": rfc3339(s.start_utc_ns),
                    "end": rfc3339(s.end_utc_ns),
                    "bytes": s.bytes,
                    "sha256": s.sha256,
                    "codec": s.codec,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for s in &segments {
            println!(
                "{}  {}  {:>10} bytes  {}  {}",
                rfc3339(s.start_utc_ns),
                rfc3339(s.end_utc_ns),
                s.bytes,
                s.codec,
                s.sha256
            );
        }
        println!("{} segment(s) of {camera}", segments.len());
    }
    Ok(())
}

pub(super) fn recordings(
    data: &Path,
    camera: &str,
    from: Option<&str>,
    to: Option<&str>,
    json: bool,
    login: &Login,
) -> anyhow::Result<()> {
    let session = sign_in(data, login)?;
    // Listing recordings shows when a camera filmed: for those who replay its footage, or
    // who keep the register (of every camera: it shows no image).
    if session.may(Action::Playback) {
        session.require(data, Action::Playback, &[camera.to_owned()])?;
    } else {
        session.require(data, Action::ReadRegister, &[])?;
    }
    let (from, to) = listing_range(from, to)?;
    let store = open_index(data)?;
    let segments = store.segments(camera, from, to)?;
    session.log(data, "recordings listed", camera, Some((from, to)), "", "")?;
    if json {
        let rows: Vec<serde_json::Value> = segments
            .iter()
            .map(|s| {
                serde_json::json!({
                    "camera": s.row.camera_id,
                    "start": rfc3339(s.row.start_utc_ns),
                    "end": rfc3339(s.row.end_utc_ns),
                    "path": s.row.path,
                    "bytes": s.row.bytes,
                    "sha256": crate::export::hex(&s.row.sha256),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for s in &segments {
            println!(
                "{}  {}  {:>12}  {}",
                rfc3339(s.row.start_utc_ns),
                rfc3339(s.row.end_utc_ns),
                s.row.bytes,
                s.row.path
            );
        }
        eprintln!("{} segments of {camera}", segments.len());
    }
    Ok(())
}

/// One hold as the listings print it.
fn hold_line(h: &crate::store::Hold, now: i64) -> String {
    let state = match h.released_utc_ns {
        Some(t) => format!("released {}", rfc3339(t)),
        None if h.expires_utc_ns <= now => "lapsed".to_owned(),
        None => format!("in force until {}", rfc3339(h.expires_utc_ns)),
    };
    format!(
        "{}  {}  {} .. {}  procedure {}  by {}  {state}  ({})",
        h.id,
        h.camera_id,
        rfc3339(h.span.start_utc_ns),
        rfc3339(h.span.end_utc_ns),
        h.procedure,
        h.author,
        h.reason
    )
}

/// `vigie hold ... --server`: holds placed, listed and released by the server, which checks
/// and logs.
fn hold_through_server(action: HoldCommand) -> anyhow::Result<()> {
    let now = crate::time::now_utc_ns();
    match action {
        HoldCommand::Add {
            conn,
            camera,
            from,
            to,
            procedure,
            reason,
            expires,
            login,
            ..
        } => {
            let body = crate::server::review::NewHold {
                from_utc_ns: parse_instant("--from", &from)?,
                to_utc_ns: parse_instant("--to", &to)?,
                procedure,
                reason,
                days: 0,
                expires_utc_ns: Some(parse_instant("--expires", &expires)?),
            };
            let mut api = conn.sign_in(&login)?;
            let r: Result<crate::store::Hold, _> = api.post(
                &format!("/v1/cameras/{}/holds", crate::client::path_segment(&camera)),
                &body,
            );
            let _ = api.sign_out();
            let h = r?;
            println!(
                "hold {}: {camera} {} .. {} until {}",
                h.id,
                rfc3339(h.span.start_utc_ns),
                rfc3339(h.span.end_utc_ns),
                rfc3339(h.expires_utc_ns)
            );
        }
        HoldCommand::List { conn, login, .. } => {
            let mut api = conn.sign_in(&login)?;
            let r: Result<Vec<crate::store::Hold>, _> = api.get("/v1/holds");
            let _ = api.sign_out();
            for h in r? {
                println!("{}", hold_line(&h, now));
            }
        }
        HoldCommand::Release {
            conn, id, login, ..
        } => {
            let mut api = conn.sign_in(&login)?;
            let r: Result<crate::store::Hold, _> =
                api.post(&format!("/v1/holds/{id}/release"), &serde_json::json!({}));
            let _ = api.sign_out();
            r?;
            println!("hold {id} released");
        }
    }
    Ok(())
}

pub(super) fn hold(action: HoldCommand) -> anyhow::Result<()> {
    let now = crate::time::now_utc_ns();
    match action {
        HoldCommand::Add {
            data: Some(data),
            camera,
            from,
            to,
            procedure,
            reason,
            expires,
            login,
            ..
        } => {
            let session = sign_in(&data, &login)?;
            session.require(&data, Action::PlaceHold, std::slice::from_ref(&camera))?;
            let store = open_index(&data)?;
            if !store.has_camera(&camera)? {
                bail!(
                    "--camera: {camera:?} is not in the index of {}",
                    data.display()
                );
            }
            let (start, end, expires) = (
                parse_instant("--from", &from)?,
                parse_instant("--to", &to)?,
                parse_instant("--expires", &expires)?,
            );
            if start >= end {
                bail!("--from must be before --to");
            }
            if expires <= now {
                bail!("--expires must be in the future");
            }
            if procedure.trim().is_empty() || reason.trim().is_empty() {
                bail!("--procedure and --reason must not be empty");
            }
            let id = store.add_hold(&crate::store::Hold {
                id: 0,
                camera_id: camera.clone(),
                span: crate::store::Span {
                    start_utc_ns: start,
                    end_utc_ns: end,
                },
                procedure: procedure.clone(),
                reason: reason.clone(),
                author: session.user.clone(),
                created_utc_ns: now,
                expires_utc_ns: expires,
                released_utc_ns: None,
            })?;
            session.log(
                &data,
                "hold placed",
                &camera,
                Some((start, end)),
                &reason,
                &format!(
                    "hold {id}; procedure {procedure}; until {}",
                    rfc3339(expires)
                ),
            )?;
            println!(
                "hold {id}: {camera} {} .. {} until {}",
                rfc3339(start),
                rfc3339(end),
                rfc3339(expires)
            );
            Ok(())
        }
        HoldCommand::List {
            data: Some(data),
            login,
            ..
        } => {
            let session = sign_in(&data, &login)?;
            let action = if session.may(Action::PlaceHold) {
                Action::PlaceHold
            } else {
                Action::ReadRegister
            };
            session.require(&data, action, &[])?;
            session.log(&data, "holds listed", "", None, "", "")?;
            for h in open_index(&data)?.holds()? {
                println!("{}", hold_line(&h, now));
            }
            Ok(())
        }
        HoldCommand::Release {
            data: Some(data),
            id,
            login,
            ..
        } => {
            let session = sign_in(&data, &login)?;
            let store = open_index(&data)?;
            let Some(h) = store
                .holds()?
                .into_iter()
                .find(|h| h.id == id && h.released_utc_ns.is_none())
            else {
                bail!("--id: no hold {id} in force");
            };
            session.require(
                &data,
                Action::ReleaseHold,
                std::slice::from_ref(&h.camera_id),
            )?;
            if !store.release_hold(id, now)? {
                bail!("--id: no hold {id} in force");
            }
            session.log(
                &data,
                "hold released",
                &h.camera_id,
                Some((h.span.start_utc_ns, h.span.end_utc_ns)),
                "",
                &format!("hold {id}; procedure {}", h.procedure),
            )?;
            println!("hold {id} released");
            Ok(())
        }
        // Without --data: through the site server.
        on_server => hold_through_server(on_server),
    }
}

/// `vigie still --data`: the recorded picture shown at an instant, through the playback and
/// GPU paths.
pub(super) fn recorded_still(
    data: &Path,
    camera: &str,
    at: &str,
    out: &Path,
    login: &Login,
) -> anyhow::Result<()> {
    let at_ns = parse_instant("--at", at)?;
    let session = sign_in(data, login)?;
    session.require(data, Action::Still, &[camera.to_owned()])?;
    let mut player = crate::playback::Player::open(data, camera)?;
    let shown = player.frame_at(at_ns)?;
    let frame = &shown.frame;
    let masks: Vec<crate::render::Polygon> = open_index(data)?
        .masks(Some(camera))?
        .into_iter()
        .map(|m| m.polygon)
        .collect();
    // Fail closed: the still is logged before it is written; no entry, no picture.
    session.log(
        data,
        "still",
        camera,
        Some((shown.start_utc_ns, shown.end_utc_ns)),
        "",
        &out.display().to_string(),
    )?;
    write_still(frame, &masks, out)?;
    eprintln!(
        "still: wrote {} ({}x{}, {camera}, frame {} to {})",
        out.display(),
        frame.width,
        frame.height,
        rfc3339(shown.start_utc_ns),
        rfc3339(shown.end_utc_ns)
    );
    Ok(())
}

/// `vigie still --server`: the recorded picture at an instant, its GOP fetched from the server
/// and decoded and drawn here, masks painted; the server checks the right and logs the still
/// before the file is written.
pub(super) fn recorded_still_from_server(
    conn: &super::conn::ServerConn,
    camera: &str,
    at: &str,
    out: &Path,
    login: &Login,
) -> anyhow::Result<()> {
    let at_ns = parse_instant("--at", at)?;
    let mut api = conn.sign_in(login)?;
    let shared = std::sync::Arc::new(api);
    let mut player = crate::playback::Player::with_source(
        Box::new(crate::client::footage::RemoteFootage::new(shared.clone())),
        camera,
    );
    let shown = player.frame_at(at_ns);
    drop(player);
    api = std::sync::Arc::try_unwrap(shared)
        .map_err(|_| anyhow::anyhow!("the server connection is still in use"))?;
    let result = (|| -> anyhow::Result<()> {
        let shown = shown?;
        let masks: Vec<crate::render::Polygon> =
            api.masks(camera)?.into_iter().map(|m| m.polygon).collect();
        api.record_still(
            camera,
            &crate::client::StillRecord {
                start_utc_ns: shown.start_utc_ns,
                end_utc_ns: shown.end_utc_ns,
                file: out.display().to_string(),
            },
        )?;
        let frame = &shown.frame;
        write_still(frame, &masks, out)?;
        eprintln!(
            "still: wrote {} ({}x{}, {camera}, frame {} to {})",
            out.display(),
            frame.width,
            frame.height,
            rfc3339(shown.start_utc_ns),
            rfc3339(shown.end_utc_ns)
        );
        Ok(())
    })();
    let _ = api.sign_out();
    result
}

pub(super) fn export(
    data: &Path,
    login: &Login,
    req: crate::export::Request,
    session: Option<Session>,
) -> anyhow::Result<()> {
    let session = match session {
        Some(s) => s,
        None => sign_in(data, login)?,
    };
    let mut last = 0u32;
    let done = crate::export::export(data, &session, &req, &mut |f| {
        let pct = (f * 100.0) as u32;
        if pct >= last + 10 {
            last = pct;
            eprintln!("export: {pct}%");
        }
        true
    })?;
    for m in &done.missing {
        eprintln!("export: {m}");
    }
    for f in &done.files {
        println!(
            "{}  {}  {} bytes",
            crate::export::hex(&f.sha256),
            f.name,
            f.bytes
        );
    }
    eprintln!(
        "export: {} ({} videos; manifest SHA-256 {})",
        done.dir.display(),
        done.files.len(),
        crate::export::hex(&done.manifest_sha256)
    );
    Ok(())
}

/// `vigie export --server`: made by the server, fetched here with progress (Ctrl-C cancels
/// it there too), each file checked against the server's SHA-256.
pub(super) fn export_from_server(
    conn: &super::conn::ServerConn,
    login: &Login,
    order: &crate::client::exports::ExportOrder,
    out: &Path,
) -> anyhow::Result<()> {
    use crate::client::exports::{Stage, fetch};
    let mut api = conn.sign_in(login)?;
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone());
    let mut last = (0u32, 0u32);
    let fetched = fetch(&api, order, out, &mut |stage| {
        match stage {
            Stage::Making(f) => {
                let pct = (f * 100.0) as u32;
                if pct >= last.0 + 10 {
                    last.0 = pct;
                    eprintln!("export: made {pct}%");
                }
            }
            Stage::Downloading { done, total } => {
                let pct = (done * 100 / total.max(1)) as u32;
                if pct >= last.1 + 10 {
                    last.1 = pct;
                    eprintln!("export: downloaded {pct}% of {total} bytes");
                }
            }
        }
        !interrupted.load(std::sync::atomic::Ordering::Relaxed)
    });
    let _ = api.sign_out();
    let fetched = fetched?;
    for m in &fetched.missing {
        eprintln!("export: {m}");
    }
    for f in fetched.files.iter().filter(|f| f.name.ends_with(".mp4")) {
        println!("{}  {}  {} bytes", f.sha256, f.name, f.bytes);
    }
    eprintln!(
        "export: {} ({} files checked against the server's SHA-256; manifest SHA-256 {})",
        fetched.dir.display(),
        fetched.files.len(),
        fetched.manifest_sha256
    );
    Ok(())
}

/// `vigie access-request --refuse GROUND --server`: the refusal recorded by the server.
pub(super) fn refuse_through_server(
    conn: &super::conn::ServerConn,
    login: &Login,
    order: crate::client::exports::ExportOrder,
    ground: &str,
) -> anyhow::Result<()> {
    let reference = order.requisition.clone();
    let mut api = conn.sign_in(login)?;
    let r: Result<serde_json::Value, _> = api.post(
        "/v1/access-refusals",
        &crate::server::exports::Refusal {
            order,
            ground: ground.to_owned(),
        },
    );
    let _ = api.sign_out();
    let v = r?;
    println!(
        "access request {reference} refused (record {}): {}",
        v["record"],
        ground.trim()
    );
    Ok(())
}

pub(super) fn access_request(
    data: &Path,
    login: &Login,
    req: crate::export::Request,
    refuse: Option<&str>,
) -> anyhow::Result<()> {
    let session = sign_in(data, login)?;
    if let Some(ground) = refuse {
        let id = crate::export::refuse_access(data, &session, &req, ground)?;
        println!(
            "access request {} refused (record {id}): {}",
            req.requisition,
            ground.trim()
        );
        return Ok(());
    }
    export(data, login, req, Some(session))
}

pub(super) fn verify(
    dir: &Path,
    key: Option<&Path>,
    data: Option<&Path>,
    fingerprint: Option<&str>,
) -> anyhow::Result<()> {
    let fingerprint = match fingerprint {
        Some(f) => Some(
            crate::server::pki::normalise_fingerprint(f)
                .with_context(|| format!("--fingerprint {f:?}: not a SHA-256 (64 hex digits)"))?,
        ),
        None => None,
    };
    let key_path = key
        .map(Path::to_owned)
        .or_else(|| data.map(|d| d.join(crate::auth::audit::PUBLIC_KEY_FILE)));
    let expected = match &key_path {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    if !dir.is_dir() {
        bail!("{}: not a folder", dir.display());
    }
    let v = crate::export::verify(dir, expected.as_deref());
    for p in &v.problems {
        println!("FAILED: {p}");
    }
    for e in &v.extra {
        println!("note: {e} is not part of the export");
    }
    if let (Some(want), Some(got)) = (&fingerprint, &v.key_sha256)
        && crate::server::pki::normalise_fingerprint(got).as_ref() != Some(want)
    {
        let want = want.replace(':', "").to_ascii_lowercase();
        println!(
            "FAILED: {}: signed by key SHA-256 {got}, not by the installation's key ({want})",
            crate::export::SIGNATURE,
        );
        bail!(
            "{}: not signed by the installation whose fingerprint was given",
            dir.display()
        );
    }
    if !v.problems.is_empty() {
        bail!("{}: {} check(s) failed", dir.display(), v.problems.len());
    }
    println!(
        "OK: {} files intact; manifest signed by key SHA-256 {}{}",
        v.files_ok,
        v.key_sha256.as_deref().unwrap_or("?"),
        if expected.is_some() || fingerprint.is_some() {
            " (this installation's)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Parses "x,y x,y x,y" (fractions of the picture) for `--polygon`.
pub(crate) fn parse_polygon(text: &str) -> anyhow::Result<crate::render::Polygon> {
    let mut points = Vec::new();
    for (i, pair) in text.split_whitespace().enumerate() {
        let parsed = pair.split_once(',').and_then(|(x, y)| {
            Some([x.trim().parse::<f32>().ok()?, y.trim().parse::<f32>().ok()?])
        });
        let Some([x, y]) = parsed else {
            bail!("--polygon: point {} ({pair:?}) is not \"x,y\"", i + 1);
        };
        if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
            bail!(
                "--polygon: point {} ({pair}) is outside the picture (0 to 1 on each axis)",
                i + 1
            );
        }
        points.push([x, y]);
    }
    if !(3..=64).contains(&points.len()) {
        bail!("--polygon: {} points; a mask has 3 to 64", points.len());
    }
    Ok(points)
}

/// One mask as the listings print it: id, camera, points, label, author and when.
fn mask_line(
    id: i64,
    camera: &str,
    polygon: &[[f32; 2]],
    label: &str,
    author: &str,
    at: i64,
) -> String {
    let points: Vec<String> = polygon.iter().map(|[x, y]| format!("{x},{y}")).collect();
    format!(
        "{id}\t{camera}\t{}\t{label}\tby {author} {}",
        points.join(" "),
        rfc3339(at)
    )
}

pub(super) fn masks(action: MasksCommand) -> anyhow::Result<()> {
    match action {
        MasksCommand::Add {
            data: Some(data),
            camera,
            polygon,
            label,
            login,
            ..
        } => {
            let polygon = parse_polygon(&polygon)?;
            let session = sign_in(&data, &login)?;
            session.require(&data, Action::EditMasks, &[])?;
            let store = open_index(&data)?;
            if !store.has_camera(&camera)? {
                bail!(
                    "--camera: {camera:?} is not in the index of {}",
                    data.display()
                );
            }
            let id = store.add_mask(&crate::store::Mask {
                id: 0,
                camera_id: camera.clone(),
                polygon: polygon.clone(),
                label: label.clone(),
                author: session.user.clone(),
                created_utc_ns: crate::time::now_utc_ns(),
            })?;
            session.log(
                &data,
                "mask added",
                &camera,
                None,
                "",
                &format!("mask {id} {label:?}: {}", serde_json::to_string(&polygon)?),
            )?;
            println!("mask {id} on {camera}");
            Ok(())
        }
        MasksCommand::List {
            data: Some(data),
            login,
            ..
        } => {
            let session = sign_in(&data, &login)?;
            let action = if session.may(Action::EditMasks) {
                Action::EditMasks
            } else {
                Action::ReadRegister
            };
            session.require(&data, action, &[])?;
            for m in open_index(&data)?.masks(None)? {
                println!(
                    "{}",
                    mask_line(
                        m.id,
                        &m.camera_id,
                        &m.polygon,
                        &m.label,
                        &m.author,
                        m.created_utc_ns
                    )
                );
            }
            Ok(())
        }
        MasksCommand::Remove {
            data: Some(data),
            id,
            login,
            ..
        } => {
            let session = sign_in(&data, &login)?;
            session.require(&data, Action::EditMasks, &[])?;
            let Some(camera) = open_index(&data)?.remove_mask(id, crate::time::now_utc_ns())?
            else {
                bail!("--id: no mask {id} in force");
            };
            session.log(
                &data,
                "mask removed",
                &camera,
                None,
                "",
                &format!("mask {id}"),
            )?;
            println!("mask {id} removed from {camera}");
            Ok(())
        }
        // With a data folder, the window still signs in at a server: one of that folder, in
        // this process, on loopback.
        MasksCommand::Edit {
            data: Some(data), ..
        } => {
            let (local, url, ca) = super::local_server(&data, None)?;
            crate::ui::run_mask_editor((url, ca), vec![local])
                .map_err(|e| anyhow::anyhow!("the mask editor window failed: {e}"))
        }
        MasksCommand::Edit { data: None, conn } => {
            let server = conn.trusted()?;
            crate::ui::run_mask_editor(server, Vec::new())
                .map_err(|e| anyhow::anyhow!("the mask editor window failed: {e}"))
        }
        // Without --data: through the site server, which checks and logs.
        MasksCommand::Add {
            data: None,
            conn,
            camera,
            polygon,
            label,
            login,
        } => {
            let polygon = parse_polygon(&polygon)?;
            let mut api = conn.sign_in(&login)?;
            let r: Result<crate::client::ApiMask, _> = api.post(
                &format!("/v1/cameras/{}/masks", crate::client::path_segment(&camera)),
                &crate::server::playback::NewMask { polygon, label },
            );
            let _ = api.sign_out();
            println!("mask {} on {camera}", r?.id);
            Ok(())
        }
        MasksCommand::List {
            data: None,
            conn,
            login,
        } => {
            let mut api = conn.sign_in(&login)?;
            let r = api.all_masks();
            let _ = api.sign_out();
            for (camera, masks) in r? {
                for m in masks {
                    println!(
                        "{}",
                        mask_line(
                            m.id,
                            &camera,
                            &m.polygon,
                            &m.label,
                            &m.author,
                            m.created_utc_ns
                        )
                    );
                }
            }
            Ok(())
        }
        MasksCommand::Remove {
            data: None,
            conn,
            id,
            login,
        } => {
            let mut api = conn.sign_in(&login)?;
            let r = api.delete(&format!("/v1/masks/{id}"));
            let _ = api.sign_out();
            r?;
            println!("mask {id} removed");
            Ok(())
        }
    }
}

/// One audit entry as a line: seq, instant, user (role), action, cameras [range], reason,
/// detail.
fn audit_line(seq: i64, e: &crate::store::AuditEntry) -> String {
    let range = e
        .range
        .map(|(a, b)| format!(" [{} .. {}]", rfc3339(a), rfc3339(b)))
        .unwrap_or_default();
    format!(
        "{seq}\t{}\t{} ({})\t{}\t{}{range}\t{}\t{}",
        rfc3339(e.at_utc_ns),
        e.user,
        e.role,
        e.action,
        e.cameras,
        e.reason,
        e.detail
    )
}

/// `vigie audit show --server`: the entries, read, filtered and logged by the server.
pub(super) fn audit_show_from_server(
    conn: &super::conn::ServerConn,
    from: Option<&str>,
    to: Option<&str>,
    of: Option<&str>,
    login: &Login,
) -> anyhow::Result<()> {
    let mut filters: Vec<(&str, String)> = Vec::new();
    if let Some(f) = from {
        filters.push(("from", parse_instant("--from", f)?.to_string()));
    }
    if let Some(t) = to {
        filters.push(("to", parse_instant("--to", t)?.to_string()));
    }
    if let Some(u) = of {
        filters.push(("of", u.to_owned()));
    }
    let mut api = conn.sign_in(login)?;
    let mut after = 0;
    let mut shown = 0;
    loop {
        let mut page = url::form_urlencoded::Serializer::new(String::new());
        page.extend_pairs(filters.iter().map(|(k, v)| (*k, v.as_str())));
        page.append_pair("after", &after.to_string());
        page.append_pair("limit", "10000");
        let entries: Vec<crate::client::ApiAuditEntry> =
            api.get(&format!("/v1/audit?{}", page.finish()))?;
        let Some(last) = entries.last() else { break };
        after = last.seq;
        for e in &entries {
            let entry = crate::store::AuditEntry {
                at_utc_ns: e.at_utc_ns,
                user: e.user.clone(),
                role: e.role.clone(),
                action: e.action.clone(),
                cameras: e.cameras.clone(),
                range: e.range.as_ref().map(|r| (r.start_utc_ns, r.end_utc_ns)),
                reason: e.reason.clone(),
                detail: e.detail.clone(),
            };
            println!("{}", audit_line(e.seq, &entry));
            shown += 1;
        }
    }
    let _ = api.sign_out();
    eprintln!("{shown} entries");
    Ok(())
}

pub(super) fn audit_show(
    data: &Path,
    from: Option<&str>,
    to: Option<&str>,
    of: Option<&str>,
    login: &Login,
) -> anyhow::Result<()> {
    let session = sign_in(data, login)?;
    session.require(data, Action::ReadAudit, &[])?;
    let from = from.map(|t| parse_instant("--from", t)).transpose()?;
    let to = to.map(|t| parse_instant("--to", t)).transpose()?;
    let entries = open_index(data)?.audit_entries()?;
    let mut shown = 0;
    for (seq, e, _, _) in &entries {
        if from.is_some_and(|f| e.at_utc_ns < f)
            || to.is_some_and(|t| e.at_utc_ns >= t)
            || of.is_some_and(|u| e.user != u)
        {
            continue;
        }
        shown += 1;
        println!("{}", audit_line(*seq, e));
    }
    session.log(
        data,
        "audit log read",
        "",
        from.zip(to),
        "",
        &format!(
            "{shown} entries shown{}",
            of.map(|u| format!(" of {u}")).unwrap_or_default()
        ),
    )?;
    Ok(())
}

pub(super) fn audit_export(data: &Path, out: &Path, login: &Login) -> anyhow::Result<()> {
    let session = sign_in(data, login)?;
    session.require(data, Action::ReadAudit, &[])?;
    // The export itself is in the log it exports.
    session.log(
        data,
        "audit log exported",
        "",
        None,
        "",
        &out.display().to_string(),
    )?;
    let signed = crate::auth::audit::signed_export(data, &session.user, session.role.as_str())?;
    write_audit_export(&signed, out)
}

/// `vigie audit export --server`: made and signed by the server, written here.
pub(super) fn audit_export_from_server(
    conn: &super::conn::ServerConn,
    out: &Path,
    login: &Login,
) -> anyhow::Result<()> {
    let mut api = conn.sign_in(login)?;
    let r: Result<crate::auth::audit::SignedExport, _> = api.get("/v1/audit/export");
    let _ = api.sign_out();
    write_audit_export(&r?, out)
}

/// Writes the export and its signature beside it (`FILE.sig`).
fn write_audit_export(signed: &crate::auth::audit::SignedExport, out: &Path) -> anyhow::Result<()> {
    std::fs::write(out, signed.document.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    let sig = out.with_extension(
        out.extension()
            .map(|e| format!("{}.sig", e.to_string_lossy()))
            .unwrap_or_else(|| "sig".into()),
    );
    let raw = crate::auth::audit::unhex(&signed.signature)
        .filter(|b| b.len() == 64)
        .context("the export's signature is not 64 bytes of hex")?;
    std::fs::write(&sig, raw).with_context(|| format!("writing {}", sig.display()))?;
    eprintln!(
        "audit: {} entries written to {} (signature {}){}",
        signed.entries,
        out.display(),
        sig.display(),
        if signed.problems == 0 {
            String::new()
        } else {
            format!(
                "; the chain has {} problem(s), listed in it",
                signed.problems
            )
        }
    );
    Ok(())
}

pub(super) fn register(data: &Path, json: bool, login: &Login) -> anyhow::Result<()> {
    let session = sign_in(data, login)?;
    session.require(data, Action::ReadRegister, &[])?;
    let doc = crate::server::api::register_doc(&open_index(data)?)?;
    session.log(data, "register read", "", None, "", "")?;
    print_register(&doc, json)
}

/// `vigie register --server`: the register read, and logged, by the server.
pub(super) fn register_from_server(
    conn: &super::conn::ServerConn,
    json: bool,
    login: &Login,
) -> anyhow::Result<()> {
    let mut api = conn.sign_in(login)?;
    let doc: Result<serde_json::Value, _> = api.get("/v1/register");
    let _ = api.sign_out();
    print_register(&doc?, json)
}

/// The register as JSON, or as three tab-separated tables.
fn print_register(doc: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(doc)?);
        return Ok(());
    }
    let rows = |key: &str| doc[key].as_array().cloned().unwrap_or_default();
    let f = |v: &serde_json::Value, k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    println!("# Recordings");
    for r in rows("recordings") {
        println!(
            "{}\t{} .. {}\t{} segments\t{} bytes",
            f(&r, "camera"),
            f(&r, "from_utc"),
            f(&r, "to_utc"),
            f(&r, "segments"),
            f(&r, "bytes")
        );
    }
    println!("# Deletions and exports");
    for l in rows("register") {
        println!(
            "{}\t{}\t{}\t{} .. {}\tby {}\t{}",
            f(&l, "at_utc"),
            f(&l, "action"),
            f(&l, "camera"),
            f(&l, "from_utc"),
            f(&l, "to_utc"),
            f(&l, "author"),
            f(&l, "reason")
        );
    }
    println!("# Access requests");
    for r in rows("access_requests") {
        println!(
            "{}\t{}\t{}\t{}\t{} .. {}\tby {}\t{}",
            f(&r, "decided_utc"),
            f(&r, "outcome"),
            f(&r, "requester"),
            f(&r, "cameras"),
            f(&r, "from_utc"),
            f(&r, "to_utc"),
            f(&r, "handled_by"),
            f(&r, "detail")
        );
    }
    Ok(())
}
