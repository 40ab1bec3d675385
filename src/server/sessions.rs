//! Signed-in sessions and the brake on password guessing.
//!
//! A session is an opaque random token (32 bytes, URL-safe hex) given to the client once; the
//! server keeps only its SHA-256, with the user, an absolute expiry and an idle timeout. Every
//! request re-reads the user's row (see `api`), so a disabled account or a changed role ends its
//! sessions at the next request, and [`Sessions::end_user`] ends them at once.
//!
//! Failed sign-ins are counted per name and per address over a window; past the limit, further
//! attempts are refused without checking the password until the window has passed.
//!
//! Pure state behind a mutex, with the time passed in: no I/O, no thread of its own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::auth::Role;

/// How long a session lives, and how long it may stay unused.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    pub lifetime: Duration,
    pub idle: Duration,
    /// Failed sign-ins allowed per name, and per address, in `window`.
    pub failures: u32,
    pub window: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            lifetime: Duration::from_secs(12 * 3600),
            idle: Duration::from_secs(15 * 60),
            failures: 5,
            window: Duration::from_secs(5 * 60),
        }
    }
}

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUser {
    pub user: String,
    pub role: Role,
}

struct Live {
    who: SessionUser,
    expires: Instant,
    last_used: Instant,
}

/// Why a token was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Expired,
    Idle,
    /// Ended by the server, for this reason (an account disabled, a role changed).
    Ended(String),
}

impl Refused {
    pub fn message(&self) -> String {
        match self {
            Refused::Unknown => "not signed in (no such session): sign in again".into(),
            Refused::Expired => "the session has expired: sign in again".into(),
            Refused::Idle => "the session was locked after being idle: sign in again".into(),
            Refused::Ended(why) => why.clone(),
        }
    }
}

#[derive(Default)]
struct Failures {
    by_name: HashMap<String, Vec<Instant>>,
    by_address: HashMap<IpAddr, Vec<Instant>>,
}

/// The server's sessions.
pub struct Sessions {
    limits: SessionLimits,
    live: Mutex<HashMap<[u8; 32], Live>>,
    /// Sessions the server ended, and why: the client's next request is told (bounded).
    ended: Mutex<HashMap<[u8; 32], String>>,
    failures: Mutex<Failures>,
}

