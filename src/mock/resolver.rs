//! The public dataset resolver on the mock (protocol §9.4): published
//! datasets, their revision documents, manifest pages and access grants,
//! and a download route on the mock's own origin (`avala_proxy`) whose bytes
//! match the manifest.
//!
//! ```
//! # #[tokio::main] async fn main() -> avala::Result<()> {
//! use avala::mock::{MockServer, PublicDataset, PublicObject};
//! let mock = MockServer::start().await;
//! let published = mock.resolver().publish(
//!     PublicDataset::new("acme", "lidar")
//!         .object(PublicObject::new("frame", 0, "frames/0.bin", &b"hello"[..])),
//! );
//! let dataset = mock.resolver().client().load("acme/lidar@main").await?;
//! assert_eq!(dataset.dataset_uid(), published.dataset_uid);
//! let frame = dataset.object("frame", 0).await?.expect("frame 0 is published");
//! assert_eq!(&frame.read().await?[..], b"hello");
//! # Ok(()) }
//! ```

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    faults::{Fault, Script},
    schema,
    server::{self, Answer, MockServer, ReceivedRequest, State},
};

/// The pseudo operation id of the download route (for
/// [`MockServer::hits`] and [`MockServer::received_for`]).
pub const DOWNLOAD_OPERATION: &str = "resolver_download";
/// Where the download route lives, below the API root.
const DOWNLOAD_PREFIX: &str = "/api/v1/resolve/download/";
/// The lifetime of a normal grant.
const GRANT_LIFETIME: Duration = Duration::from_secs(60);
/// The longest a [`ResolverKnobs::hold_downloads`] gate keeps a request
/// waiting for the others; then it opens for good (a client that never has
/// that many downloads in flight is not kept waiting forever).
const GATE_LIMIT: Duration = Duration::from_secs(10);

/// One object of a [`PublicDataset`].
#[derive(Debug, Clone)]
pub struct PublicObject {
    role: String,
    ordinal: u64,
    logical_path: String,
    episode_ordinal: Option<u64>,
    content_type: String,
    bytes: Bytes,
}

impl PublicObject {
    /// An object with its manifest role, ordinal and path, and its bytes.
    pub fn new(role: &str, ordinal: u64, logical_path: &str, bytes: impl Into<Bytes>) -> Self {
        Self {
            role: role.to_owned(),
            ordinal,
            logical_path: logical_path.to_owned(),
            episode_ordinal: None,
            content_type: "application/octet-stream".to_owned(),
            bytes: bytes.into(),
        }
    }

    /// The `episode` object this one belongs to (its `episode_ordinal`).
    pub fn episode(mut self, ordinal: u64) -> Self {
        self.episode_ordinal = Some(ordinal);
        self
    }
}

/// A public dataset to [`ResolverKnobs::publish`]: an owner, a name, objects.
#[derive(Debug, Clone)]
pub struct PublicDataset {
    owner: String,
    name: String,
    objects: Vec<PublicObject>,
    page_size: usize,
    aliases: Vec<String>,
}

impl PublicDataset {
    /// A dataset `owner/name` without objects, served under the alias
    /// `main`; pages of up to 100 objects.
    pub fn new(owner: &str, name: &str) -> Self {
        Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
            objects: Vec::new(),
            page_size: 100,
            aliases: vec!["main".to_owned()],
        }
    }

    /// Serves the revision under the alias `alias` too (`owner/name@alias`).
    pub fn alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.to_owned());
        self
    }

    /// Adds an object.
    pub fn object(mut self, object: PublicObject) -> Self {
        self.objects.push(object);
        self
    }

    /// Serves manifest pages of at most `size` objects (at least 1).
    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }
}

/// A published object, with the identity the mock gave it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishedObject {
    /// Its `object_uid`.
    pub object_uid: String,
    /// The SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Its bytes.
    pub bytes: Bytes,
    /// Its manifest role.
    pub role: String,
    /// Its ordinal within the role.
    pub ordinal: u64,
    /// Its logical path.
    pub logical_path: String,
    episode_ordinal: Option<u64>,
    content_type: String,
}

