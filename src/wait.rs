//! Waiting for long-running jobs (protocol §10): an export, a dataset, and
//! (inside their uploads) a legacy Fleet recording's processing and a
//! managed Fleet publication.
//!
//! ```no_run
//! # async fn demo(client: avala::Client) -> avala::Result<()> {
//! use std::time::Duration;
//! let export = client
//!     .wait_for_export("exp_123")
//!     .poll_interval(Duration::from_secs(5))
//!     .timeout(Duration::from_secs(600))
//!     .send()
//!     .await?;
//! println!("{:?}", export.download_url);
//! # Ok(()) }
//! ```
//!
//! # The outcome rule
//!
//! Every wait of the SDK ends the same way:
//!
//! - `Ok(last observation)` only when the job **succeeded**: an export
//!   `exported` or `completed`, a dataset at its target status, a Fleet
//!   recording `ready` with its upload `completed`, a managed publication
//!   `succeeded`.
//! - [`Error::JobFailed`] when the job reached a **failure** state: an
//!   export `failed`, a recording in `error`, a publication `failed` (its
//!   code in the status). A dataset has no failure status.
//! - [`Error::WaitTimeout`] with the last status seen when the timeout
//!   passed first. The wait ends at the latest one poll interval after its
//!   timeout, even when a poll hangs.
//! - Any other error of a poll (after the client's own retries) ends the
//!   wait with that error.
//!
//! Upload builders that can wait take `.wait(timeout)` (not called: no
//! wait) and `.poll_interval(d)`; the waits themselves take `.timeout(d)`
//! and `.poll_interval(d)`. Each job has a floor and a cap on the interval
//! (from §10); a value outside is raised or lowered to it. No value from
//! the server chooses how long a wait sleeps.

use std::{fmt, future::Future, time::Duration};

use tokio::time::Instant;

use crate::{types, Callback, Client, Error, Result};

/// Export: py `exports.wait`'s interval and its minimum, and its timeout.
const EXPORT_PACE: Pace = Pace {
    interval: Duration::from_secs(2),
    floor: Duration::from_millis(500),
    cap: Duration::MAX,
};
const EXPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// Dataset: py `datasets.wait`'s interval and its minimum, and its timeout.
const DATASET_PACE: Pace = Pace {
    interval: Duration::from_secs(10),
    floor: Duration::from_secs(1),
    cap: Duration::MAX,
};
const DATASET_TIMEOUT: Duration = Duration::from_secs(3600);

/// How often a wait polls: `interval`, kept within `floor..=cap`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) interval: Duration,
    pub(crate) floor: Duration,
    pub(crate) cap: Duration,
}

impl Pace {
    /// The same floor and cap with another interval.
    pub(crate) fn with(self, interval: Duration) -> Self {
        Self { interval, ..self }
    }

    /// The interval actually slept: never below the floor nor above the cap.
    pub(crate) fn interval(&self) -> Duration {
        self.interval.max(self.floor).min(self.cap)
    }
}

/// What one observation says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not finished; its status, if it has one.
    Running(Option<String>),
    /// Finished well.
    Succeeded,
    /// Finished badly; its status.
    Failed(String),
}

/// The most characters of a server's status an error keeps.
const MAX_STATUS_CHARS: usize = 128;

/// A job to wait for: its name in errors, and how an observation is judged.
pub(crate) struct Job<'j, T> {
    /// Names the job in [`Error::JobFailed`], e.g. `export exp_1`.
    pub(crate) name: String,
    pub(crate) judge: &'j (dyn Fn(&T) -> Verdict + Send + Sync),
    /// The client's key, only to scrub it from the statuses errors keep.
    pub(crate) key: &'j str,
}

impl<T> Job<'_, T> {
    /// The outcome rule for a job's last observation: `Err` for a failure,
    /// else the observation (running or succeeded).
    pub(crate) fn settle(&self, seen: T) -> Result<T> {
        match (self.judge)(&seen) {
            Verdict::Failed(status) => Err(self.failed(&status)),
            _ => Ok(seen),
        }
    }

    fn failed(&self, status: &str) -> Error {
        Error::JobFailed {
            job: self.name.clone(),
            status: self.clean(status),
        }
    }

    /// A status is server text: without the key, and bounded.
    fn clean(&self, status: &str) -> String {
        crate::scrub::scrub(status, self.key)
            .chars()
            .take(MAX_STATUS_CHARS)
            .collect()
    }
}

