//! The public dataset resolver (protocol §9.4): load a published dataset by
//! name and read its objects with their size and SHA-256 verified.
//!
//! ```no_run
//! # async fn demo() -> avala::Result<()> {
//! use avala::resolver::Resolver;
//! use futures::TryStreamExt;
//!
//! let resolver = Resolver::new()?;
//! let dataset = resolver.load("acme-robotics/warehouse-lidar@main").await?;
//! // Persist this to load exactly the same revision later:
//! println!("{}", dataset.canonical_reference());
//! let mut objects = dataset.objects();
//! while let Some(object) = objects.try_next().await? {
//!     let bytes = object.read().await?; // verified, at most 64 MiB
//!     println!("{} ({} bytes)", object.logical_path(), bytes.len());
//! }
//! # Ok(()) }
//! ```
//!
//! Beyond the objects: [`ResolvedDataset::rights`] is the whole rights
//! record the publisher declared; `resolver.load("owner/dataset").revision(r)`
//! takes the revision apart, as the Python SDK's `revision=` does (checked
//! as if written after `@`); a pinned revision that was withdrawn is
//! [`Error::Withdrawn`](crate::Error::Withdrawn); and
//! [`ResolvedObject::read`] holds at most 64 MiB
//! ([`ResolvedObject::read_at_most`] sets another cap) and refuses a larger
//! object with [`Error::ObjectTooLarge`](crate::Error::ObjectTooLarge)
//! before any request.
//!
//! The resolver is anonymous: it holds no API key and never sends
//! `X-Avala-Api-Key`, does not read `AVALA_BASE_URL`, and follows no
//! redirect. The steps, each in its own (private) module:
//!
//! 1. `reference`: the reference grammar; a malformed one fails before any
//!    request.
//! 2. `GET /resolve/…/`: the revision document and its identity checks
//!    (`documents`).
//! 3. `manifest`: the manifest pages and their ordering, duplicate and total
//!    checks.
//! 4. `grant`: an access grant per read, its lifetime and the download
//!    allow-list; then `download`: the bytes, verified as they arrive.
//! 5. `local`: where a download may write, what it keeps, and the atomic
//!    write; `bulk`: [`ResolvedDataset::download_all`], several objects at
//!    a time.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::Stream;
use reqwest::Method;

mod bulk;
mod documents;
mod download;
mod grant;
mod local;
mod manifest;
mod reference;
mod transport;

pub use bulk::{DatasetDownload, DownloadEvent, DownloadProgress, DownloadReport};
pub use documents::Rights;
pub use download::{Downloaded, ObjectDownload, DEFAULT_READ_LIMIT};

use documents::{ObjectDoc, Revision};
use reference::Reference;
use transport::Transport;

use crate::{config, Result};

/// A client of the public dataset resolver. Cheap to clone.
#[derive(Clone)]
pub struct Resolver {
    transport: Transport,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("base_url", &self.transport.base.text)
            .field("timeout", &self.transport.timeout)
            .finish()
    }
}

/// Settings of a [`Resolver`].
#[derive(Debug, Clone)]
#[must_use = "nothing is built until `.build()`"]
pub struct ResolverBuilder {
    base_url: String,
    timeout: Duration,
    retry: crate::retry::RetryPolicy,
    allow_insecure_loopback: bool,
    network: crate::network::TestNetwork,
}

impl Default for ResolverBuilder {
    fn default() -> Self {
        Self {
            base_url: config::DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(30),
            retry: crate::retry::RetryPolicy::default(),
            allow_insecure_loopback: false,
            network: crate::network::TestNetwork::default(),
        }
    }
}