/// A dataset as [`ResolverKnobs::publish`] published it, with the identities
/// the resolver will check, and the JSON documents the mock serves (to
/// script tampered variants with [`Fault`]s).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Published {
    /// The dataset's owner.
    pub owner: String,
    /// The dataset's name.
    pub name: String,
    /// Its `dataset_uid`.
    pub dataset_uid: String,
    /// The published revision's `revision_sha256`.
    pub revision_sha256: String,
    /// The revision's `manifest.sha256`.
    pub manifest_sha256: String,
    /// The objects, in manifest order (`role`, `ordinal`, `logical_path`).
    pub objects: Vec<PublishedObject>,
    page_size: usize,
    origin: String,
    aliases: Vec<String>,
}

impl Published {
    /// `avala://datasets/<dataset_uid>@<revision_sha256>`.
    pub fn canonical_reference(&self) -> String {
        format!(
            "avala://datasets/{}@{}",
            self.dataset_uid, self.revision_sha256
        )
    }

    fn objects_path(&self) -> String {
        format!(
            "/resolve/uid/{}/{}/objects/",
            self.dataset_uid, self.revision_sha256
        )
    }

    /// The resolve document for `requested_reference`.
    pub fn revision_json(&self, requested_reference: &str) -> Value {
        json!({
            "schema_version": 1,
            "requested_reference": requested_reference,
            "display_reference": format!("{}/{}@{}", self.owner, self.name, self.revision_sha256),
            "canonical_reference": self.canonical_reference(),
            "dataset_uid": self.dataset_uid,
            "revision_uid": uid_from(&["revision", &self.revision_sha256]),
            "revision_sha256": self.revision_sha256,
            "state": "published",
            "manifest": {
                "schema_version": 1,
                "sha256": self.manifest_sha256,
                "object_count": self.objects.len(),
                "total_size_bytes": self.objects.iter().map(|o| o.bytes.len() as u64).sum::<u64>(),
                "origins": [{
                    "name": "primary",
                    "kind": "avala",
                    "canonical_ref": format!("avala://datasets/{}", self.dataset_uid),
                    "external_revision": self.revision_sha256,
                }],
                "objects_path": self.objects_path(),
            },
            "rights": {
                "status": "declared",
                "access": "open_download",
                "name": "CC BY 4.0",
                "url": "https://creativecommons.org/licenses/by/4.0/",
                "document_sha256": hex_sha256(b"rights document"),
                "attestation_sha256": hex_sha256(b"rights attestation"),
            },
        })
    }

    /// The manifest entry of `self.objects[index]`.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn object_json(&self, index: usize) -> Value {
        let o = &self.objects[index];
        json!({
            "object_uid": o.object_uid,
            "logical_path": o.logical_path,
            "role": o.role,
            "ordinal": o.ordinal,
            "episode_ordinal": o.episode_ordinal,
            "content_type": o.content_type,
            "origin": "primary",
            "size_bytes": o.bytes.len(),
            "sha256": o.sha256,
            "access_path": format!("{}{}/access/", self.objects_path(), o.object_uid),
        })
    }

    /// A manifest page of `results` with the given cursors.
    pub fn page_json(
        &self,
        results: Vec<Value>,
        next_cursor: Option<&str>,
        previous_cursor: Option<&str>,
    ) -> Value {
        json!({
            "schema_version": 1,
            "canonical_reference": self.canonical_reference(),
            "revision_sha256": self.revision_sha256,
            "manifest_sha256": self.manifest_sha256,
            "next_cursor": next_cursor,
            "previous_cursor": previous_cursor,
            "results": results,
        })
    }

    /// The `410` body that says this revision was withdrawn.
    pub fn withdrawn_json(&self) -> Value {
        json!({
            "schema_version": 1,
            "code": "dataset_revision_withdrawn",
            "canonical_reference": self.canonical_reference(),
            "dataset_uid": self.dataset_uid,
            "revision_sha256": self.revision_sha256,
        })
    }

    /// The `avala_proxy` download URL of `self.objects[index]` on the mock.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn download_url(&self, index: usize) -> String {
        format!(
            "{}{DOWNLOAD_PREFIX}{}/",
            self.origin, self.objects[index].object_uid
        )
    }

    fn grant_json(&self, index: usize, url: String, expires_at: u64) -> Value {
        let o = &self.objects[index];
        let expires_at = chrono::DateTime::from_timestamp(expires_at as i64, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        json!({
            "schema_version": 1,
            "provider": "avala_proxy",
            "url": url,
            "method": "GET",
            "canonical_reference": self.canonical_reference(),
            "dataset_uid": self.dataset_uid,
            "revision_sha256": self.revision_sha256,
            "manifest_sha256": self.manifest_sha256,
            "object_uid": o.object_uid,
            "size_bytes": o.bytes.len(),
            "sha256": o.sha256,
            "range_supported": false,
            "expires_at": expires_at,
        })
    }
}

