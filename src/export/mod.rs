//! Exports for judicial requisitions: each camera's range remuxed, without re-encoding, into an
//! MP4 beside a signed manifest that anyone can check with `sha256sum` and `openssl`.
//!
//! An export folder holds:
//! - one MP4 per camera (or per unbroken run of footage, where the recording has a gap or the
//!   camera changed its stream), starting at the keyframe at or before the range's start, with
//!   an edit list that shows exactly the range asked;
//! - `manifest.json`: the requisition, the officer, the reason, who exported and when, each
//!   camera's name, place and range (UTC and Europe/Paris), each file's size and SHA-256, and
//!   the source segments (path and SHA-256 as the index recorded them);
//! - `manifest.json.sig`: the raw 64-byte Ed25519 signature of `manifest.json` by the
//!   installation's key, and `signing-key.pub.pem`, the public half;
//! - `SHA256SUMS` (read by `sha256sum -c`) and `README.txt` (how to check, by hand).
//!
//! The folder appears whole or not at all: everything is written into a hidden sibling folder
//! that is renamed to the destination only once complete and synced; a failed or cancelled
//! export removes it. Source segments are hashed as they are read and must match the index.

pub mod mp4;
mod verify;

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};

use crate::auth::{Action, AuthError, Session, audit};
use crate::playback::redact::{Redaction, Redactor};
use crate::record::fmp4::{SampleInfo, TrackConfig, sample_table};
use crate::render::Polygon;
use crate::store::{CameraRow, INDEX_FILE, RegisterLine, Segment, Span, Store, StoreError};
use crate::time::{paris_rfc3339, rfc3339};

pub use verify::{Verdict, verify};

/// Names of the files beside the videos.
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.json.sig";
pub const PUBLIC_KEY: &str = "signing-key.pub.pem";
pub const SUMS: &str = "SHA256SUMS";
pub const README: &str = "README.txt";

/// A gap longer than this between two segments starts a new file (shorter ones are bridged by
/// lengthening the picture before them).
const MAX_BRIDGED_GAP_NS: i64 = 1_000_000_000;

/// A masked copy for a citizen who asked to see images of themselves.
#[derive(Clone, Debug, Default)]
pub struct CitizenAccess {
    pub requester: String,
    /// How the requester's identity was checked (document seen, by whom).
    pub identity_check: String,
    pub received_utc_ns: i64,
    /// Regions to pixelate (third parties), per camera id, in picture fractions.
    pub blur: Vec<(String, Polygon)>,
}

/// What to export, and on whose request.
#[derive(Clone, Debug)]
pub struct Request {
    pub cameras: Vec<String>,
    pub from_utc_ns: i64,
    pub to_utc_ns: i64,
    /// The folder to create (it may exist if empty).
    pub out: PathBuf,
    /// The requisition's number (or the access request's reference).
    pub requisition: String,
    /// The officer who asked (not needed for a citizen's access request).
    pub officer: String,
    pub reason: String,
    /// A citizen's access request: the copy is masked and re-encoded instead of remuxed.
    pub access: Option<CitizenAccess>,
}

/// One file of a finished export.
#[derive(Clone, Debug)]
pub struct ExportedFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// A finished export.
#[derive(Clone, Debug)]
pub struct Exported {
    pub dir: PathBuf,
    /// The videos.
    pub files: Vec<ExportedFile>,
    pub manifest_sha256: [u8; 32],
    /// Parts of the range with no footage, per camera, in words.
    pub missing: Vec<String>,
}

