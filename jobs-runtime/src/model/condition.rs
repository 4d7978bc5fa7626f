//! Conditions: predicates checked before each run (`when = path`).

use std::fmt;
use std::future::{self, Future};
use std::pin::Pin;
use std::sync::Arc;

/// A predicate checked before each run; a run whose condition is false is
/// skipped and logged with `reason = "condition"`.
///
/// Made from a sync `fn() -> bool` or an async `fn() -> bool` (any closure of
/// either shape works too):
///
/// ```
/// use std::time::Duration;
/// use jobs_runtime::JobSpec;
///
/// fn is_leader() -> bool { true }
/// async fn queue_not_empty() -> bool { true }
///
/// let spec = JobSpec::every("drain", Duration::from_secs(10)).when(queue_not_empty);
/// let other = JobSpec::every("elect", Duration::from_secs(10)).when(is_leader);
/// ```
#[derive(Clone)]
pub struct Condition(Arc<dyn Fn() -> ConditionFuture + Send + Sync>);

/// The future a condition returns.
pub type ConditionFuture = Pin<Box<dyn Future<Output = bool> + Send>>;

impl Condition {
    /// Wraps a sync or async predicate.
    pub fn new<M, F: IntoCondition<M>>(predicate: F) -> Self {
        predicate.into_condition()
    }

    /// Evaluates the predicate.
    pub(crate) async fn holds(&self) -> bool {
        (self.0)().await
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Condition(..)")
    }
}

/// A predicate that can be a [`Condition`]: `Fn() -> bool` or
/// `Fn() -> impl Future<Output = bool>`. `M` tells the two apart.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a job condition",
    label = "not a `fn() -> bool` or an `async fn() -> bool`",
    note = "a condition takes no arguments and returns `bool`, such as `fn is_leader() -> bool` or `async fn queue_not_empty() -> bool` (whose future must be `Send`)"
)]
pub trait IntoCondition<M>: Send + Sync + 'static {
    /// Makes the condition.
    fn into_condition(self) -> Condition;
}

/// Marks a sync predicate.
#[doc(hidden)]
pub enum SyncPredicate {}

/// Marks an async predicate.
#[doc(hidden)]
pub enum AsyncPredicate {}

impl<F> IntoCondition<SyncPredicate> for F
where
    F: Fn() -> bool + Send + Sync + 'static,
{
    fn into_condition(self) -> Condition {
        Condition(Arc::new(move || Box::pin(future::ready(self()))))
    }
}

impl<F, Fut> IntoCondition<AsyncPredicate> for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    fn into_condition(self) -> Condition {
        Condition(Arc::new(move || Box::pin(self())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes() -> bool {
        true
    }

    async fn no() -> bool {
        false
    }

    #[tokio::test]
    async fn sync_and_async_predicates() {
        assert!(Condition::new(yes).holds().await);
        assert!(!Condition::new(no).holds().await);
    }
}