/// The one polling loop of the SDK.
///
/// 1. Observe (`first`, when the caller already holds an observation, else
///    `observe`). A poll still running one interval past the deadline is
///    abandoned.
/// 2. Succeeded: `Ok`; failed: [`Error::JobFailed`].
/// 3. Past the deadline: [`Error::WaitTimeout`] with the last status.
/// 4. Report the observation to `on_poll`, then sleep one interval, cut
///    short at the deadline so that the last observation is made there.
pub(crate) async fn until<T, G, F>(
    job: &Job<'_, T>,
    pace: Pace,
    timeout: Duration,
    mut first: Option<T>,
    mut observe: G,
    on_poll: Option<&Callback<T>>,
) -> Result<T>
where
    G: FnMut() -> F,
    F: Future<Output = Result<T>>,
{
    let interval = pace.interval();
    let started = Instant::now();
    let deadline = started.checked_add(timeout);
    let timed_out = |last_status: Option<String>| Error::WaitTimeout {
        waited: started.elapsed(),
        last_status: last_status.map(|s| job.clean(&s)),
    };
    let mut last_status = None;
    loop {
        let seen = match first.take() {
            Some(seen) => seen,
            None => match deadline.and_then(|d| d.checked_add(interval)) {
                Some(at) => match tokio::time::timeout_at(at, observe()).await {
                    Ok(result) => result?,
                    Err(_) => return Err(timed_out(last_status)),
                },
                None => observe().await?,
            },
        };
        match (job.judge)(&seen) {
            Verdict::Succeeded => return Ok(seen),
            Verdict::Failed(status) => return Err(job.failed(&status)),
            Verdict::Running(status) => last_status = status,
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Err(timed_out(last_status));
        }
        if let Some(f) = on_poll {
            f(&seen);
        }
        let wake = now.checked_add(interval);
        let wake = match (wake, deadline) {
            (Some(w), Some(d)) => w.min(d),
            (Some(w), None) => w,
            (None, d) => d.unwrap_or(now),
        };
        tokio::time::sleep_until(wake).await;
    }
}

impl Client {
    /// Polls `GET /exports/{uid}/` until the export is `exported` or
    /// `completed` (the API reports finished exports both ways) and returns
    /// it; a `failed` export is [`Error::JobFailed`]. Defaults: every 2 s
    /// (at least 0.5 s), for up to 300 s. See the [module](self) for the
    /// outcome rule.
    pub fn wait_for_export(&self, uid: impl Into<String>) -> WaitForExport<'_> {
        WaitForExport {
            client: self,
            uid: uid.into(),
            pace: EXPORT_PACE,
            timeout: EXPORT_TIMEOUT,
            on_poll: None,
        }
    }

    /// Polls `GET /datasets/{uid}/` until the dataset's status is the target
    /// ([`WaitForDataset::status`], default `created`), and returns it. It
    /// does not stop early on another status (a dataset has no failure
    /// status). Defaults: every 10 s (at least 1 s), for up to 3600 s.
    pub fn wait_for_dataset(&self, uid: impl Into<String>) -> WaitForDataset<'_> {
        WaitForDataset {
            client: self,
            uid: uid.into(),
            status: types::DatasetStatus::Created,
            pace: DATASET_PACE,
            timeout: DATASET_TIMEOUT,
            on_poll: None,
        }
    }
}

/// A wait for an export; see [`Client::wait_for_export`].
#[must_use = "nothing is polled until `.send().await`"]
pub struct WaitForExport<'a> {
    client: &'a Client,
    uid: String,
    pace: Pace,
    timeout: Duration,
    on_poll: Option<Callback<types::Export>>,
}

/// A wait for a dataset; see [`Client::wait_for_dataset`].
#[must_use = "nothing is polled until `.send().await`"]
pub struct WaitForDataset<'a> {
    client: &'a Client,
    uid: String,
    status: types::DatasetStatus,
    pace: Pace,
    timeout: Duration,
    on_poll: Option<Callback<types::Dataset>>,
}

/// The judge of an export: `exported` and `completed` succeed, `failed`
/// fails.
pub(crate) fn export_verdict(export: &types::Export) -> Verdict {
    use types::ExportStatus as S;
    match &export.status {
        Some(S::Exported | S::Completed) => Verdict::Succeeded,
        Some(S::Failed) => Verdict::Failed(S::Failed.as_str().to_owned()),
        other => Verdict::Running(other.as_ref().map(|s| s.as_str().to_owned())),
    }
}