/// A grant that differs from the normal one (60 s on the mock's own
/// origin), scripted with [`ResolverKnobs::grants`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantFault {
    /// Expires 3 s after its `Date`: the resolver asks for a fresh one.
    ShortLived,
    /// Expired 10 s before its `Date`.
    Expired,
    /// Points at `localhost` instead of `127.0.0.1` (the same server, but
    /// not the API root's host), which the allow-list refuses.
    DisallowedHost,
    /// Lives 600 s, beyond the 300 s a grant may live.
    TooLong,
}

/// The published datasets, the grant script and the download counters of
/// one server.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    datasets: Mutex<Vec<Arc<Published>>>,
    grants: Mutex<VecDeque<GrantFault>>,
    flight: Mutex<Flight>,
    /// The `revision_sha256` of withdrawn revisions.
    withdrawn: Mutex<Vec<String>>,
}

/// The download requests being served, the most at once, and the gate of
/// [`ResolverKnobs::hold_downloads`].
#[derive(Debug, Default)]
struct Flight {
    now: usize,
    peak: usize,
    gate: Option<Gate>,
}

/// Holds download requests until `need` of them have arrived.
#[derive(Debug)]
struct Gate {
    need: usize,
    arrived: usize,
    open: tokio::sync::watch::Sender<bool>,
}

/// Counts one download request in flight until dropped.
struct InFlight<'a>(&'a Registry);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.flight().now -= 1;
    }
}

impl Registry {
    fn datasets(&self) -> MutexGuard<'_, Vec<Arc<Published>>> {
        self.datasets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn grants(&self) -> MutexGuard<'_, VecDeque<GrantFault>> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn withdrawn(&self) -> MutexGuard<'_, Vec<String>> {
        self.withdrawn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn flight(&self) -> MutexGuard<'_, Flight> {
        self.flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a download request in flight while `answer` runs, after the
    /// gate (if one is set) lets it through.
    pub(super) async fn in_flight<T>(&self, answer: impl std::future::Future<Output = T>) -> T {
        let waiting = {
            let mut flight = self.flight();
            flight.now += 1;
            flight.peak = flight.peak.max(flight.now);
            match flight.gate.as_mut() {
                Some(gate) if gate.arrived + 1 < gate.need => {
                    gate.arrived += 1;
                    Some(gate.open.subscribe())
                }
                Some(_) => {
                    if let Some(gate) = flight.gate.take() {
                        gate.open.send_replace(true);
                    }
                    None
                }
                None => None,
            }
        };
        let _counted = InFlight(self);
        if let Some(mut open) = waiting {
            let opened = tokio::time::timeout(GATE_LIMIT, open.wait_for(|o| *o)).await;
            if opened.is_err() {
                if let Some(gate) = self.flight().gate.take() {
                    gate.open.send_replace(true);
                }
            }
        }
        answer.await
    }

    /// The 410 of a withdrawn revision, for every request that pins it (its
    /// digest, its uid route, its pages and grants); an alias of it is no
    /// longer served (404).
    fn withdrawn_answer<'p>(
        &self,
        op: &schema::Operation,
        param: &dyn Fn(&str) -> Option<&'p str>,
    ) -> Option<Answer> {
        let withdrawn = self.withdrawn();
        let gone = |d: &Published| Answer::json(StatusCode::GONE, &d.withdrawn_json());
        if op.id == "resolve_dataset_reference" {
            let (owner, name, selector) = (param("owner")?, param("dataset")?, param("selector")?);
            let d = self
                .datasets()
                .iter()
                .find(|d| {
                    d.owner == owner && d.name == name && withdrawn.contains(&d.revision_sha256)
                })
                .cloned()?;
            return Some(if selector == d.revision_sha256 {
                gone(&d)
            } else {
                Answer::problem(StatusCode::NOT_FOUND, "Not found.", &[])
            });
        }
        let revision = param("revision_sha256")?;
        if !withdrawn.iter().any(|w| w == revision) {
            return None;
        }
        self.by_uid(param("dataset_uid")?, revision)
            .map(|d| gone(&d))
    }

