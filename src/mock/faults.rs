//! Scripted faults (answers that replace or alter the mock's normal one for
//! an operation) and scripted normal answers, for the next N requests or
//! always.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;

/// What the mock does instead of (or before) its normal answer to a request.
///
/// Register one with [`MockServer::fault`](super::MockServer::fault); it then
/// applies to every valid request of that operation until limited with
/// [`Script::times`]. A request that fails validation gets its
/// validation error and does not use up a fault. A normal answer of your
/// choosing is not a fault: script it with
/// [`MockServer::respond`](super::MockServer::respond).
///
/// ```
/// use std::time::Duration;
/// use avala::mock::Fault;
///
/// let busy = Fault::status(429).header("Retry-After", "0");
/// let slow = Fault::delay(Duration::from_secs(2));
/// let broken = Fault::status(500).json(serde_json::json!({"detail": "boom"}));
/// # let _ = (busy, slow, broken, Fault::truncated(), Fault::drop_connection());
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    pub(crate) action: Action,
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) delay: Duration,
    /// The answer leaves only once this gate is open.
    pub(crate) gate: Option<Gate>,
}

/// A gate that holds the answers of [`Fault::held`] until it is opened,
/// for tests of what a client does while a request is unanswered.
///
/// ```
/// use avala::mock::{Fault, Gate};
///
/// let gate = Gate::new();
/// let held = Fault::held(&gate);
/// // … the request arrives and waits …
/// gate.open();
/// # let _ = held;
/// ```
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::Semaphore>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(0)))
    }

    /// Lets every answer held at this gate leave, now and from now on.
    pub fn open(&self) {
        // A closed semaphore fails every acquire: the held answer goes on.
        self.0.close();
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

/// The kind of a [`Fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Answer with this status (and the fault's headers and body).
    Status(http::StatusCode),
    /// The normal answer, after the delay.
    Normal,
    /// The normal answer's head with its full `Content-Length`, half of its
    /// body, then the connection closes.
    Truncate,
    /// Close the connection before sending anything.
    Drop,
}

impl Fault {
    /// Answers with `status`, a JSON body `{"detail": "<reason phrase>"}`
    /// unless [`Fault::json`] or [`Fault::body`] sets another, and the
    /// mock's usual headers plus any added with [`Fault::header`].
    ///
    /// # Panics
    /// If `status` is not in 100..=999.
    pub fn status(status: u16) -> Self {
        let status = http::StatusCode::from_u16(status)
            .unwrap_or_else(|_| panic!("{status} is not an HTTP status"));
        Self::new(Action::Status(status))
    }

    /// The normal answer, sent after `delay` (e.g. beyond a client timeout).
    pub fn delay(delay: Duration) -> Self {
        Self::new(Action::Normal).delayed(delay)
    }

    /// The normal answer's status and headers with a `Content-Length` of the
    /// whole body, then only the first half of the body (none when it is
    /// shorter than two bytes), then the connection closes. An operation
    /// that answers 204 has no body to cut.
    pub fn truncated() -> Self {
        Self::new(Action::Truncate)
    }

    /// Closes the connection after reading the request, before any byte of
    /// a response.
    pub fn drop_connection() -> Self {
        Self::new(Action::Drop)
    }

    /// The normal answer, held until `gate` is [opened](Gate::open): the
    /// request is received (and, on a storage route, its body read and
    /// stored) first.
    pub fn held(gate: &Gate) -> Self {
        Self {
            gate: Some(gate.clone()),
            ..Self::new(Action::Normal)
        }
    }

    fn new(action: Action) -> Self {
        Self {
            action,
            headers: Vec::new(),
            body: None,
            delay: Duration::ZERO,
            gate: None,
        }
    }

    /// Gives `answer` this fault's delay and gate.
    pub(super) fn pace(&self, answer: &mut super::server::Answer) {
        answer.delay = self.delay;
        if let Some(gate) = &self.gate {
            answer.after = Some(gate.0.clone());
        }
    }

