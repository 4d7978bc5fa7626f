//! The background pruner: keeps each job's ended executions in the store
//! within the job's [`Retention`] (its `keep` and `keep_last`).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::events;
use crate::execution::Retention;
use crate::model::clock::Clock;
use crate::store::Store;

/// Spawns the task that prunes each of `jobs` by its own retention: a round
/// as soon as it runs, then a round every `every` (counted from the end of
/// the previous round, so rounds never pile up), until `stop` fires.
///
/// The jobs are pruned one at a time, each in the store's batches, so the
/// store keeps recording fires meanwhile; the task yields between jobs. A
/// failed prune is logged (`store_prune_failed`) and the round goes on with
/// the next job; the failed one is tried again at the next round. The wall
/// clock `clock` gives each prune's "now".
pub(crate) fn spawn_pruner(
    store: Arc<dyn Store>,
    jobs: Vec<(Arc<str>, Retention)>,
    clock: Clock,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            for (job, retention) in &jobs {
                if stop.is_cancelled() {
                    return;
                }
                let pruned = tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    pruned = store.prune(job, *retention, clock.now()) => pruned,
                };
                if let Err(error) = pruned {
                    events::store_prune_failed(job, &error.to_string());
                }
                tokio::task::yield_now().await;
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::execution::{Cause, Execution, ExecutionFilter, ExecutionId, ExecutionState};
    use crate::store::{
        Change, JobTotals, MemoryStore, NewExecution, Recorder, Recovered, Rescue, ScheduleRow,
        StoreError, StoreFuture,
    };

    const HOUR: Duration = Duration::from_secs(3600);
    const MINUTE: Duration = Duration::from_secs(60);
    const MILLI: Duration = Duration::from_millis(1);

    /// The wall clock's start in these tests.
    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// Records an execution of `job` due at `fire_at` that has ended.
    fn ended(store: &dyn Store, job: &str, fire_at: SystemTime) -> ExecutionId {
        let id = store.next_id();
        let recorder = store.recorder(job, "host");
        recorder.record(Change::Started(NewExecution {
            id,
            fire_at,
            cause: Cause::Schedule,
            started_at: Some(fire_at),
        }));
        recorder.record(Change::Finished {
            id,
            state: ExecutionState::Succeeded,
            at: fire_at,
        });
        id
    }

    /// The ids of `job`'s executions, oldest first.
    async fn kept(store: &dyn Store, job: &str) -> Vec<ExecutionId> {
        let filter = ExecutionFilter::new().job(job).oldest_first().unlimited();
        let found = store.executions(filter).await.unwrap();
        found.iter().map(|execution| execution.id).collect()
    }

    fn retention(keep_for: Duration, keep_last: usize) -> Retention {
        Retention {
            keep_for,
            keep_last,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_job_is_pruned_by_its_own_retention_at_once_and_then_every_period() {
        let clock = Clock::starting_at(start());
        let store = Arc::new(MemoryStore::new());
        let old = ended(&*store, "hourly", start() - 2 * HOUR);
        // Exactly one hour old at the second round: its last moment kept.
        let recent = ended(&*store, "hourly", start() - 50 * MINUTE - MILLI);
        let counted: Vec<ExecutionId> = (1..=3)
            .map(|minutes| ended(&*store, "counted", start() - minutes * MINUTE))
            .collect();
        let unlisted = ended(&*store, "unlisted", start() - 30 * 24 * HOUR);
        let stop = CancellationToken::new();
        let pruner = spawn_pruner(
            store.clone(),
            vec![
                ("hourly".into(), retention(HOUR, 1_000)),
                ("counted".into(), retention(Retention::DEFAULT_KEEP_FOR, 2)),
            ],
            clock,
            10 * MINUTE,
            stop.clone(),
        );

        // The first round, as soon as the task runs.
        tokio::time::sleep(MILLI).await;
        assert_eq!(kept(&*store, "hourly").await, [recent]);
        assert_eq!(store.execution(old).await.unwrap(), None);
        // By id, newest last: the two newest are the two most recent ids.
        assert_eq!(kept(&*store, "counted").await, [counted[1], counted[2]]);
        assert_eq!(kept(&*store, "unlisted").await, [unlisted], "not its job");

        // The second round comes `every` after the first, not before.
        tokio::time::sleep(10 * MINUTE - 2 * MILLI).await;
        assert_eq!(kept(&*store, "hourly").await, [recent]);
        tokio::time::sleep(2 * MILLI).await;
        assert_eq!(kept(&*store, "hourly").await, []);

        stop.cancel();
        pruner.await.unwrap();
        // Stopped: no round runs any more.
        let late = ended(&*store, "hourly", start() - 2 * HOUR);
        tokio::time::sleep(HOUR).await;
        assert_eq!(kept(&*store, "hourly").await, [late]);
    }

    /// A store whose prune of `broken` fails; everything else goes to a
    /// memory store.
    struct Failing {
        inner: MemoryStore,
        pruned: Mutex<Vec<String>>,
    }

    impl Store for Failing {
        fn recover<'a>(
            &'a self,
            now: SystemTime,
            instance: &'a str,
            jobs: &'a [Rescue],
        ) -> StoreFuture<'a, Recovered> {
            self.inner.recover(now, instance, jobs)
        }
        fn next_id(&self) -> ExecutionId {
            self.inner.next_id()
        }
        fn recorder(&self, job: &str, instance: &str) -> Arc<dyn Recorder> {
            self.inner.recorder(job, instance)
        }
        fn flush(&self) -> StoreFuture<'_, ()> {
            self.inner.flush()
        }
        fn register(&self, rows: Vec<ScheduleRow>) -> StoreFuture<'_, Vec<ScheduleRow>> {
            self.inner.register(rows)
        }
        fn schedules(&self) -> StoreFuture<'_, Vec<ScheduleRow>> {
            self.inner.schedules()
        }
        fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Execution>> {
            self.inner.executions(filter)
        }
        fn execution(&self, id: ExecutionId) -> StoreFuture<'_, Option<Execution>> {
            self.inner.execution(id)
        }
        fn last_completed_at<'a>(&'a self, job: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
            self.inner.last_completed_at(job)
        }
        fn totals<'a>(&'a self, job: &'a str) -> StoreFuture<'a, JobTotals> {
            self.inner.totals(job)
        }
        fn prune<'a>(
            &'a self,
            job: &'a str,
            retention: Retention,
            now: SystemTime,
        ) -> StoreFuture<'a, u64> {
            self.pruned.lock().unwrap().push(job.to_owned());
            if job == "broken" {
                return Box::pin(std::future::ready(Err(StoreError::Closed {
                    url: "memory".into(),
                })));
            }
            self.inner.prune(job, retention, now)
        }
    }

    /// Where the captured log lines go.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_prune_is_logged_and_the_round_goes_on() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let store = Arc::new(Failing {
            inner: MemoryStore::new(),
            pruned: Mutex::new(Vec::new()),
        });
        ended(&*store, "broken", start() - 2 * HOUR);
        ended(&*store, "fine", start() - 2 * HOUR);
        let stop = CancellationToken::new();
        let pruner = spawn_pruner(
            store.clone(),
            vec![
                ("broken".into(), retention(HOUR, 1_000)),
                ("fine".into(), retention(HOUR, 1_000)),
            ],
            Clock::starting_at(start()),
            MINUTE,
            stop.clone(),
        );
        tokio::time::sleep(MINUTE + MILLI).await;
        assert_eq!(
            *store.pruned.lock().unwrap(),
            ["broken", "fine", "broken", "fine"],
            "two rounds, each job in turn"
        );
        assert_eq!(kept(&*store, "fine").await, []);
        assert_eq!(kept(&*store, "broken").await.len(), 1);
        stop.cancel();
        pruner.await.unwrap();

        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let failures: Vec<&str> = text
            .lines()
            .filter(|line| line.contains(r#""operation":"store_prune_failed""#))
            .collect();
        assert_eq!(failures.len(), 2, "{text}");
        assert!(failures[0].contains(r#""job_name":"broken""#), "{text}");
        assert!(failures[0].contains(r#""level":"WARN""#), "{text}");
        assert!(
            failures[0].contains(r#""error":"job store \"memory\": the store is closed"#),
            "{text}"
        );
    }
}
