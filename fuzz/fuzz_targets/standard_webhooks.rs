//! The Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`) through the inbound scheme selection: any bytes
//! must give an answer, never a panic; a message that verifies must carry a
//! signature made with the key, over exactly its id, timestamp and body.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rosetta_webhook::config::{InboundConfig, WebhookSecrets};
use rosetta_webhook::inbound::{self, SignatureHeaders, Verified};
use rosetta_webhook::standard_webhooks::{parse_timestamp, SigningSecret};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    drop_in: Option<&'a [u8]>,
    id: Option<&'a [u8]>,
    timestamp: Option<&'a [u8]>,
    signature: Option<&'a [u8]>,
    /// Sign the message properly and append this to the header instead.
    sign: bool,
    body: &'a [u8],
    now: i64,
    tolerance: u32,
}

fuzz_target!(|input: Input<'_>| {
    let secret = SigningSecret::parse(SECRET).unwrap();
    let config = InboundConfig {
        secrets: vec![secret.clone()],
        tolerance_seconds: i64::from(input.tolerance % 86_400 + 1),
        require_timestamp: false,
    };
    let drop_in = WebhookSecrets::new(vec!["fuzz-drop-in-secret".into()]).unwrap();
    let signed;
    let signature = match (input.sign, input.id, input.timestamp) {
        (true, Some(id), Some(timestamp)) => {
            let (Ok(id), Ok(ts)) = (std::str::from_utf8(id), std::str::from_utf8(timestamp)) else {
                return;
            };
            let Ok(ts) = parse_timestamp(ts) else { return };
            let extra = String::from_utf8_lossy(input.signature.unwrap_or_default());
            signed = format!("{extra} {}", secret.sign(id, ts, input.body));
            Some(signed.as_bytes())
        }
        _ => input.signature,
    };
    let headers = SignatureHeaders {
        drop_in: input.drop_in,
        webhook_id: input.id,
        webhook_timestamp: input.timestamp,
        webhook_signature: signature,
    };
    let result = inbound::verify(&headers, input.body, &drop_in, &config, input.now);
    if let Ok(Verified::Standard { message_id }) = &result {
        // Verified: the id is the header's, the timestamp canonical and in
        // the window, and the header holds the real signature.
        assert_eq!(message_id.as_bytes(), input.id.unwrap());
        let text = std::str::from_utf8(input.timestamp.unwrap()).unwrap();
        let ts = parse_timestamp(text).unwrap();
        assert_eq!(ts.to_string(), text);
        assert!(input.now.abs_diff(ts) <= config.tolerance_seconds as u64);
        let header = std::str::from_utf8(signature.unwrap()).unwrap();
        let real = secret.sign(message_id, ts, input.body);
        assert!(header.split(' ').any(|entry| entry == real));
    }
    if let Ok(Verified::DropIn) = result {
        assert!(input.id.is_none() && input.timestamp.is_none() && signature.is_none());
    }
});
