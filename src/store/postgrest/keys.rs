//! API keys on PostgREST: the `api_keys` table, read and written as
//! `service_role`; revocation through `revoke_api_key()` for the server's clock.

use serde::Deserialize;
use serde_json::json;

use super::PostgrestStore;
use crate::config::ClientScope;
use crate::store::{scope_of_client, ApiKeyRecord, NewApiKey, StoreError};

const TABLE: &str = "api_keys";

#[derive(Deserialize)]
struct ClientRow {
    client_id: String,
}

impl PostgrestStore {
    pub(super) async fn find_api_key(
        &self,
        key_hash: &str,
    ) -> Result<Option<ClientScope>, StoreError> {
        let rows: Vec<ClientRow> = self
            .send(
                self.client
                    .from(TABLE)
                    .select("client_id")
                    .eq("key_hash", key_hash)
                    .is("revoked_at", "null")
                    .limit(1),
            )
            .await?;
        Ok(rows.first().map(|row| scope_of_client(&row.client_id)))
    }

    pub(super) async fn insert_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        let body = serde_json::to_string(key)
            .map_err(|e| StoreError::Refused(format!("could not encode the key: {e}")))?;
        let rows: Vec<ApiKeyRecord> = self
            .send(
                self.client
                    .from(TABLE)
                    .insert(body)
                    .select(ApiKeyRecord::COLUMNS),
            )
            .await?;
        rows.into_iter()
            .next()
            .ok_or_else(|| StoreError::Refused("the insert returned no row".to_owned()))
    }

    pub(super) async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.send(
            self.client
                .from(TABLE)
                .select(ApiKeyRecord::COLUMNS)
                .order("created_at.asc,key_hash.asc"),
        )
        .await
    }

    pub(super) async fn revoke_key(&self, key_hash: &str) -> Result<bool, StoreError> {
        let args = json!({ "p_key_hash": key_hash });
        self.send(self.client.rpc("revoke_api_key", args.to_string()))
            .await
    }
}
