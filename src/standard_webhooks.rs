//! Standard Webhooks (<https://www.standardwebhooks.com>) signatures, written
//! on `hmac` directly: the published Rust crate had a length-check bug in
//! verification and pins an old `http`.
//!
//! Signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`; the
//! header is `v1,<base64 HMAC-SHA256>`, several space-separated entries
//! allowed. Secrets are `whsec_` + base64 of the key bytes.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const SECRET_PREFIX: &str = "whsec_";
/// The spec's secrets are 24 to 64 bytes; fewer than 16 is too weak to sign with.
const MIN_SECRET_BYTES: usize = 16;

/// A signing key, from its `whsec_<base64>` form.
#[derive(Clone)]
pub struct SigningSecret(std::sync::Arc<SecretBox<Vec<u8>>>);

impl SigningSecret {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let encoded = raw
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or("must start with `whsec_` followed by base64")?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "the part after `whsec_` is not valid base64")?;
        if key.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "decodes to {} bytes; at least {MIN_SECRET_BYTES} are needed",
                key.len()
            ));
        }
        Ok(Self(std::sync::Arc::new(SecretBox::new(Box::new(key)))))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.0.expose_secret())
            .expect("HMAC accepts any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let digest = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(digest))
    }

    /// Whether any `v1` entry of `header` is this key's signature of the
    /// message. Entries of other versions or with bad base64 are skipped;
    /// only a 32-byte entry is compared, in constant time. The body is
    /// hashed once, however many entries the header lists.
    pub fn verify_signature(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let mac = self.mac(id, timestamp, body);
        signature_entries(header).fold(false, |matched, candidate| {
            mac.clone().verify_slice(&candidate).is_ok() | matched
        })
    }
}

/// The 32-byte `v1` signatures a `webhook-signature` header lists, skipping
/// entries of other versions, bad base64 or the wrong length.
pub fn signature_entries(header: &str) -> impl Iterator<Item = [u8; 32]> + '_ {
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| {
            // 32 bytes are 44 base64 characters: skip anything longer unread.
            if encoded.len() != 44 {
                return None;
            }
            let mut digest = [0u8; 32];
            match STANDARD.decode_slice(encoded, &mut digest) {
                Ok(32) => Some(digest),
                _ => None,
            }
        })
}

/// A `webhook-timestamp`: whole seconds since the epoch, ASCII digits only,
/// no sign, no leading zero, no spaces. Only that canonical form is
/// accepted, so the signed content (which uses the number's canonical
/// text) is exactly what the sender put in the header.
pub fn parse_timestamp(raw: &str) -> Result<i64, VerifyError> {
    let canonical = !raw.is_empty()
        && raw.len() <= MAX_TIMESTAMP_DIGITS
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    if !canonical {
        return Err(VerifyError::BadTimestamp);
    }
    raw.parse().map_err(|_| VerifyError::BadTimestamp)
}

/// Enough for any date this service will see, and far from `i64::MAX`.
const MAX_TIMESTAMP_DIGITS: usize = 15;

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("webhook-timestamp is not a whole number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("no webhook-signature entry matches")]
    NoMatch,
}

/// Verifies a whole message: timestamp within `tolerance_seconds` of `now`
/// (either direction), and a matching signature under any of `secrets`.
/// Every secret is tried, so the time taken does not tell which matched.
pub fn verify(
    secrets: &[SigningSecret],
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    let timestamp = parse_timestamp(timestamp)?;
    if now.abs_diff(timestamp) > tolerance_seconds.unsigned_abs() {
        return Err(VerifyError::OutsideTolerance);
    }
    let matched = secrets.iter().fold(false, |matched, secret| {
        secret.verify_signature(id, timestamp, body, signature_header) | matched
    });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The spec's published test vector.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: i64 = 1649367553;
    const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn secret() -> SigningSecret {
        SigningSecret::parse(SECRET).unwrap()
    }

    #[test]
    fn signs_the_spec_vector() {
        assert_eq!(secret().sign(ID, TIMESTAMP, BODY.as_bytes()), SIGNATURE);
    }

    #[test]
    fn verifies_the_spec_vector_among_other_entries() {
        let header = format!("v2,abc v1,bm90LXRoaXM= {SIGNATURE}");
        let ok = verify(
            &[secret()],
            ID,
            "1649367553",
            &header,
            BODY.as_bytes(),
            TIMESTAMP + 10,
            300,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn refuses_tampering_truncation_and_stale_timestamps() {
        let s = [secret()];
        let body = BODY.as_bytes();
        let check = |id: &str, ts: &str, header: &str, body: &[u8], now: i64| {
            verify(&s, id, ts, header, body, now, 300)
        };
        let ts = "1649367553";
        assert_eq!(
            check(ID, ts, SIGNATURE, b"{}", TIMESTAMP),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check("msg_other", ts, SIGNATURE, body, TIMESTAMP),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(ID, ts, "v1,", body, TIMESTAMP),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(ID, ts, &SIGNATURE[..20], body, TIMESTAMP),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(ID, ts, &SIGNATURE.replace("v1,", "v2,"), body, TIMESTAMP),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(ID, ts, SIGNATURE, body, TIMESTAMP + 301),
            Err(VerifyError::OutsideTolerance)
        );
        assert_eq!(
            check(ID, ts, SIGNATURE, body, TIMESTAMP - 301),
            Err(VerifyError::OutsideTolerance)
        );
        assert_eq!(
            check(ID, "16493675x", SIGNATURE, body, TIMESTAMP),
            Err(VerifyError::BadTimestamp)
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_enough_bytes() {
        assert!(SigningSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(SigningSecret::parse("whsec_not base64!").is_err());
        assert!(SigningSecret::parse("whsec_c2hvcnQ=")
            .unwrap_err()
            .contains("5 bytes"));
        assert!(!format!("{:?}", secret()).contains("C2FV"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn any_secret() -> impl Strategy<Value = SigningSecret> {
            prop::collection::vec(any::<u8>(), 16..64).prop_map(|key| {
                SigningSecret::parse(&format!("whsec_{}", STANDARD.encode(key))).unwrap()
            })
        }

        proptest! {
            #[test]
            fn a_signature_verifies_among_any_other_entries(
                secret in any_secret(),
                id in "[!-~]{1,64}",
                timestamp in 0i64..10_000_000_000,
                body in prop::collection::vec(any::<u8>(), 0..1024),
                before in "[ -~]{0,60}",
                after in "[ -~]{0,60}",
            ) {
                let header = format!("{before} {} {after}", secret.sign(&id, timestamp, &body));
                prop_assert_eq!(
                    verify(&[secret], &id, &timestamp.to_string(), &header, &body, timestamp, 300),
                    Ok(())
                );
            }

            #[test]
            fn only_canonical_timestamps_parse_and_they_print_back_the_same(raw in "\\PC{0,20}") {
                if let Ok(parsed) = parse_timestamp(&raw) {
                    prop_assert_eq!(parsed.to_string(), raw);
                }
            }

            #[test]
            fn every_non_negative_timestamp_round_trips(timestamp in 0i64..=999_999_999_999_999) {
                prop_assert_eq!(parse_timestamp(&timestamp.to_string()), Ok(timestamp));
            }

            #[test]
            fn any_header_and_clock_get_an_answer(
                timestamp in "\\PC{0,24}",
                header in "\\PC{0,200}",
                now in any::<i64>(),
                tolerance in any::<i64>(),
            ) {
                let answer = verify(&[secret()], ID, &timestamp, &header, BODY.as_bytes(), now, tolerance);
                prop_assert!(answer.is_err());
            }
        }
    }
}
