//! The panic hook the runtime installs once, at the first execution: a
//! panic inside a job execution is caught by the executor and logged with
//! its location, so the hook stays quiet about it (no text and no backtrace
//! on stderr); every other panic goes to the hook that was installed
//! before.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

thread_local! {
    /// Set while this thread runs a job's code.
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic inside a job's code on this thread happened.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook, once per process.
fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // With `panic = "abort"` nothing catches the panic: the process
            // ends, so the previous hook says why.
            let caught = cfg!(panic = "unwind") && IN_JOB.try_with(Cell::get).unwrap_or(false);
            if !caught {
                previous(info);
                return;
            }
            let location = info
                .location()
                .map(|at| format!("{}:{}:{}", at.file(), at.line(), at.column()));
            let _ = LOCATION.try_with(|last| *last.borrow_mut() = location);
        }));
    });
}

/// Marks this thread as running a job's code until dropped.
struct InJob {
    outer: bool,
}

impl InJob {
    fn enter() -> InJob {
        install();
        let outer = IN_JOB.with(|in_job| in_job.replace(true));
        if !outer {
            LOCATION.with(|last| last.borrow_mut().take());
        }
        InJob { outer }
    }
}

impl Drop for InJob {
    fn drop(&mut self) {
        IN_JOB.with(|in_job| in_job.set(self.outer));
    }
}

/// Runs `code`, a job's own code, as code whose panics the executor
/// catches.
pub(crate) fn in_job<T>(code: impl FnOnce() -> T) -> T {
    let _in_job = InJob::enter();
    code()
}

pin_project_lite::pin_project! {
    /// A job's own future, polled as code whose panics the executor
    /// catches. A struct rather than an `async fn`, which would keep the
    /// future twice.
    pub(crate) struct InJobFuture<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for InJobFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let future = self.project().future;
        in_job(|| future.poll(cx))
    }
}

/// Polls `future`, a job's own future, as code whose panics the executor
/// catches.
pub(crate) fn in_job_future<F: Future>(future: F) -> InJobFuture<F> {
    InJobFuture { future }
}

/// The location (`file:line:column`) of the panic inside a job's code that
/// was just caught on this thread, if the hook saw it.
pub(crate) fn take_location() -> Option<String> {
    LOCATION.with(|last| last.borrow_mut().take())
}
