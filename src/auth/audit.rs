//! The tamper-evident audit log: entries chained by SHA-256 in the index, and checkpoints of the
//! chain's head signed with the installation's Ed25519 key in `audit-checkpoints.log` beside
//! it. [`verify`] finds an edited, inserted, deleted or reordered entry, and a tail cut after
//! the last checkpoint.
//!
//! Entry hash: SHA-256 of the previous entry's hash, then each field as an 8-byte big-endian
//! length and its bytes (numbers as their decimal text, absent ones empty), in column order.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::store::{INDEX_FILE, Store, StoreError};

/// File of signed checkpoints, beside the index.
pub const CHECKPOINTS_FILE: &str = "audit-checkpoints.log";
/// The installation's signing key (PKCS#8 PEM, mode 0600: the server's user alone) and its
/// public half.
pub const KEY_FILE: &str = "keys/signing-key.pem";
pub const PUBLIC_KEY_FILE: &str = "keys/signing-key.pub.pem";

pub use crate::store::AuditEntry as Entry;

/// Why the log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Key { path: PathBuf, why: String },
}

fn hash_entry(prev: &[u8; 32], seq: i64, e: &Entry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    let (start, end) = match e.range {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (String::new(), String::new()),
    };
    for field in [
        seq.to_string().as_str(),
        &e.at_utc_ns.to_string(),
        &e.user,
        &e.role,
        &e.action,
        &e.cameras,
        &start,
        &end,
        &e.reason,
        &e.detail,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// Appends `entry` to the log of the index at `data`; returns its sequence number.
pub fn append(data: &Path, entry: &Entry) -> Result<i64, AuditError> {
    let store = Store::open(&data.join(INDEX_FILE))?;
    Ok(store.append_audit(entry, |seq, prev| hash_entry(prev, seq, entry))?)
}

/// Appends `entry` through a connection already open (services that log often).
pub fn append_with(store: &Store, entry: &Entry) -> Result<i64, AuditError> {
    Ok(store.append_audit(entry, |seq, prev| hash_entry(prev, seq, entry))?)
}

/// The installation's signing key, made (and its public half written) on first use.
pub fn signing_key(data: &Path) -> Result<SigningKey, AuditError> {
    let path = data.join(KEY_FILE);
    let io = |source| AuditError::Io {
        path: path.clone(),
        source,
    };
    let key_err = |why: String| AuditError::Key {
        path: path.clone(),
        why,
    };
    if let Ok(pem) = std::fs::read_to_string(&path) {
        return SigningKey::from_pkcs8_pem(&pem).map_err(|e| key_err(e.to_string()));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| key_err(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    std::fs::create_dir_all(path.parent().unwrap_or(data)).map_err(io)?;
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| key_err(e.to_string()))?;
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        // Only the server's user reads it.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&path).map_err(io)?;
        f.write_all(pem.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    let public = key
        .verifying_key()
        .to_public_key_pem(Default::default())
        .map_err(|e| key_err(e.to_string()))?;
    std::fs::write(data.join(PUBLIC_KEY_FILE), public).map_err(io)?;
    Ok(key)
}

/// Signs the chain's head into the checkpoints file (one line: seq, hash, signature, both in
/// hex). Nothing is written for an empty log.
pub fn checkpoint(data: &Path) -> Result<Option<i64>, AuditError> {
    let store = Store::open_readonly(&data.join(INDEX_FILE))?;
    let Some((seq, hash)) = store.audit_head()? else {
        return Ok(None);
    };
    let key = signing_key(data)?;
    let message = format!("vigie audit checkpoint {seq} {}", hex(&hash));
    let sig = key.sign(message.as_bytes());
    let path = data.join(CHECKPOINTS_FILE);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|source| AuditError::Io {
            path: path.clone(),
            source,
        })?;
    let line = format!("{seq} {} {}", hex(&hash), hex(&sig.to_bytes()));
    writeln!(f, "{line}")
        .and_then(|_| f.sync_all())
        .map_err(|source| AuditError::Io { path, source })?;
    to_syslog(&format!("vigie audit checkpoint {line}"));
    Ok(Some(seq))
}

/// Sends `line` to the system log (journald or syslog, facility authpriv), where it outlives an
/// edit of the data folder: a log cut back past a checkpoint is seen against the journal's copy.
/// Without a system logger the line is dropped (the checkpoints file holds it); the server
/// runs on Linux, and elsewhere there is no such logger to send it to.
#[cfg(unix)]
fn to_syslog(line: &str) {
    let Ok(text) = std::ffi::CString::new(line) else {
        return;
    };
    // SAFETY: both strings are NUL-terminated and live across the calls; "%s" takes one string.
    unsafe {
        libc::openlog(c"vigie-audit".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV);
        libc::syslog(libc::LOG_NOTICE, c"%s".as_ptr(), text.as_ptr());
        libc::closelog();
    }
}

#[cfg(not(unix))]
fn to_syslog(_line: &str) {}

/// Bytes as lower-case hex.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Lower- or upper-case hex as bytes; None if it is not hex.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// 64 hex digits as 32 bytes (a SHA-256, a key); None otherwise.
pub(crate) fn unhex32(s: &str) -> Option<[u8; 32]> {
    unhex(s).and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// What `verify` found: the number of entries and each broken invariant, in words.
#[derive(Debug, Default)]
pub struct Verdict {
    pub entries: i64,
    pub checkpoints: usize,
    pub problems: Vec<String>,
}

/// Recomputes the chain and checks every signed checkpoint against it.
pub fn verify(data: &Path) -> Result<Verdict, AuditError> {
    let store = Store::open_readonly(&data.join(INDEX_FILE))?;
    let mut v = Verdict::default();
    let rows = store.audit_entries()?;
    let mut prev = [0u8; 32];
    let mut expected_seq = 1i64;
    let mut hashes = std::collections::HashMap::new();
    for (seq, entry, stored_prev, stored) in rows {
        v.entries += 1;
        if seq != expected_seq {
            v.problems.push(format!(
                "entry {expected_seq}{}: missing (the log jumps to entry {seq})",
                if seq > expected_seq + 1 {
                    format!(" to {}", seq - 1)
                } else {
                    String::new()
                }
            ));
        }
        if stored_prev != prev {
            v.problems.push(format!(
                "entry {seq}: does not follow the entry before it (deleted, inserted or reordered)"
            ));
        }
        if hash_entry(
            &stored_prev.clone().try_into().unwrap_or([0; 32]),
            seq,
            &entry,
        )[..]
            != stored[..]
        {
            v.problems.push(format!(
                "entry {seq}: its content was changed after it was written"
            ));
        }
        prev = stored.clone().try_into().unwrap_or([0; 32]);
        hashes.insert(seq, stored);
        expected_seq = seq + 1;
    }
    // Checkpoints.
    let path = data.join(CHECKPOINTS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(AuditError::Io { path, source }),
    };
    let public = data.join(PUBLIC_KEY_FILE);
    let key = if text.is_empty() {
        None
    } else {
        let pem = std::fs::read_to_string(&public).map_err(|source| AuditError::Io {
            path: public.clone(),
            source,
        })?;
        Some(
            <VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_pem(&pem)
                .map_err(|e| AuditError::Key {
                    path: public.clone(),
                    why: e.to_string(),
                })?,
        )
    };
    for (n, line) in text.lines().enumerate() {
        let at = format!("{CHECKPOINTS_FILE}:{}", n + 1);
        let parts: Vec<&str> = line.split_whitespace().collect();
        let parsed = match parts.as_slice() {
            [seq, hash, sig] => seq
                .parse::<i64>()
                .ok()
                .zip(unhex(hash))
                .zip(unhex(sig).and_then(|s| <[u8; 64]>::try_from(s).ok())),
            _ => None,
        };
        let Some(((seq, hash), sig)) = parsed else {
            v.problems.push(format!("{at}: unreadable checkpoint"));
            continue;
        };
        v.checkpoints += 1;
        let message = format!("vigie audit checkpoint {seq} {}", hex(&hash));
        if let Some(k) = &key
            && k.verify(message.as_bytes(), &Signature::from_bytes(&sig))
                .is_err()
        {
            v.problems.push(format!(
                "{at}: the signature of checkpoint {seq} is not valid"
            ));
            continue;
        }
        match hashes.get(&seq) {
            None => v.problems.push(format!(
                "{at}: entry {seq} was signed but is gone (the log was cut after entry {})",
                expected_seq - 1
            )),
            Some(h) if *h != hash => v.problems.push(format!(
                "{at}: entry {seq} is not the entry that was signed"
            )),
            Some(_) => {}
        }
    }
    Ok(v)
}

/// Hands entries to a sink on a thread of its own, for windows (the UI thread never waits on
/// the network).
/// Dropping it writes what is queued, then returns.
pub struct Writer {
    tx: Option<std::sync::mpsc::Sender<Entry>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The last failure, in words, for the status line.
    error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Writer {
    /// Entries handed to `sink` on the writer's thread (the site server, for a workstation).
    pub fn with_sink(mut sink: Box<dyn FnMut(Entry) -> Result<(), String> + Send>) -> Writer {
        let (tx, rx) = std::sync::mpsc::channel::<Entry>();
        let error: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
        let e2 = error.clone();
        let thread = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || {
                while let Ok(entry) = rx.recv() {
                    if let Err(e) = sink(entry) {
                        tracing::error!("audit log: {e}");
                        *e2.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    }
                }
            })
            .ok();
        Writer {
            tx: Some(tx),
            thread,
            error,
        }
    }

    pub fn log(&self, entry: Entry) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(entry);
        }
    }

    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The whole audit log as a signed document (`vigie audit export`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct SignedExport {
    /// The JSON document, as written to the file (the signature covers these bytes).
    pub document: String,
    /// The raw Ed25519 signature of `document` by the installation's key, in hex.
    pub signature: String,
    pub entries: usize,
    pub problems: usize,
}

fn entry_json(seq: i64, e: &Entry, prev: &[u8], hash: &[u8]) -> serde_json::Value {
    use crate::time::rfc3339;
    serde_json::json!({
        "seq": seq,
        "at_utc": rfc3339(e.at_utc_ns),
        "at_paris": crate::time::paris_rfc3339(e.at_utc_ns),
        "at_utc_ns": e.at_utc_ns,
        "user": e.user,
        "role": e.role,
        "action": e.action,
        "cameras": e.cameras,
        "range": e.range.map(|(a, b)| serde_json::json!({ "from_utc": rfc3339(a), "to_utc": rfc3339(b), "from_utc_ns": a, "to_utc_ns": b })),
        "reason": e.reason,
        "detail": e.detail,
        "prev_sha256": hex(prev),
        "sha256": hex(hash),
    })
}

/// The log of `data` with its hashes and the chain's verdict, exported by `user` (`role`), and
/// signed with the installation's key.
pub fn signed_export(data: &Path, user: &str, role: &str) -> Result<SignedExport, AuditError> {
    let verdict = verify(data)?;
    let store = Store::open_readonly(&data.join(INDEX_FILE))?;
    let entries: Vec<serde_json::Value> = store
        .audit_entries()?
        .iter()
        .map(|(seq, e, prev, hash)| entry_json(*seq, e, prev, hash))
        .collect();
    let doc = serde_json::json!({
        "format": "vigie-audit-log/1",
        "software": format!("vigie {}", env!("CARGO_PKG_VERSION")),
        "exported_by": { "user": user, "role": role },
        "exported_utc": crate::time::rfc3339(crate::time::now_utc_ns()),
        "hash_rule": "sha256 of the previous entry's sha256, then each of seq, at_utc_ns, user, role, action, cameras, range start, range end, reason, detail as an 8-byte big-endian length and its UTF-8 bytes (numbers in decimal, absent ones empty)",
        "verdict": { "entries": verdict.entries, "checkpoints": verdict.checkpoints, "problems": verdict.problems },
        "entries": entries,
    });
    let mut document = serde_json::to_string_pretty(&doc).unwrap_or_default();
    document.push('\n');
    let key = signing_key(data)?;
    Ok(SignedExport {
        signature: hex(&key.sign(document.as_bytes()).to_bytes()),
        entries: entries.len(),
        problems: verdict.problems.len(),
        document,
    })
}