/// A token as the client holds it, and its hash as the server keeps it.
pub fn new_token() -> Result<(String, [u8; 32]), getrandom::Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)?;
    let token = crate::auth::audit::hex(&raw);
    Ok((token.clone(), hash_token(&token)))
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Sessions {
        Sessions {
            limits,
            live: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
        }
    }

    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Keeps a new session under the token's hash.
    pub fn open(&self, hash: [u8; 32], who: SessionUser, now: Instant) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, s| s.expires > now && now.duration_since(s.last_used) < self.limits.idle);
        live.insert(
            hash,
            Live {
                who,
                expires: now + self.limits.lifetime,
                last_used: now,
            },
        );
    }

    /// The session of `token`, marked used now.
    pub fn check(&self, token: &str, now: Instant) -> Result<SessionUser, Refused> {
        let hash = hash_token(token);
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = live.get_mut(&hash) else {
            let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
            return Err(ended
                .get(&hash)
                .map_or(Refused::Unknown, |why| Refused::Ended(why.clone())));
        };
        if now >= s.expires {
            live.remove(&hash);
            return Err(Refused::Expired);
        }
        if now.duration_since(s.last_used) >= self.limits.idle {
            live.remove(&hash);
            return Err(Refused::Idle);
        }
        s.last_used = now;
        Ok(s.who.clone())
    }

    /// Whether the session of `token` is still open, without counting this as a use (a
    /// pushed feed does not keep a session from locking).
    pub fn alive(&self, token: &str, now: Instant) -> Result<(), Refused> {
        let hash = hash_token(token);
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get(&hash) {
            Some(s) if now >= s.expires => Err(Refused::Expired),
            Some(s) if now.duration_since(s.last_used) >= self.limits.idle => Err(Refused::Idle),
            Some(_) => Ok(()),
            None => {
                let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
                Err(ended
                    .get(&hash)
                    .map_or(Refused::Unknown, |why| Refused::Ended(why.clone())))
            }
        }
    }

    /// Ends one session (sign-out). True if it existed.
    pub fn close(&self, token: &str) -> bool {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.remove(&hash_token(token)).is_some()
    }

    /// Ends every session of `user`, telling their next request `why`; how many.
    pub fn end_user(&self, user: &str, why: &str) -> usize {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<[u8; 32]> = live
            .iter()
            .filter(|(_, s)| s.who.user == user)
            .map(|(h, _)| *h)
            .collect();
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if ended.len() > 10_000 {
            ended.clear();
        }
        for h in &gone {
            live.remove(h);
            ended.insert(*h, why.to_owned());
        }
        gone.len()
    }

    /// How many sessions are open.
    pub fn count(&self) -> usize {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// None when `name` from `address` may try a password now; otherwise how long to wait.
    pub fn throttled(&self, name: &str, address: IpAddr, now: Instant) -> Option<Duration> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.limits.window;
        let limit = self.limits.failures as usize;
        let mut wait = None;
        let mut check = |times: &mut Vec<Instant>| {
            times.retain(|t| now.duration_since(*t) < window);
            if times.len() >= limit
                && let Some(first) = times.first()
            {
                let w = window.saturating_sub(now.duration_since(*first));
                wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
            }
        };
        if let Some(t) = f.by_name.get_mut(name) {
            check(t);
        }
        if let Some(t) = f.by_address.get_mut(&address) {
            check(t);
        }
        wait
    }

    /// Counts a failed sign-in of `name` from `address`.
    pub fn failed(&self, name: &str, address: IpAddr, now: Instant) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // A bounded table: names typed by a guesser do not grow it without end.
        if f.by_name.len() > 10_000 {
            f.by_name.clear();
        }
        if f.by_address.len() > 10_000 {
            f.by_address.clear();
        }
        f.by_name.entry(name.to_owned()).or_default().push(now);
        f.by_address.entry(address).or_default().push(now);
    }

    /// A successful sign-in clears the name's count (not the address's).
    pub fn succeeded(&self, name: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.by_name.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(name: &str) -> SessionUser {
        SessionUser {
            user: name.into(),
            role: Role::Operator,
        }
    }

    #[test]
    fn tokens_are_random_and_kept_only_as_hashes() {
        let (a, ha) = new_token().expect("token");
        let (b, _) = new_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_token(&a), ha);
        let s = Sessions::new(SessionLimits::default());
        let now = Instant::now();
        s.open(ha, who("op"), now);
        assert_eq!(s.check(&a, now).expect("valid").user, "op");
        assert_eq!(s.check(&b, now), Err(Refused::Unknown));
    }

    #[test]
    fn idle_sessions_lock_and_old_ones_expire() {
        let limits = SessionLimits {
            lifetime: Duration::from_secs(100),
            idle: Duration::from_secs(10),
            ..SessionLimits::default()
        };
        let s = Sessions::new(limits);
        let t0 = Instant::now();
        let (a, ha) = new_token().expect("token");
        s.open(ha, who("op"), t0);
        // Used every 9 s: never idle, until the lifetime ends.
        let mut t = t0;
        for _ in 0..11 {
            t += Duration::from_secs(9);
            assert!(s.check(&a, t).is_ok());
        }
        assert_eq!(
            s.check(&a, t0 + Duration::from_secs(100)),
            Err(Refused::Expired)
        );
        let (b, hb) = new_token().expect("token");
        s.open(hb, who("op"), t0);
        assert_eq!(
            s.check(&b, t0 + Duration::from_secs(10)),
            Err(Refused::Idle)
        );
        // Gone once refused.
        assert_eq!(s.check(&b, t0), Err(Refused::Unknown));
    }

    #[test]
    fn ending_a_user_ends_all_their_sessions_and_only_theirs() {
        let s = Sessions::new(SessionLimits::default());
        let now = Instant::now();
        let toks: Vec<_> = ["op", "op", "sup"]
            .iter()
            .map(|n| {
                let (t, h) = new_token().expect("token");
                s.open(h, who(n), now);
                t
            })
            .collect();
        assert_eq!(s.end_user("op", "op was disabled"), 2);
        assert_eq!(
            s.check(&toks[0], now),
            Err(Refused::Ended("op was disabled".into()))
        );
        assert!(s.check(&toks[1], now).is_err());
        assert!(s.check(&toks[2], now).is_ok());
        assert!(s.close(&toks[2]));
        assert_eq!(s.count(), 0);
    }

    #[test]
    fn guessing_is_braked_per_name_and_per_address() {
        let s = Sessions::new(SessionLimits::default());
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(s.throttled("op", a, t0), None, "attempt {i}");
            s.failed("op", a, t0);
        }
        let wait = s.throttled("op", a, t0).expect("braked");
        assert!(wait <= Duration::from_secs(300));
        // The same name from another address: braked too (per name).
        assert!(s.throttled("op", b, t0).is_some());
        // Another name from the first address: braked (per address).
        assert!(s.throttled("sup", a, t0).is_some());
        // Another name from another address: free.
        assert_eq!(s.throttled("sup", b, t0), None);
        // After the window, free again.
        assert_eq!(s.throttled("op", a, t0 + Duration::from_secs(301)), None);
    }
}