    fn by_uid(&self, dataset_uid: &str, revision_sha256: &str) -> Option<Arc<Published>> {
        self.datasets()
            .iter()
            .find(|d| d.dataset_uid == dataset_uid && d.revision_sha256 == revision_sha256)
            .cloned()
    }
}

impl super::Flow for Registry {
    /// The answer of a resolver operation, or `None` for other operations and
    /// while nothing is published (the operations then answer with their
    /// examples, as every operation does).
    fn answer(
        &self,
        _origin: &str,
        op: &schema::Operation,
        record: &ReceivedRequest,
    ) -> Option<Answer> {
        if self.datasets().is_empty() {
            return None;
        }
        let param = |name: &str| record.path_params.get(name).map(String::as_str);
        let not_found = || Answer::problem(StatusCode::NOT_FOUND, "Not found.", &[]);
        let registry = self;
        if let Some(gone) = self.withdrawn_answer(op, &param) {
            return Some(gone);
        }
        let answer = match op.id.as_str() {
            "resolve_dataset_reference" => {
                let (owner, name, selector) =
                    (param("owner")?, param("dataset")?, param("selector")?);
                let found = registry
                    .datasets()
                    .iter()
                    .find(|d| d.owner == owner && d.name == name)
                    .cloned();
                match found {
                    Some(d)
                        if d.aliases.iter().any(|a| a == selector)
                            || selector == d.revision_sha256 =>
                    {
                        Answer::json(
                            StatusCode::OK,
                            &d.revision_json(&format!("{owner}/{name}@{selector}")),
                        )
                    }
                    _ => not_found(),
                }
            }
            "resolve_dataset_revision" => {
                match registry.by_uid(param("dataset_uid")?, param("revision_sha256")?) {
                    Some(d) => {
                        Answer::json(StatusCode::OK, &d.revision_json(&d.canonical_reference()))
                    }
                    None => not_found(),
                }
            }
            "list_resolver_objects" => {
                match registry.by_uid(param("dataset_uid")?, param("revision_sha256")?) {
                    Some(d) => list(&d, record),
                    None => not_found(),
                }
            }
            "create_resolver_object_access" | "get_resolver_object_access" => {
                let dataset = registry.by_uid(param("dataset_uid")?, param("revision_sha256")?);
                let object_uid = param("object_uid")?;
                let index = dataset
                    .as_ref()
                    .and_then(|d| d.objects.iter().position(|o| o.object_uid == object_uid));
                match (dataset, index) {
                    (Some(d), Some(i)) => {
                        let fault = registry.grants().pop_front();
                        grant(&d, i, fault)
                    }
                    _ => not_found(),
                }
            }
            _ => return None,
        };
        Some(answer)
    }

    fn clear(&self) {
        self.datasets().clear();
        self.grants().clear();
        self.withdrawn().clear();
        let mut flight = self.flight();
        flight.peak = flight.now;
        if let Some(gate) = flight.gate.take() {
            gate.open.send_replace(true);
        }
    }
}

impl MockServer {
    /// The knobs of the resolver's side of the mock: published datasets,
    /// grants, download faults and counts, and a resolver of this server.
    pub fn resolver(&self) -> ResolverKnobs<'_> {
        ResolverKnobs { mock: self }
    }
}

/// The knobs of the resolver's side of a [`MockServer`], from
/// [`MockServer::resolver`].
#[derive(Debug, Clone, Copy)]
pub struct ResolverKnobs<'a> {
    mock: &'a MockServer,
}

