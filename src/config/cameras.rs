//! The cameras file (TOML): one `[[camera]]` table per camera.
//!
//! ```toml
//! credentials_file = "credentials.toml"   # optional, relative to this file
//!
//! [[camera]]
//! id = "cam001"
//! name = "Place d'Armes"
//! zone = "Centre"
//! latitude = 50.3576
//! longitude = 3.5235
//! kind = "fixed"                      # or "mobile"
//! main_url = "rtsp://10.0.0.11/main"
//! sub_url = "rtsp://10.0.0.11/sub"    # optional
//! credentials = "axis-default"         # optional, a name in the credentials file
//! heading_deg = 135                    # optional: where it looks (the map's view cone)
//! fov_deg = 70                         # optional: its field of view
//! ```
//!
//! The credentials file holds `[NAME] user = "...", password = "..."` tables; it is kept apart
//! so that the cameras file can be shown, copied and versioned without secrets.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::line_of;

/// A configuration file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
}

/// Fixed cameras sit on fibre; mobile ones are moved where needed (4G/5G links).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraKind {
    Fixed,
    Mobile,
}

/// Which of a camera's two encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    /// Full resolution: maximised tiles, recording, exports.
    Main,
    /// Low resolution: small tiles of a wall.
    Sub,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Main => "main",
            StreamKind::Sub => "sub",
        }
    }
}

/// How RTP comes from a camera (`transport` in the cameras file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved in the RTSP connection (TCP) first: survives NAT and firewalls, never
    /// loses a packet; RTP over UDP when the camera refuses that (461 Unsupported Transport).
    #[default]
    Auto,
    /// Interleaved in the RTSP connection only.
    Tcp,
    /// RTP over UDP only.
    Udp,
}

impl Transport {
    pub fn is_auto(&self) -> bool {
        *self == Transport::Auto
    }

    /// The lower transport asked for first: UDP only when told so.
    pub fn first(self) -> Transport {
        match self {
            Transport::Udp => Transport::Udp,
            Transport::Auto | Transport::Tcp => Transport::Tcp,
        }
    }

    /// What to ask for once the camera refused `tried`: UDP after TCP for "auto", nothing
    /// otherwise (the refusal stands, see [`Transport::refused`]).
    pub fn after_refusal(self, tried: Transport) -> Option<Transport> {
        (self.is_auto() && tried == Transport::Tcp).then_some(Transport::Udp)
    }

    /// What a camera that refused `tried` (461 Unsupported Transport) is told, for a tile, a
    /// gap or an error line.
    pub fn refused(tried: Transport) -> String {
        match tried {
            Transport::Udp => "the camera refuses RTP over UDP (461 Unsupported Transport): \
                               set transport = \"tcp\" or \"auto\" for it"
                .into(),
            _ => "the camera refuses RTP over TCP (461 Unsupported Transport): set \
                  transport = \"udp\" or \"auto\" for it"
                .into(),
        }
    }
}

/// A user name and password for a camera. `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Credential {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credential {{ user: {:?}, password: <hidden> }}",
            self.user
        )
    }
}

/// One camera as declared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub zone: String,
    pub latitude: f64,
    pub longitude: f64,
    pub kind: CameraKind,
    pub main_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_url: Option<String>,
    /// Name of an entry of the credentials file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Days of footage to keep (the law caps it at 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Where the camera looks, degrees clockwise from north (the map draws its view cone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_deg: Option<f32>,
    /// Its horizontal field of view, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fov_deg: Option<f32>,
    /// RTP over TCP, UDP, or TCP then UDP (the default).
    #[serde(default, skip_serializing_if = "Transport::is_auto")]
    pub transport: Transport,
    /// Resolved from `credentials`; never serialised.
    #[serde(skip)]
    pub credential: Option<Credential>,
}

