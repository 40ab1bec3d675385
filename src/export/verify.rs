//! `vigie verify DIR`: the checks an export's README describes, performed together — the
//! signature of the manifest, every file's size and SHA-256 against the manifest, and
//! `SHA256SUMS` against the files.

use std::path::Path;

use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{MANIFEST, PUBLIC_KEY, README, SIGNATURE, SUMS, hex};

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Files whose size and hash match the manifest.
    pub files_ok: usize,
    /// The SHA-256 of the public key that signed the manifest, when the signature holds.
    pub key_sha256: Option<String>,
    /// Each failed check, naming the file.
    pub problems: Vec<String>,
    /// Files in the folder the export did not write (not a failure).
    pub extra: Vec<String>,
}

/// The SHA-256 and size of the regular file at `path`. A link or a device is refused: an
/// export holds plain files, and a folder received from elsewhere could point `verify` at
/// `/dev/zero` or a file outside it.
fn sha256_of(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    use std::io::Read;
    if !std::fs::symlink_metadata(path)?.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a link, a folder or a device)",
        ));
    }
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((h.finalize().into(), n))
}

/// A file name as an export writes it: no folder part.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != ".."
}

/// Checks the export folder `dir`. With `expected_key` (a public key PEM, as the installation
/// publishes it), the signature must also be by that key.
pub fn verify(dir: &Path, expected_key: Option<&str>) -> Verdict {
    let mut v = Verdict::default();
    let read = |name: &str, v: &mut Verdict| match std::fs::read(dir.join(name)) {
        Ok(b) => Some(b),
        Err(e) => {
            v.problems.push(format!("{name}: cannot be read ({e})"));
            None
        }
    };
    let manifest = read(MANIFEST, &mut v);
    let sig = read(SIGNATURE, &mut v);
    let pem = read(PUBLIC_KEY, &mut v);

    // 1. The signature of the manifest's bytes.
    if let (Some(m), Some(sig), Some(pem)) = (&manifest, &sig, &pem) {
        let key = std::str::from_utf8(pem)
            .ok()
            .and_then(|p| VerifyingKey::from_public_key_pem(p).ok());
        match (key, <[u8; 64]>::try_from(sig.as_slice())) {
            (None, _) => v
                .problems
                .push(format!("{PUBLIC_KEY}: not an Ed25519 public key")),
            (_, Err(_)) => v.problems.push(format!(
                "{SIGNATURE}: not a 64-byte Ed25519 signature ({} bytes)",
                sig.len()
            )),
            (Some(key), Ok(sig)) => {
                if key.verify(m, &Signature::from_bytes(&sig)).is_err() {
                    v.problems.push(format!(
                        "{MANIFEST}: the signature does not match (the manifest or its signature was changed)"
                    ));
                } else {
                    v.key_sha256 = Some(hex(&Sha256::digest(key.as_bytes())));
                }
                if let Some(expected) = expected_key {
                    let same = VerifyingKey::from_public_key_pem(expected)
                        .map(|k| k == key)
                        .unwrap_or(false);
                    if !same {
                        v.problems
                            .push(format!("{PUBLIC_KEY}: not this installation's signing key"));
                    }
                }
            }
        }
    }

    // 2. Every file the manifest lists.
    let mut listed: Vec<(String, String)> = Vec::new();
    if let Some(m) = &manifest {
        match serde_json::from_slice::<serde_json::Value>(m) {
            Err(e) => v.problems.push(format!("{MANIFEST}: not JSON ({e})")),
            Ok(json) => {
                let files = json["files"].as_array().cloned().unwrap_or_default();
                if files.is_empty() {
                    v.problems.push(format!("{MANIFEST}: lists no file"));
                }
                for f in files {
                    let (Some(name), Some(sha), Some(bytes)) = (
                        f["name"].as_str(),
                        f["sha256"].as_str(),
                        f["bytes"].as_u64(),
                    ) else {
                        v.problems.push(format!(
                            "{MANIFEST}: a file entry lacks its name, size or hash"
                        ));
                        continue;
                    };
                    if !plain_name(name) {
                        v.problems
                            .push(format!("{MANIFEST}: {name:?} is not a file of this folder"));
                        continue;
                    }
                    listed.push((name.to_owned(), sha.to_owned()));
                    match sha256_of(&dir.join(name)) {
                        Err(e) => v
                            .problems
                            .push(format!("{name}: missing or unreadable ({e})")),
                        Ok((_, n)) if n != bytes => v
                            .problems
                            .push(format!("{name}: {n} bytes, the manifest says {bytes}")),
                        Ok((h, _)) if hex(&h) != sha => v.problems.push(format!(
                            "{name}: its SHA-256 differs from the manifest's (the file was changed)"
                        )),
                        Ok(_) => v.files_ok += 1,
                    }
                }
            }
        }
    }

    // 3. SHA256SUMS, as `sha256sum -c` reads it.
    if let Some(sums) = read(SUMS, &mut v) {
        let text = String::from_utf8_lossy(&sums);
        let mut in_sums = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let Some((sha, name)) = line
                .split_once("  ")
                .or_else(|| line.split_once(" *"))
                .filter(|(s, n)| s.len() == 64 && plain_name(n))
            else {
                v.problems
                    .push(format!("{SUMS}:{}: not a `sha256sum` line", n + 1));
                continue;
            };
            in_sums.push(name.to_owned());
            match sha256_of(&dir.join(name)) {
                Err(e) => v.problems.push(format!(
                    "{SUMS}:{}: {name} missing or unreadable ({e})",
                    n + 1
                )),
                Ok((h, _)) if hex(&h) != sha => v.problems.push(format!(
                    "{SUMS}:{}: {name} does not match its listed SHA-256",
                    n + 1
                )),
                Ok(_) => {}
            }
            if let Some((_, m)) = listed.iter().find(|(l, _)| l == name)
                && m != sha
            {
                v.problems.push(format!(
                    "{SUMS}:{}: the hash of {name} differs from the manifest's",
                    n + 1
                ));
            }
        }
        for (name, _) in &listed {
            if !in_sums.contains(name) {
                v.problems.push(format!("{SUMS}: does not list {name}"));
            }
        }
    }

    // Anything else in the folder.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let known = [MANIFEST, SIGNATURE, PUBLIC_KEY, SUMS, README].contains(&name.as_str())
                || listed.iter().any(|(l, _)| *l == name);
            if !known {
                v.extra.push(name);
            }
        }
    }
    v.extra.sort();
    v
}