impl ResolverKnobs<'_> {
    /// Publishes `dataset`: from now on the resolver routes of the mock
    /// answer from what is published (404 for anything else) instead of
    /// their examples. They serve it as `owner/name` (alias `main`, or its
    /// revision digest) and by its canonical reference, and the download
    /// route serves its objects.
    /// Identities are derived from the names and bytes, so publishing the
    /// same dataset twice gives the same uids.
    pub fn publish(&self, dataset: PublicDataset) -> Published {
        let PublicDataset {
            owner,
            name,
            mut objects,
            page_size,
            aliases,
        } = dataset;
        objects.sort_by(|a, b| {
            (&a.role, a.ordinal, &a.logical_path).cmp(&(&b.role, b.ordinal, &b.logical_path))
        });
        let objects: Vec<PublishedObject> = objects
            .into_iter()
            .map(|o| PublishedObject {
                object_uid: uid_from(&[&owner, &name, &o.role, &o.ordinal.to_string()]),
                sha256: hex_sha256(&o.bytes),
                bytes: o.bytes,
                role: o.role,
                ordinal: o.ordinal,
                logical_path: o.logical_path,
                episode_ordinal: o.episode_ordinal,
                content_type: o.content_type,
            })
            .collect();
        let mut manifest = Sha256::new();
        for o in &objects {
            manifest.update(o.object_uid.as_bytes());
            manifest.update(o.sha256.as_bytes());
        }
        let manifest_sha256 = hex(&manifest.finalize());
        let revision_sha256 = hex_sha256(format!("{owner}/{name}@{manifest_sha256}").as_bytes());
        let published = Published {
            dataset_uid: uid_from(&[&owner, &name]),
            owner,
            name,
            revision_sha256,
            manifest_sha256,
            objects,
            page_size,
            origin: self.mock.state.origin.clone(),
            aliases,
        };
        let mut datasets = self.mock.state.resolver.datasets();
        datasets.retain(|d| (&d.owner, &d.name) != (&published.owner, &published.name));
        datasets.push(Arc::new(published.clone()));
        published
    }

    /// Withdraws the revision `published`: from now on every request that
    /// pins it (its digest, its canonical reference, its manifest pages and
    /// grants) answers 410 with [`Published::withdrawn_json`], and its
    /// aliases answer 404.
    pub fn withdraw(&self, published: &Published) {
        self.mock
            .state
            .resolver
            .withdrawn()
            .push(published.revision_sha256.clone());
    }

    /// Scripts the next grants, one per grant request (POST or GET), in
    /// order; the grants after them are normal.
    pub fn grants(&self, grants: impl IntoIterator<Item = GrantFault>) {
        self.mock.state.resolver.grants().extend(grants);
    }

    /// Plays `fault` on requests of the download route, as
    /// [`MockServer::fault`] does for an operation: e.g. a tampered body
    /// (`Fault::status(200).body(..)`), a short one ([`Fault::truncated`]),
    /// or a redirect (`Fault::status(302).header("Location", ..)`).
    pub fn download_fault(&self, fault: Fault) -> Script {
        self.mock.state.faults.add(DOWNLOAD_OPERATION, fault)
    }

    /// Plays `fault` on the download requests of one object only (before
    /// the faults of [`ResolverKnobs::download_fault`]): e.g. one object that
    /// fails while the others download.
    pub fn object_download_fault(&self, object_uid: &str, fault: Fault) -> Script {
        self.mock
            .state
            .faults
            .add(&object_fault_key(object_uid), fault)
    }

    /// Holds the next `n` download requests until all `n` have arrived,
    /// then lets them go on together: a client that downloads fewer than
    /// `n` objects at a time is held (at most 10 s, after which the gate
    /// opens for good). Proves concurrency by counts, with
    /// [`ResolverKnobs::peak_downloads_in_flight`].
    pub fn hold_downloads(&self, n: usize) {
        let (open, _) = tokio::sync::watch::channel(n <= 1);
        let mut flight = self.mock.state.resolver.flight();
        if let Some(old) = flight.gate.take() {
            old.open.send_replace(true);
        }
        flight.gate = (n > 1).then_some(Gate {
            need: n,
            arrived: 0,
            open,
        });
    }

    /// The most download requests the mock was serving at the same time
    /// (from their arrival until their answer's head is ready), since the
    /// start or the last [`MockServer::reset`].
    pub fn peak_downloads_in_flight(&self) -> usize {
        self.mock.state.resolver.flight().peak
    }

    /// A resolver of this server (plain `http` on the loopback is allowed,
    /// as with [`MockServer::client`]).
    pub fn client(&self) -> crate::resolver::Resolver {
        crate::resolver::Resolver::builder()
            .base_url(self.mock.base_url())
            .allow_insecure_loopback()
            .build()
            .unwrap_or_else(|e| panic!("building a resolver of the mock: {e}"))
    }
}

