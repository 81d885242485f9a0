//! Facts about a bucket learnt once per warm instance (its region, whether it has Object Lock,
//! whether its ACLs are disabled). The records that ask at once, the first ones of a batch or
//! of a backfill, share one lookup: they wait for the first asker's answer rather than each
//! sending the same request.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::error::ReplicationError;

type Cell<V> = Arc<OnceCell<Result<V, ReplicationError>>>;

/// One fact per key. A lookup that succeeded is kept; one that failed is the answer of every
/// asker that waited on it, and the next asker looks again.
pub(super) struct Learnt<K, V>(Mutex<HashMap<K, Cell<V>>>);

impl<K, V> Default for Learnt<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Learnt<K, V> {
    /// The fact for `key`: known, being looked up by another asker, or looked up by `lookup`.
    pub(super) async fn get<F, Fut>(&self, key: &K, lookup: F) -> Result<V, ReplicationError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ReplicationError>>,
    {
        let cell = self.cells().entry(key.clone()).or_default().clone();
        let answer = cell.get_or_init(lookup).await.clone();
        if answer.is_err() {
            let mut cells = self.cells();
            if cells.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                cells.remove(key);
            }
        }
        answer
    }

    fn cells(&self) -> std::sync::MutexGuard<'_, HashMap<K, Cell<V>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use futures::future::join_all;

    async fn slow_lookup(
        calls: &AtomicU32,
        answer: Result<bool, ReplicationError>,
    ) -> Result<bool, ReplicationError> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer
    }

    #[tokio::test]
    async fn askers_at_once_share_one_lookup() {
        let learnt = Learnt::<String, bool>::default();
        let calls = AtomicU32::new(0);
        let key = "bucket".to_owned();
        let answers =
            join_all((0..8).map(|_| learnt.get(&key, || slow_lookup(&calls, Ok(true))))).await;
        assert!(answers.iter().all(|a| *a == Ok(true)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Kept: a later asker sends nothing.
        assert_eq!(
            learnt.get(&key, || slow_lookup(&calls, Ok(false))).await,
            Ok(true)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_lookup_answers_its_waiters_and_the_next_asker_looks_again() {
        let learnt = Learnt::<String, bool>::default();
        let calls = AtomicU32::new(0);
        let key = "bucket".to_owned();
        let denied = ReplicationError::NotConverged("denied".to_owned());
        let answers =
            join_all((0..8).map(|_| learnt.get(&key, || slow_lookup(&calls, Err(denied.clone())))))
                .await;
        assert!(answers.iter().all(|a| *a == Err(denied.clone())));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            learnt.get(&key, || slow_lookup(&calls, Ok(false))).await,
            Ok(false)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Other keys are looked up on their own.
        let other = "other".to_owned();
        assert_eq!(
            learnt.get(&other, || slow_lookup(&calls, Ok(true))).await,
            Ok(true)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
