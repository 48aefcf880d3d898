//! Retry timing and outcome rules, as pure functions.

use std::time::Duration;

/// Delays before each retry; after the last one fails the delivery is
/// `exhausted`. The first attempt is immediate, so a schedule of n delays
/// allows n + 1 attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// The longest wait a receiver's `Retry-After` may impose.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

impl RetrySchedule {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let delays = raw
            .split(',')
            .map(|part| parse_duration(part.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(delays))
    }

    /// The delay before the next attempt after `attempts_made` failed ones,
    /// or `None` when the schedule is used up.
    pub fn delay_after(&self, attempts_made: u32) -> Option<Duration> {
        let index = usize::try_from(attempts_made).ok()?.checked_sub(1)?;
        self.0.get(index).copied()
    }

    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.0.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }
}

/// `250ms`, `5s`, `5m`, `2h`, `1d`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{raw}` needs a unit (ms, s, m, h or d)"))?;
    if raw[split..].starts_with(['.', ',']) {
        return Err(format!(
            "`{raw}`: use a whole number with a smaller unit (1500ms, not 1.5s)"
        ));
    }
    let (number, unit) = raw.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` does not start with a whole number"))?;
    let millis = match unit {
        "ms" => Some(value),
        "s" => value.checked_mul(1_000),
        "m" => value.checked_mul(60_000),
        "h" => value.checked_mul(3_600_000),
        "d" => value.checked_mul(86_400_000),
        _ => {
            return Err(format!(
                "`{raw}` has an unknown unit (use ms, s, m, h or d)"
            ))
        }
    }
    .ok_or_else(|| format!("`{raw}` is too long"))?;
    Ok(Duration::from_millis(millis))
}

/// What one attempt produced, as far as the rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered with this status (and maybe `Retry-After`).
    Answered {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, TLS failure, timeout.
    NoAnswer,
    /// The URL was refused before any connection (scheme, SSRF policy).
    Refused,
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Never attempted again (410 Gone, or a refused URL).
    Disabled,
    RetryIn(Duration),
    Exhausted,
}

impl Decision {
    pub fn state(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Disabled => "disabled",
            Self::RetryIn(_) => "failed",
            Self::Exhausted => "exhausted",
        }
    }
}

/// The rules: 2xx delivered; 410 disables; 429/503 honour `Retry-After`
/// (capped); anything else, redirects included, retries on the schedule.
pub fn decide(result: &AttemptResult, attempts_made: u32, schedule: &RetrySchedule) -> Decision {
    let scheduled = || match schedule.delay_after(attempts_made) {
        Some(delay) => Decision::RetryIn(delay),
        None => Decision::Exhausted,
    };
    match result {
        AttemptResult::Refused => Decision::Disabled,
        AttemptResult::Answered { status, .. } if (200..300).contains(status) => {
            Decision::Delivered
        }
        AttemptResult::Answered { status: 410, .. } => Decision::Disabled,
        AttemptResult::Answered {
            status: 429 | 503,
            retry_after: Some(wait),
        } => match scheduled() {
            Decision::RetryIn(_) => Decision::RetryIn((*wait).min(RETRY_AFTER_CAP)),
            exhausted => exhausted,
        },
        AttemptResult::Answered { .. } | AttemptResult::NoAnswer => scheduled(),
    }
}

/// `Retry-After` as delay-seconds. (The HTTP-date form is rare from webhook
/// receivers; it falls back to the schedule.)
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> RetrySchedule {
        RetrySchedule::parse(DEFAULT_SCHEDULE).unwrap()
    }

    fn answered(status: u16) -> AttemptResult {
        AttemptResult::Answered {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn the_default_schedule() {
        let s = schedule();
        let minutes = |m: u64| Duration::from_secs(60 * m);
        assert_eq!(s.delay_after(1), Some(Duration::from_secs(5)));
        assert_eq!(s.delay_after(2), Some(minutes(5)));
        assert_eq!(s.delay_after(3), Some(minutes(30)));
        assert_eq!(s.delay_after(4), Some(minutes(120)));
        assert_eq!(s.delay_after(7), Some(minutes(600)));
        assert_eq!(s.delay_after(8), None);
        assert_eq!(s.delay_after(0), None);
        assert_eq!(s.max_attempts(), 8);
    }

    #[test]
    fn durations_parse_and_refuse_clearly() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("5").unwrap_err().contains("unit"));
        assert!(parse_duration("5w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.5s").unwrap_err().contains("1500ms"));
        assert!(parse_duration("").is_err());
        assert!(RetrySchedule::parse("5s,,5m").is_err());
    }

    #[test]
    fn outcomes_follow_the_rules() {
        let s = schedule();
        assert_eq!(decide(&answered(200), 1, &s), Decision::Delivered);
        assert_eq!(decide(&answered(204), 3, &s), Decision::Delivered);
        assert_eq!(decide(&answered(410), 1, &s), Decision::Disabled);
        assert_eq!(decide(&AttemptResult::Refused, 1, &s), Decision::Disabled);
        assert_eq!(
            decide(&answered(500), 1, &s),
            Decision::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(
            decide(&answered(302), 1, &s),
            Decision::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(
            decide(&answered(404), 2, &s),
            Decision::RetryIn(Duration::from_secs(300))
        );
        assert_eq!(decide(&AttemptResult::NoAnswer, 8, &s), Decision::Exhausted);
        assert_eq!(decide(&answered(500), 8, &s), Decision::Exhausted);
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let s = schedule();
        let with = |status, secs| AttemptResult::Answered {
            status,
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            decide(&with(429, 2), 1, &s),
            Decision::RetryIn(Duration::from_secs(2))
        );
        assert_eq!(
            decide(&with(503, 90), 1, &s),
            Decision::RetryIn(Duration::from_secs(90))
        );
        assert_eq!(
            decide(&with(429, 86_400), 1, &s),
            Decision::RetryIn(RETRY_AFTER_CAP)
        );
        assert_eq!(
            decide(&with(500, 2), 1, &s),
            Decision::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(decide(&with(429, 2), 8, &s), Decision::Exhausted);
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