/// A manifest page: by `ordinals` (with `role`), by `ordinal`, or a page of
/// the listing from `cursor` (`c<offset>`).
fn list(d: &Published, record: &ReceivedRequest) -> Answer {
    let pairs = record.query_pairs();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let role = get("role");
    let in_role = |o: &&PublishedObject| role.is_none_or(|r| o.role == r);
    let indices = |pick: &dyn Fn(&PublishedObject) -> bool| -> Vec<Value> {
        (0..d.objects.len())
            .filter(|&i| in_role(&&d.objects[i]) && pick(&d.objects[i]))
            .map(|i| d.object_json(i))
            .collect()
    };
    let ordinals: Vec<u64> = pairs
        .iter()
        .filter(|(k, _)| k == "ordinals")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    if !ordinals.is_empty() {
        let page = indices(&|o| ordinals.contains(&o.ordinal));
        return Answer::json(StatusCode::OK, &d.page_json(page, None, None));
    }
    if let Some(ordinal) = get("ordinal").and_then(|v| v.parse::<u64>().ok()) {
        let page = indices(&|o| o.ordinal == ordinal);
        return Answer::json(StatusCode::OK, &d.page_json(page, None, None));
    }
    let all = indices(&|_| true);
    let size = get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 100)
        .min(d.page_size);
    let start = match get("cursor") {
        None => 0,
        Some(c) => match c.strip_prefix('c').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n > 0 && n < all.len() => n,
            _ => return Answer::problem(StatusCode::NOT_FOUND, "Invalid cursor.", &[]),
        },
    };
    let end = (start + size).min(all.len());
    let next = (end < all.len()).then(|| format!("c{end}"));
    let previous = (start > 0).then(|| format!("c{}", start.saturating_sub(size)));
    let page = all[start..end].to_vec();
    Answer::json(
        StatusCode::OK,
        &d.page_json(page, next.as_deref(), previous.as_deref()),
    )
}

/// A grant for `d.objects[index]` dated now, normal unless `fault` says.
fn grant(d: &Published, index: usize, fault: Option<GrantFault>) -> Answer {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let lifetime = GRANT_LIFETIME.as_secs();
    let mut url = d.download_url(index);
    let expires_at = match fault {
        None | Some(GrantFault::DisallowedHost) => now + lifetime,
        Some(GrantFault::ShortLived) => now + 3,
        Some(GrantFault::Expired) => now.saturating_sub(10),
        Some(GrantFault::TooLong) => now + 600,
    };
    if fault == Some(GrantFault::DisallowedHost) {
        url = url.replacen("127.0.0.1", "localhost", 1);
    }
    let mut answer = Answer::json(StatusCode::OK, &d.grant_json(index, url, expires_at));
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(now));
    if let Ok(date) = HeaderValue::from_str(&date) {
        answer.headers.push((header::DATE, date));
    }
    answer
}

/// The download route's answer, or `None` when `record` is not for it.
pub(super) fn download(state: &State, record: &mut ReceivedRequest) -> Option<Answer> {
    let rest = record.path.strip_prefix(DOWNLOAD_PREFIX)?;
    record.operation_id = Some(DOWNLOAD_OPERATION.to_owned());
    let object_uid = rest.trim_end_matches('/').to_owned();
    let object = state
        .resolver
        .datasets()
        .iter()
        .flat_map(|d| d.objects.iter())
        .find(|o| o.object_uid == object_uid)
        .cloned();
    let normal = || match &object {
        _ if record.method != "GET" => {
            Answer::problem(StatusCode::METHOD_NOT_ALLOWED, "Only GET.", &[])
        }
        Some(o) => {
            let mut answer = Answer::bytes(StatusCode::OK, Some(o.bytes.clone()));
            answer.headers.push((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ));
            answer
        }
        None => Answer::problem(StatusCode::NOT_FOUND, "Not found.", &[]),
    };
    let fault = state
        .faults
        .take(&object_fault_key(&object_uid))
        .or_else(|| state.faults.take(DOWNLOAD_OPERATION));
    Some(match fault {
        Some(fault) => server::play(fault, normal),
        None => normal(),
    })
}

/// Where the faults of one object's downloads are kept.
fn object_fault_key(object_uid: &str) -> String {
    format!("{DOWNLOAD_OPERATION} {object_uid}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A lowercase UUID-shaped id derived from `parts`.
fn uid_from(parts: &[&str]) -> String {
    let h = hex_sha256(parts.join("\u{0}").as_bytes());
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
