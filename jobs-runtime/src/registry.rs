//! The jobs `#[job]` registers at link time, collected with `inventory`.

use std::sync::Arc;
use std::time::Duration;

use crate::extract::{JobParam, StateMap};
use crate::job::{FnJob, IntoJobResult, Runnable};
use crate::spec::Location;
use crate::{Error, JobContext, JobSpec, Schedule};

/// One `#[job]` function, as the attribute describes it.
pub struct Registration {
    spec: StaticSpec,
    location: Location,
    bind: BindFn,
}

/// The spec written in a `#[job(...)]` attribute, as constants.
pub struct StaticSpec {
    /// The job's name.
    pub name: &'static str,
    /// The interval.
    pub every: Duration,
    /// The environment variable that overrides the interval.
    pub env: Option<&'static str>,
    /// Whether the job runs as soon as it starts.
    pub run_on_start: bool,
    /// The execution timeout.
    pub timeout: Option<Duration>,
}

/// Resolves a job's parameters against the provided states and builds the
/// runnable job; `None` when a parameter could not be resolved (the binder
/// holds the problems).
pub type BindFn = fn(&mut Binder<'_>) -> Option<BoundJob>;

inventory::collect!(Registration);

impl Registration {
    /// Describes one `#[job]` function.
    pub const fn new(spec: StaticSpec, location: Location, bind: BindFn) -> Self {
        Registration {
            spec,
            location,
            bind,
        }
    }

    pub(crate) fn spec(&self) -> JobSpec {
        let StaticSpec {
            name,
            every,
            env,
            run_on_start,
            timeout,
        } = self.spec;
        let mut spec = JobSpec::new(name, Schedule::Every(every)).run_on_start(run_on_start);
        if let Some(env) = env {
            spec = spec.env(env);
        }
        if let Some(timeout) = timeout {
            spec = spec.timeout(timeout);
        }
        spec
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
        let mut binder = Binder {
            states,
            job: self.spec.name,
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
    /// Wraps the closure that extracts the parameters and calls the function.
    pub fn from_fn<F, Fut, R>(call: F) -> Self
    where
        F: Fn(&JobContext) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoJobResult,
    {
        BoundJob(Arc::new(FnJob(call)))
    }
}
