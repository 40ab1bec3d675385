//! The site's own certificate authority and the server's TLS certificate.
//!
//! On first start the server makes a certificate authority (ECDSA P-256, ten years) and a
//! server certificate signed by it for the site's host names and addresses (two years), kept
//! in `tls/` of the data folder: the keys 0600, readable by the server's user alone. A site that
//! has its own PKI gives a certificate chain and key instead (`--tls-cert`/`--tls-key`).
//! Workstations trust the CA, never a single server certificate: a renewed server certificate
//! needs nothing on them. The CA's SHA-256 fingerprint is what a person compares on first
//! connection.
//!
//! Runs once at start-up, on the caller's thread.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// The folder, inside the data folder, that holds the CA and the server's certificate.
pub const TLS_DIR: &str = "tls";
/// The CA certificate (public: workstations are given this file).
pub const CA_FILE: &str = "tls/ca.pem";
const CA_KEY_FILE: &str = "tls/ca-key.pem";
const CERT_FILE: &str = "tls/server.pem";
const KEY_FILE: &str = "tls/server-key.pem";
const NAMES_FILE: &str = "tls/server-names.txt";
const CA_NAME: &str = "Vigie site CA";

/// Why the TLS material could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Bad { path: PathBuf, why: String },
    #[error("making the certificate: {0}")]
    Make(#[from] rcgen::Error),
}

/// What the server presents, and the CA a workstation must trust.
pub struct ServerIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The CA certificate (DER) and its fingerprint, when the server made its own.
    pub ca: Option<CertificateDer<'static>>,
}

impl ServerIdentity {
    /// The SHA-256 fingerprint of the certificate workstations trust: the CA, or the last
    /// certificate of a site-given chain.
    pub fn trust_fingerprint(&self) -> String {
        let der = self
            .ca
            .as_ref()
            .or(self.chain.last())
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default();
        fingerprint(&der)
    }
}

/// SHA-256 of a DER certificate as `AB:CD:...` (the form `openssl x509 -fingerprint -sha256`
/// prints).
pub fn fingerprint(der: &[u8]) -> String {
    let d = Sha256::digest(der);
    d.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A fingerprint as typed by a person: hex digits, with or without colons or a `SHA256:`
/// prefix, in any case. None if it is not 32 bytes of hex.
pub fn normalise_fingerprint(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t
        .strip_prefix("SHA256:")
        .or_else(|| t.strip_prefix("sha256:"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':' && *c != ' ').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let up = hex.to_ascii_uppercase();
    Some(
        up.as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The server's identity from `data/tls`, made on first start (and the server certificate made
/// again, under the same CA, when the host names change).
pub fn own_identity(data: &Path, names: &[String]) -> Result<ServerIdentity, PkiError> {
    let dir = data.join(TLS_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| PkiError::Io {
        path: dir.clone(),
        source,
    })?;
    set_mode(&dir, 0o700)?;
    let ca_key_path = data.join(CA_KEY_FILE);
    let ca_key = match std::fs::read_to_string(&ca_key_path) {
        Ok(pem) => KeyPair::from_pem(&pem).map_err(|e| PkiError::Bad {
            path: ca_key_path.clone(),
            why: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = KeyPair::generate()?;
            write_file(&ca_key_path, &key.serialize_pem(), 0o600)?;
            let _ = std::fs::remove_file(data.join(CA_FILE));
            key
        }
        Err(source) => {
            return Err(PkiError::Io {
                path: ca_key_path,
                source,
            });
        }
    };
    let ca_params = ca_params();
    let ca_path = data.join(CA_FILE);
    let ca_der = match std::fs::read(&ca_path) {
        Ok(pem) => CertificateDer::from_pem_slice(&pem).map_err(|e| PkiError::Bad {
            path: ca_path.clone(),
            why: format!("not a PEM certificate: {e}"),
        })?,
        Err(_) => {
            let cert = ca_params.self_signed(&ca_key)?;
            write_file(&ca_path, &cert.pem(), 0o644)?;
            cert.der().clone()
        }
    };
    let wanted = names.join("\n");
    let names_path = data.join(NAMES_FILE);
    let same_names = std::fs::read_to_string(&names_path).is_ok_and(|n| n == wanted);
    let cert_path = data.join(CERT_FILE);
    let key_path = data.join(KEY_FILE);
    if !same_names || !cert_path.exists() || !key_path.exists() {
        let mut p = CertificateParams::new(names.to_vec())?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(
            DnType::CommonName,
            names.first().map(String::as_str).unwrap_or("vigie"),
        );
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        // A day of slack for workstations whose clock is a little behind.
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(2 * 365);
        let leaf_key = KeyPair::generate()?;
        // The issuer is the CA as made above: same name, same key, so the certificate chains
        // to the CA file the workstations hold.
        let issuer = Issuer::new(ca_params, &ca_key);
        let leaf = p.signed_by(&leaf_key, &issuer)?;
        let ca_pem = pem_certificate(ca_der.as_ref());
        write_file(&key_path, &leaf_key.serialize_pem(), 0o600)?;
        write_file(&cert_path, &format!("{}{}", leaf.pem(), ca_pem), 0o644)?;
        write_file(&names_path, &wanted, 0o644)?;
    }
    let mut identity = site_identity(&cert_path, &key_path)?;
    identity.ca = Some(ca_der);
    Ok(identity)
}

/// A site-given certificate chain (PEM, server first) and its key.
pub fn site_identity(cert: &Path, key: &Path) -> Result<ServerIdentity, PkiError> {
    let pem = std::fs::read(cert).map_err(|source| PkiError::Io {
        path: cert.to_owned(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Bad {
            path: cert.to_owned(),
            why: format!("not a PEM certificate chain: {e}"),
        })?;
    if chain.is_empty() {
        return Err(PkiError::Bad {
            path: cert.to_owned(),
            why: "no certificate in the file".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| PkiError::Bad {
        path: key.to_owned(),
        why: format!("not a PEM private key: {e}"),
    })?;
    Ok(ServerIdentity {
        chain,
        key: key_der,
        ca: None,
    })
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, CA_NAME);
    p.distinguished_name
        .push(DnType::OrganizationName, "Vigie installation");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(10 * 365);
    p
}

/// One certificate (DER) as PEM.
pub fn pem_certificate(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    use std::io::Write;
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
    let mut f = o.open(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    set_mode(&tmp, mode)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Unix permission bits; Windows protects files with the folder's access list instead.
fn set_mode(path: &Path, mode: u32) -> Result<(), PkiError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
            PkiError::Io {
                path: path.to_owned(),
                source,
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_as_people_type_them() {
        let f = fingerprint(b"x");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert_eq!(normalise_fingerprint(&f).as_deref(), Some(f.as_str()));
        let bare = f.replace(':', "").to_lowercase();
        assert_eq!(normalise_fingerprint(&bare).as_deref(), Some(f.as_str()));
        assert_eq!(
            normalise_fingerprint(&format!("SHA256:{bare}")).as_deref(),
            Some(f.as_str())
        );
        assert_eq!(normalise_fingerprint("AB:CD"), None);
    }
}
