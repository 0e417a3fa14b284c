//! Waiting for long-running jobs (protocol §10): an export until it is
//! `exported`, `completed` or `failed`, a dataset until it reaches a status.
//!
//! ```no_run
//! # async fn demo(client: avala::Client) -> avala::Result<()> {
//! use std::time::Duration;
//! let export = client
//!     .wait_for_export("exp_123")
//!     .interval(Duration::from_secs(5))
//!     .timeout(Duration::from_secs(600))
//!     .send()
//!     .await?;
//! println!("{:?}", export.status);
//! # Ok(()) }
//! ```
//!
//! Each poll is one `GET` through the client, so transient failures are
//! retried as for any other call; an error that remains ends the wait. The
//! wait ends with [`crate::Error::WaitTimeout`] at the
//! latest one interval after its timeout, even when a poll hangs.

use std::{fmt, time::Duration};

use tokio::time::Instant;

use crate::{types, Client, Error, Result};

/// Export: default interval, its minimum, default timeout (py `exports.wait`).
const EXPORT_TIMING: Timing = Timing {
    interval: Duration::from_secs(2),
    min_interval: Duration::from_millis(500),
    timeout: Duration::from_secs(300),
};

/// Dataset: default interval, its minimum, default timeout (py `datasets.wait`).
const DATASET_TIMING: Timing = Timing {
    interval: Duration::from_secs(10),
    min_interval: Duration::from_secs(1),
    timeout: Duration::from_secs(3600),
};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) interval: Duration,
    pub(crate) min_interval: Duration,
    pub(crate) timeout: Duration,
}

impl Timing {
    /// The interval actually slept: never below the minimum.
    fn effective_interval(&self) -> Duration {
        self.interval.max(self.min_interval)
    }
}

/// Called after every poll that did not end the wait, with what it saw.
pub(crate) type OnPoll<'a, T> = Box<dyn FnMut(&T) + Send + 'a>;

impl Client {
    /// Polls `GET /exports/{uid}/` until the export's status is `exported`,
    /// `completed` or `failed`, and returns it (a failed export is returned,
    /// not an error). `completed` also ends the wait: the API reports
    /// finished exports that way too (Python's wait would poll on until
    /// its timeout). Defaults: every 2 s (at least 0.5 s), for up to 300 s.
    pub fn wait_for_export(&self, uid: impl Into<String>) -> WaitForExport<'_> {
        WaitForExport {
            client: self,
            uid: uid.into(),
            timing: EXPORT_TIMING,
            on_poll: None,
        }
    }

    /// Polls `GET /datasets/{uid}/` until the dataset's status is the target
    /// ([`WaitForDataset::status`], default `created`), and returns it. It
    /// does not stop early on another status. Defaults: every 10 s (at
    /// least 1 s), for up to 3600 s.
    pub fn wait_for_dataset(&self, uid: impl Into<String>) -> WaitForDataset<'_> {
        WaitForDataset {
            client: self,
            uid: uid.into(),
            status: types::DatasetStatus::Created,
            timing: DATASET_TIMING,
            on_poll: None,
        }
    }
}

/// A wait for an export; see [`Client::wait_for_export`].
pub struct WaitForExport<'a> {
    client: &'a Client,
    uid: String,
    timing: Timing,
    on_poll: Option<OnPoll<'a, types::Export>>,
}

/// A wait for a dataset; see [`Client::wait_for_dataset`].
pub struct WaitForDataset<'a> {
    client: &'a Client,
    uid: String,
    status: types::DatasetStatus,
    timing: Timing,
    on_poll: Option<OnPoll<'a, types::Dataset>>,
}

impl<'a> WaitForExport<'a> {
    /// Time between polls; values below 0.5 s count as 0.5 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.timing.interval = interval;
        self
    }

    /// How long to wait in all; `Duration::ZERO` polls once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timing.timeout = timeout;
        self
    }

    /// Calls `f` with the export after every poll that did not end the wait.
    pub fn on_poll<F: FnMut(&types::Export) + Send + 'a>(mut self, f: F) -> Self {
        self.on_poll = Some(Box::new(f));
        self
    }

    /// Polls until the export is `exported`, `completed` or `failed`.
    pub async fn send(self) -> Result<types::Export> {
        let Self {
            client,
            uid,
            timing,
            on_poll,
        } = self;
        poll(
            timing,
            || async {
                Ok(client
                    .get_export()
                    .uid(uid.as_str())
                    .send()
                    .await?
                    .into_inner())
            },
            |export: &types::Export| {
                matches!(
                    export.status,
                    Some(
                        types::ExportStatus::Exported
                            | types::ExportStatus::Completed
                            | types::ExportStatus::Failed
                    )
                )
            },
            |export| export.status.as_ref().map(|s| s.as_str().to_owned()),
            on_poll,
        )
        .await
    }
}

