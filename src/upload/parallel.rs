//! Transfers in flight, a bounded number at a time, and how they stop:
//! after the first failure no new transfer starts, but those already
//! running are let finish, so that what storage accepted is counted and
//! recorded (a resume then skips it) instead of abandoned mid-request.

use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
};

use futures::StreamExt;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Runs `start(0)`, `start(1)`, … `start(count - 1)`, at most `in_flight` at a
/// time, handing each success to `done` as it comes. Returns the first
/// error (of a transfer or of `done`) once nothing is running any more.
///
/// Items are passed by index: a closure over a reference would make the
/// caller's future unspawnable ("FnOnce is not general enough").
pub(crate) async fn each<T, E, Fut>(
    count: usize,
    in_flight: usize,
    start: impl Fn(usize) -> Fut,
    done: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    Fut: Future<Output = Result<T, E>>,
{
    each_ahead(&Slots::new(in_flight, 0), count, start, done).await
}

/// The transfer slots of [`each_ahead`]: `size` items may send at once, and
/// `ahead` more may be started (to prepare, e.g. presign) while they send.
/// After the first failure a started item gets no slot: nothing new sends.
pub(crate) struct Slots {
    permits: Semaphore,
    size: usize,
    ahead: usize,
    stopped: AtomicBool,
}

impl Slots {
    /// `size` slots (at least one) and `ahead` items prepared beyond them.
    pub(crate) fn new(size: usize, ahead: usize) -> Self {
        let size = size.max(1);
        Self {
            permits: Semaphore::new(size),
            size,
            ahead,
            stopped: AtomicBool::new(false),
        }
    }

    /// A slot to send in, held until dropped; `None` once an item failed.
    pub(crate) async fn take(&self) -> Option<SemaphorePermit<'_>> {
        // Never closed, so `acquire` fails only in theory.
        let permit = self.permits.acquire().await.ok()?;
        (!self.stopped.load(Ordering::SeqCst)).then_some(permit)
    }
}

/// [`each`] with a look-ahead: up to `slots.size + slots.ahead` items are
/// started at a time, and each takes one of the `slots.size` slots with
/// [`Slots::take`] for its sending, so the next items' preparation overlaps
/// the current ones' sending. Memory stays bounded by that number, whatever
/// `count` is.
pub(crate) async fn each_ahead<T, E, Fut>(
    slots: &Slots,
    count: usize,
    start: impl Fn(usize) -> Fut,
    mut done: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut running = futures::stream::iter(0..count)
        .take_while(|_| std::future::ready(!slots.stopped.load(Ordering::SeqCst)))
        .map(start)
        .buffer_unordered(slots.size + slots.ahead);
    let mut first = None;
    while let Some(result) = running.next().await {
        if let Err(e) = result.and_then(&mut done) {
            slots.stopped.store(true, Ordering::SeqCst);
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use std::{sync::Mutex, time::Duration};

    use super::*;

    #[tokio::test]
    async fn after_a_failure_nothing_starts_but_the_running_finish() {
        let started = Mutex::new(Vec::new());
        let mut finished = Vec::new();
        let result = each(
            10,
            3,
            |i| {
                started.lock().unwrap().push(i);
                async move {
                    // 0 fails at once; 1 and 2 are slower and still succeed.
                    tokio::time::sleep(Duration::from_millis(if i == 0 { 1 } else { 30 })).await;
                    if i == 0 {
                        Err(format!("transfer {i} failed"))
                    } else {
                        Ok(i)
                    }
                }
            },
            |i| {
                finished.push(i);
                Ok(())
            },
        )
        .await;
        assert_eq!(result, Err("transfer 0 failed".to_owned()));
        finished.sort();
        assert_eq!(finished, [1, 2], "the two in flight were let finish");
        assert_eq!(*started.lock().unwrap(), [0, 1, 2], "none started after");
    }

    #[tokio::test]
    async fn a_failing_done_stops_like_a_failing_transfer_and_all_run_otherwise() {
        let result = each(
            5,
            1,
            |i| async move { Ok::<_, String>(i) },
            |i| {
                if i == 2 {
                    Err("record failed".to_owned())
                } else {
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!(result, Err("record failed".to_owned()));
        let mut seen = Vec::new();
        each(
            5,
            2,
            |i| async move { Ok::<_, String>(i) },
            |i| {
                seen.push(i);
                Ok(())
            },
        )
        .await
        .unwrap();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn items_ahead_prepare_while_one_sends_and_get_no_slot_after_a_failure() {
        let slots = Slots::new(1, 1);
        let log = Mutex::new(Vec::new());
        let result = each_ahead(
            &slots,
            4,
            |i| {
                let (slots, log) = (&slots, &log);
                async move {
                    log.lock().unwrap().push(format!("prepare {i}"));
                    let Some(_slot) = slots.take().await else {
                        log.lock().unwrap().push(format!("stopped {i}"));
                        return Ok(());
                    };
                    log.lock().unwrap().push(format!("send {i}"));
                    // Let the item ahead run up to its `take`.
                    tokio::task::yield_now().await;
                    Err(format!("{i} failed"))
                }
            },
            |()| Ok(()),
        )
        .await;
        assert_eq!(result, Err("0 failed".to_owned()));
        assert_eq!(
            *log.lock().unwrap(),
            ["prepare 0", "send 0", "prepare 1", "stopped 1"],
            "1 was prepared while 0 sent, then got no slot; 2 never started"
        );
    }
}
