//! The drop-in `X-Webhook-Signature` parser and verifier: any header bytes
//! and body must give an answer, never a panic, and only the real signature
//! may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rosetta_webhook::config::WebhookSecrets;
use rosetta_webhook::signature::{self, SignatureError};

const SECRET: &str = "fuzz-drop-in-secret";

fuzz_target!(|input: (&[u8], &[u8])| {
    let (header, body) = input;
    let secrets = WebhookSecrets::new(vec![SECRET.into()]).unwrap();
    let expected = signature::sign(SECRET.as_bytes(), body);
    match signature::verify(Some(header), body, &secrets) {
        Ok(()) => {
            // Only the signature itself, in any case, with an optional
            // `sha256=` prefix and surrounding whitespace, verifies.
            let text = std::str::from_utf8(header)
                .unwrap()
                .trim()
                .to_ascii_lowercase();
            let digits = text.strip_prefix("sha256=").unwrap_or(&text);
            assert_eq!(digits, expected);
        }
        Err(SignatureError::Missing) => panic!("a present header reported missing"),
        Err(_) => {}
    }
    assert_eq!(
        signature::verify(Some(expected.as_bytes()), body, &secrets),
        Ok(())
    );
});
