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
    /// Runs the control room: everything operators do, plus holds and the room's settings.
    Supervisor,
    /// Watches live video and replays recent footage.
    Operator,
    /// Works in the review room: playback, bookmarks, stills, exports for requisitions.
    Reviewer,
    /// Installs and configures: users, cameras, masks; sees no video.
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
        ],
    ),
    (
        Role::Operator,
        &[Action::ViewLive, Action::Playback, Action::Bookmark],
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
            Action::LiftMask,
            Action::ManageUsers,
            Action::ReadRegister,
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