impl<'a> WaitForDataset<'a> {
    /// The status to wait for (default `created`).
    pub fn status(mut self, status: types::DatasetStatus) -> Self {
        self.status = status;
        self
    }

    /// Time between polls; values below 1 s count as 1 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.timing.interval = interval;
        self
    }

    /// How long to wait in all; `Duration::ZERO` polls once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timing.timeout = timeout;
        self
    }

    /// Calls `f` with the dataset after every poll that did not end the wait.
    pub fn on_poll<F: FnMut(&types::Dataset) + Send + 'a>(mut self, f: F) -> Self {
        self.on_poll = Some(Box::new(f));
        self
    }

    /// Polls until the dataset has the target status.
    pub async fn send(self) -> Result<types::Dataset> {
        let Self {
            client,
            uid,
            status,
            timing,
            on_poll,
        } = self;
        poll(
            timing,
            || async {
                Ok(client
                    .get_dataset()
                    .uid(uid.as_str())
                    .send()
                    .await?
                    .into_inner())
            },
            |dataset: &types::Dataset| dataset.status.as_ref() == Some(&status),
            |dataset| dataset.status.as_ref().map(|s| s.as_str().to_owned()),
            on_poll,
        )
        .await
    }
}

/// The one polling loop of both waits.
///
/// 1. Observe (`get`). A poll still running one interval past the deadline
///    is abandoned: the wait never ends later than that.
/// 2. Done when `done` says so.
/// 3. Past the deadline: [`Error::WaitTimeout`] with the last status seen.
/// 4. Report the observation to `on_poll`, then sleep one interval, cut
///    short at the deadline so that the last observation is made there.
pub(crate) async fn poll<T, G, F>(
    timing: Timing,
    mut get: G,
    done: impl Fn(&T) -> bool,
    status_of: impl Fn(&T) -> Option<String>,
    mut on_poll: Option<OnPoll<'_, T>>,
) -> Result<T>
where
    G: FnMut() -> F,
    F: std::future::Future<Output = Result<T>>,
{
    let interval = timing.effective_interval();
    let started = Instant::now();
    let deadline = started.checked_add(timing.timeout);
    let mut last_status = None;
    loop {
        let give_up_at = deadline.and_then(|d| d.checked_add(interval));
        let observed = match give_up_at {
            Some(at) => match tokio::time::timeout_at(at, get()).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(Error::WaitTimeout {
                        waited: started.elapsed(),
                        last_status,
                    })
                }
            },
            None => get().await?,
        };
        if done(&observed) {
            return Ok(observed);
        }
        last_status = status_of(&observed);
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Err(Error::WaitTimeout {
                waited: started.elapsed(),
                last_status,
            });
        }
        if let Some(f) = on_poll.as_mut() {
            f(&observed);
        }
        let wake = match deadline {
            Some(d) => (now + interval).min(d),
            None => now + interval,
        };
        tokio::time::sleep_until(wake).await;
    }
}

impl fmt::Debug for WaitForExport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForExport")
            .field("uid", &self.uid)
            .field("interval", &self.timing.effective_interval())
            .field("timeout", &self.timing.timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WaitForDataset<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForDataset")
            .field("uid", &self.uid)
            .field("status", &self.status)
            .field("interval", &self.timing.effective_interval())
            .field("timeout", &self.timing.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_below_the_minimum_are_raised() {
        let t = Timing {
            interval: Duration::from_millis(10),
            ..EXPORT_TIMING
        };
        assert_eq!(t.effective_interval(), Duration::from_millis(500));
        let t = Timing {
            interval: Duration::from_millis(10),
            ..DATASET_TIMING
        };
        assert_eq!(t.effective_interval(), Duration::from_secs(1));
        assert_eq!(EXPORT_TIMING.effective_interval(), Duration::from_secs(2));
    }
}
