//! What runs started jobs: the [timers](timer) that hold every job's next
//! wake-up and their [drivers](driver), the [alarm] that wakes them at the
//! instant, the [scheduler] (each started job's timing and policies), a
//! [run] (one fire, polled in a batch or on a task of its own), the
//! [executor] (one execution's attempts) and the [slots].
//!
//! The engine knows jobs through what it is given at start ([`active`]);
//! it never reaches up into the manager.

pub(crate) mod active;
pub(crate) mod alarm;
pub(crate) mod driver;
pub(crate) mod executor;
pub(crate) mod run;
pub(crate) mod scheduler;
pub(crate) mod slots;
pub(crate) mod timer;