    /// Adds a response header (replacing the mock's own of that name).
    ///
    /// # Panics
    /// If `name` or `value` cannot be an HTTP header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("{name:?} is not a header name"));
        let value = http::HeaderValue::from_str(value)
            .unwrap_or_else(|_| panic!("{value:?} is not a header value"));
        self.headers.push((name, value));
        self
    }

    /// Sets a JSON response body (for [`Fault::status`] and
    /// [`Fault::truncated`]).
    pub fn json(self, body: Value) -> Self {
        self.body(body.to_string())
    }

    /// Sets a raw response body (for [`Fault::status`] and
    /// [`Fault::truncated`]); it is still labelled `application/json` unless
    /// a `Content-Type` header is added.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Waits `delay` before acting (before answering, truncating or dropping).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A fault or answer registered with
/// [`MockServer::fault`](super::MockServer::fault),
/// [`MockServer::respond`](super::MockServer::respond) or a flow's knobs.
/// It applies always until [`times`](Self::times) limits it.
#[derive(Debug, Clone)]
pub struct Script {
    book: Arc<FaultBook>,
    operation_id: String,
    id: u64,
}

impl Script {
    /// Applies the script to the next `n` valid requests of the operation
    /// only (counting from now); `0` removes it.
    pub fn times(self, n: usize) -> Self {
        self.book
            .set_remaining(&self.operation_id, self.id, Some(n));
        self
    }

    /// Applies the script to every request from now on (the default).
    pub fn always(self) -> Self {
        self.book.set_remaining(&self.operation_id, self.id, None);
        self
    }

    /// How many more requests the script will answer: `Some(0)` once used
    /// up or removed, `None` when it applies always.
    pub fn remaining(&self) -> Option<usize> {
        self.book.remaining(&self.operation_id, self.id)
    }
}

#[derive(Debug)]
struct Entry {
    id: u64,
    fault: Fault,
    /// `None`: always.
    remaining: Option<usize>,
}

/// The faults of a server, by operation id, in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    entries: Mutex<(u64, HashMap<String, Vec<Entry>>)>,
}

impl FaultBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<String, Vec<Entry>>)> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add(self: &Arc<Self>, operation_id: &str, fault: Fault) -> Script {
        let mut guard = self.lock();
        guard.0 += 1;
        let id = guard.0;
        guard
            .1
            .entry(operation_id.to_owned())
            .or_default()
            .push(Entry {
                id,
                fault,
                remaining: None,
            });
        Script {
            book: self.clone(),
            operation_id: operation_id.to_owned(),
            id,
        }
    }

    fn set_remaining(&self, operation_id: &str, id: u64, remaining: Option<usize>) {
        let mut guard = self.lock();
        if let Some(list) = guard.1.get_mut(operation_id) {
            if let Some(entry) = list.iter_mut().find(|e| e.id == id) {
                entry.remaining = remaining;
            }
            list.retain(|e| e.remaining != Some(0));
        }
    }

    fn remaining(&self, operation_id: &str, id: u64) -> Option<usize> {
        let guard = self.lock();
        guard
            .1
            .get(operation_id)
            .and_then(|list| list.iter().find(|e| e.id == id))
            .map_or(Some(0), |e| e.remaining)
    }

    /// The fault for the next request of `operation_id`, using up one turn.
    pub(crate) fn take(&self, operation_id: &str) -> Option<Fault> {
        let mut guard = self.lock();
        let list = guard.1.get_mut(operation_id)?;
        let entry = list.first_mut()?;
        let fault = entry.fault.clone();
        if let Some(n) = &mut entry.remaining {
            *n -= 1;
            if *n == 0 {
                list.remove(0);
            }
        }
        Some(fault)
    }

    pub(crate) fn clear(&self) {
        self.lock().1.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_in_order_and_run_out() {
        let book = Arc::new(FaultBook::default());
        let first = book.add("op", Fault::status(503)).times(2);
        let second = book.add("op", Fault::status(429));
        assert_eq!(first.remaining(), Some(2));
        assert_eq!(
            book.take("op").unwrap().action,
            Action::Status(http::StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(
            book.take("op").unwrap().action,
            Action::Status(http::StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(first.remaining(), Some(0));
        assert_eq!(second.remaining(), None);
        for _ in 0..3 {
            assert_eq!(
                book.take("op").unwrap().action,
                Action::Status(http::StatusCode::TOO_MANY_REQUESTS)
            );
        }
        let second = second.times(0);
        assert_eq!(second.remaining(), Some(0));
        assert!(book.take("op").is_none());
        assert!(book.take("other").is_none());
    }
}
