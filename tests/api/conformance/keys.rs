//! Standard Webhooks message ids and stored API keys, on both backends.

use rosetta_webhook::config::ClientScope;
use rosetta_webhook::store::NewApiKey;
use sha2::{Digest, Sha256};

use super::{parsed, uuid, Backend};
use crate::support::{new_job_id, webhook};

pub async fn a_message_id_is_applied_once(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let message_id = format!("msg_{}", new_job_id());
    let first = store
        .ingest_once(&parsed(&webhook(&job_id, "partial", 2)), &message_id)
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.results_stored, 2);

    // The same id with another body (even another job) applies nothing.
    let replay = store
        .ingest_once(
            &parsed(&webhook(&new_job_id(), "completed", 5)),
            &message_id,
        )
        .await
        .unwrap();
    assert!(replay.duplicate);
    assert_eq!(replay.results_stored, 0);
    assert_eq!(
        replay.job_id,
        uuid(&job_id),
        "the job the id first came with"
    );
    assert_eq!(replay.status, "partial");
    assert_eq!(backend.result_rows(&job_id).len(), 2);
    assert_eq!(backend.job_row(&job_id)["status"], "partial");

    let next = store
        .ingest_once(
            &parsed(&webhook(&job_id, "completed", 3)),
            &format!("{message_id}-2"),
        )
        .await
        .unwrap();
    assert!(!next.duplicate, "a new id is applied");
    assert_eq!(next.status, "completed");
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub async fn stored_keys_are_found_until_revoked(backend: Backend) {
    let store = backend.store().await;
    let client_key = hash(&format!("client-key-{}", new_job_id()));
    let operator_key = hash(&format!("operator-key-{}", new_job_id()));
    let created = store
        .create_api_key(&NewApiKey {
            key_hash: client_key.clone(),
            client_id: "acme".into(),
            label: "acme's importer".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        (created.client_id.as_str(), created.revoked_at.as_deref()),
        ("acme", None)
    );
    store
        .create_api_key(&NewApiKey {
            key_hash: operator_key.clone(),
            client_id: "*".into(),
            label: "operator".into(),
        })
        .await
        .unwrap();

    assert_eq!(
        store.api_key_scope(&client_key).await.unwrap(),
        Some(ClientScope::Client("acme".into()))
    );
    assert_eq!(
        store.api_key_scope(&operator_key).await.unwrap(),
        Some(ClientScope::AllClients)
    );
    assert_eq!(store.api_key_scope(&hash("unknown")).await.unwrap(), None);
    let listed = store.api_keys().await.unwrap();
    assert!(listed
        .iter()
        .any(|k| k.key_hash == client_key && k.label == "acme's importer"));

    assert!(store.revoke_api_key(&client_key).await.unwrap());
    assert_eq!(store.api_key_scope(&client_key).await.unwrap(), None);
    assert!(
        !store.revoke_api_key(&client_key).await.unwrap(),
        "already revoked"
    );
    let listed = store.api_keys().await.unwrap();
    let revoked = listed.iter().find(|k| k.key_hash == client_key).unwrap();
    assert!(revoked.revoked_at.is_some());
}
