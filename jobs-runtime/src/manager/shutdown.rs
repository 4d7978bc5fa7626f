//! Running until a shutdown signal, then stopping: the heart of
//! [`run`](crate::run) and [`Builder::run`](crate::Builder::run).

use crate::model::abort::AbortCause;
use crate::{events, Error, JobManager};

/// Starts every job of `manager`, waits for SIGINT or SIGTERM, then stops
/// them gracefully; a second signal aborts what is still running and ends
/// the process at once (exit status 0), without waiting for the blocking
/// threads aborted runs may have left.
pub(crate) async fn run_until_signal(manager: &JobManager) -> Result<(), Error> {
    // Listen before starting, so a signal that comes during start-up is not lost.
    let started = Signals::listen().and_then(|signals| manager.start_all().map(|()| signals));
    let mut signals = started.inspect_err(events::start_failed)?;
    let signal = signals.next().await;
    events::shutdown_start(signal, manager.grace_period());
    tokio::select! {
        () = manager.stop_all() => {}
        signal = signals.next() => {
            events::shutdown_abort(signal);
            manager.abort_all_because(AbortCause::Signal(signal)).await;
            events::shutdown_complete();
            // An aborted run may have left a `spawn_blocking` thread behind
            // (dropping its future detaches the thread), which the tokio
            // runtime would wait for when `main` returns: end the process
            // now instead, as the second signal asks.
            std::process::exit(0);
        }
    }
    events::shutdown_complete();
    Ok(())
}

/// The process's shutdown signals: SIGINT and SIGTERM (Ctrl-C elsewhere).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Self, Error> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt()).map_err(Error::Signal)?,
                terminate: signal(SignalKind::terminate()).map_err(Error::Signal)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Waits for the next signal and returns its name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}
