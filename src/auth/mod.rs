//! Who may do what: named accounts, their roles, and the one table of permissions.
//!
//! Deny by default: an action is allowed only where [`PERMISSIONS`] lists it for the role, and
//! footage of a camera only where the user was granted that camera (or `*`). Passwords are
//! hashed with Argon2id (a random 16-byte salt each, PHC string stored) and never kept.

pub mod audit;

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs the control room: everything operators do, plus stills, holds, and lifting a
    /// privacy mask when an emergency needs it (logged with its reason).
    Supervisor,
    /// Watches live video and replays recent footage.
    Operator,
    /// Works in the review room: playback, bookmarks, stills, exports for requisitions.
    Reviewer,
    /// Installs and configures: users, cameras, masks (drawn over one still of the camera);
    /// sees no video.
    Administrator,
    /// The data protection officer or ethics committee: reads the audit log and the register,
    /// sees no video.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Supervisor,
        Role::Operator,
        Role::Reviewer,
        Role::Administrator,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
            Role::Reviewer => "reviewer",
            Role::Administrator => "administrator",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a user may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    ViewLive,
    Playback,
    Still,
    Bookmark,
    Export,
    PlaceHold,
    ReleaseHold,
    EditMasks,
    LiftMask,
    ManageUsers,
    ReadAudit,
    ReadRegister,
    /// Acknowledge, take, comment and close alarms.
    HandleAlarms,
    /// Send a patrol vehicle to an alarm.
    Dispatch,
    /// Let a retention pass refused after a clock jump delete what it found.
    AllowRetention,
}

/// The permission table: what each role may do. Anything not listed is refused.
pub const PERMISSIONS: &[(Role, &[Action])] = &[
    (
        Role::Supervisor,
        &[
            Action::ViewLive,
            Action::Playback,
            Action::Still,
            Action::Bookmark,
            Action::PlaceHold,
            Action::ReleaseHold,
            Action::LiftMask,
            Action::HandleAlarms,
            Action::Dispatch,
        ],
    ),
    (
        Role::Operator,
        &[
            Action::ViewLive,
            Action::Playback,
            Action::Bookmark,
            Action::HandleAlarms,
            Action::Dispatch,
        ],
    ),
    (
        Role::Reviewer,
        &[
            Action::Playback,
            Action::Still,
            Action::Bookmark,
            Action::Export,
            Action::PlaceHold,
        ],
    ),
    (
        Role::Administrator,
        &[
            Action::EditMasks,
            Action::ManageUsers,
            Action::ReadRegister,
            Action::AllowRetention,
        ],
    ),
    (Role::Auditor, &[Action::ReadAudit, Action::ReadRegister]),
];

/// True when `role` may do `action`.
pub fn allowed(role: Role, action: Action) -> bool {
    PERMISSIONS
        .iter()
        .any(|(r, actions)| *r == role && actions.contains(&action))
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least 12 characters")]
    TooShort,
    #[error("no randomness for the salt: {0}")]
    Random(String),
    #[error("the stored password hash is unreadable")]
    BadHash,
}

/// Least length of a password.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// An Argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::BadHash)
}

/// True when `password` matches the stored PHC string (compared in constant time).
pub fn verify_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::BadHash)?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// A signed-in user: who, in which role, and which cameras they may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    /// Camera ids granted; `*` grants every camera.
    pub cameras: Vec<String>,
}

/// Why a sign-in or an action was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, disabled user or wrong password: deliberately one message.
    #[error("sign-in refused for {0}: unknown user or wrong password")]
    BadLogin(String),
    #[error("{user} ({role}) may not {action}")]
    Denied {
        user: String,
        role: Role,
        action: &'static str,
    },
    #[error("{user} may not see camera {camera}")]
    CameraDenied { user: String, camera: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

impl Action {
    /// The action in words, as audit entries and refusals name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ViewLive => "view live video",
            Action::Playback => "play recorded video",
            Action::Still => "take a still",
            Action::Bookmark => "bookmark",
            Action::Export => "export footage",
            Action::PlaceHold => "place a hold",
            Action::ReleaseHold => "release a hold",
            Action::EditMasks => "edit privacy masks",
            Action::LiftMask => "lift a privacy mask",
            Action::ManageUsers => "manage users",
            Action::ReadAudit => "read the audit log",
            Action::ReadRegister => "read the register",
            Action::HandleAlarms => "handle alarms",
            Action::Dispatch => "dispatch a patrol",
            Action::AllowRetention => "allow a refused retention pass",
        }
    }
}

impl Session {
    /// True when the role allows `action`.
    pub fn may(&self, action: Action) -> bool {
        allowed(self.role, action)
    }

    /// True when the user was granted `camera`.
    pub fn may_see(&self, camera: &str) -> bool {
        self.cameras.iter().any(|c| c == "*" || c == camera)
    }

