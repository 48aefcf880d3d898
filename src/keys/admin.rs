//! The operator's key commands as library functions over the store: create
//! (the key is returned once, only its hash is stored), list, revoke.

use secrecy::{ExposeSecret, SecretString};

use super::{generate, hash_hex, key_id, KEY_ID_LENGTH};
use crate::store::{ApiKeyRecord, JobStore, NewApiKey, StoreError, ALL_CLIENTS};

/// Longest client id and label accepted (the table's checks agree).
pub const MAX_CLIENT_ID_BYTES: usize = 256;
pub const MAX_LABEL_BYTES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum KeyCommandError {
    #[error("--client must be 1 to {MAX_CLIENT_ID_BYTES} bytes without spaces or control characters (`*` for every client)")]
    InvalidClient,
    #[error("--label must be at most {MAX_LABEL_BYTES} bytes without control characters")]
    InvalidLabel,
    #[error("a key id is {KEY_ID_LENGTH} to 64 lowercase hex digits, as `keys list` shows it")]
    InvalidKeyId,
    #[error("no key has the id {0}")]
    NoSuchKey(String),
    #[error("{0} keys have an id starting {1}; give more digits")]
    AmbiguousKeyId(usize, String),
    #[error("the key {0} is already revoked")]
    AlreadyRevoked(String),
    #[error("the operating system gave no random bytes: {0}")]
    Randomness(getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key just created: shown to the operator once, never stored.
pub struct CreatedKey {
    pub key: SecretString,
    pub record: ApiKeyRecord,
}

/// Makes a key for `client_id` (or [`ALL_CLIENTS`]) and stores its hash.
pub async fn create(
    store: &dyn JobStore,
    client_id: &str,
    label: &str,
) -> Result<CreatedKey, KeyCommandError> {
    let valid_client = client_id == ALL_CLIENTS
        || (!client_id.is_empty()
            && client_id.len() <= MAX_CLIENT_ID_BYTES
            && !client_id
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()));
    if !valid_client {
        return Err(KeyCommandError::InvalidClient);
    }
    if label.len() > MAX_LABEL_BYTES || label.chars().any(char::is_control) {
        return Err(KeyCommandError::InvalidLabel);
    }
    let key = generate().map_err(KeyCommandError::Randomness)?;
    let record = store
        .create_api_key(&NewApiKey {
            key_hash: hash_hex(key.expose_secret()),
            client_id: client_id.to_owned(),
            label: label.to_owned(),
        })
        .await?;
    Ok(CreatedKey { key, record })
}

/// Stored keys, oldest first; with `label`, those whose label contains it
/// (case-insensitive).
pub async fn list(
    store: &dyn JobStore,
    label: Option<&str>,
) -> Result<Vec<ApiKeyRecord>, KeyCommandError> {
    let mut keys = store.api_keys().await?;
    if let Some(wanted) = label.map(str::to_lowercase) {
        keys.retain(|key| key.label.to_lowercase().contains(&wanted));
    }
    Ok(keys)
}

/// Revokes the one key whose hash starts with `id`; returns it as it was.
pub async fn revoke(store: &dyn JobStore, id: &str) -> Result<ApiKeyRecord, KeyCommandError> {
    let valid_id = (KEY_ID_LENGTH..=64).contains(&id.len())
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !valid_id {
        return Err(KeyCommandError::InvalidKeyId);
    }
    let mut matching: Vec<ApiKeyRecord> = store
        .api_keys()
        .await?
        .into_iter()
        .filter(|key| key.key_hash.starts_with(id))
        .collect();
    let key = match matching.len() {
        0 => return Err(KeyCommandError::NoSuchKey(id.to_owned())),
        1 => matching.remove(0),
        n => return Err(KeyCommandError::AmbiguousKeyId(n, id.to_owned())),
    };
    if key.revoked_at.is_some() || !store.revoke_api_key(&key.key_hash).await? {
        return Err(KeyCommandError::AlreadyRevoked(
            key_id(&key.key_hash).to_owned(),
        ));
    }
    Ok(key)
}
