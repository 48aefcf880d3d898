//! Resolving a presented `X-Api-Key` to the jobs it may read: `API_KEYS`
//! first (in memory), then the store, through a small cache.
//!
//! The cache keeps both answers, "this key reads client X" and "no such
//! key", for `API_KEY_CACHE_TTL`. So a revoked key keeps working on an
//! instance that cached it until its entry expires, and a key used before it
//! was created is refused until then. Store failures are not cached: the
//! poll answers 503 and the next one asks again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{digest, looks_like_stored_key};
use crate::config::{ApiKeys, ClientScope};
use crate::store::{JobStore, StoreError};

/// Entries the cache holds at most; past that, expired entries are dropped,
/// and if none has expired the cache starts over. Bounds the memory a
/// stream of made-up keys can take.
pub const MAX_CACHED_KEYS: usize = 10_000;

struct Entry {
    scope: Option<ClientScope>,
    expires: Instant,
}

pub struct KeyResolver {
    configured: Arc<ApiKeys>,
    store: Arc<dyn JobStore>,
    ttl: Duration,
    cache: Mutex<HashMap<[u8; 32], Entry>>,
}

/// A key that resolved: its scope, and its digest (what rate limits key on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    pub scope: ClientScope,
    pub digest: [u8; 32],
}

impl KeyResolver {
    pub fn new(configured: Arc<ApiKeys>, store: Arc<dyn JobStore>, ttl: Duration) -> Self {
        Self {
            configured,
            store,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The scope of `presented`, or `None` when it is no valid key.
    pub async fn resolve(&self, presented: &str) -> Result<Option<ResolvedKey>, StoreError> {
        let digest = digest(presented);
        let found = |scope: ClientScope| Some(ResolvedKey { scope, digest });
        if let Some(scope) = self.configured.scope_of_digest(&digest) {
            return Ok(found(scope.clone()));
        }
        if !looks_like_stored_key(presented) {
            return Ok(None);
        }
        if let Some(cached) = self.cached(&digest) {
            return Ok(cached.and_then(found));
        }
        let scope = self.store.api_key_scope(&hex::encode(digest)).await?;
        self.remember(digest, scope.clone());
        Ok(scope.and_then(found))
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Option<ClientScope>> {
        let cache = self.cache.lock().expect("key cache lock");
        cache
            .get(digest)
            .filter(|entry| entry.expires > Instant::now())
            .map(|entry| entry.scope.clone())
    }

    fn remember(&self, digest: [u8; 32], scope: Option<ClientScope>) {
        let now = Instant::now();
        let mut cache = self.cache.lock().expect("key cache lock");
        if cache.len() >= MAX_CACHED_KEYS {
            cache.retain(|_, entry| entry.expires > now);
            if cache.len() >= MAX_CACHED_KEYS {
                cache.clear();
            }
        }
        cache.insert(
            digest,
            Entry {
                scope,
                expires: now + self.ttl,
            },
        );
    }

    /// Entries held, expired ones included (for tests).
    pub fn cached_entries(&self) -> usize {
        self.cache.lock().expect("key cache lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PostgrestConfig;
    use crate::store::PostgrestStore;

    /// A real store client whose server is not there: any lookup that
    /// reaches it fails, which shows which paths ask the store.
    fn resolver(ttl: Duration) -> KeyResolver {
        let store = PostgrestStore::new(
            &PostgrestConfig::postgrest("http://127.0.0.1:9", None),
            Duration::from_secs(2),
        );
        KeyResolver::new(
            Arc::new(ApiKeys::parse("acme:k-acme,*:k-all").unwrap()),
            Arc::new(store),
            ttl,
        )
    }

    #[tokio::test]
    async fn configured_and_misshapen_keys_never_reach_the_store() {
        let keys = resolver(Duration::from_secs(30));
        let acme = keys.resolve("k-acme").await.unwrap().unwrap();
        assert_eq!(acme.scope, ClientScope::Client("acme".into()));
        assert_eq!(acme.digest, digest("k-acme"));
        assert_eq!(
            keys.resolve("k-all").await.unwrap().unwrap().scope,
            ClientScope::AllClients
        );
        assert_eq!(keys.resolve("made-up").await.unwrap(), None);
        assert_eq!(keys.cached_entries(), 0);
        // A key of the stored shape is looked up; the store's failure is
        // reported, not cached as "no such key".
        let shaped = format!("rk_{}", "A".repeat(43));
        assert!(matches!(
            keys.resolve(&shaped).await,
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(keys.cached_entries(), 0);
    }

    #[tokio::test]
    async fn cached_answers_are_used_until_they_expire() {
        let keys = resolver(Duration::from_millis(200));
        let shaped = format!("rk_{}", "B".repeat(43));
        keys.remember(digest(&shaped), Some(ClientScope::Client("globex".into())));
        let found = keys.resolve(&shaped).await.unwrap().unwrap();
        assert_eq!(found.scope, ClientScope::Client("globex".into()));
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Expired: asked again, and the absent store answers.
        assert!(keys.resolve(&shaped).await.is_err());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let keys = resolver(Duration::from_secs(30));
        for n in 0..MAX_CACHED_KEYS + 10 {
            keys.remember(digest(&n.to_string()), None);
            assert!(keys.cached_entries() <= MAX_CACHED_KEYS);
        }
    }
}
