//! Inbound webhook signatures: pure functions over a header value and the raw
//! body bytes, so they are checked before any JSON parsing.
//!
//! Drop-in scheme (the Flask blueprint's): `X-Webhook-Signature` holds the
//! lowercase hex HMAC-SHA256 of the raw body under the shared secret,
//! optionally prefixed `sha256=`. Any configured secret may match, which lets
//! a secret be rotated without downtime.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::WebhookSecrets;

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Webhook-Signature header is missing")]
    Missing,
    #[error("the X-Webhook-Signature header is not a hex HMAC-SHA256 (64 hex digits, optional `sha256=` prefix)")]
    Malformed,
    #[error("the signature does not match the body under any configured secret")]
    Mismatch,
}

/// Verifies the drop-in signature header against the raw body.
pub fn verify(
    header: Option<&[u8]>,
    body: &[u8],
    secrets: &WebhookSecrets,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let expected = parse_header(header)?;
    // `verify_slice` compares in constant time; trying every secret keeps the
    // time independent of which one matched.
    let matched = secrets.iter().fold(false, |matched, secret| {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(body);
        mac.verify_slice(&expected).is_ok() | matched
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header value the engine sends for `body`: lowercase hex, no prefix.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn parse_header(raw: &[u8]) -> Result<[u8; 32], SignatureError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| SignatureError::Malformed)?
        .trim();
    let hex_digits = match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &text[7..],
        _ => text,
    };
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut digest).map_err(|_| SignatureError::Malformed)?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> WebhookSecrets {
        WebhookSecrets::new(list.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    // Vectors computed with openssl, e.g.
    // printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET"
    const BODY: &str =
        r#"{"job_id":"7b0e6a52-3f1c-4d2a-9e51-0c9d8f1a2b3c","status":"completed","results":[]}"#;
    const BODY_SECRET: &str = "whsec-rosetta-test";
    const BODY_SIGNATURE: &str = "c9cdabdc321c172974f6223f5fb869bd6dbf8ea78d91998ae308a5dde08c229d";
    const FOX_SIGNATURE: &str = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
    const EMPTY_SIGNATURE: &str =
        "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0";

    #[test]
    fn sign_matches_openssl_vectors() {
        assert_eq!(
            sign(BODY_SECRET.as_bytes(), BODY.as_bytes()),
            BODY_SIGNATURE
        );
        assert_eq!(
            sign(b"key", b"The quick brown fox jumps over the lazy dog"),
            FOX_SIGNATURE
        );
        assert_eq!(sign(b"key", b""), EMPTY_SIGNATURE);
    }

    #[test]
    fn accepts_openssl_signature_with_and_without_prefix() {
        let s = secrets(&[BODY_SECRET]);
        let body = BODY.as_bytes();
        assert_eq!(verify(Some(BODY_SIGNATURE.as_bytes()), body, &s), Ok(()));
        let prefixed = format!("sha256={BODY_SIGNATURE}");
        assert_eq!(verify(Some(prefixed.as_bytes()), body, &s), Ok(()));
        let upper = format!("SHA256={}", BODY_SIGNATURE.to_uppercase());
        assert_eq!(verify(Some(upper.as_bytes()), body, &s), Ok(()));
    }

    #[test]
    fn any_configured_secret_verifies() {
        let s = secrets(&["retiring", BODY_SECRET]);
        assert_eq!(
            verify(Some(BODY_SIGNATURE.as_bytes()), BODY.as_bytes(), &s),
            Ok(())
        );
        let s = secrets(&[BODY_SECRET, "upcoming"]);
        assert_eq!(
            verify(Some(BODY_SIGNATURE.as_bytes()), BODY.as_bytes(), &s),
            Ok(())
        );
    }

    #[test]
    fn refuses_missing_malformed_and_wrong_signatures() {
        let s = secrets(&[BODY_SECRET]);
        let body = BODY.as_bytes();
        assert_eq!(verify(None, body, &s), Err(SignatureError::Missing));
        for malformed in [
            "",
            "sha256=",
            "zz",
            &BODY_SIGNATURE[..63],
            &format!("{BODY_SIGNATURE}00"),
            "sha1=c9cdabdc321c172974f6223f5fb869bd6dbf8ea78d91998ae308a5dde08c229d",
        ] {
            assert_eq!(
                verify(Some(malformed.as_bytes()), body, &s),
                Err(SignatureError::Malformed),
                "{malformed:?}"
            );
        }
        assert_eq!(
            verify(Some(&[0xff, 0xfe]), body, &s),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(FOX_SIGNATURE.as_bytes()), body, &s),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = BODY.as_bytes().to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(Some(BODY_SIGNATURE.as_bytes()), &tampered, &s),
            Err(SignatureError::Mismatch)
        );
        let other = secrets(&["another-secret"]);
        assert_eq!(
            verify(Some(BODY_SIGNATURE.as_bytes()), body, &other),
            Err(SignatureError::Mismatch)
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_body_signed_with_any_secret_verifies_in_any_spelling(
                secret in "[!-~]{1,40}",
                body in prop::collection::vec(any::<u8>(), 0..1024),
                prefixed in any::<bool>(),
                upper in any::<bool>(),
            ) {
                let mut header = sign(secret.as_bytes(), &body);
                if upper {
                    header = header.to_uppercase();
                }
                if prefixed {
                    header = format!("sha256={header}");
                }
                prop_assert_eq!(verify(Some(header.as_bytes()), &body, &secrets(&[&secret])), Ok(()));
            }

            #[test]
            fn any_changed_bit_of_a_signed_body_fails(
                body in prop::collection::vec(any::<u8>(), 1..1024),
                at in any::<prop::sample::Index>(),
                bit in 0u8..8,
            ) {
                let header = sign(BODY_SECRET.as_bytes(), &body);
                let mut changed = body.clone();
                changed[at.index(body.len())] ^= 1 << bit;
                prop_assert_eq!(
                    verify(Some(header.as_bytes()), &changed, &secrets(&[BODY_SECRET])),
                    Err(SignatureError::Mismatch)
                );
            }

            #[test]
            fn any_header_bytes_get_an_answer(
                header in prop::collection::vec(any::<u8>(), 0..160),
                body in prop::collection::vec(any::<u8>(), 0..64),
            ) {
                let answer = verify(Some(&header), &body, &secrets(&[BODY_SECRET]));
                prop_assert!(matches!(
                    answer,
                    Err(SignatureError::Malformed) | Err(SignatureError::Mismatch)
                ));
            }
        }
    }
}
