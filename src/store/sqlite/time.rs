//! Timestamps as the SQLite store keeps them: RFC 3339 in UTC with exactly
//! six fractional digits, `2026-12-03T16:48:45.199947+00:00`, the shape
//! PostgREST returns for `timestamptz`. The width is fixed, so comparing
//! the text compares the times (leases and retries are `<=` on text).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, formatted on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Timestamp(Duration);

impl Timestamp {
    pub fn now() -> Self {
        Self(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }

    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration))
    }

    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration))
    }

    pub fn rfc3339(self) -> String {
        let seconds = self.0.as_secs();
        let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
        let of_day = seconds % 86_400;
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60,
            self.0.subsec_micros()
        )
    }
}

/// (year, month, day) of a day counted from 1970-01-01: Howard Hinnant's
/// `civil_from_days` (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, micros: u32) -> String {
        Timestamp(Duration::new(seconds, micros * 1000)).rfc3339()
    }

    #[test]
    fn formats_like_postgrest_in_utc() {
        // Reference values from `date -u -d @<seconds> +%FT%T`.
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001+00:00");
        assert_eq!(
            at(1_796_316_525, 199_947),
            "2026-12-03T16:48:45.199947+00:00"
        );
        assert_eq!(
            at(4_107_542_399, 999_999),
            "2100-02-28T23:59:59.999999+00:00"
        );
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000+00:00");
    }

    #[test]
    fn text_order_is_time_order() {
        let earlier = Timestamp(Duration::new(999_999_999, 999_999_000));
        let later = earlier.plus(Duration::from_micros(1));
        assert!(earlier.rfc3339() < later.rfc3339());
        assert!(later.rfc3339() < later.plus(Duration::from_secs(86_400)).rfc3339());
    }
}
