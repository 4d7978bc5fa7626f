//! Not public API. Used by code that `#[job]` generates; may change in any
//! release.

#[doc(hidden)]
pub use ::inventory;

#[doc(hidden)]
pub use crate::extract::JobParam;
#[doc(hidden)]
pub use crate::job::IntoJobResult;
#[doc(hidden)]
pub use crate::registry::{Binder, BoundJob, Registration, StaticSpec};
#[doc(hidden)]
pub use crate::spec::Location;
#[doc(hidden)]
pub use crate::JobContext;
#[doc(hidden)]
pub use ::core::option::Option;
#[doc(hidden)]
pub use ::core::time::Duration;