/// The judge of a dataset: its target status succeeds; nothing fails.
fn dataset_verdict(target: &types::DatasetStatus, dataset: &types::Dataset) -> Verdict {
    match &dataset.status {
        Some(status) if status == target => Verdict::Succeeded,
        other => Verdict::Running(other.as_ref().map(|s| s.as_str().to_owned())),
    }
}

impl WaitForExport<'_> {
    /// Time between polls; values below 0.5 s count as 0.5 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.pace.interval = interval;
        self
    }

    /// The former name of [`poll_interval`](Self::poll_interval).
    #[deprecated(note = "renamed `poll_interval`, the name every builder uses")]
    pub fn interval(self, interval: Duration) -> Self {
        self.poll_interval(interval)
    }

    /// How long to wait in all; `Duration::ZERO` polls once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls `f` with the export after every poll that did not end the wait.
    pub fn on_poll<F>(mut self, f: F) -> Self
    where
        F: Fn(&types::Export) + Send + Sync + 'static,
    {
        self.on_poll = Some(std::sync::Arc::new(f));
        self
    }

    /// Polls until the export is `exported` or `completed` (`Ok`), `failed`
    /// ([`Error::JobFailed`]) or the timeout passes
    /// ([`Error::WaitTimeout`]).
    pub async fn send(self) -> Result<types::Export> {
        let Self {
            client,
            uid,
            pace,
            timeout,
            on_poll,
        } = self;
        let job = Job {
            name: format!("export {uid}"),
            judge: &export_verdict,
            key: crate::client::api_key(client),
        };
        let observe = || async {
            let export = client.get_export().uid(uid.as_str()).send().await?;
            Ok(export.into_inner())
        };
        until(&job, pace, timeout, None, observe, on_poll.as_ref()).await
    }

    /// [`send`](Self::send), blocking the thread until the wait ends (see
    /// [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<types::Export> {
        crate::blocking::engine(self.client).run(self.send())
    }
}

impl WaitForDataset<'_> {
    /// The status to wait for (default `created`).
    pub fn status(mut self, status: types::DatasetStatus) -> Self {
        self.status = status;
        self
    }

    /// Time between polls; values below 1 s count as 1 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.pace.interval = interval;
        self
    }

    /// The former name of [`poll_interval`](Self::poll_interval).
    #[deprecated(note = "renamed `poll_interval`, the name every builder uses")]
    pub fn interval(self, interval: Duration) -> Self {
        self.poll_interval(interval)
    }

    /// How long to wait in all; `Duration::ZERO` polls once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls `f` with the dataset after every poll that did not end the wait.
    pub fn on_poll<F>(mut self, f: F) -> Self
    where
        F: Fn(&types::Dataset) + Send + Sync + 'static,
    {
        self.on_poll = Some(std::sync::Arc::new(f));
        self
    }

    /// Polls until the dataset has the target status (`Ok`) or the timeout
    /// passes ([`Error::WaitTimeout`]).
    pub async fn send(self) -> Result<types::Dataset> {
        let Self {
            client,
            uid,
            status,
            pace,
            timeout,
            on_poll,
        } = self;
        let judge = move |d: &types::Dataset| dataset_verdict(&status, d);
        let job = Job {
            name: format!("dataset {uid}"),
            judge: &judge,
            key: crate::client::api_key(client),
        };
        let observe = || async {
            let dataset = client.get_dataset().uid(uid.as_str()).send().await?;
            Ok(dataset.into_inner())
        };
        until(&job, pace, timeout, None, observe, on_poll.as_ref()).await
    }

    /// [`send`](Self::send), blocking the thread until the wait ends (see
    /// [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<types::Dataset> {
        crate::blocking::engine(self.client).run(self.send())
    }
}