/// Why an export did not happen (nothing was left behind).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Invalid(String),
    #[error("camera {camera}: no recorded footage between {from} and {to}")]
    NoFootage {
        camera: String,
        from: String,
        to: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: its SHA-256 differs from the one the index recorded: the footage was altered or damaged; export refused"
    )]
    Altered { path: PathBuf },
    #[error("{path}: not a readable recording")]
    Unreadable { path: PathBuf },
    #[error("the export was cancelled; nothing was written")]
    Cancelled,
    #[error("{path}: making the masked copy: {why}")]
    Redaction { path: PathBuf, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// 90 kHz ticks in a span of nanoseconds (rounded to the nearest tick).
fn ticks(ns: i64) -> i64 {
    ((ns as i128 * 9 + 50_000) / 100_000) as i64
}

fn ns(ticks_90k: i64) -> i64 {
    (ticks_90k as i128 * 100_000 / 9) as i64
}

pub(crate) use crate::auth::audit::hex;

/// An unbroken run of samples of one camera that becomes one file.
struct Part {
    track: TrackConfig,
    /// (index into the camera's segments, sample).
    samples: Vec<(usize, SampleInfo)>,
    durations: Vec<u32>,
    first_utc_ns: i64,
    end_utc_ns: i64,
}

/// A camera's footage in the range, read from the index and checked against it.
struct CameraPlan {
    camera: CameraRow,
    /// The privacy masks in force on the camera.
    masks: Vec<Polygon>,
    segments: Vec<(Segment, PathBuf)>,
    parts: Vec<Part>,
}

/// Reads the camera's segments in `[from, to)`, checks each against the index's SHA-256, and
/// cuts the samples into parts (starting on keyframes).
fn plan_camera(
    data: &Path,
    store: &Store,
    camera: CameraRow,
    from: i64,
    to: i64,
) -> Result<CameraPlan, ExportError> {
    let segments: Vec<(Segment, PathBuf)> = store
        .segments(&camera.id, from, to)?
        .into_iter()
        .map(|s| {
            let p = data.join(&s.row.path);
            (s, p)
        })
        .collect();
    let mut parts: Vec<Part> = Vec::new();
    let mut open: Option<Part> = None;
    for (i, (seg, path)) in segments.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(io_err(path))?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if digest != seg.row.sha256 {
            return Err(ExportError::Altered { path: path.clone() });
        }
        let table =
            sample_table(&bytes).ok_or_else(|| ExportError::Unreadable { path: path.clone() })?;
        let track = TrackConfig {
            codec: table.codec,
            width: table.width,
            height: table.height,
            decoder_config: table.decoder_config,
        };
        // Joins the previous part, or closes it.
        if let Some(p) = open.as_mut() {
            let gap = seg.row.start_utc_ns - p.end_utc_ns;
            let same_stream = p.track.codec == track.codec
                && p.track.decoder_config == track.decoder_config
                && (p.track.width, p.track.height) == (track.width, track.height);
            if same_stream && (0..=MAX_BRIDGED_GAP_NS).contains(&gap) {
                if let Some(d) = p.durations.last_mut() {
                    *d = d.saturating_add(ticks(gap) as u32);
                }
                p.end_utc_ns = seg.row.start_utc_ns;
            } else {
                parts.extend(open.take());
            }
        }
        // Samples since the last keyframe before `from`, kept until the range is reached.
        let mut lead: Vec<SampleInfo> = Vec::new();
        for s in table.samples {
            let start = seg.row.start_utc_ns + ns(s.time_90k as i64);
            let end = start + ns(s.duration_90k as i64);
            if start >= to {
                break;
            }
            match open.as_mut() {
                Some(p) => {
                    p.samples.push((i, s));
                    p.durations.push(s.duration_90k);
                    p.end_utc_ns = end;
                }
                None => {
                    if s.keyframe {
                        lead.clear();
                    }
                    if lead.is_empty() && !s.keyframe {
                        continue; // no keyframe yet to start from
                    }
                    lead.push(s);
                    if end > from {
                        let first = lead[0];
                        open = Some(Part {
                            track: track.clone(),
                            first_utc_ns: seg.row.start_utc_ns + ns(first.time_90k as i64),
                            durations: lead.iter().map(|s| s.duration_90k).collect(),
                            samples: lead.drain(..).map(|s| (i, s)).collect(),
                            end_utc_ns: end,
                        });
                    }
                }
            }
        }
    }
    parts.extend(open);
    if parts.is_empty() {
        return Err(ExportError::NoFootage {
            camera: camera.id.clone(),
            from: rfc3339(from),
            to: rfc3339(to),
        });
    }
    Ok(CameraPlan {
        masks: store
            .masks(Some(&camera.id))?
            .into_iter()
            .map(|m| m.polygon)
            .collect(),
        camera,
        segments,
        parts,
    })
}