impl ResolverBuilder {
    /// The API root (default `https://api.avala.ai/api/v1`). The same rules
    /// as for the client: https, or http to a loopback host with
    /// `AVALA_ALLOW_INSECURE_BASE_URL`; no credentials, query or fragment.
    /// `AVALA_BASE_URL` is not read.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The time to connect, and the longest wait for the next bytes of any
    /// response (default 30 s). A JSON request must also complete within it;
    /// a download may take longer as long as bytes keep arriving.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How a rate-limited (429) request is repeated: the backoff curve of
    /// `policy` (see [`crate::retry`]); its `max_retries` is for API calls
    /// and does not apply here.
    pub fn retry_policy(mut self, policy: crate::retry::RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    #[cfg(feature = "mock")]
    pub(crate) fn allow_insecure_loopback(mut self) -> Self {
        self.allow_insecure_loopback = true;
        self
    }

    /// For the SDK's own tests only (hidden, `mock` feature): sends the
    /// requests for each host name of `resolve` to its address, and trusts
    /// the DER certificate `root_der` too, so that a flow meets production
    /// host names (and their allow-list) on a loopback TLS server.
    #[cfg(feature = "mock")]
    #[doc(hidden)]
    pub fn test_network(
        mut self,
        resolve: Vec<(String, std::net::SocketAddr)>,
        root_der: Vec<u8>,
    ) -> Self {
        self.network = crate::network::TestNetwork::new(resolve, root_der);
        self
    }

    /// Validates the settings; [`Error::Config`](crate::Error::Config) when
    /// the base URL breaks a rule.
    pub fn build(self) -> Result<Resolver> {
        let allow_insecure = self.allow_insecure_loopback
            || config::process_env(config::ENV_ALLOW_INSECURE)
                .is_some_and(|v| config::is_truthy(&v));
        let base = config::parse_base_url(&self.base_url, allow_insecure)?;
        Ok(Resolver {
            transport: Transport::new(base, self.timeout, self.retry, &self.network)?,
        })
    }
}

impl Resolver {
    /// A resolver of `https://api.avala.ai/api/v1`.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// A builder for the settings.
    pub fn builder() -> ResolverBuilder {
        ResolverBuilder::default()
    }

    /// Resolves `reference` (run it with `.await`): `owner/dataset`,
    /// `owner/dataset@<alias>`, `owner/dataset@<64-hex revision>` or
    /// `avala://datasets/<uuid>@<64-hex revision>`; or `owner/dataset` with
    /// the revision given apart, [`Load::revision`].
    ///
    /// Errors: [`InvalidArgument`](crate::Error::InvalidArgument) for a
    /// malformed reference or revision (before any request);
    /// [`Integrity`](crate::Error::Integrity) when the answer does not match
    /// what was asked; [`Withdrawn`](crate::Error::Withdrawn) when the
    /// pinned revision was withdrawn; other statuses as for the API.
    pub fn load(&self, reference: &str) -> Load {
        Load {
            resolver: self.clone(),
            reference: reference.to_owned(),
            revision: None,
        }
    }

    async fn load_parsed(&self, requested: Reference) -> Result<ResolvedDataset> {
        if requested.exact_revision().is_none() {
            tracing::warn!(
                reference = %requested.requested(),
                "dataset aliases are mutable; persist the canonical reference for reproducible inputs"
            );
        }
        // Step 2: the revision document, and its identity checks.
        let document = self
            .transport
            .call(Method::GET, &requested.path(), &[], Some(&requested))
            .await?;
        let revision: Revision = documents::parse(&document.body, "resolve document")?;
        revision.check(&requested)?;
        let pinned = Reference::Canonical {
            dataset_uid: revision.dataset_uid.clone(),
            revision_sha256: revision.revision_sha256.clone(),
        };
        Ok(ResolvedDataset {
            loaded: Arc::new(Loaded {
                transport: self.transport.clone(),
                revision,
                pinned,
                episodes: Mutex::default(),
            }),
        })
    }

    /// [`load`](Self::load), blocking the thread until the answer (see
    /// [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn load_blocking(&self, reference: &str) -> Result<ResolvedDataset> {
        self.transport.blocking.run(self.load(reference).send())
    }
}

/// A load of a dataset revision; made by [`Resolver::load`], run by
/// awaiting it.
#[derive(Debug)]
#[must_use = "nothing is resolved until it is awaited"]
pub struct Load {
    resolver: Resolver,
    reference: String,
    revision: Option<String>,
}

