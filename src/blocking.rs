//! Blocking calls (feature `blocking`): the SDK without writing `async`.
//!
//! Every generated builder has `send_blocking()` beside `send()`, every
//! paginated one `stream_blocking()` (an [`Iterator`]) beside `stream()`,
//! and every workflow a `_blocking` twin: the `send_blocking()` of the
//! uploads, the waits and the export download, the frames helpers, and the
//! resolver's `load_blocking`, `objects_blocking`, `read_blocking`,
//! `send_blocking` of its downloads. Each runs the async call to its end
//! and returns the same `avala::Result`, with the same retries, waits,
//! checks and errors.
//!
//! They run on one runtime the client owns: a Tokio current-thread runtime,
//! built on the first blocking call and shared by the client's clones (a
//! [`Resolver`](crate::resolver::Resolver) owns one the same way). It runs
//! on the calling thread only while a call is under way, so several threads
//! may make blocking calls on one client at the same time.
//!
//! A blocking call on a thread that is inside a Tokio runtime (an `async`
//! function, a task, a `spawn_blocking` closure, a progress callback) does
//! not block: it returns [`Error::BlockingInAsync`] before any request.
//! Blocking there could stall the very runtime the call needs; use the
//! async method instead.
//!
//! ```
//! # fn main() -> avala::Result<()> {
//! # // The embedded mock needs a runtime to serve from: this example's
//! # // server, not something a blocking client needs.
//! # let server = tokio::runtime::Runtime::new().unwrap();
//! # let mock = server.block_on(avala::mock::MockServer::start());
//! # let client = mock.client();
//! // let client = avala::Client::from_env()?;
//! let dataset = client.get_dataset().uid("d1").send_blocking()?.into_inner();
//! println!("{} ({})", dataset.name, dataset.uid);
//!
//! for dataset in client.list_datasets().limit(50).stream_blocking() {
//!     println!("{}", dataset?.name);
//! }
//! # Ok(()) }
//! ```

use std::{
    future::Future,
    sync::{Arc, OnceLock},
};

use futures::{Stream, StreamExt};

use crate::{Error, Result};

/// The runtime of a client's blocking calls, built on first use; clones
/// share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Engine(Arc<OnceLock<Owned>>);

/// The runtime, shut down without waiting when the last clone goes: a
/// plain drop panics when that happens inside an async context, where the
/// last clone of a client may well be dropped.
#[derive(Debug)]
struct Owned(Option<tokio::runtime::Runtime>);

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Engine {
    /// Runs `future` to its end on this thread, or refuses with
    /// [`Error::BlockingInAsync`] inside a runtime (before polling it).
    pub(crate) fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::BlockingInAsync);
        }
        Ok(self.runtime()?.block_on(future))
    }

    /// [`Engine::block_on`] of a call that returns an SDK result.
    pub(crate) fn run<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.block_on(call)?
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime> {
        if self.0.get().is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    Error::config(format!(
                        "could not start the runtime of blocking calls: {e}"
                    ))
                })?;
            // Another thread may have won the race: its runtime is kept and
            // this one dropped (outside any runtime, so safely).
            let _ = self.0.set(Owned(Some(runtime)));
        }
        self.0
            .get()
            .and_then(|owned| owned.0.as_ref())
            .ok_or_else(|| Error::config("the runtime of blocking calls is gone"))
    }
}

/// The engine of a client's blocking calls (generated builders hold the
/// generated client; `&avala::Client` coerces).
pub(crate) fn engine(client: &crate::generated::Client) -> &Engine {
    &progenitor_client::ClientInfo::inner(client)
        .shared()
        .blocking
}

/// `stream` as an iterator whose `next` blocks on `engine`. After an error
/// that is not an item (a call inside a runtime) it ends.
pub(crate) fn iter<S, T>(engine: Engine, stream: S) -> impl Iterator<Item = Result<T>>
where
    S: Stream<Item = Result<T>> + Unpin,
{
    let mut stream = Some(stream);
    std::iter::from_fn(move || {
        let next = engine.block_on(stream.as_mut()?.next());
        match next {
            Ok(Some(item)) => Some(item),
            Ok(None) => {
                stream = None;
                None
            }
            Err(e) => {
                stream = None;
                Some(Err(e))
            }
        }
    })
}
