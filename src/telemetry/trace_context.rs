//! The trace a request belongs to, from the headers Google's front end (and
//! other tracers) send: `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` or W3C
//! `traceparent: 00-TRACE_ID-PARENT_ID-FLAGS`. Pure parsing, no I/O.

use axum::http::HeaderMap;

pub const CLOUD_TRACE_HEADER: &str = "x-cloud-trace-context";
pub const TRACEPARENT_HEADER: &str = "traceparent";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// The caller's span, as 16 lowercase hex digits (Cloud Logging's `spanId`).
    pub span_id: Option<String>,
    pub sampled: Option<bool>,
}

impl TraceContext {
    /// `X-Cloud-Trace-Context` first: it is what Cloud Run's own request log
    /// is grouped by, so our lines join that entry. Malformed headers are ignored.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        header(CLOUD_TRACE_HEADER)
            .and_then(Self::from_cloud_trace)
            .or_else(|| header(TRACEPARENT_HEADER).and_then(Self::from_traceparent))
    }

    /// `TRACE_ID[/SPAN_ID][;o=OPTIONS]`, SPAN_ID a decimal u64.
    pub fn from_cloud_trace(value: &str) -> Option<Self> {
        let (ids, options) = match value.trim().split_once(';') {
            Some((ids, options)) => (ids, Some(options)),
            None => (value.trim(), None),
        };
        let (trace, span) = match ids.split_once('/') {
            Some((trace, span)) => (trace, Some(span)),
            None => (ids, None),
        };
        let span_id = match span {
            Some(decimal) => Some(format!("{:016x}", decimal.parse::<u64>().ok()?)),
            None => None,
        };
        let sampled = match options.map(|o| o.trim()) {
            Some("o=1") => Some(true),
            Some("o=0") => Some(false),
            _ => None,
        };
        Some(Self {
            trace_id: trace_id(trace)?,
            span_id,
            sampled,
        })
    }

    /// `VERSION-TRACE_ID-PARENT_ID-FLAGS`, all lowercase hex.
    pub fn from_traceparent(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        // Version 00 has exactly four parts; later versions may add more.
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        if !is_lower_hex(version) || trace.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        if parent.len() != 16 || !is_lower_hex(parent) || parent.bytes().all(|b| b == b'0') {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16)
            .ok()
            .filter(|_| flags.len() == 2)?;
        Some(Self {
            trace_id: trace_id(trace)?,
            span_id: Some(parent.to_owned()),
            sampled: Some(flags & 1 == 1),
        })
    }
}

fn trace_id(raw: &str) -> Option<String> {
    let valid = raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit());
    (valid && raw.bytes().any(|b| b != b'0')).then(|| raw.to_ascii_lowercase())
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const TRACE: &str = "105445aa7843bc8bf206b12000100000";

    #[test]
    fn cloud_trace_context_forms() {
        let full = TraceContext::from_cloud_trace(&format!("{TRACE}/1;o=1")).unwrap();
        assert_eq!(full.trace_id, TRACE);
        assert_eq!(full.span_id.as_deref(), Some("0000000000000001"));
        assert_eq!(full.sampled, Some(true));

        let bare = TraceContext::from_cloud_trace(&TRACE.to_uppercase()).unwrap();
        assert_eq!(
            (bare.trace_id.as_str(), bare.span_id, bare.sampled),
            (TRACE, None, None)
        );

        let unsampled =
            TraceContext::from_cloud_trace(&format!("{TRACE}/18446744073709551615;o=0"));
        let unsampled = unsampled.unwrap();
        assert_eq!(unsampled.span_id.as_deref(), Some("ffffffffffffffff"));
        assert_eq!(unsampled.sampled, Some(false));

        for bad in [
            "",
            "xyz/1;o=1",
            "105445aa7843bc8bf206b1200010000/1",
            "00000000000000000000000000000000/1",
            &format!("{TRACE}/abc;o=1"),
            &format!("{TRACE}/-1"),
        ] {
            assert_eq!(TraceContext::from_cloud_trace(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn traceparent_forms() {
        let parsed =
            TraceContext::from_traceparent(&format!("00-{TRACE}-00f067aa0ba902b7-01")).unwrap();
        assert_eq!(parsed.trace_id, TRACE);
        assert_eq!(parsed.span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(parsed.sampled, Some(true));
        let later = TraceContext::from_traceparent(&format!("01-{TRACE}-00f067aa0ba902b7-00-x"));
        assert_eq!(later.unwrap().sampled, Some(false));

        for bad in [
            format!("00-{TRACE}-00f067aa0ba902b7-01-extra"),
            format!("ff-{TRACE}-00f067aa0ba902b7-01"),
            format!("00-{}-00f067aa0ba902b7-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-0000000000000000-01"),
            format!("00-{TRACE}-00f067aa0ba902b7-1"),
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            "00-abc".to_owned(),
        ] {
            assert_eq!(TraceContext::from_traceparent(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_cloud_header_wins_and_bad_headers_fall_through() {
        let other = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut headers = HeaderMap::new();
        headers.insert(
            TRACEPARENT_HEADER,
            HeaderValue::from_str(&format!("00-{other}-00f067aa0ba902b7-01")).unwrap(),
        );
        assert_eq!(
            TraceContext::from_headers(&headers).unwrap().trace_id,
            other
        );
        headers.insert(
            CLOUD_TRACE_HEADER,
            HeaderValue::from_str(&format!("{TRACE}/1;o=1")).unwrap(),
        );
        assert_eq!(
            TraceContext::from_headers(&headers).unwrap().trace_id,
            TRACE
        );
        headers.insert(CLOUD_TRACE_HEADER, HeaderValue::from_static("garbage"));
        assert_eq!(
            TraceContext::from_headers(&headers).unwrap().trace_id,
            other
        );
        assert_eq!(TraceContext::from_headers(&HeaderMap::new()), None);
    }
}
