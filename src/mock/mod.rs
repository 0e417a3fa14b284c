//! A mock of the Avala API built from the checked-in document and examples,
//! for this crate's tests and for users' own tests (feature `mock`).
//!
//! [`MockServer`] listens on `127.0.0.1`, answers every operation with its
//! example, refuses requests that do not fit the document (404, 405, 401,
//! 400, 415, 422 with a JSON problem body) and records what it received.
//! Tests script it with a few verbs: [`MockServer::respond`] (a normal
//! answer of your choosing), [`MockServer::fault`] (an error, a delay, a cut
//! or dropped connection), [`MockServer::paginate`] (a list served as
//! pages), and the knobs of the stateful flows, grouped by flow:
//! [`MockServer::uploads`] (dataset uploads and their storage),
//! [`MockServer::fleet`] (legacy and managed Fleet uploads),
//! [`MockServer::resolver`] (published public datasets, their downloads,
//! and a resolver of the mock) and [`MockServer::jobs`] (the statuses that waits observe).
//!
//! # What answers a request, in order
//!
//! This order is decided here, in `dispatch` (the storage routes in the
//! server's connection handler, before the body is read):
//!
//! 1. a storage route (`/_storage/…` (export files included), `/fleet/…`, the managed part route:
//!    see [`StorageRoute`]): the mock's object store, with its own faults;
//! 2. the resolver's download route ([`DOWNLOAD_OPERATION`]): the published
//!    objects' bytes, with per-object faults first, then download faults;
//! 3. a path outside `/api/v1/` or matching no template: 404; a template
//!    without the method: 405 with `Allow` (the most literal template
//!    decides: `/datasets/manual-upload/quota/` is never
//!    `/datasets/{owner}/{slug}/`);
//! 4. no `X-Avala-Api-Key` on an operation that needs one: 401; a body that
//!    is not `application/json`: 415; a missing or unparsable body, or a
//!    missing or badly typed query parameter: 400; a body that does not fit
//!    the request schema: 422. These answers have a JSON body
//!    `{"detail": "<summary>", "errors": ["<violation naming the field>", ..]}`
//!    and use up no script;
//! 5. a [`Fault`] scripted for the operation (one that keeps the normal
//!    answer, such as a delay, a hold or a cut, applies to what follows);
//! 6. an answer scripted with [`MockServer::respond`];
//! 7. the stateful flows, each answering only what is its own, in this
//!    order: dataset uploads, legacy Fleet uploads, managed Fleet uploads,
//!    the resolver (once something is published), published export files
//!    ([`MockServer::exports`]), waited-for jobs;
//! 8. a page of the items given to [`MockServer::paginate`];
//! 9. `204` when the operation answers without a body;
//! 10. the operation's default example response (the first that is not
//!     `forward-compat:`) from `openapi/examples.json`; in a page envelope
//!     `next` and `previous` are `null`, so that `.stream()` over an
//!     unscripted list ends after one page.
//!
//! Whatever answered, when the answer is a success, an edit waiting for the
//! operation ([`MockServer::edit_next`]) then changes its JSON body.
//!
//! Every answer carries `X-Request-Id` and `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (an epoch second); every
//! answer with a body has `Content-Type: application/json`.
//!
//! A new stateful flow implements `Flow` in its own module, gets a field
//! of the server's state, and is added to `flows` (its place there is its
//! place in step 7).
//!
//! Scripted answers, faults and pages:
//!
//! ```
//! use avala::mock::{Fault, MockServer};
//! use futures::TryStreamExt;
//!
//! #[tokio::main]
//! async fn main() -> avala::Result<()> {
//!     let mock = MockServer::start().await;
//!     let client = mock.client();
//!
//!     // Every operation answers with its example; requests are recorded.
//!     let dataset = client.get_dataset().uid("d1").send().await?.into_inner();
//!     let sent = mock.received_for("get_dataset");
//!     assert_eq!(sent[0].path, "/api/v1/datasets/d1/");
//!     assert!(sent[0].violations.is_empty());
//!
//!     // A normal answer of your choosing.
//!     let mut renamed = serde_json::to_value(&dataset).unwrap();
//!     renamed["name"] = "Renamed".into();
//!     mock.respond("get_dataset", renamed).times(1);
//!     let got = client.get_dataset().uid("d1").send().await?.into_inner();
//!     assert_eq!(got.name, "Renamed");
//!
//!     // One 503, then the normal answer: the SDK retries the GET.
//!     mock.fault("get_dataset", Fault::status(503).header("Retry-After", "0"))
//!         .times(1);
//!     client.get_dataset().uid("d1").send().await?;
//!     assert_eq!(mock.hits("get_dataset"), 4);
//!
//!     // A list served as pages of one item, walked with `.stream()`.
//!     mock.paginate("list_datasets", [dataset.clone(), dataset], 1);
//!     let all: Vec<_> = client.list_datasets().stream().try_collect().await?;
//!     assert_eq!((all.len(), mock.hits("list_datasets")), (2, 2));
//!     Ok(())
//! }
//! ```

