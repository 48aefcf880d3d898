use proptest::prelude::*;

use super::*;
use crate::standard_webhooks::SigningSecret;

// The Standard Webhooks spec's published vector.
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TIMESTAMP: i64 = 1649367553;
const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
const DROP_IN_SECRET: &str = "drop-in-secret";

fn config() -> InboundConfig {
    InboundConfig {
        secrets: vec![SigningSecret::parse(SECRET).unwrap()],
        ..InboundConfig::default()
    }
}

fn drop_in() -> WebhookSecrets {
    WebhookSecrets::new(vec![DROP_IN_SECRET.into()]).unwrap()
}

fn standard<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> SignatureHeaders<'a> {
    SignatureHeaders {
        webhook_id: Some(id.as_bytes()),
        webhook_timestamp: Some(timestamp.as_bytes()),
        webhook_signature: Some(signature.as_bytes()),
        ..SignatureHeaders::default()
    }
}

fn check(headers: &SignatureHeaders<'_>, now: i64) -> Result<Verified, InboundError> {
    verify(headers, BODY, &drop_in(), &config(), now)
}

#[test]
fn the_spec_vector_verifies_and_yields_its_message_id() {
    assert_eq!(
        check(&standard(ID, "1649367553", SIGNATURE), TIMESTAMP),
        Ok(Verified::Standard {
            message_id: ID.into()
        })
    );
}

#[test]
fn bad_standard_signatures_are_refused() {
    let truncated = &SIGNATURE[..SIGNATURE.len() - 4];
    let wrong_version = SIGNATURE.replacen("v1,", "v2,", 1);
    for (case, signature) in [
        ("empty v1 entry", "v1,"),
        ("truncated", truncated),
        ("wrong version", wrong_version.as_str()),
        ("no version", &SIGNATURE[3..]),
        ("empty header", ""),
    ] {
        assert_eq!(
            check(&standard(ID, "1649367553", signature), TIMESTAMP),
            Err(InboundError::Mismatch),
            "{case}"
        );
    }
    assert_eq!(
        check(&standard("msg_other", "1649367553", SIGNATURE), TIMESTAMP),
        Err(InboundError::Mismatch)
    );
}

#[test]
fn timestamps_outside_the_tolerance_or_not_numbers_are_refused() {
    let headers = standard(ID, "1649367553", SIGNATURE);
    let outside = Err(InboundError::OutsideTolerance {
        tolerance_seconds: 300,
    });
    // The message is 301 s old, or 301 s in the future.
    assert_eq!(check(&headers, TIMESTAMP + 301), outside);
    assert_eq!(check(&headers, TIMESTAMP - 301), outside);
    assert!(check(&headers, TIMESTAMP + 300).is_ok());
    assert!(check(&headers, TIMESTAMP - 300).is_ok());
    for timestamp in [
        "16493675x3",
        "",
        "-1649367553",
        "+1649367553",
        "01649367553",
        " 1",
        "1e9",
    ] {
        assert_eq!(
            check(&standard(ID, timestamp, SIGNATURE), TIMESTAMP),
            Err(InboundError::InvalidTimestamp),
            "{timestamp:?}"
        );
    }
}

#[test]
fn any_missing_standard_header_is_named() {
    for missing in [
        WEBHOOK_ID_HEADER,
        WEBHOOK_TIMESTAMP_HEADER,
        WEBHOOK_SIGNATURE_HEADER,
    ] {
        let mut headers = standard(ID, "1649367553", SIGNATURE);
        match missing {
            WEBHOOK_ID_HEADER => headers.webhook_id = None,
            WEBHOOK_TIMESTAMP_HEADER => headers.webhook_timestamp = None,
            _ => headers.webhook_signature = None,
        }
        // A valid drop-in signature does not rescue a half-sent Standard one.
        let drop_in_signature = crate::signature::sign(DROP_IN_SECRET.as_bytes(), BODY);
        headers.drop_in = Some(drop_in_signature.as_bytes());
        assert_eq!(
            check(&headers, TIMESTAMP),
            Err(InboundError::MissingHeader { missing })
        );
    }
}