impl Load {
    /// The revision apart from the reference: an alias or a 64-hex digest,
    /// checked as one written after `@`. Refused with
    /// [`InvalidArgument`](crate::Error::InvalidArgument), before any
    /// request, together with a canonical reference or a reference that
    /// names its own `@` selector.
    pub fn revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// Runs the load (what `.await` does).
    pub async fn send(self) -> Result<ResolvedDataset> {
        // Step 1: the grammar, before any request.
        let requested = Reference::parse_with_revision(&self.reference, self.revision.as_deref())?;
        self.resolver.load_parsed(requested).await
    }
}

impl std::future::IntoFuture for Load {
    type Output = Result<ResolvedDataset>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// What a loaded dataset and its objects share.
struct Loaded {
    transport: Transport,
    revision: Revision,
    /// The resolved revision, for the 410 check of later calls.
    pinned: Reference,
    /// Episodes looked up so far, by ordinal.
    episodes: Mutex<HashMap<u64, ObjectDoc>>,
}

/// A resolved, immutable dataset revision.
#[derive(Clone)]
pub struct ResolvedDataset {
    loaded: Arc<Loaded>,
}

impl fmt::Debug for ResolvedDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedDataset")
            .field("canonical_reference", &self.canonical_reference())
            .field("manifest_sha256", &self.manifest_sha256())
            .field("object_count", &self.object_count())
            .finish()
    }
}

impl ResolvedDataset {
    fn revision(&self) -> &Revision {
        &self.loaded.revision
    }

    /// The dataset's uid.
    pub fn dataset_uid(&self) -> &str {
        &self.revision().dataset_uid
    }

    /// The revision's uid.
    pub fn revision_uid(&self) -> &str {
        &self.revision().revision_uid
    }

    /// The revision's SHA-256 (what a digest selector names).
    pub fn revision_sha256(&self) -> &str {
        &self.revision().revision_sha256
    }

    /// `avala://datasets/<uid>@<revision_sha256>`: loads exactly this
    /// revision again.
    pub fn canonical_reference(&self) -> &str {
        &self.revision().canonical_reference
    }

    /// `owner/dataset@<revision_sha256>`.
    pub fn display_reference(&self) -> &str {
        &self.revision().display_reference
    }

    /// The reference as requested, with the default selector filled in.
    pub fn requested_reference(&self) -> &str {
        &self.revision().requested_reference
    }

    /// The manifest's SHA-256.
    pub fn manifest_sha256(&self) -> &str {
        &self.revision().manifest.sha256
    }

    /// The number of objects in the manifest.
    pub fn object_count(&self) -> u64 {
        self.revision().manifest.object_count
    }

    /// The size of all objects together, in bytes.
    pub fn total_size_bytes(&self) -> u64 {
        self.revision().manifest.total_size_bytes
    }

    /// The licence's name and URL, as declared by the publisher (both are
    /// in [`ResolvedDataset::rights`] too).
    pub fn license(&self) -> (&str, &str) {
        let rights = &self.revision().rights;
        (&rights.name, &rights.url)
    }

    /// The whole rights record the publisher declared: status, access,
    /// licence name and URL, and the SHA-256 of the licence document and
    /// of the attestation.
    pub fn rights(&self) -> &Rights {
        &self.revision().rights
    }

