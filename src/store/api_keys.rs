//! API keys as the store holds them: the SHA-256 of the key (lowercase
//! hex), never the key itself.

use serde::{Deserialize, Serialize};

use crate::config::ClientScope;

/// The `client_id` of a key that reads every job (an operator's).
pub const ALL_CLIENTS: &str = "*";

/// A key to store. `key_hash` is the lowercase hex SHA-256 of the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewApiKey {
    pub key_hash: String,
    /// The client whose jobs the key reads, or [`ALL_CLIENTS`].
    pub client_id: String,
    /// Free text saying whose key it is and what for.
    pub label: String,
}

/// A stored key as the key commands list it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiKeyRecord {
    pub key_hash: String,
    pub client_id: String,
    pub label: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl ApiKeyRecord {
    pub const COLUMNS: &'static str = "key_hash,client_id,label,created_at,revoked_at";
}

/// The jobs a stored key's `client_id` may read.
pub fn scope_of_client(client_id: &str) -> ClientScope {
    if client_id == ALL_CLIENTS {
        ClientScope::AllClients
    } else {
        ClientScope::Client(client_id.to_owned())
    }
}
