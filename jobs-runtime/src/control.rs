//! [`Control`]: what the manager and other jobs ask of a started job's loop.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::SystemTime;

use futures_util::task::AtomicWaker;

use crate::Schedule;

/// Requests for one job's loop: a stop, a manual trigger, an upstream
/// completion, a new schedule; and whether the job is paused.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// The loop's waker; waiting costs no lock, so the loop can wait for
    /// requests at every turn.
    waker: AtomicWaker,
    /// Whether `pending` holds requests the loop has not taken.
    signalled: AtomicBool,
    pending: Mutex<Requests>,
    paused: AtomicBool,
}

/// The requests not yet taken by the loop.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// Manual triggers since the loop last took the requests; each one is a
    /// fire of its own, so none is lost or merged with another.
    pub(crate) triggers: u32,
    /// The job is being stopped: the loop starts nothing more.
    pub(crate) stop: bool,
    pub(crate) upstream_completed_at: Option<SystemTime>,
    pub(crate) schedule: Option<Option<Schedule>>,
}

impl Control {
    fn request(&self, update: impl FnOnce(&mut Requests)) {
        update(
            &mut self
                .pending
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        );
        self.signalled.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub(crate) fn stop(&self) {
        self.request(|requests| requests.stop = true);
    }

    pub(crate) fn trigger(&self) {
        self.request(|requests| requests.triggers = requests.triggers.saturating_add(1));
    }

    pub(crate) fn upstream_completed(&self, at: SystemTime) {
        self.request(|requests| requests.upstream_completed_at = Some(at));
    }

    pub(crate) fn set_schedule(&self, schedule: Option<Schedule>) {
        self.request(|requests| requests.schedule = Some(schedule));
    }

    /// Waits for a request, then takes every pending one.
    pub(crate) async fn next(&self) -> Requests {
        poll_fn(|cx| {
            if !self.signalled.swap(false, Ordering::AcqRel) {
                self.waker.register(cx.waker());
                // A request made between the check and the registration
                // would otherwise wait for the next wake.
                if !self.signalled.swap(false, Ordering::AcqRel) {
                    return Poll::Pending;
                }
            }
            Poll::Ready(())
        })
        .await;
        self.take()
    }

    /// Takes every pending request.
    pub(crate) fn take(&self) -> Requests {
        std::mem::take(
            &mut self
                .pending
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }

    pub(crate) fn set_paused(&self, paused: bool) -> bool {
        self.paused.swap(paused, Ordering::SeqCst)
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}