pub mod contract;
// Internals, not part of the API (hidden from the docs, no stability
// promise): public only because the crate's own integration tests
// (tests/fixtures.rs, tests/void_operations.rs, tests/contract.rs,
// cli/tests/commands.rs) check the document and its examples through them.
#[doc(hidden)]
pub mod examples;
#[doc(hidden)]
pub mod schema;

mod edits;
mod exports;
mod faults;
mod fleet_legacy;
mod fleet_managed;
mod jobs;
mod manual_upload;
mod paging;
mod params;
mod resolver;
mod routing;
mod server;
mod storage;

pub use exports::{ExportAnomaly, ExportKnobs};
pub use faults::{Fault, Gate, Script};
pub use fleet_legacy::{FleetAnomaly, FleetKnobs, FleetObject, FleetUrlStyle};
pub use fleet_managed::{ManagedAnomaly, ManagedObject};
pub use jobs::JobKnobs;
pub use manual_upload::{FinalisedDataset, StoredObject, UploadKnobs, UploadMode};
pub use resolver::{
    GrantFault, PublicDataset, PublicObject, Published, PublishedObject, ResolverKnobs,
    DOWNLOAD_OPERATION,
};
pub use server::{MockServer, ReceivedRequest};
pub use storage::{StorageKnobs, StorageRoute};

use server::{Answer, State};

/// A stateful flow of the mock: it answers the valid requests that belong
/// to it from its own state (sessions, stored objects, scripts), and leaves
/// every other request to the next step of [`dispatch`].
trait Flow: Send + Sync {
    /// The answer to a valid request of `op`, or `None` when the request is
    /// not this flow's. `origin` is `http://127.0.0.1:PORT`, for URLs that
    /// point back at the mock.
    fn answer(
        &self,
        origin: &str,
        op: &schema::Operation,
        record: &ReceivedRequest,
    ) -> Option<Answer>;

    /// Forgets every session, object and script of the flow.
    fn clear(&self);
}

/// The stateful flows, in the order they are asked (step 7 above). The one
/// place a flow is registered.
fn flows(state: &State) -> [&dyn Flow; 6] {
    [
        &state.uploads,
        &state.fleet,
        &state.managed,
        &state.resolver,
        &state.exports,
        &state.jobs,
    ]
}

/// Decides the answer to one request below the API root (steps 2 to 10
/// above), filling in the record's operation and violations.
fn dispatch(state: &State, record: &mut ReceivedRequest) -> Answer {
    if let Some(download) = resolver::download(state, record) {
        return download;
    }
    let op = match server::route(record) {
        Ok(op) => op,
        Err(refusal) => return refusal,
    };
    let answer = match state.faults.take(&op.id) {
        Some(fault) => server::play(fault, || normal(state, op, record)),
        None => normal(state, op, record),
    };
    state.edits.apply(&op.id, answer)
}

/// Steps 6 to 10: the answer when no fault replaces it.
fn normal(state: &State, op: &schema::Operation, record: &ReceivedRequest) -> Answer {
    if let Some(reply) = state.responses.take(&op.id) {
        return server::play(reply, || server::example(op));
    }
    for flow in flows(state) {
        if let Some(answer) = flow.answer(&state.origin, op, record) {
            return answer;
        }
    }
    if let Some(page) = state.page(op, record) {
        return page;
    }
    if !op.has_response_body {
        return Answer::bytes(http::StatusCode::NO_CONTENT, None);
    }
    server::example(op)
}
