//! What a job is to the code that runs it: the [`Job`] trait and the
//! object-safe form the engine calls, the [`JobContext`] an execution gets,
//! the parameters a `#[job]` function takes, and the registrations `#[job]`
//! makes at link time.

pub(crate) mod context;
pub(crate) mod extract;
pub(crate) mod panic_hook;
pub(crate) mod registry;
pub(crate) mod runnable;

pub use context::JobContext;
pub use extract::{JobParam, MissingType, State, StateMap};
pub use runnable::{BoxError, Job};
