//! Transfers in flight, a bounded number at a time, and how they stop:
//! after the first failure no new transfer starts, but those already
//! running are let finish, so that what storage accepted is counted and
//! recorded (a resume then skips it) instead of abandoned mid-request.

use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
};

use futures::StreamExt;

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
    mut done: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let failed = AtomicBool::new(false);
    let mut running = futures::stream::iter(0..count)
        .take_while(|_| std::future::ready(!failed.load(Ordering::SeqCst)))
        .map(start)
        .buffer_unordered(in_flight.max(1));
    let mut first = None;
    while let Some(result) = running.next().await {
        if let Err(e) = result.and_then(&mut done) {
            failed.store(true, Ordering::SeqCst);
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
}
