//! The bounds a webhook body must keep, beyond `MAX_BODY_BYTES`. Lengths
//! are UTF-8 bytes. Each is far above what the engine sends (HTS codes are
//! 10 to 13 characters, SKUs rarely over 64) and low enough that one field
//! cannot fill a row, a page of results or a log line.

pub const MAX_PRODUCT_ID_BYTES: usize = 256;
pub const MAX_PRODUCT_DESCRIPTION_BYTES: usize = 10_000;
pub const MAX_HTS_CODE_BYTES: usize = 32;
pub const MAX_HTS_DESCRIPTION_BYTES: usize = 10_000;
pub const MAX_SOURCE_BYTES: usize = 64;
/// Each entry of `pga_flags` (`FDA`, `USDA-APHIS`, ...).
pub const MAX_PGA_FLAG_BYTES: usize = 64;
/// Entries of one result's `pga_flags`.
pub const MAX_PGA_FLAGS: usize = 64;
pub const MAX_CLIENT_ID_BYTES: usize = 256;
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;

/// `MAX_RESULTS_PER_WEBHOOK`'s default: a 50,000-product batch, the
/// largest the engine runs, in one webhook.
pub const DEFAULT_MAX_RESULTS_PER_WEBHOOK: usize = 50_000;

/// The limits that are configured rather than fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// `MAX_RESULTS_PER_WEBHOOK`.
    pub max_results: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_results: DEFAULT_MAX_RESULTS_PER_WEBHOOK,
        }
    }
}