    /// Every object, in manifest order, across every page. The totals are
    /// checked against the manifest when the last page has been read.
    pub fn objects(&self) -> impl Stream<Item = Result<ResolvedObject>> + Send + Unpin + 'static {
        manifest::list(self.loaded.clone(), None)
    }

    /// The objects of one role (e.g. `frame`), in ordinal order. A role
    /// outside `[a-z][a-z0-9_]{0,31}` yields one `InvalidArgument`.
    pub fn objects_with_role(
        &self,
        role: &str,
    ) -> impl Stream<Item = Result<ResolvedObject>> + Send + Unpin + 'static {
        let listing =
            check_role(role).map(|()| manifest::list(self.loaded.clone(), Some(role.to_owned())));
        match listing {
            Ok(listing) => futures::future::Either::Left(listing),
            Err(e) => futures::future::Either::Right(futures::stream::iter([Err(e)])),
        }
    }

    /// The object of `role` at `ordinal`; `None` when the manifest has none.
    pub async fn object(&self, role: &str, ordinal: u64) -> Result<Option<ResolvedObject>> {
        check_role(role)?;
        let doc = manifest::lookup(&self.loaded, role, ordinal).await?;
        Ok(doc.map(|doc| ResolvedObject::new(self.loaded.clone(), doc)))
    }

    /// [`objects`](Self::objects) as an iterator that blocks for each page
    /// (see [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn objects_blocking(&self) -> impl Iterator<Item = Result<ResolvedObject>> + 'static {
        crate::blocking::iter(self.loaded.transport.blocking.clone(), self.objects())
    }

    /// [`objects_with_role`](Self::objects_with_role) as an iterator that
    /// blocks for each page (see [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn objects_with_role_blocking(
        &self,
        role: &str,
    ) -> impl Iterator<Item = Result<ResolvedObject>> + 'static {
        let objects = self.objects_with_role(role);
        crate::blocking::iter(self.loaded.transport.blocking.clone(), objects)
    }

    /// [`object`](Self::object), blocking the thread until the answer (see
    /// [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn object_blocking(&self, role: &str, ordinal: u64) -> Result<Option<ResolvedObject>> {
        self.loaded
            .transport
            .blocking
            .run(self.object(role, ordinal))
    }
}

fn check_role(role: &str) -> Result<()> {
    if documents::valid_role(role) {
        Ok(())
    } else {
        Err(crate::Error::InvalidArgument {
            message: format!("{role:?} is not a manifest role ([a-z][a-z0-9_]{{0,31}})"),
        })
    }
}

/// One object of a [`ResolvedDataset`]: its manifest facts, and verified
/// reads of its bytes (each read asks for a fresh access grant).
#[derive(Clone)]
pub struct ResolvedObject {
    loaded: Arc<Loaded>,
    doc: ObjectDoc,
}

impl fmt::Debug for ResolvedObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedObject")
            .field("object_uid", &self.doc.object_uid)
            .field("role", &self.doc.role)
            .field("ordinal", &self.doc.ordinal)
            .field("logical_path", &self.doc.logical_path)
            .field("size_bytes", &self.doc.size_bytes)
            .finish_non_exhaustive()
    }
}

impl ResolvedObject {
    fn new(loaded: Arc<Loaded>, doc: ObjectDoc) -> Self {
        Self { loaded, doc }
    }

    /// The object's uid.
    pub fn object_uid(&self) -> &str {
        &self.doc.object_uid
    }

    /// Its path within the dataset, e.g. `frames/000000.pcd`.
    pub fn logical_path(&self) -> &str {
        &self.doc.logical_path
    }

    /// Its role, e.g. `frame` or `episode`.
    pub fn role(&self) -> &str {
        &self.doc.role
    }

    /// Its ordinal within its role.
    pub fn ordinal(&self) -> u64 {
        self.doc.ordinal
    }

    /// The ordinal of the `episode` object it belongs to, if any.
    pub fn episode_ordinal(&self) -> Option<u64> {
        self.doc.episode_ordinal
    }

    /// Its media type.
    pub fn content_type(&self) -> &str {
        &self.doc.content_type
    }

    /// The name of the manifest origin it comes from.
    pub fn origin(&self) -> &str {
        &self.doc.origin
    }

    /// Its size in bytes, as the manifest declares (and reads verify).
    pub fn size_bytes(&self) -> u64 {
        self.doc.size_bytes
    }

    /// Its SHA-256, lowercase hex, as the manifest declares (and reads
    /// verify).
    pub fn sha256(&self) -> &str {
        &self.doc.sha256
    }
}
