//! The commands that touch footage or its trace — recordings, still, hold, export, verify —
//! each run by a signed-in user, checked against the permission table and logged.

use std::path::Path;

use anyhow::{Context, bail};

use super::{HoldCommand, Login, MasksCommand, parse_instant, read_password, rfc3339, write_still};
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
    let now = crate::time::now_utc_ns();
    let to = match to {
        Some(t) => parse_instant("--to", t)?,
        None => now,
    };
    let from = match from {
        Some(t) => parse_instant("--from", t)?,
        None => to - 30 * 86_400 * 1_000_000_000,
    };
    if from >= to {
        bail!("--from must be before --to");
    }
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

pub(super) fn hold(action: HoldCommand) -> anyhow::Result<()> {
    let now = crate::time::now_utc_ns();
    match action {
        HoldCommand::Add {
            data,
            camera,
            from,
            to,
            procedure,
            reason,
            expires,
            login,
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
        HoldCommand::List { data, login } => {
            let session = sign_in(&data, &login)?;
            let action = if session.may(Action::PlaceHold) {
                Action::PlaceHold
            } else {
                Action::ReadRegister
            };
            session.require(&data, action, &[])?;
            session.log(&data, "holds listed", "", None, "", "")?;
            for h in open_index(&data)?.holds()? {
                let state = match h.released_utc_ns {
                    Some(t) => format!("released {}", rfc3339(t)),
                    None if h.expires_utc_ns <= now => "lapsed".to_owned(),
                    None => format!("in force until {}", rfc3339(h.expires_utc_ns)),
                };
                println!(
                    "{}  {}  {} .. {}  procedure {}  by {}  {state}  ({})",
                    h.id,
                    h.camera_id,
                    rfc3339(h.span.start_utc_ns),
                    rfc3339(h.span.end_utc_ns),
                    h.procedure,
                    h.author,
                    h.reason
                );
            }
            Ok(())
        }
        HoldCommand::Release { data, id, login } => {
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
    write_still(frame, &masks, out)?;
    session.log(
        data,
        "still",
        camera,
        Some((shown.start_utc_ns, shown.end_utc_ns)),
        "",
        &out.display().to_string(),
    )?;
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

pub(super) fn verify(dir: &Path, key: Option<&Path>, data: Option<&Path>) -> anyhow::Result<()> {
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
    if !v.problems.is_empty() {
        bail!("{}: {} check(s) failed", dir.display(), v.problems.len());
    }
    println!(
        "OK: {} files intact; manifest signed by key SHA-256 {}{}",
        v.files_ok,
        v.key_sha256.as_deref().unwrap_or("?"),
        if expected.is_some() {
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

pub(super) fn masks(action: MasksCommand) -> anyhow::Result<()> {
    match action {
        MasksCommand::Add {
            data,
            camera,
            polygon,
            label,
            login,
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
        MasksCommand::List { data, login } => {
            let session = sign_in(&data, &login)?;
            let action = if session.may(Action::EditMasks) {
                Action::EditMasks
            } else {
                Action::ReadRegister
            };
            session.require(&data, action, &[])?;
            for m in open_index(&data)?.masks(None)? {
                let points: Vec<String> =
                    m.polygon.iter().map(|[x, y]| format!("{x},{y}")).collect();
                println!(
                    "{}\t{}\t{}\t{}\tby {} {}",
                    m.id,
                    m.camera_id,
                    points.join(" "),
                    m.label,
                    m.author,
                    rfc3339(m.created_utc_ns)
                );
            }
            Ok(())
        }
        MasksCommand::Remove { data, id, login } => {
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
        MasksCommand::Edit { data } => {
            open_index(&data)?;
            crate::ui::run_mask_editor(&data)
                .map_err(|e| anyhow::anyhow!("the mask editor window failed: {e}"))
        }
    }
}