/// Writes `out` as `Hashing` passes bytes through, keeping their SHA-256 and count.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Removes the folder being written unless the export completes.
struct Staging {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `text` as a file name: letters, digits, '-', '_' and '.' kept, anything else '_'.
pub fn safe_name(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn file_name_for(camera: &str, from_utc_ns: i64, taken: &mut HashMap<String, u32>) -> String {
    let safe = safe_name(camera);
    let stamp = chrono::DateTime::from_timestamp_nanos(from_utc_ns).format("%Y%m%dT%H%M%SZ");
    let base = format!("{safe}_{stamp}");
    let n = taken.entry(base.clone()).or_insert(0);
    *n += 1;
    if *n == 1 {
        format!("{base}.mp4")
    } else {
        format!("{base}_{n}.mp4")
    }
}

fn check_request(req: &Request) -> Result<(), ExportError> {
    let invalid = |s: &str| Err(ExportError::Invalid(s.to_owned()));
    if req.cameras.is_empty() {
        return invalid("no camera to export");
    }
    if req.from_utc_ns >= req.to_utc_ns {
        return invalid("the range's start must be before its end");
    }
    let mut required = vec![
        ("requisition number", &req.requisition),
        ("reason", &req.reason),
    ];
    match &req.access {
        None => required.push(("officer", &req.officer)),
        Some(a) => {
            required.push(("requester", &a.requester));
            required.push(("identity check", &a.identity_check));
        }
    }
    for (field, value) in required {
        if value.trim().is_empty() {
            return Err(ExportError::Invalid(format!(
                "the {field} is required for an export"
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = req.cameras.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(ExportError::Invalid(format!("camera {dup} is named twice")));
    }
    match std::fs::read_dir(&req.out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ExportError::Invalid(format!(
                    "{}: the destination folder is not empty",
                    req.out.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&req.out)(e)),
    }
    Ok(())
}

/// Exports `req` from the recorder's data folder `data` for `session`. `progress` is called
/// with the fraction written so far; returning false cancels. The export is logged in the
/// audit log and the register before the folder appears.
pub fn export(
    data: &Path,
    session: &Session,
    req: &Request,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Exported, ExportError> {
    check_request(req)?;
    session.require(data, Action::Export, &req.cameras)?;
    let store = Store::open(&data.join(INDEX_FILE))?;
    let known = store.cameras()?;
    let mut plans = Vec::new();
    for id in &req.cameras {
        let camera = known
            .iter()
            .find(|c| &c.id == id)
            .cloned()
            .ok_or_else(|| ExportError::Invalid(format!("camera {id} is not in the index")))?;
        plans.push(plan_camera(
            data,
            &store,
            camera,
            req.from_utc_ns,
            req.to_utc_ns,
        )?);
    }
    if !progress(0.0) {
        return Err(ExportError::Cancelled);
    }

    // The hidden sibling folder everything is written into.
    let out = std::path::absolute(&req.out).map_err(io_err(&req.out))?;
    let parent = out
        .parent()
        .ok_or_else(|| ExportError::Invalid(format!("{}: not a folder to create", out.display())))?
        .to_owned();
    let leaf = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = Staging {
        dir: parent.join(format!(".{leaf}.partial-{}", std::process::id())),
        keep: false,
    };
    let _ = std::fs::remove_dir_all(&staging.dir);
    std::fs::create_dir(&staging.dir).map_err(io_err(&staging.dir))?;

    let total: u64 = plans
        .iter()
        .flat_map(|p| &p.parts)
        .flat_map(|p| &p.samples)
        .map(|(_, s)| s.size as u64)
        .sum::<u64>()
        .max(1);
    let mut done = 0u64;
    let mut taken = HashMap::new();
    let mut files = Vec::new();
    let mut cameras_json = Vec::new();
    let mut missing = Vec::new();
    for plan in &plans {
        let mut parts_json = Vec::new();
        let mut covered = req.from_utc_ns;
        for part in &plan.parts {
            let shown_from = req.from_utc_ns.max(part.first_utc_ns);
            let shown_to = req.to_utc_ns.min(part.end_utc_ns);
            if shown_from > covered {
                missing.push(format!(
                    "{}: no footage from {} to {}",
                    plan.camera.id,
                    rfc3339(covered),
                    rfc3339(shown_from)
                ));
            }
            covered = shown_to;
            let name = file_name_for(&plan.camera.id, shown_from, &mut taken);
            let path = staging.dir.join(&name);
            let written = match &req.access {
                None => write_remux(plan, part, shown_from, shown_to, &path, &mut |n| {
                    let before = done;
                    done += n;
                    done >> 20 == before >> 20 || progress(done as f64 / total as f64)
                })?,
                Some(access) => {
                    let blur = access
                        .blur
                        .iter()
                        .filter(|(c, _)| *c == plan.camera.id)
                        .map(|(_, p)| p.clone())
                        .collect();
                    let redaction = Redaction {
                        masks: plan.masks.clone(),
                        blur,
                    };
                    write_redacted(
                        plan,
                        part,
                        shown_from,
                        shown_to,
                        redaction,
                        &path,
                        &mut |n| {
                            done += n;
                            progress(done as f64 / total as f64)
                        },
                    )?
                }
            };
            let (bytes, sha) = written;
            let sources: Vec<serde_json::Value> = {
                let mut seen: Vec<usize> = part.samples.iter().map(|(i, _)| *i).collect();
                seen.dedup();
                seen.iter()
                    .map(|i| {
                        let s = &plan.segments[*i].0.row;
                        serde_json::json!({
                            "path": s.path,
                            "sha256": hex(&s.sha256),
                            "start_utc": rfc3339(s.start_utc_ns),
                            "end_utc": rfc3339(s.end_utc_ns),
                            "time_source": s.time_source.as_str(),
                        })
                    })
                    .collect()
            };
            parts_json.push(serde_json::json!({
                "name": name,
                "bytes": bytes,
                "sha256": hex(&sha),
                "codec": match (&req.access, part.track.codec) {
                    (Some(_), _) => "h264",
                    (None, crate::record::fmp4::VideoCodec::H264) => "h264",
                    (None, crate::record::fmp4::VideoCodec::H265) => "h265",
                },
                "width": part.track.width,
                "height": part.track.height,
                "samples": part.samples.len(),
                "first_keyframe_utc": rfc3339(part.first_utc_ns),
                "shown": range_json(shown_from, shown_to),
                "source_segments": sources,
            }));
            files.push(ExportedFile {
                name,
                bytes,
                sha256: sha,
            });
        }
        if covered < req.to_utc_ns {
            missing.push(format!(
                "{}: no footage from {} to {}",
                plan.camera.id,
                rfc3339(covered),
                rfc3339(req.to_utc_ns)
            ));
        }
        let c = &plan.camera;
        cameras_json.push(serde_json::json!({
            "id": c.id,
            "name": c.name,
            "zone": c.zone,
            "latitude": c.latitude,
            "longitude": c.longitude,
            "range": range_json(req.from_utc_ns, req.to_utc_ns),
            "files": parts_json,
        }));
    }

    let now = crate::time::now_utc_ns();
    let key = audit::signing_key(data)?;
    let public_pem = std::fs::read(data.join(audit::PUBLIC_KEY_FILE))
        .map_err(io_err(&data.join(audit::PUBLIC_KEY_FILE)))?;
    let manifest = serde_json::json!({
        "format": "vigie-export/1",
        "software": format!("vigie {}", env!("CARGO_PKG_VERSION")),
        "requisition": req.requisition.trim(),
        "officer": req.officer.trim(),
        "reason": req.reason.trim(),
        "exported_by": { "user": session.user, "role": session.role.as_str() },
        "created_utc": rfc3339(now),
        "created_paris": paris_rfc3339(now),
        "range": range_json(req.from_utc_ns, req.to_utc_ns),
        "purpose": if req.access.is_some() { "citizen access request" } else { "judicial requisition" },
        "masked": req.access.is_some(),
        "access_request": req.access.as_ref().map(|a| serde_json::json!({
            "requester": a.requester.trim(),
            "identity_check": a.identity_check.trim(),
            "received_utc": rfc3339(a.received_utc_ns),
            "pixelated_regions": a.blur.len(),
        })),
        "copy": if req.access.is_some() {
            "re-encoded (H.264) from the recording with the privacy masks painted in and third parties pixelated: a masked copy, not the recorded bytes"
        } else {
            "samples copied bit for bit from the recording; each file starts at the keyframe at or before its first shown instant, and its edit list shows the range"
        },
        "signing_key_sha256": hex(&Sha256::digest(key.verifying_key().as_bytes())),
        "missing": missing,
        "cameras": cameras_json,
        "files": files.iter().map(|f| serde_json::json!({
            "name": f.name, "bytes": f.bytes, "sha256": hex(&f.sha256)
        })).collect::<Vec<_>>(),
    });
    let mut manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ExportError::Invalid(format!("manifest: {e}")))?;
    manifest_bytes.push(b'\n');
    let signature = key.sign(&manifest_bytes).to_bytes();
    let readme = readme_text(&req.requisition, &files, req.access.is_some());
    let mut extra: Vec<(&str, &[u8])> = vec![
        (MANIFEST, &manifest_bytes),
        (SIGNATURE, &signature),
        (PUBLIC_KEY, &public_pem),
        (README, readme.as_bytes()),
    ];
    let mut sums = String::new();
    for f in &files {
        sums.push_str(&format!("{}  {}\n", hex(&f.sha256), f.name));
    }
    for (name, bytes) in &extra {
        sums.push_str(&format!("{}  {name}\n", hex(&Sha256::digest(bytes))));
    }
    extra.push((SUMS, sums.as_bytes()));
    for (name, bytes) in &extra {
        let path = staging.dir.join(name);
        write_synced(&path, bytes)?;
    }
    sync_dir(&staging.dir)?;
    if !progress(1.0) {
        return Err(ExportError::Cancelled);
    }

    // Logged before it appears: an export is never out without its trace.
    let manifest_sha256: [u8; 32] = Sha256::digest(&manifest_bytes).into();
    let detail = match &req.access {
        None => format!(
            "requisition {}; officer {}; folder {}; manifest sha256 {}; {} files",
            req.requisition.trim(),
            req.officer.trim(),
            out.display(),
            hex(&manifest_sha256),
            files.len()
        ),
        Some(a) => format!(
            "access request {}; requester {}; identity {}; masked copy; folder {}; manifest sha256 {}; {} files",
            req.requisition.trim(),
            a.requester.trim(),
            a.identity_check.trim(),
            out.display(),
            hex(&manifest_sha256),
            files.len()
        ),
    };
    if let Some(a) = &req.access {
        store.add_access_request(&access_record(req, a, session, "granted", &detail, now))?;
    }
    session.log(
        data,
        if req.access.is_some() {
            "citizen access export"
        } else {
            "export"
        },
        &req.cameras.join(","),
        Some((req.from_utc_ns, req.to_utc_ns)),
        req.reason.trim(),
        &detail,
    )?;
    let lines: Vec<(RegisterLine, String)> = plans
        .iter()
        .map(|p| {
            (
                RegisterLine {
                    at_utc_ns: now,
                    action: "exported".into(),
                    camera_id: p.camera.id.clone(),
                    span: Span {
                        start_utc_ns: req.from_utc_ns,
                        end_utc_ns: req.to_utc_ns,
                    },
                    reason: format!(
                        "{} {}: {}",
                        if req.access.is_some() {
                            "citizen access request"
                        } else {
                            "requisition"
                        },
                        req.requisition.trim(),
                        req.reason.trim()
                    ),
                    author: session.user.clone(),
                },
                detail.clone(),
            )
        })
        .collect();
    store.add_register(&lines)?;

    if let Err(e) = std::fs::rename(&staging.dir, &out) {
        session.log(
            data,
            "export failed",
            &req.cameras.join(","),
            Some((req.from_utc_ns, req.to_utc_ns)),
            req.reason.trim(),
            &format!("{}: {e}", out.display()),
        )?;
        return Err(io_err(&out)(e));
    }
    let mut staging = staging;
    staging.keep = true;
    sync_dir(&parent)?;
    Ok(Exported {
        dir: out,
        files,
        manifest_sha256,
        missing,
    })
}

/// Reads sample `s` of segment `seg` of `plan` into `buf`, reusing `source` while the segment
/// does not change.
fn read_sample(
    plan: &CameraPlan,
    seg: usize,
    s: &SampleInfo,
    source: &mut Option<(usize, std::fs::File)>,
    buf: &mut Vec<u8>,
) -> Result<(), ExportError> {
    let src = &plan.segments[seg].1;
    if source.as_ref().map(|(i, _)| *i) != Some(seg) {
        *source = Some((seg, std::fs::File::open(src).map_err(io_err(src))?));
    }
    let Some((_, f)) = source.as_mut() else {
        return Err(ExportError::Unreadable { path: src.clone() });
    };
    f.seek(SeekFrom::Start(s.offset)).map_err(io_err(src))?;
    buf.resize(s.size as usize, 0);
    f.read_exact(buf).map_err(io_err(src))
}

/// The part as an MP4 of the recorded samples, bit for bit, with an edit list showing
/// `[shown_from, shown_to)`. `copied` is told each sample's size; false cancels.
fn write_remux(
    plan: &CameraPlan,
    part: &Part,
    shown_from: i64,
    shown_to: i64,
    path: &Path,
    copied: &mut dyn FnMut(u64) -> bool,
) -> Result<(u64, [u8; 32]), ExportError> {
    let out_samples: Vec<mp4::OutSample> = part
        .samples
        .iter()
        .zip(&part.durations)
        .map(|((_, s), d)| mp4::OutSample {
            size: s.size,
            duration_90k: *d,
            keyframe: s.keyframe,
        })
        .collect();
    let movie = mp4::Movie {
        track: part.track.clone(),
        created_utc_ns: shown_from,
        edit_start_90k: ticks(shown_from - part.first_utc_ns) as u64,
        edit_duration_90k: ticks(shown_to - shown_from).max(1) as u64,
    };
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut w = Hashing {
        inner: file,
        hash: Sha256::new(),
        bytes: 0,
    };
    w.write_all(&mp4::header(&movie, &out_samples))
        .map_err(io_err(path))?;
    let mut source = None;
    let mut buf = Vec::with_capacity(1 << 20);
    for (seg, s) in &part.samples {
        read_sample(plan, *seg, s, &mut source, &mut buf)?;
        w.write_all(&buf).map_err(io_err(path))?;
        if !copied(s.size as u64) {
            return Err(ExportError::Cancelled);
        }
    }
    w.inner.sync_all().map_err(io_err(path))?;
    Ok((w.bytes, w.hash.finalize().into()))
}

/// The part decoded, masked and pixelated as `redaction` says, re-encoded to H.264 (a copy
/// for a citizen: not the recording's bytes). `done` is told each GOP's size; false cancels.
fn write_redacted(
    plan: &CameraPlan,
    part: &Part,
    shown_from: i64,
    shown_to: i64,
    redaction: Redaction,
    path: &Path,
    done: &mut dyn FnMut(u64) -> bool,
) -> Result<(u64, [u8; 32]), ExportError> {
    let fail = |why: String| ExportError::Redaction {
        path: path.to_owned(),
        why,
    };
    let codec = match part.track.codec {
        crate::record::fmp4::VideoCodec::H264 => crate::ingest::VideoCodec::H264,
        crate::record::fmp4::VideoCodec::H265 => crate::ingest::VideoCodec::H265,
    };
    let mut r = Redactor::new(codec, &part.track.decoder_config, redaction, path).map_err(fail)?;
    let (from_ns, to_ns) = (
        (shown_from - part.first_utc_ns).max(0) as u64,
        (shown_to - part.first_utc_ns).max(0) as u64,
    );
    let mut source = None;
    let mut buf = Vec::new();
    let mut gop: Vec<(Vec<u8>, u64, u64)> = Vec::new();
    let mut gop_bytes = 0u64;
    let mut t = 0u64;
    let n = part.samples.len();
    for (i, ((seg, s), d)) in part.samples.iter().zip(&part.durations).enumerate() {
        read_sample(plan, *seg, s, &mut source, &mut buf)?;
        let dur = ns(*d as i64) as u64;
        gop.push((std::mem::take(&mut buf), t, dur));
        gop_bytes += s.size as u64;
        t += dur;
        let next_is_key = part.samples.get(i + 1).is_none_or(|(_, n)| n.keyframe);
        if next_is_key || i + 1 == n {
            r.gop(std::mem::take(&mut gop), from_ns, to_ns)
                .map_err(fail)?;
            if !done(std::mem::take(&mut gop_bytes)) {
                return Err(ExportError::Cancelled);
            }
        }
    }
    r.finish().map_err(fail)?;
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))?;
    let mut h = Sha256::new();
    let bytes = std::io::copy(&mut f, &mut h).map_err(io_err(path))?;
    Ok((bytes, h.finalize().into()))
}

/// The index's record of an access request's outcome.
fn access_record(
    req: &Request,
    a: &CitizenAccess,
    session: &Session,
    outcome: &str,
    detail: &str,
    now: i64,
) -> crate::store::AccessRequest {
    crate::store::AccessRequest {
        received_utc_ns: a.received_utc_ns,
        requester: a.requester.trim().to_owned(),
        identity_check: a.identity_check.trim().to_owned(),
        cameras: req.cameras.join(","),
        span: Span {
            start_utc_ns: req.from_utc_ns,
            end_utc_ns: req.to_utc_ns,
        },
        handled_by: session.user.clone(),
        outcome: outcome.to_owned(),
        detail: detail.to_owned(),
        decided_utc_ns: now,
    }
}

/// Records a refused access request and its ground (the register of requests and the audit
/// log keep it).
pub fn refuse_access(
    data: &Path,
    session: &Session,
    req: &Request,
    ground: &str,
) -> Result<i64, ExportError> {
    session.require(data, Action::Export, &req.cameras)?;
    let Some(a) = &req.access else {
        return Err(ExportError::Invalid(
            "a refusal is for an access request".into(),
        ));
    };
    if ground.trim().is_empty() || a.requester.trim().is_empty() {
        return Err(ExportError::Invalid(
            "a refusal needs the requester and its ground".into(),
        ));
    }
    let now = crate::time::now_utc_ns();
    let store = Store::open(&data.join(INDEX_FILE))?;
    let id = store.add_access_request(&access_record(
        req,
        a,
        session,
        "refused",
        ground.trim(),
        now,
    ))?;
    session.log(
        data,
        "citizen access refused",
        &req.cameras.join(","),
        Some((req.from_utc_ns, req.to_utc_ns)),
        ground.trim(),
        &format!(
            "access request {}; requester {}; identity {}",
            req.requisition.trim(),
            a.requester.trim(),
            a.identity_check.trim()
        ),
    )?;
    Ok(id)
}

fn range_json(from: i64, to: i64) -> serde_json::Value {
    serde_json::json!({
        "from_utc": rfc3339(from),
        "to_utc": rfc3339(to),
        "from_paris": paris_rfc3339(from),
        "to_paris": paris_rfc3339(to),
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut f = std::fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn readme_text(requisition: &str, files: &[ExportedFile], masked: bool) -> String {
    let list: String = files
        .iter()
        .map(|f| format!("  {}  ({} bytes)\n", f.name, f.bytes))
        .collect();
    let what = if masked {
        "Videos (MP4, H.264): a MASKED COPY made for a citizen's access request. The privacy\nmasks are painted in and third parties are pixelated; re-encoded, so these are not the\nrecorded bytes. The recording itself is unchanged.\n"
    } else {
        "Videos (MP4, H.264/H.265 exactly as recorded, no re-encoding):\n"
    };
    format!(
        "Vigie export {req}
==========================================

{what}{list}
How to check this folder
------------------------
1. Every file is intact (each line must say OK):

     sha256sum -c {SUMS}

2. The manifest was signed by this Vigie installation (must say \"Signature Verified
   Successfully\"; OpenSSL 3.0 or later):

     openssl pkeyutl -verify -pubin -inkey {PUBLIC_KEY} -rawin -in {MANIFEST} -sigfile {SIGNATURE}

3. The hashes in {SUMS} for the videos are those in {MANIFEST} (\"files\"), and the key's
   SHA-256 (manifest \"signing_key_sha256\") is the one the installation publishes: the key
   in this folder proves integrity; the published fingerprint proves origin.

`vigie verify FOLDER` performs all of these checks and names what fails.

The range, the cameras and how the copy was made are in {MANIFEST} (times in UTC and
Europe/Paris).

---

Export Vigie {req} : vérifier avec `sha256sum -c {SUMS}`, puis la
signature avec la commande openssl ci-dessus.
",
        req = requisition.trim(),
    )
}