impl Camera {
    /// URL of the given stream; a camera without a sub stream shows its main stream.
    pub fn url(&self, kind: StreamKind) -> &str {
        match kind {
            StreamKind::Main => &self.main_url,
            StreamKind::Sub => self.sub_url.as_deref().unwrap_or(&self.main_url),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials_file: Option<String>,
    #[serde(default)]
    camera: Vec<toml::Spanned<Camera>>,
}

/// A loaded, validated cameras file.
#[derive(Clone, Debug)]
pub struct CamerasFile {
    pub path: PathBuf,
    pub cameras: Vec<Camera>,
}

impl CamerasFile {
    /// Reads and validates `path`, resolving credentials from its credentials file.
    pub fn load(path: &Path) -> Result<CamerasFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as if read from `path` (relative credential paths resolve from it).
    pub fn parse(path: &Path, text: &str) -> Result<CamerasFile, ConfigError> {
        let invalid = |line: usize, field: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            field: field.to_owned(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            let field = e
                .span()
                .and_then(|sp| key_on_line(text, sp.start))
                .or_else(|| field_from_message(e.message()))
                .unwrap_or_else(|| "file".into());
            invalid(line, &field, e.message().trim().to_owned())
        })?;

        let credentials = match &raw.credentials_file {
            Some(rel) => {
                let cpath = path.parent().unwrap_or(Path::new(".")).join(rel);
                Some((cpath.clone(), load_credentials(&cpath)?))
            }
            None => None,
        };

        let mut seen = HashSet::new();
        let mut cameras = Vec::with_capacity(raw.camera.len());
        for spanned in raw.camera {
            let line = line_of(text, spanned.span().start);
            let mut cam = spanned.into_inner();
            let at = |field: &str, message: String| {
                invalid(line, &format!("camera {:?}: {field}", cam.id), message)
            };
            if !valid_camera_id(&cam.id) {
                return Err(at(
                    "id",
                    "must be non-empty, letters, digits, '-' or '_'".into(),
                ));
            }
            if !seen.insert(cam.id.clone()) {
                return Err(at("id", "declared twice".into()));
            }
            if !(-90.0..=90.0).contains(&cam.latitude) {
                return Err(at(
                    "latitude",
                    format!("{} is outside -90..90", cam.latitude),
                ));
            }
            if !(-180.0..=180.0).contains(&cam.longitude) {
                return Err(at(
                    "longitude",
                    format!("{} is outside -180..180", cam.longitude),
                ));
            }
            if let Some(days) = cam.retention_days
                && !(1..=30).contains(&days)
            {
                return Err(at(
                    "retention_days",
                    format!("{days} is not allowed: 1 to 30 days (CSI L252-5)"),
                ));
            }
            if let Some(h) = cam.heading_deg
                && !(0.0..=360.0).contains(&h)
            {
                return Err(at("heading_deg", format!("{h} is outside 0..360")));
            }
            if let Some(f) = cam.fov_deg
                && !(1.0..=360.0).contains(&f)
            {
                return Err(at("fov_deg", format!("{f} is outside 1..360")));
            }
            for (field, url) in [
                ("main_url", Some(cam.main_url.as_str())),
                ("sub_url", cam.sub_url.as_deref()),
            ] {
                let Some(url) = url else { continue };
                check_url(url).map_err(|m| at(field, m))?;
            }
            if let Some(name) = &cam.credentials {
                let Some((cpath, table)) = &credentials else {
                    return Err(at(
                        "credentials",
                        format!("names {name:?} but the file has no credentials_file"),
                    ));
                };
                let Some(cred) = table.get(name) else {
                    return Err(at(
                        "credentials",
                        format!("{name:?} is not in {}", cpath.display()),
                    ));
                };
                cam.credential = Some(cred.clone());
            }
            cameras.push(cam);
        }
        Ok(CamerasFile {
            path: path.to_owned(),
            cameras,
        })
    }

    pub fn camera(&self, id: &str) -> Option<&Camera> {
        self.cameras.iter().find(|c| c.id == id)
    }

    /// Serialises cameras to the file format (credentials stay references).
    pub fn to_toml(cameras: &[Camera], credentials_file: Option<&str>) -> String {
        let raw = RawFile {
            credentials_file: credentials_file.map(str::to_owned),
            camera: cameras
                .iter()
                .cloned()
                .map(|c| toml::Spanned::new(0..0, c))
                .collect(),
        };
        let body = toml::to_string(&raw).unwrap_or_default();
        format!("# Vigie cameras file: one [[camera]] table per camera.\n\n{body}")
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("rtsp://")
        .or_else(|| url.strip_prefix("rtsps://"))
    else {
        return Err(format!(
            "{} is not an rtsp:// or rtsps:// URL",
            redact_url(url)
        ));
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "{} carries credentials inline; move them to the credentials file and name them with `credentials`",
            redact_url(url)
        ));
    }
    if authority.is_empty() {
        return Err("has no host".into());
    }
    Ok(())
}

