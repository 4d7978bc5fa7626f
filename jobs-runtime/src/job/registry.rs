//! The jobs `#[job]` registers at link time, collected with `inventory`.

use std::sync::Arc;

use crate::job::extract::{JobParam, StateMap};
use crate::job::runnable::{FnJob, IntoJobResult, Render, Runnable};
use crate::model::spec::Location;
use crate::{Error, JobContext, JobSpec};

/// One `#[job]` function, as the attribute describes it.
pub struct Registration {
    spec: fn() -> JobSpec,
    location: Location,
    bind: BindFn,
}

/// Resolves a job's parameters against the provided states and builds the
/// runnable job; `None` when a parameter could not be resolved (the binder
/// holds the problems).
pub type BindFn = fn(&mut Binder<'_>) -> Option<BoundJob>;

inventory::collect!(Registration);

impl Registration {
    /// Describes one `#[job]` function: `spec` builds its spec (with the
    /// public `JobSpec` builder), `bind` resolves its parameters.
    pub const fn new(spec: fn() -> JobSpec, location: Location, bind: BindFn) -> Self {
        Registration {
            spec,
            location,
            bind,
        }
    }

    pub(crate) fn spec(&self) -> JobSpec {
        (self.spec)()
    }

    pub(crate) fn location(&self) -> Location {
        self.location
    }

    /// Binds the job's parameters; on failure, the problems are added to
    /// `problems`.
    pub(crate) fn bind(
        &self,
        states: &StateMap,
        problems: &mut Vec<Error>,
    ) -> Option<Arc<dyn Runnable>> {
        let spec = self.spec();
        let mut binder = Binder {
            states,
            job: spec.name(),
            location: self.location,
            problems,
        };
        (self.bind)(&mut binder).map(|bound| bound.0)
    }
}

/// Every `#[job]` linked into the binary.
pub(crate) fn discovered() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}

/// Resolves the parameters of one `#[job]` function.
pub struct Binder<'a> {
    states: &'a StateMap,
    job: &'a str,
    location: Location,
    problems: &'a mut Vec<Error>,
}

impl Binder<'_> {
    /// Prepares one parameter; records a problem and returns `None` when its
    /// dependency is missing.
    pub fn param<T: JobParam>(&mut self) -> Option<T::Prepared> {
        match T::prepare(self.states) {
            Ok(prepared) => Some(prepared),
            Err(missing) => {
                self.problems.push(Error::MissingState {
                    job: self.job.to_owned(),
                    location: self.location,
                    type_name: missing.0,
                });
                None
            }
        }
    }
}

/// A `#[job]` function with its parameters bound.
pub struct BoundJob(Arc<dyn Runnable>);

impl BoundJob {
    /// Wraps the closure that extracts the parameters and calls the
    /// function, and the way its errors are rendered.
    pub fn from_fn<F, Fut, R, K>(call: F, render: K) -> Self
    where
        F: Fn(&JobContext) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoJobResult,
        K: Render<R>,
    {
        BoundJob(Arc::new(FnJob { call, render }))
    }
}
