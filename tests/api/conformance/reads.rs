//! Reads: client scoping, keyset pages of results, and the schema check.

use rosetta_webhook::config::ClientScope;
use serde_json::json;

use super::{ingest, uuid, Backend};
use crate::support::{awkward_product_ids, new_job_id, results_for, webhook};

pub async fn reads_are_scoped_to_the_client(backend: Backend) {
    let store = backend.store().await;
    let acme_job = new_job_id();
    let mut body = webhook(&acme_job, "completed", 1);
    body["client_id"] = json!("acme");
    ingest(&store, &body).await;
    let clientless_job = new_job_id();
    ingest(&store, &webhook(&clientless_job, "completed", 1)).await;

    let acme = ClientScope::Client("acme".into());
    let globex = ClientScope::Client("globex".into());
    let read = |job_id: &str, scope: &ClientScope| {
        let store = store.clone();
        let (job_id, scope) = (uuid(job_id), scope.clone());
        async move { store.job(job_id, &scope).await.unwrap() }
    };
    let own = read(&acme_job, &acme)
        .await
        .expect("the owner reads its job");
    assert_eq!(own.job_id, uuid(&acme_job));
    assert!(
        read(&acme_job, &globex).await.is_none(),
        "another client's job is None"
    );
    assert!(
        read(&clientless_job, &acme).await.is_none(),
        "no client: wildcard keys only"
    );
    assert!(read(&acme_job, &ClientScope::AllClients).await.is_some());
    assert!(read(&clientless_job, &ClientScope::AllClients)
        .await
        .is_some());
    assert!(read(&new_job_id(), &ClientScope::AllClients)
        .await
        .is_none());
}

pub async fn pages_return_every_result_exactly_once_in_byte_order(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let ids = awkward_product_ids(23);
    let results = results_for(&ids);
    ingest(
        &store,
        &json!({"job_id": job_id, "status": "completed", "results": results}),
    )
    .await;

    let mut seen: Vec<String> = Vec::new();
    let mut pages = 0;
    loop {
        let page = store
            .results_page(uuid(&job_id), seen.last().map(String::as_str), 5)
            .await
            .unwrap();
        assert!(page.len() <= 5);
        pages += 1;
        let last_page = page.len() < 5;
        seen.extend(page.into_iter().map(|r| r.product_id));
        if last_page {
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 5);
    // Byte order (upper case before lower, ASCII before "ï"): SQLite's
    // BINARY collation, and PostgreSQL's in the tests' C.UTF-8 databases.
    // Other PostgreSQL collations order differently (README: "Design choices").
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected, "every result once, in byte order");

    let one = store.results_page(uuid(&job_id), None, 0).await.unwrap();
    assert_eq!(
        one.len(),
        1,
        "a limit of 0 reads one, as PostgREST is asked"
    );
    let past_the_end = store
        .results_page(uuid(&job_id), Some(expected.last().unwrap()), 5)
        .await
        .unwrap();
    assert!(past_the_end.is_empty());
}

pub async fn the_schema_is_complete(backend: Backend) {
    let store = backend.store().await;
    store.check_ready().await.expect("ready");
    assert_eq!(store.schema_problems().await.unwrap(), Vec::<String>::new());
}
