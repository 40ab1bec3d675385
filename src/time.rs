//! Instants as people read them: RFC 3339 in UTC, and Europe/Paris local time (the time the
//! control room and the courts speak), without a time-zone database.

const NS: i64 = 1_000_000_000;

/// Now, UTC nanoseconds since the Unix epoch.
pub fn now_utc_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// An RFC 3339 instant (any offset) as UTC nanoseconds; None if it is not one or is out of
/// range.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .timestamp_nanos_opt()
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// RFC 3339 in Paris local time with its offset, milliseconds (`2026-11-26T15:03:00.000+01:00`).
pub fn paris_rfc3339(ns: i64) -> String {
    let off = paris_offset_s(ns);
    format!(
        "{}{}{:02}:00",
        paris(ns, "%Y-%m-%dT%H:%M:%S%.3f"),
        if off >= 0 { '+' } else { '-' },
        off.abs() / 3600
    )
}

/// Offset of Paris local time from UTC at `utc_ns`, in seconds: CET (+1 h), and CEST (+2 h)
/// from the last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC (the EU
/// rule in force since 1996).
pub fn paris_offset_s(utc_ns: i64) -> i64 {
    use chrono::{Datelike, NaiveDate, Weekday};
    let t = chrono::DateTime::from_timestamp_nanos(utc_ns);
    let last_sunday = |month: u32| {
        let first_next = if month == 12 {
            NaiveDate::from_ymd_opt(t.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(t.year(), month + 1, 1)
        }
        .unwrap_or_default();
        let mut d = first_next.pred_opt().unwrap_or(first_next);
        while d.weekday() != Weekday::Sun {
            d = d.pred_opt().unwrap_or(d);
        }
        d.and_hms_opt(1, 0, 0).unwrap_or_default().and_utc()
    };
    if t >= last_sunday(3) && t < last_sunday(10) {
        7200
    } else {
        3600
    }
}

/// `utc_ns` as Paris local time with `fmt` (chrono format).
pub fn paris(utc_ns: i64, fmt: &str) -> String {
    let local = utc_ns + paris_offset_s(utc_ns) * NS;
    chrono::DateTime::from_timestamp_nanos(local)
        .naive_utc()
        .format(fmt)
        .to_string()
}

/// Parses "YYYY-MM-DD HH:MM[:SS[.mmm]]" in Paris local time into UTC ns.
pub fn parse_paris(text: &str) -> Option<i64> {
    let text = text.trim();
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())?;
    let as_utc = naive.and_utc().timestamp_nanos_opt()?;
    // The offset of the instant itself (an hour is ambiguous once a year: the first wins).
    let guess = as_utc - paris_offset_s(as_utc) * NS;
    Some(as_utc - paris_offset_s(guess) * NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paris_time_follows_the_eu_summer_time_rule() {
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_nanos_opt()
                .unwrap()
        };
        assert_eq!(paris_offset_s(t("2026-03-29T00:59:59Z")), 3600);
        assert_eq!(paris_offset_s(t("2026-03-29T01:00:00Z")), 7200);
        assert_eq!(paris_offset_s(t("2026-10-25T00:59:59Z")), 7200);
        assert_eq!(paris_offset_s(t("2026-10-25T01:00:00Z")), 3600);
        assert_eq!(paris(t("2026-11-26T17:00:00Z"), "%H:%M"), "18:00");
        assert_eq!(
            parse_paris("2026-07-14 22:30"),
            Some(t("2026-07-14T20:30:00Z"))
        );
        assert_eq!(
            parse_paris("2026-11-26 18:00:00.250"),
            Some(t("2026-11-26T17:00:00.250Z"))
        );
        assert_eq!(parse_paris("26/11/2026"), None);
        assert_eq!(
            paris_rfc3339(t("2026-11-26T17:00:00Z")),
            "2026-11-26T18:00:00.000+01:00"
        );
        assert_eq!(
            paris_rfc3339(t("2026-07-14T20:30:00Z")),
            "2026-07-14T22:30:00.000+02:00"
        );
    }
}