fn load_credentials(path: &Path) -> Result<BTreeMap<String, Credential>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        line: e.span().map(|s| line_of(&text, s.start)).unwrap_or(1),
        field: "credentials".into(),
        // The parser's message may quote the offending value: keep only its first sentence
        // kind, which names the problem and not the secret.
        message: e
            .message()
            .split('`')
            .next()
            .unwrap_or("invalid")
            .trim()
            .to_owned(),
    })
}

/// The key of a `key = value` line holding byte offset `pos`.
fn key_on_line(text: &str, pos: usize) -> Option<String> {
    let pos = pos.min(text.len());
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned())
}

/// The field named in a serde message ("missing field `name`", "unknown field `foo`").
fn field_from_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
}

/// The URL with any `user:password@` replaced by `***@`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match split_userinfo(url) {
        (clean, Some(_)) => clean.replacen("://", "://***@", 1),
        (_, None) => url.to_owned(),
    }
}

/// Splits `scheme://user:password@host/...` into the URL without its user part and that part.
pub fn split_userinfo(url: &str) -> (String, Option<&str>) {
    let Some(scheme_end) = url.find("://") else {
        return (url.to_owned(), None);
    };
    let rest = &url[scheme_end + 3..];
    let auth_end = rest.find('/').unwrap_or(rest.len());
    match rest[..auth_end].rfind('@') {
        Some(at) => (
            format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
            Some(&rest[..at]),
        ),
        None => (url.to_owned(), None),
    }
}

/// A camera id: non-empty, ASCII letters, digits, '-' or '_' (it names folders and files).
pub fn valid_camera_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[camera]]
id = "cam001"
name = "Place d'Armes"
zone = "Centre"
latitude = 50.3576
longitude = 3.5235
kind = "fixed"
main_url = "rtsp://127.0.0.1:8554/cam001/main"
sub_url = "rtsp://127.0.0.1:8554/cam001/sub"

