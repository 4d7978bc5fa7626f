//! [`NullStore`]: what a manager records into when no store was set: only
//! execution ids, nothing kept.

use std::future::ready;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::{Change, JobTotals, Recorder, Recovered, Rescue, ScheduleRow, Store, StoreFuture};
use crate::execution::{Execution, ExecutionFilter, ExecutionId, Retention};

/// A store that keeps nothing: a manager's default, so that a process
/// without a database pays for no history on the path of a fire. Its stats
/// still count every execution; history needs a
/// [`MemoryStore`](super::MemoryStore) or a database.
#[derive(Debug, Default)]
pub(crate) struct NullStore {
    last_id: AtomicI64,
}

/// The recorder of every job of a [`NullStore`]: it records nothing.
struct Discard;

impl Recorder for Discard {
    fn record(&self, _change: Change) {}
}

impl Store for NullStore {
    fn recover<'a>(
        &'a self,
        _now: SystemTime,
        _instance: &'a str,
        _jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Recovered> {
        Box::pin(ready(Ok(Recovered::default())))
    }

    fn next_id(&self) -> ExecutionId {
        ExecutionId(self.last_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn recorder(&self, _job: &str, _instance: &str) -> Arc<dyn Recorder> {
        static DISCARD: OnceLock<Arc<dyn Recorder>> = OnceLock::new();
        Arc::clone(DISCARD.get_or_init(|| Arc::new(Discard)))
    }

    fn keeps(&self) -> bool {
        false
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(ready(Ok(())))
    }

    fn register(&self, _rows: Vec<ScheduleRow>) -> StoreFuture<'_, Vec<ScheduleRow>> {
        Box::pin(ready(Ok(Vec::new())))
    }

    fn schedules(&self) -> StoreFuture<'_, Vec<ScheduleRow>> {
        Box::pin(ready(Ok(Vec::new())))
    }

    fn executions(&self, _filter: ExecutionFilter) -> StoreFuture<'_, Vec<Execution>> {
        Box::pin(ready(Ok(Vec::new())))
    }

    fn execution(&self, _id: ExecutionId) -> StoreFuture<'_, Option<Execution>> {
        Box::pin(ready(Ok(None)))
    }

    fn last_completed_at<'a>(&'a self, _job: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        Box::pin(ready(Ok(None)))
    }

    fn totals<'a>(&'a self, _job: &'a str) -> StoreFuture<'a, JobTotals> {
        Box::pin(ready(Ok(JobTotals::default())))
    }

    fn prune<'a>(
        &'a self,
        _job: &'a str,
        _retention: Retention,
        _now: SystemTime,
    ) -> StoreFuture<'a, u64> {
        Box::pin(ready(Ok(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::Cause;
    use crate::store::NewExecution;

    #[tokio::test]
    async fn it_gives_ids_and_keeps_nothing() {
        let store = NullStore::default();
        let id = store.next_id();
        assert!(store.next_id() > id);
        store
            .recorder("digest", "host")
            .record(Change::Started(NewExecution {
                id,
                fire_at: SystemTime::UNIX_EPOCH,
                cause: Cause::Trigger,
                started_at: Some(SystemTime::UNIX_EPOCH),
            }));
        assert_eq!(store.executions(ExecutionFilter::new()).await.unwrap(), []);
        assert_eq!(store.execution(id).await.unwrap(), None);
    }
}
