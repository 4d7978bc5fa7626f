//! Job parameters: the [`JobParam`] trait, [`State`] and the [`StateMap`]
//! that holds provided dependencies.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::JobContext;

/// A value a `#[job]` function can take as a parameter.
///
/// Parameters are resolved in two steps: [`prepare`](JobParam::prepare) once,
/// when the job starts (so a missing dependency stops start-up before anything
/// runs), then [`extract`](JobParam::extract) at every execution.
///
/// Implemented by [`State<T>`] and [`JobContext`]; implement it for your own
/// types to add extractors.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a `#[job]` function",
    label = "not a job parameter",
    note = "a job parameter is `State<T>` (a dependency given with `JobManager::provide` or `builder().state(...)`) or `JobContext`"
)]
pub trait JobParam: Sized {
    /// What `prepare` resolves once, at start.
    type Prepared: Send + Sync + 'static;

    /// Resolves what the parameter needs from the provided dependencies.
    ///
    /// Returns the name of the missing type when a dependency was not
    /// provided.
    fn prepare(states: &StateMap) -> Result<Self::Prepared, MissingType>;

    /// Builds the parameter for one execution.
    fn extract(prepared: &Self::Prepared, ctx: &JobContext) -> Self;
}

/// The name of a dependency that was not provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingType(pub &'static str);

/// A shared dependency, given to the manager with
/// [`JobManager::provide`](crate::JobManager::provide) or the builder's
/// [`state`](crate::Builder::state).
///
/// `State<T>` dereferences to `T`; cloning it clones an `Arc`.
///
/// ```
/// use jobs_runtime::{job, State};
///
/// struct Mailer { from: String }
///
/// #[job(every = "5m")]
/// async fn send_digest(mailer: State<Mailer>) {
///     tracing::info!(from = %mailer.from, "sending digest");
/// }
/// ```
pub struct State<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> State<T> {
    /// The shared `Arc` behind this state.
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

impl<T: Send + Sync + 'static> JobParam for State<T> {
    type Prepared = Arc<T>;

    fn prepare(states: &StateMap) -> Result<Arc<T>, MissingType> {
        states
            .get::<T>()
            .ok_or(MissingType(std::any::type_name::<T>()))
    }

    fn extract(prepared: &Arc<T>, _ctx: &JobContext) -> Self {
        State(Arc::clone(prepared))
    }
}

impl JobParam for JobContext {
    type Prepared = ();

    fn prepare(_states: &StateMap) -> Result<(), MissingType> {
        Ok(())
    }

    fn extract(_prepared: &(), ctx: &JobContext) -> Self {
        ctx.clone()
    }
}

/// The dependencies provided to a manager, one value per type.
#[derive(Default, Clone)]
pub struct StateMap {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl StateMap {
    /// Adds `value`, replacing any earlier value of the same type.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.values.insert(TypeId::of::<T>(), value);
    }

    /// The value of type `T`, if one was provided.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let value = self.values.get(&TypeId::of::<T>())?;
        Arc::clone(value).downcast::<T>().ok()
    }
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMap")
            .field("len", &self.values.len())
            .finish()
    }
}