[[camera]]
id = "cam002"
name = "Rue de Famars"
latitude = 50.3550
longitude = 3.5260
kind = "mobile"
main_url = "rtsp://127.0.0.1:8554/cam002/main"
"#;

    #[test]
    fn parses_a_good_file() {
        let f = CamerasFile::parse(Path::new("c.toml"), GOOD).expect("valid");
        assert_eq!(f.cameras.len(), 2);
        assert_eq!(f.cameras[1].kind, CameraKind::Mobile);
        assert_eq!(
            f.cameras[1].url(StreamKind::Sub),
            "rtsp://127.0.0.1:8554/cam002/main"
        );
    }

    #[test]
    fn a_bad_value_names_file_line_and_field() {
        let bad = GOOD.replace("latitude = 50.3550", "latitude = 95.0");
        let e = CamerasFile::parse(Path::new("c.toml"), &bad)
            .expect_err("invalid")
            .to_string();
        assert!(
            e.starts_with("c.toml:12: camera \"cam002\": latitude"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_field_and_a_type_error_name_their_line() {
        let bad = GOOD.replace("kind = \"mobile\"\n", "");
        let e = CamerasFile::parse(Path::new("c.toml"), &bad)
            .expect_err("invalid")
            .to_string();
        assert!(e.contains("c.toml:") && e.contains("kind"), "{e}");
        let bad = GOOD.replace("longitude = 3.5235", "longitude = \"east\"");
        let e = CamerasFile::parse(Path::new("c.toml"), &bad)
            .expect_err("invalid")
            .to_string();
        assert!(e.starts_with("c.toml:7: "), "{e}");
    }

    #[test]
    fn inline_credentials_are_refused_without_echoing_them() {
        let bad = GOOD.replace(
            "rtsp://127.0.0.1:8554/cam002",
            "rtsp://admin:s3cret@127.0.0.1:8554/cam002",
        );
        let e = CamerasFile::parse(Path::new("c.toml"), &bad)
            .expect_err("invalid")
            .to_string();
        assert!(
            e.contains("main_url") && !e.contains("s3cret") && !e.contains("admin"),
            "{e}"
        );
    }

    #[test]
    fn transport_is_auto_unless_told_and_a_wrong_one_is_named() {
        let f = CamerasFile::parse(Path::new("c.toml"), GOOD).expect("valid");
        assert_eq!(f.cameras[0].transport, Transport::Auto);
        let udp = format!("{GOOD}transport = \"udp\"\n");
        let f = CamerasFile::parse(Path::new("c.toml"), &udp).expect("valid");
        assert_eq!(f.cameras[1].transport, Transport::Udp);
        // Written back only when not the default.
        let text = CamerasFile::to_toml(&f.cameras, None);
        assert_eq!(text.matches("transport").count(), 1, "{text}");
        let bad = format!("{GOOD}transport = \"multicast\"\n");
        let e = CamerasFile::parse(Path::new("c.toml"), &bad)
            .expect_err("unknown transport")
            .to_string();
        assert!(e.starts_with("c.toml:") && e.contains("multicast"), "{e}");
    }

    #[test]
    fn retention_above_thirty_days_is_refused() {
        let bad = GOOD.replace("kind = \"fixed\"", "kind = \"fixed\"\nretention_days = 31");
        let e = CamerasFile::parse(Path::new("c.toml"), &bad)
            .expect_err("invalid")
            .to_string();
        assert!(e.contains("retention_days") && e.contains("30"), "{e}");
    }

    #[test]
    fn credentials_resolve_by_reference_and_never_print() {
        let dir = std::env::temp_dir().join(format!("vigie-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("cred.toml"),
            "[site]\nuser = \"viewer\"\npassword = \"hunter2\"\n",
        )
        .expect("write");
        let text = format!(
            "credentials_file = \"cred.toml\"\n{}",
            GOOD.replace(
                "kind = \"fixed\"",
                "kind = \"fixed\"\ncredentials = \"site\""
            )
        );
        let f = CamerasFile::parse(&dir.join("c.toml"), &text).expect("valid");
        let cred = f.cameras[0].credential.as_ref().expect("resolved");
        assert_eq!(cred.password, "hunter2");
        assert!(!format!("{:?}", f.cameras[0]).contains("hunter2"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn redaction_hides_user_and_password() {
        assert_eq!(redact_url("rtsp://u:p@h:554/x"), "rtsp://***@h:554/x");
        assert_eq!(redact_url("rtsp://h/x@y"), "rtsp://h/x@y");
    }

    #[test]
    fn written_files_read_back() {
        let f = CamerasFile::parse(Path::new("c.toml"), GOOD).expect("valid");
        let text = CamerasFile::to_toml(&f.cameras, None);
        let g = CamerasFile::parse(Path::new("c.toml"), &text).expect("round trip");
        assert_eq!(f.cameras, g.cameras);
    }
}