#[test]
fn message_ids_must_be_visible_ascii_and_bounded() {
    let long = "m".repeat(MAX_WEBHOOK_ID_BYTES + 1);
    for id in ["", "msg 1", "msg\t1", "msg_é", long.as_str()] {
        assert_eq!(
            check(&standard(id, "1649367553", SIGNATURE), TIMESTAMP),
            Err(InboundError::InvalidMessageId),
            "{id:?}"
        );
    }
    assert_eq!(message_id(b"msg_1"), Ok("msg_1"));
    assert_eq!(message_id(&[0xff]), Err(InboundError::InvalidMessageId));
}

#[test]
fn the_drop_in_scheme_works_unless_refused() {
    let signature = crate::signature::sign(DROP_IN_SECRET.as_bytes(), BODY);
    let headers = SignatureHeaders {
        drop_in: Some(signature.as_bytes()),
        ..SignatureHeaders::default()
    };
    assert_eq!(check(&headers, TIMESTAMP), Ok(Verified::DropIn));

    let strict = InboundConfig {
        require_timestamp: true,
        ..config()
    };
    assert_eq!(
        verify(&headers, BODY, &drop_in(), &strict, TIMESTAMP),
        Err(InboundError::DropInRefused)
    );
    assert_eq!(
        verify(
            &headers,
            BODY,
            &WebhookSecrets::none(),
            &config(),
            TIMESTAMP
        ),
        Err(InboundError::DropInRefused)
    );
    assert_eq!(
        check(&SignatureHeaders::default(), TIMESTAMP),
        Err(InboundError::Missing)
    );
    assert_eq!(
        check(
            &SignatureHeaders {
                drop_in: Some(b"ab"),
                ..SignatureHeaders::default()
            },
            TIMESTAMP
        ),
        Err(InboundError::DropIn(SignatureError::Malformed))
    );
}

#[test]
fn standard_headers_without_standard_secrets_are_refused() {
    let drop_in_only = InboundConfig::default();
    assert_eq!(
        verify(
            &standard(ID, "1649367553", SIGNATURE),
            BODY,
            &drop_in(),
            &drop_in_only,
            TIMESTAMP
        ),
        Err(InboundError::StandardNotConfigured)
    );
}

fn any_secret() -> impl Strategy<Value = SigningSecret> {
    prop::collection::vec(any::<u8>(), 16..64).prop_map(|key| {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(key);
        SigningSecret::parse(&format!("whsec_{encoded}")).unwrap()
    })
}

proptest! {
    #[test]
    fn any_signed_message_verifies_and_any_changed_byte_does_not(
        secret in any_secret(),
        id in "[!-~]{1,64}",
        timestamp in 0i64..4_000_000_000,
        skew in -299i64..=299,
        body in prop::collection::vec(any::<u8>(), 0..512),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let config = InboundConfig { secrets: vec![secret.clone()], ..InboundConfig::default() };
        let signature = secret.sign(&id, timestamp, &body);
        let timestamp_text = timestamp.to_string();
        let headers = standard(&id, &timestamp_text, &signature);
        let now = timestamp + skew;
        prop_assert_eq!(
            verify(&headers, &body, &WebhookSecrets::none(), &config, now),
            Ok(Verified::Standard { message_id: id.clone() })
        );
        if !body.is_empty() {
            let mut changed = body.clone();
            changed[flip.index(body.len())] ^= 1 << bit;
            prop_assert_eq!(
                verify(&headers, &changed, &WebhookSecrets::none(), &config, now),
                Err(InboundError::Mismatch)
            );
        }
        let later = (timestamp + 1).to_string();
        prop_assert_eq!(
            verify(&standard(&id, &later, &signature), &body, &WebhookSecrets::none(), &config, now),
            Err(InboundError::Mismatch)
        );
    }

    #[test]
    fn arbitrary_headers_never_panic_and_never_verify(
        drop_in_header in prop::option::of(prop::collection::vec(any::<u8>(), 0..80)),
        id in prop::option::of(prop::collection::vec(any::<u8>(), 0..80)),
        timestamp in prop::option::of(prop::collection::vec(any::<u8>(), 0..24)),
        signature in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
    ) {
        let headers = SignatureHeaders {
            drop_in: drop_in_header.as_deref(),
            webhook_id: id.as_deref(),
            webhook_timestamp: timestamp.as_deref(),
            webhook_signature: signature.as_deref(),
        };
        prop_assert!(verify(&headers, &body, &drop_in(), &config(), now).is_err());
    }
}
