//! The one loop that repeats a request, and the one rule for the wait
//! between two attempts.

use std::{future::Future, time::Duration};

use super::{classify::Verdict, server_wait, Plane, RetryPolicy};

/// Runs `attempt(0)`, `attempt(1)`, … until one is final, the plane's
/// attempts are spent, or the server asks for a wait past the cap; returns
/// the last attempt's value. Each attempt returns its value and the
/// plane's [`Verdict`] on it; between two attempts this is the only sleep.
pub(crate) async fn run<T, F, Fut>(policy: &RetryPolicy, plane: Plane, mut attempt: F) -> T
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = (T, Verdict)>,
{
    let mut tried = 0;
    loop {
        let (value, verdict) = attempt(tried).await;
        tried += 1;
        let Some(delay) = wait(policy, plane, tried, verdict) else {
            return value;
        };
        tracing::debug!(
            plane = ?plane,
            attempt = tried,
            delay_ms = delay.as_millis() as u64,
            "retrying"
        );
        // Boxed: a rare state that would otherwise enlarge every call's future.
        Box::pin(tokio::time::sleep(delay)).await;
    }
}

/// The wait before the next attempt after `tried` attempts ended with
/// `verdict`, or `None` when there is none: the verdict is final, the
/// attempts are spent, or the server asked for more than
/// [`super::MAX_SERVER_WAIT`] (the value travels in the returned error).
/// The server's wait is a floor on the backoff (§8: "if that is longer").
pub(crate) fn wait(
    policy: &RetryPolicy,
    plane: Plane,
    tried: u32,
    verdict: Verdict,
) -> Option<Duration> {
    let Verdict::Again { server } = verdict else {
        return None;
    };
    if tried >= plane.attempts(policy) {
        return None;
    }
    server_wait(server).at_least(policy.backoff(tried.saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn fixed(step: Duration) -> RetryPolicy {
        RetryPolicy::default().base_delay(step).max_delay(step)
    }

    fn again(server: Option<Duration>) -> Verdict {
        Verdict::Again { server }
    }

    #[test]
    fn the_servers_wait_is_a_floor_up_to_the_cap() {
        let p = fixed(2 * SECOND);
        // Our step is 1–2 s; the server's 45 s wins, its 0 s does not.
        assert_eq!(
            wait(&p, Plane::Api, 1, again(Some(45 * SECOND))),
            Some(45 * SECOND)
        );
        let ours = wait(&p, Plane::Api, 1, again(Some(Duration::ZERO))).unwrap();
        assert!(ours >= SECOND && ours <= 2 * SECOND, "{ours:?}");
        assert_eq!(
            wait(&p, Plane::Api, 1, again(Some(60 * SECOND))),
            Some(60 * SECOND)
        );
        assert_eq!(wait(&p, Plane::Api, 1, again(Some(61 * SECOND))), None);
        assert_eq!(wait(&p, Plane::Api, 1, again(Some(86_400 * SECOND))), None);
    }

    #[test]
    fn nothing_is_waited_after_a_final_verdict_or_the_last_attempt() {
        let p = fixed(SECOND);
        assert_eq!(wait(&p, Plane::DatasetFile, 1, Verdict::Done), None);
        assert!(wait(&p, Plane::DatasetFile, 7, again(None)).is_some());
        assert_eq!(wait(&p, Plane::DatasetFile, 8, again(None)), None);
        assert!(wait(&p, Plane::Fleet, 2, again(None)).is_some());
        assert_eq!(wait(&p, Plane::Fleet, 3, again(None)), None);
        assert_eq!(wait(&p.max_retries(0), Plane::Api, 1, again(None)), None);
    }

    /// Runs a loop whose attempts always ask for another, and returns how
    /// many attempts were made and how long (paused time) it took.
    async fn spent(policy: RetryPolicy, plane: Plane, server: Option<Duration>) -> (u32, Duration) {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let last = run(&policy, plane, |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { (n, again(server)) }
        })
        .await;
        assert_eq!(
            last + 1,
            calls.load(Ordering::SeqCst),
            "returns the last value"
        );
        (calls.load(Ordering::SeqCst), started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn each_plane_gets_its_attempts_and_sleeps_between_them_only() {
        let p = fixed(SECOND);
        let (calls, took) = spent(p, Plane::DatasetFile, None).await;
        assert_eq!(calls, 8);
        // Seven waits of ½–1 s each.
        assert!(took >= 7 * SECOND / 2 && took <= 7 * SECOND, "{took:?}");
        assert_eq!(spent(p, Plane::Fleet, None).await.0, 3);
        assert_eq!(spent(p, Plane::Resolver, None).await.0, 4);
        assert_eq!(spent(p.max_retries(5), Plane::Api, None).await.0, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_servers_wait_is_honoured_and_one_past_the_cap_ends_the_loop() {
        let (calls, took) = spent(fixed(SECOND), Plane::Fleet, Some(10 * SECOND)).await;
        assert_eq!((calls, took), (3, 20 * SECOND));
        let (calls, took) = spent(fixed(SECOND), Plane::Fleet, Some(61 * SECOND)).await;
        assert_eq!((calls, took), (1, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_answer_is_returned_at_once() {
        let started = tokio::time::Instant::now();
        let value = run(
            &fixed(SECOND),
            Plane::Api,
            |n| async move { (n, Verdict::Done) },
        )
        .await;
        assert_eq!((value, started.elapsed()), (0, Duration::ZERO));
    }
}