impl fmt::Debug for WaitForExport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForExport")
            .field("uid", &self.uid)
            .field("poll_interval", &self.pace.interval())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WaitForDataset<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForDataset")
            .field("uid", &self.uid)
            .field("status", &self.status)
            .field("poll_interval", &self.pace.interval())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn intervals_are_kept_between_the_floor_and_the_cap() {
        let fast = Duration::from_millis(10);
        assert_eq!(
            EXPORT_PACE.with(fast).interval(),
            Duration::from_millis(500)
        );
        assert_eq!(DATASET_PACE.with(fast).interval(), Duration::from_secs(1));
        assert_eq!(EXPORT_PACE.interval(), Duration::from_secs(2));
        let capped = Pace {
            interval: Duration::MAX,
            floor: Duration::ZERO,
            cap: Duration::from_secs(10),
        };
        assert_eq!(capped.interval(), Duration::from_secs(10));
    }

    /// A job whose observations are `Running(n)` until `n` reaches `end`,
    /// then `last`.
    fn counting(end: usize, last: Verdict) -> impl Fn(&usize) -> Verdict + Send + Sync {
        move |n: &usize| {
            if *n >= end {
                last.clone()
            } else {
                Verdict::Running(Some(format!("step {n}")))
            }
        }
    }

    async fn run(
        judge: &(dyn Fn(&usize) -> Verdict + Send + Sync),
        pace: Pace,
        timeout: Duration,
        first: Option<usize>,
    ) -> (Result<usize>, usize) {
        let polls = AtomicUsize::new(0);
        let job = Job {
            name: "job j".to_owned(),
            judge,
            key: "avk_unit_test_key_0123456789",
        };
        let observe = || async { Ok(polls.fetch_add(1, Ordering::SeqCst) + 1) };
        let result = until(&job, pace, timeout, first, observe, None).await;
        (result, polls.load(Ordering::SeqCst))
    }

    const PACE: Pace = Pace {
        interval: Duration::from_secs(1),
        floor: Duration::ZERO,
        cap: Duration::MAX,
    };

    #[tokio::test(start_paused = true)]
    async fn success_is_ok_failure_is_job_failed() {
        let started = Instant::now();
        let ok = counting(3, Verdict::Succeeded);
        let (result, polls) = run(&ok, PACE, Duration::from_secs(60), None).await;
        assert_eq!((result.unwrap(), polls), (3, 3));
        assert_eq!(started.elapsed(), Duration::from_secs(2), "two intervals");

        let failed = counting(2, Verdict::Failed("broken".into()));
        let (result, polls) = run(&failed, PACE, Duration::from_secs(60), None).await;
        assert_eq!(polls, 2);
        match result {
            Err(Error::JobFailed { job, status }) => {
                assert_eq!((job.as_str(), status.as_str()), ("job j", "broken"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_ends_with_the_last_status_at_the_deadline() {
        let started = Instant::now();
        let never = counting(usize::MAX, Verdict::Succeeded);
        let (result, polls) = run(&never, PACE, Duration::from_millis(2500), None).await;
        // Polls at 0, 1, 2 and at the deadline, 2.5.
        assert_eq!(polls, 4);
        assert_eq!(started.elapsed(), Duration::from_millis(2500));
        match result {
            Err(Error::WaitTimeout {
                waited,
                last_status,
            }) => {
                assert_eq!(waited, Duration::from_millis(2500));
                assert_eq!(last_status.as_deref(), Some("step 4"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_observation_in_hand_is_judged_before_any_poll() {
        let ok = counting(5, Verdict::Succeeded);
        let (result, polls) = run(&ok, PACE, Duration::from_secs(60), Some(7)).await;
        assert_eq!((result.unwrap(), polls), (7, 0));
        // A zero timeout with an observation in hand: one look, no poll.
        let never = counting(usize::MAX, Verdict::Succeeded);
        let (result, polls) = run(&never, PACE, Duration::ZERO, Some(1)).await;
        assert!(
            matches!(result, Err(Error::WaitTimeout { .. })),
            "{result:?}"
        );
        assert_eq!(polls, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_bounds_every_sleep() {
        let started = Instant::now();
        let ok = counting(3, Verdict::Succeeded);
        let pace = Pace {
            interval: Duration::from_secs(3600),
            floor: Duration::ZERO,
            cap: Duration::from_secs(2),
        };
        let (result, _) = run(&ok, pace, Duration::from_secs(3600), None).await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(4));
    }

    #[test]
    fn settle_applies_the_outcome_rule_to_one_look() {
        let judge = counting(2, Verdict::Failed("failed (x)".into()));
        let job = Job {
            name: "publication p".into(),
            judge: &judge,
            key: "avk_unit_test_key_0123456789",
        };
        assert_eq!(job.settle(1).unwrap(), 1, "running is returned");
        let e = job.settle(2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "publication p failed; last status: failed (x)"
        );
    }
}
