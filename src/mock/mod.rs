//! A mock of the Avala API built from the checked-in document and examples,
//! for this crate's tests and for users' own tests (feature `mock`).
//!
//! [`MockServer`] listens on `127.0.0.1`, answers every operation with its
//! example, refuses requests that do not fit the document (404, 405, 401,
//! 400, 415, 422 with a JSON problem body), records what it received, and
//! plays scripted [`Fault`]s and pages. It also scripts the status
//! sequences that waits observe ([`MockServer::script_export_statuses`]),
//! serves the storage side of dataset uploads (its presign answers point at
//! its own loopback storage routes: see [`UploadMode`], [`StorageRoute`],
//! [`StoredObject`]; under the mock account's own names, its example user
//! `jdoe` and organizations, `get_dataset_by_slug` finds only the datasets
//! that uploads created, else 404, and a slug is refused a second time with
//! the server's 400 `{"slug": ["Dataset with this slug already exists."]}`;
//! other owners get the example) and serves published public datasets to
//! the resolver, with a download route whose bytes match the manifest
//! ([`MockServer::publish`]). It runs managed Fleet uploads statefully,
//! parts included ([`MockServer::managed_anomaly`],
//! [`MockServer::managed_publication`], [`MockServer::managed_objects`]).
//!
//! Scripted faults and pages:
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
//!     // One 503, then the normal answer: the SDK retries the GET.
//!     mock.fault("get_dataset", Fault::status(503).header("Retry-After", "0"))
//!         .times(1);
//!     client.get_dataset().uid("d1").send().await?;
//!     assert_eq!(mock.hits("get_dataset"), 3);
//!
//!     // A list served as pages of one item, walked with `.stream()`.
//!     mock.paginate("list_datasets", [dataset.clone(), dataset], 1);
//!     let all: Vec<_> = client.list_datasets().stream().try_collect().await?;
//!     assert_eq!((all.len(), mock.hits("list_datasets")), (2, 2));
//!     Ok(())
//! }
//! ```

pub mod contract;
pub mod examples;
pub mod schema;

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

pub use faults::{Fault, FaultScript};
pub use fleet_legacy::{FleetAnomaly, FleetObject, FleetUrlStyle};
pub use fleet_managed::{ManagedAnomaly, ManagedObject};
pub use manual_upload::{StoredObject, UploadMode};
pub use resolver::{
    GrantFault, PublicDataset, PublicObject, Published, PublishedObject, DOWNLOAD_OPERATION,
};
pub use server::{MockServer, ReceivedRequest};
pub use storage::StorageRoute;
