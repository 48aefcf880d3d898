//! The poll's query parameters: page size, opaque cursor, long-poll wait.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::http::AppError;

pub const DEFAULT_PAGE_SIZE: usize = 1000;
pub const MAX_PAGE_SIZE: usize = 5000;
/// The longest a long-poll may hold a request.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Raw parameters: all strings, so a bad value gets our error, not serde's.
#[derive(Debug, Default, Deserialize)]
pub struct PollQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub after: Option<String>,
    pub wait: Option<String>,
}

/// Which page of results to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub limit: usize,
    /// The product id after which the page starts.
    pub after: Option<String>,
}

impl PageRequest {
    pub fn parse(query: &PollQuery) -> Result<Self, AppError> {
        let limit = match query.limit.as_deref() {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| AppError::InvalidParameter {
                    field: "limit",
                    reason: format!(
                        "must be a whole number from 1 to {MAX_PAGE_SIZE}, not {raw:?}"
                    ),
                })?,
        };
        let after = query
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, "cursor"))
            .transpose()?;
        Ok(Self { limit, after })
    }
}

/// `wait` in whole seconds, 0 to 60; absent means answer at once.
pub fn parse_wait(query: &PollQuery) -> Result<Duration, AppError> {
    match query.wait.as_deref() {
        None => Ok(Duration::ZERO),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .filter(|wait| *wait <= MAX_WAIT)
            .ok_or_else(|| AppError::InvalidParameter {
                field: "wait",
                reason: format!(
                    "must be a whole number of seconds from 0 to {}, not {raw:?}",
                    MAX_WAIT.as_secs()
                ),
            }),
    }
}

/// Cursors are opaque to clients: a product id, encoded so it survives a
/// query string and so clients do not build them by hand.
pub fn encode_cursor(product_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(product_id)
}

pub fn decode_cursor(cursor: &str, field: &'static str) -> Result<String, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::InvalidParameter {
            field,
            reason: "is not a cursor this API returned".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<&str>, cursor: Option<&str>) -> PollQuery {
        PollQuery {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn cursor_round_trips_any_product_id() {
        for id in ["SKU-1", "a,b.c(d)", "å/ø?&=#", "ends with space "] {
            let page = PageRequest::parse(&query(None, Some(&encode_cursor(id)))).unwrap();
            assert_eq!(page.after.as_deref(), Some(id));
        }
    }

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(
            PageRequest::parse(&query(None, None)).unwrap().limit,
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(
            PageRequest::parse(&query(Some("5000"), None))
                .unwrap()
                .limit,
            5000
        );
        for bad in ["0", "5001", "-1", "ten", ""] {
            match PageRequest::parse(&query(Some(bad), None)) {
                Err(AppError::InvalidParameter { field: "limit", .. }) => {}
                other => panic!("{bad}: {:?}", other.err()),
            }
        }
    }

    #[test]
    fn garbage_cursor_is_refused() {
        for bad in ["***", "", "_w"] {
            assert!(
                matches!(
                    PageRequest::parse(&query(None, Some(bad))),
                    Err(AppError::InvalidParameter {
                        field: "cursor",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn wait_is_bounded() {
        let wait = |raw: &str| {
            parse_wait(&PollQuery {
                wait: Some(raw.into()),
                ..Default::default()
            })
        };
        assert_eq!(parse_wait(&PollQuery::default()).unwrap(), Duration::ZERO);
        assert_eq!(wait("60").unwrap(), MAX_WAIT);
        assert_eq!(wait("0").unwrap(), Duration::ZERO);
        for bad in ["61", "-1", "1.5", "soon"] {
            assert!(
                matches!(
                    wait(bad),
                    Err(AppError::InvalidParameter { field: "wait", .. })
                ),
                "{bad}"
            );
        }
    }
}