    /// Ok when the role allows `action` on every camera of `cameras`; a refusal is logged.
    pub fn require(
        &self,
        data: &std::path::Path,
        action: Action,
        cameras: &[String],
    ) -> Result<(), AuthError> {
        let refusal = if !self.may(action) {
            Some(AuthError::Denied {
                user: self.user.clone(),
                role: self.role,
                action: action.as_str(),
            })
        } else {
            cameras
                .iter()
                .find(|c| !self.may_see(c))
                .map(|c| AuthError::CameraDenied {
                    user: self.user.clone(),
                    camera: c.clone(),
                })
        };
        match refusal {
            None => Ok(()),
            Some(e) => {
                self.log(
                    data,
                    "refused",
                    &cameras.join(","),
                    None,
                    "",
                    &e.to_string(),
                )?;
                Err(e)
            }
        }
    }

    /// Appends an entry to the audit log in this user's name.
    pub fn log(
        &self,
        data: &std::path::Path,
        action: &str,
        cameras: &str,
        range: Option<(i64, i64)>,
        reason: &str,
        detail: &str,
    ) -> Result<i64, AuthError> {
        Ok(audit::append(
            data,
            &self.entry(action, cameras, range, reason, detail),
        )?)
    }

    /// An audit entry in this user's name, stamped now (for the writers that queue entries).
    pub fn entry(
        &self,
        action: &str,
        cameras: &str,
        range: Option<(i64, i64)>,
        reason: &str,
        detail: &str,
    ) -> audit::Entry {
        audit::Entry {
            at_utc_ns: crate::time::now_utc_ns(),
            user: self.user.clone(),
            role: self.role.as_str().to_owned(),
            action: action.to_owned(),
            cameras: cameras.to_owned(),
            range,
            reason: reason.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

/// True for an account name: 1 to 64 ASCII letters, digits, '.', '_' or '-'.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Signs `name` in with `password` against the index at `data`. Every attempt is logged:
/// "login", or "login failed" (an unknown name is logged as typed).
pub fn login(data: &std::path::Path, name: &str, password: &str) -> Result<Session, AuthError> {
    let store = crate::store::Store::open(&data.join(crate::store::INDEX_FILE))?;
    let found = store.user_credentials(name)?;
    let role = match &found {
        Some((role, hash)) if verify_password(password, hash)? => Role::parse(role),
        _ => None,
    };
    let Some(role) = role else {
        let role = found.map(|(r, _)| r).unwrap_or_default();
        audit::append(
            data,
            &audit::Entry {
                at_utc_ns: crate::time::now_utc_ns(),
                user: name.to_owned(),
                role,
                action: "login failed".into(),
                ..Default::default()
            },
        )?;
        return Err(AuthError::BadLogin(name.to_owned()));
    };
    let cameras = store
        .users()?
        .into_iter()
        .find(|u| u.name == name)
        .map(|u| u.cameras)
        .unwrap_or_default();
    let session = Session {
        user: name.to_owned(),
        role,
        cameras,
    };
    session.log(data, "login", "", None, "", "")?;
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_by_default_and_auditors_see_no_video() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(allowed(Role::Operator, Action::ViewLive));
        assert!(!allowed(Role::Operator, Action::Export));
        assert!(allowed(Role::Reviewer, Action::Export));
        assert!(!allowed(Role::Reviewer, Action::ViewLive));
        for video in [
            Action::ViewLive,
            Action::Playback,
            Action::Still,
            Action::Export,
        ] {
            assert!(!allowed(Role::Auditor, video), "{video:?}");
            assert!(!allowed(Role::Administrator, video), "{video:?}");
        }
        assert!(allowed(Role::Auditor, Action::ReadAudit));
        assert!(!allowed(Role::Operator, Action::ManageUsers));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn the_permission_grid_role_by_action() {
        use Action::*;
        // Rows: supervisor, operator, reviewer, administrator, auditor. Every cell is stated,
        // the denials included.
        let grid: [(Action, [bool; 5]); 15] = [
            (ViewLive, [true, true, false, false, false]),
            (Playback, [true, true, true, false, false]),
            (Still, [true, false, true, false, false]),
            (Bookmark, [true, true, true, false, false]),
            (Export, [false, false, true, false, false]),
            (PlaceHold, [true, false, true, false, false]),
            (ReleaseHold, [true, false, false, false, false]),
            (EditMasks, [false, false, false, true, false]),
            (LiftMask, [true, false, false, false, false]),
            (ManageUsers, [false, false, false, true, false]),
            (ReadAudit, [false, false, false, false, true]),
            (ReadRegister, [false, false, false, true, true]),
            (HandleAlarms, [true, true, false, false, false]),
            (Dispatch, [true, true, false, false, false]),
            (AllowRetention, [false, false, false, true, false]),
        ];
        for (action, row) in grid {
            for (role, want) in Role::ALL.into_iter().zip(row) {
                assert_eq!(allowed(role, action), want, "{role} {action:?}");
            }
        }
    }

    #[test]
    fn passwords_are_hashed_with_argon2id_and_salted() {
        let a = hash_password("correct horse battery").expect("hash");
        let b = hash_password("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(!a.contains("correct horse"));
        assert!(verify_password("correct horse battery", &a).expect("verify"));
        assert!(!verify_password("correct horse batterY", &a).expect("verify"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
    }
}
