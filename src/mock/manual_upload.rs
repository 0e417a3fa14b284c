//! The API side of manual dataset uploads (protocol §9.1) on the mock: the
//! presign answers, part signing, completion, quota, and the finalised
//! datasets. The bytes arrive on the storage routes (`storage.rs`).
//!
//! Sessions are keyed by owner, dataset name, path and size (not by batch),
//! so a second upload of an already completed file is answered
//! `{method, upload_uid, complete: true}` (without URL, headers or part
//! geometry), as when a client lost its local state or the answer to its
//! `complete`.
//!
//! The stateful flow starts with a v2 presign (`upload_protocol_version: 2`
//! and a `dataset_upload_uid`). Everything else keeps the document's example
//! answers: a v1 presign, an `upload_uid` or a batch the mock did not issue,
//! and the quota until `UploadKnobs::quota` changes it or uploads
//! complete (it starts at the example's values).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    schema,
    server::{Answer, MockServer, ReceivedRequest},
};

/// Objects up to this size keep their bytes until completion, so that a
/// multipart object's SHA-256 can be computed; larger multipart objects
/// keep only their length.
const KEEP_PARTS_UP_TO: u64 = 64 * 1024 * 1024;

/// How the mock answers `create_manual_upload_url` (protocol §9.1 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadMode {
    /// The legacy v1 presigned form POST, whatever the request asks.
    V1,
    /// A v2 single PUT (`If-None-Match: *`) for every file.
    Put,
    /// A v2 MULTIPART upload with parts of `part_size` bytes for every file.
    Multipart {
        /// Bytes per part (5 MiB..128 MiB for the SDK to accept it).
        part_size: u64,
    },
    /// PUT below `threshold` bytes, MULTIPART of `part_size` from there.
    /// The default: 16 MiB and 8 MiB.
    Auto {
        /// The smallest file sent by MULTIPART.
        threshold: u64,
        /// Bytes per part.
        part_size: u64,
    },
}

impl Default for UploadMode {
    fn default() -> Self {
        Self::Auto {
            threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
        }
    }
}

/// An object the mock's storage holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredObject {
    /// `<storage root>/<dataset name>/<path in the dataset>`.
    pub key: String,
    /// The dataset name it was uploaded for.
    pub dataset_name: String,
    /// Its path in the dataset.
    pub path: String,
    /// Its length in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, lower-case hex; `None` for a multipart
    /// object larger than 64 MiB (whose bytes the mock does not keep).
    pub sha256: Option<String>,
}

/// A dataset the mock created from a manual upload, with the options its
/// `create_dataset_from_manual_upload` carried, as received (`None`: the
/// field was not sent).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FinalisedDataset {
    /// The uid the mock gave it.
    pub uid: String,
    /// `name`.
    pub name: String,
    /// `slug`.
    pub slug: Option<String>,
    /// `data_type`.
    pub data_type: Option<String>,
    /// `visibility`.
    pub visibility: Option<String>,
    /// `create_metadata`.
    pub create_metadata: Option<bool>,
    /// `industry`.
    pub industry: Option<i64>,
    /// `license`.
    pub license: Option<i64>,
    /// `metadata`.
    pub metadata: Option<Value>,
    /// `owner_name`.
    pub owner_name: Option<String>,
    /// `organization_uid`.
    pub organization_uid: Option<String>,
    /// `dataset_upload_uid`.
    pub dataset_upload_uid: Option<String>,
}

impl FinalisedDataset {
    fn received(uid: String, body: &Value) -> Self {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        Self {
            uid,
            name: text("name").unwrap_or_default(),
            slug: text("slug"),
            data_type: text("data_type"),
            visibility: text("visibility"),
            create_metadata: body.get("create_metadata").and_then(Value::as_bool),
            industry: body.get("industry").and_then(Value::as_i64),
            license: body.get("license").and_then(Value::as_i64),
            metadata: body.get("metadata").cloned(),
            owner_name: text("owner_name"),
            organization_uid: text("organization_uid"),
            dataset_upload_uid: text("dataset_upload_uid"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Multipart { part_size: u64, part_count: u64 },
}

#[derive(Debug)]
struct Session {
    kind: Kind,
    key: String,
    dataset_name: String,
    path: String,
    size: u64,
    /// Part number → bytes (or only their length when too large to keep).
    parts: BTreeMap<u64, (u64, Option<Bytes>)>,
    /// The PUT's object, once stored (before completion).
    put: Option<StoredObject>,
    completed: bool,
}

#[derive(Debug)]
struct Book {
    mode: UploadMode,
    limit: u64,
    used: u64,
    /// upload_uid → session.
    sessions: HashMap<String, Session>,
    /// (owner root, dataset name, path, size) → upload_uid.
    by_file: HashMap<(String, String, String, u64), String>,
    objects: BTreeMap<String, StoredObject>,
    datasets: HashMap<String, Value>,
    /// What each finalisation asked for, in order.
    finalised: Vec<FinalisedDataset>,
    /// The batch ids of v2 presigns.
    batches: std::collections::HashSet<String>,
    /// v1 presigned forms: the fields expected back, by object key.
    forms: HashMap<String, BTreeMap<String, String>>,
    next: u64,
}

/// The upload state of one mock server.
#[derive(Debug)]
pub(crate) struct Uploads {
    book: Mutex<Book>,
    user_root: String,
    /// The mock account's own namespaces, from the examples: the user's
    /// `username`, and its organizations as (uid, slug).
    user_name: String,
    organizations: Vec<(String, String)>,
}

/// The single-PUT route's path prefix.
pub(crate) const PUT_PATH: &str = "/_storage/put/";
/// The part route's path prefix: `/_storage/part/{upload_uid}/{n}`.
pub(crate) const PART_PATH: &str = "/_storage/part/";
/// The v1 form POST route.
pub(crate) const FORM_PATH: &str = "/_storage/form/";

impl Default for Uploads {
    fn default() -> Self {
        let me = |k: &str| {
            super::examples::default_response("get_current_user")
                .and_then(|e| e.body.get(k)?.as_str().map(str::to_owned))
        };
        let uid = me("uid").unwrap_or_else(|| "mock-user".to_owned());
        let organizations = super::examples::default_response("list_organizations")
            .and_then(|e| e.body.get("results")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|o| {
                let text = |k: &str| o.get(k)?.as_str().map(str::to_owned);
                Some((text("uid")?, text("slug")?))
            })
            .collect();
        let quota = |k: &str| {
            super::examples::default_response("get_manual_upload_quota")
                .and_then(|e| e.body.get(k)?.as_u64())
        };
        Self {
            book: Mutex::new(Book {
                mode: UploadMode::default(),
                limit: quota("limit").unwrap_or(10 << 30),
                used: quota("used").unwrap_or(0),
                sessions: HashMap::new(),
                by_file: HashMap::new(),
                objects: BTreeMap::new(),
                datasets: HashMap::new(),
                finalised: Vec::new(),
                batches: Default::default(),
                forms: HashMap::new(),
                next: 0,
            }),
            user_root: format!("__u__=/{uid}"),
            user_name: me("username").unwrap_or_else(|| "mock-user".to_owned()),
            organizations,
        }
    }
}

/// What a storage route may write, as decided before its body is read.
#[derive(Debug)]
pub(crate) enum Slot {
    Put {
        upload_uid: String,
        size: u64,
        /// `If-None-Match: *` and the object is already there.
        exists: bool,
    },
    Part {
        upload_uid: String,
        number: u64,
        size: u64,
        keep: bool,
    },
}

impl Uploads {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_mode(&self, mode: UploadMode) {
        self.book().mode = mode;
    }

    pub(crate) fn set_quota(&self, limit: u64, used: u64) {
        let mut book = self.book();
        book.limit = limit;
        book.used = used;
    }

    pub(crate) fn objects(&self) -> Vec<StoredObject> {
        self.book().objects.values().cloned().collect()
    }

    fn presign(&self, origin: &str, body: &Value) -> Answer {
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (name, path) = (text("dataset_name"), text("file_path_in_dataset"));
        let size = body
            .get("content_length")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let v2 = body.get("upload_protocol_version").and_then(Value::as_i64) == Some(2)
            && body.get("dataset_upload_uid").is_some_and(Value::is_string);
        let root = match body.get("organization_uid").and_then(Value::as_str) {
            Some(org) => format!("__o__=/{org}"),
            None => self.user_root.clone(),
        };
        let key = format!("{root}/{name}/{path}");
        let mut book = self.book();
        if let Some(batch) = body.get("dataset_upload_uid").and_then(Value::as_str) {
            book.batches.insert(batch.to_owned());
        }
        if book.used.saturating_add(size) > book.limit {
            let (limit, used) = (book.limit, book.used);
            return Answer::json(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"detail": "Storage quota exceeded.", "limit": limit, "used": used}),
            );
        }
        let kind = match book.mode {
            _ if !v2 => None,
            UploadMode::V1 => None,
            UploadMode::Put => Some(Kind::Put),
            UploadMode::Multipart { part_size } => Some(multipart(size, part_size)),
            UploadMode::Auto {
                threshold,
                part_size,
            } if size >= threshold => Some(multipart(size, part_size)),
            UploadMode::Auto { .. } => Some(Kind::Put),
        };
        let Some(kind) = kind else {
            let fields = BTreeMap::from([
                ("key".to_owned(), key.clone()),
                (
                    "Content-Type".to_owned(),
                    "application/octet-stream".to_owned(),
                ),
                ("policy".to_owned(), "bW9jay1wb2xpY3k=".to_owned()),
                ("x-amz-signature".to_owned(), "mock-signature".to_owned()),
            ]);
            book.forms.insert(key, fields.clone());
            return Answer::json(
                StatusCode::OK,
                &json!({"method": "POST", "url": format!("{origin}{FORM_PATH}"), "fields": fields}),
            );
        };
        let file = (root, name.clone(), path.clone(), size);
        let uid = match book.by_file.get(&file) {
            Some(uid) if book.sessions.get(uid).is_some_and(|s| s.kind == kind) => uid.clone(),
            _ => {
                book.next += 1;
                let uid = format!("00000000-0000-4000-8000-{:012x}", book.next);
                book.sessions.insert(
                    uid.clone(),
                    Session {
                        kind,
                        key,
                        dataset_name: name,
                        path,
                        size,
                        parts: BTreeMap::new(),
                        put: None,
                        completed: false,
                    },
                );
                book.by_file.insert(file, uid.clone());
                uid
            }
        };
        let session = &book.sessions[&uid];
        if session.completed {
            // As the server: nothing to send, so no URL, headers or parts.
            let method = match kind {
                Kind::Put => "PUT",
                Kind::Multipart { .. } => "MULTIPART",
            };
            return Answer::json(
                StatusCode::OK,
                &json!({"method": method, "upload_uid": uid, "complete": true}),
            );
        }
        let answer = match kind {
            Kind::Put => json!({
                "method": "PUT",
                "upload_uid": uid,
                "url": format!("{origin}{PUT_PATH}{uid}"),
                "headers": {"If-None-Match": "*", "Content-Type": "application/octet-stream"},
            }),
            Kind::Multipart {
                part_size,
                part_count,
            } => json!({
                "method": "MULTIPART",
                "upload_uid": uid,
                "part_size": part_size,
                "part_count": part_count,
                "uploaded_parts": session.parts.iter()
                    .map(|(n, (size, _))| json!({"part_number": n, "size": size}))
                    .collect::<Vec<_>>(),
            }),
        };
        Answer::json(StatusCode::OK, &answer)
    }

    fn sign(&self, origin: &str, uid: &str, body: &Value) -> Answer {
        let book = self.book();
        let Some(session) = book.sessions.get(uid) else {
            return Answer::problem(StatusCode::NOT_FOUND, "No such upload.", &[]);
        };
        let Kind::Multipart { part_count, .. } = session.kind else {
            return Answer::problem(StatusCode::BAD_REQUEST, "Not a multipart upload.", &[]);
        };
        let numbers: Vec<u64> = body
            .get("part_numbers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        if numbers.is_empty() || numbers.iter().any(|n| !(1..=part_count).contains(n)) {
            return Answer::problem(StatusCode::BAD_REQUEST, "Invalid part numbers.", &[]);
        }
        let parts: Vec<Value> = numbers
            .iter()
            .map(|n| json!({"part_number": n, "url": format!("{origin}{PART_PATH}{uid}/{n}"), "headers": {}}))
            .collect();
        Answer::json(StatusCode::OK, &json!({ "parts": parts }))
    }

    fn complete(&self, uid: &str) -> Answer {
        let mut book = self.book();
        let Some(session) = book.sessions.get_mut(uid) else {
            return Answer::problem(StatusCode::NOT_FOUND, "No such upload.", &[]);
        };
        if session.completed {
            return Answer::json(StatusCode::OK, &json!({}));
        }
        let object = match session.kind {
            Kind::Put => match session.put.take() {
                Some(object) => object,
                None => {
                    return Answer::problem(
                        StatusCode::CONFLICT,
                        "The object was not uploaded.",
                        &[],
                    )
                }
            },
            Kind::Multipart {
                part_count,
                part_size,
            } => {
                let missing: Vec<String> = (1..=part_count)
                    .filter(|n| {
                        session.parts.get(n).map(|p| p.0)
                            != Some(part_len(session.size, part_size, *n))
                    })
                    .map(|n| format!("part {n} is missing"))
                    .collect();
                if !missing.is_empty() {
                    return Answer::problem(
                        StatusCode::CONFLICT,
                        "The upload is incomplete.",
                        &missing,
                    );
                }
                let sha256 = session
                    .parts
                    .values()
                    .try_fold(Sha256::new(), |mut h, (_, bytes)| {
                        h.update(bytes.as_ref()?);
                        Some(h)
                    })
                    .map(|h| hex(&h.finalize()));
                session.parts.values_mut().for_each(|p| p.1 = None);
                StoredObject {
                    key: session.key.clone(),
                    dataset_name: session.dataset_name.clone(),
                    path: session.path.clone(),
                    size: session.size,
                    sha256,
                }
            }
        };
        session.completed = true;
        book.used = book.used.saturating_add(object.size);
        book.objects.insert(object.key.clone(), object);
        Answer::json(StatusCode::OK, &json!({}))
    }

    /// The dataset `owner`/`slug` when the mock created it, a 404 when the
    /// owner is one of the mock account's namespaces (or of a dataset it
    /// created), and `None` (the example) for anyone else's.
    fn by_slug(&self, owner: &str, slug: &str) -> Option<Answer> {
        let book = self.book();
        let found = book
            .datasets
            .values()
            .find(|d| d["owner_name"].as_str() == Some(owner) && d["slug"].as_str() == Some(slug));
        if let Some(dataset) = found {
            let mut dataset = dataset.clone();
            dataset["status"] = json!("created");
            return Some(Answer::json(StatusCode::OK, &dataset));
        }
        let ours = owner == self.user_name
            || self.organizations.iter().any(|(_, s)| s == owner)
            || book
                .datasets
                .values()
                .any(|d| d["owner_name"].as_str() == Some(owner));
        ours.then(|| Answer::problem(StatusCode::NOT_FOUND, "Not found.", &[]))
    }

    /// Who a finalised dataset belongs to: `owner_name`, else the
    /// organization's slug (its uid when the examples do not know it), else
    /// the mock user.
    fn owner_of(&self, body: &Value) -> String {
        let text = |k: &str| body.get(k).and_then(Value::as_str);
        if let Some(owner) = text("owner_name") {
            return owner.to_owned();
        }
        match text("organization_uid") {
            Some(org) => self
                .organizations
                .iter()
                .find(|(uid, _)| uid == org)
                .map_or(org, |(_, slug)| slug)
                .to_owned(),
            None => self.user_name.clone(),
        }
    }

    fn finalise(&self, body: &Value) -> Answer {
        let owner = self.owner_of(body);
        let slug = body.get("slug").cloned().unwrap_or(Value::Null);
        let mut book = self.book();
        // As the server: one slug per owner, said as a DRF field error.
        if book
            .datasets
            .values()
            .any(|d| d["owner_name"] == owner.as_str() && d["slug"] == slug)
        {
            return Answer::json(
                StatusCode::BAD_REQUEST,
                &json!({"slug": ["Dataset with this slug already exists."]}),
            );
        }
        book.next += 1;
        let uid = format!("mock-dataset-{}", book.next);
        let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
        let items = book
            .objects
            .values()
            .filter(|o| o.dataset_name == name)
            .count();
        let dataset = json!({
            "uid": uid,
            "name": name,
            "slug": slug,
            "data_type": body.get("data_type").cloned().unwrap_or(Value::Null),
            "owner_name": owner,
            "item_count": items,
            "status": "creating",
        });
        book.datasets.insert(uid.clone(), dataset.clone());
        book.finalised.push(FinalisedDataset::received(uid, body));
        Answer::json(StatusCode::CREATED, &dataset)
    }

    /// Where a PUT or part body may go, or the refusal.
    pub(crate) fn slot(&self, path: &str, if_none_match: bool) -> Result<Slot, Answer> {
        let book = self.book();
        let not_found = || Answer::problem(StatusCode::NOT_FOUND, "No such upload.", &[]);
        if let Some(uid) = path.strip_prefix(PUT_PATH) {
            let session = book
                .sessions
                .get(uid)
                .filter(|s| s.kind == Kind::Put)
                .ok_or_else(not_found)?;
            let exists = if_none_match && (session.put.is_some() || session.completed);
            return Ok(Slot::Put {
                upload_uid: uid.to_owned(),
                size: session.size,
                exists,
            });
        }
        let rest = path.strip_prefix(PART_PATH).ok_or_else(not_found)?;
        let (uid, number) = rest.split_once('/').ok_or_else(not_found)?;
        let number: u64 = number.parse().map_err(|_| not_found())?;
        let session = book.sessions.get(uid).ok_or_else(not_found)?;
        let Kind::Multipart {
            part_size,
            part_count,
        } = session.kind
        else {
            return Err(not_found());
        };
        if !(1..=part_count).contains(&number) {
            return Err(not_found());
        }
        Ok(Slot::Part {
            upload_uid: uid.to_owned(),
            number,
            size: part_len(session.size, part_size, number),
            keep: session.size <= KEEP_PARTS_UP_TO,
        })
    }

    /// Stores what a PUT or part route received.
    pub(crate) fn store(&self, slot: &Slot, bytes: Option<Bytes>, size: u64, sha256: String) {
        let mut book = self.book();
        match slot {
            Slot::Put { upload_uid, .. } => {
                if let Some(session) = book.sessions.get_mut(upload_uid) {
                    session.put = Some(StoredObject {
                        key: session.key.clone(),
                        dataset_name: session.dataset_name.clone(),
                        path: session.path.clone(),
                        size,
                        sha256: Some(sha256),
                    });
                }
            }
            Slot::Part {
                upload_uid, number, ..
            } => {
                if let Some(session) = book.sessions.get_mut(upload_uid) {
                    session.parts.insert(*number, (size, bytes));
                }
            }
        }
    }

    /// Stores a v1 form upload; `Err` names what is wrong with the form.
    pub(crate) fn store_form(
        &self,
        fields: &BTreeMap<String, String>,
        file: &[u8],
    ) -> Result<(), String> {
        let mut book = self.book();
        let key = fields.get("key").ok_or("the form has no `key` field")?;
        let expected = book
            .forms
            .get(key)
            .ok_or("no presigned form has this key")?;
        if let Some((name, _)) = expected.iter().find(|(k, v)| fields.get(*k) != Some(v)) {
            return Err(format!("the form's field `{name}` is missing or altered"));
        }
        let (dataset_name, path) = key
            .split_once('/')
            .and_then(|(_, rest)| rest.split_once('/'))
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(name, path)| (name.to_owned(), path.to_owned()))
            .unwrap_or_default();
        let object = StoredObject {
            key: key.clone(),
            dataset_name,
            path,
            size: file.len() as u64,
            sha256: Some(hex(&Sha256::digest(file))),
        };
        book.used = book.used.saturating_add(object.size);
        book.objects.insert(key.clone(), object);
        Ok(())
    }
}

impl super::Flow for Uploads {
    /// The answer to a manual-upload operation (or a `get_dataset` of a
    /// dataset it created, or a `get_dataset_by_slug` in one of the mock
    /// account's namespaces); `None` for other operations.
    fn answer(
        &self,
        origin: &str,
        op: &schema::Operation,
        record: &ReceivedRequest,
    ) -> Option<Answer> {
        let body = record.json().unwrap_or(Value::Null);
        let issued =
            |uid: Option<&String>| uid.is_some_and(|u| self.book().sessions.contains_key(u));
        let batch = body.get("dataset_upload_uid").and_then(Value::as_str);
        let upload_uid = record.path_params.get("upload_uid");
        let known_batch = batch.is_some_and(|b| self.book().batches.contains(b));
        Some(match op.id.as_str() {
            "create_manual_upload_url" => {
                let v2 = body.get("upload_protocol_version").and_then(Value::as_i64) == Some(2);
                if !v2 || batch.is_none() {
                    return None;
                }
                self.presign(origin, &body)
            }
            "sign_manual_upload_parts" if issued(upload_uid) => {
                self.sign(origin, upload_uid?, &body)
            }
            "complete_manual_upload" if issued(upload_uid) => self.complete(upload_uid?),
            "get_manual_upload_quota" => {
                let book = self.book();
                Answer::json(
                    StatusCode::OK,
                    &json!({"limit": book.limit, "used": book.used}),
                )
            }
            "create_dataset_from_manual_upload" if known_batch => self.finalise(&body),
            "get_dataset" => {
                let uid = record.path_params.get("uid")?;
                let mut dataset = self.book().datasets.get(uid)?.clone();
                dataset["status"] = json!("created");
                Answer::json(StatusCode::OK, &dataset)
            }
            "get_dataset_by_slug" => {
                let owner = record.path_params.get("owner")?;
                let slug = record.path_params.get("slug")?;
                self.by_slug(owner, slug)?
            }
            _ => return None,
        })
    }

    fn clear(&self) {
        let mut book = self.book();
        book.sessions.clear();
        book.by_file.clear();
        book.objects.clear();
        book.datasets.clear();
        book.finalised.clear();
        book.batches.clear();
        book.forms.clear();
    }
}

fn multipart(size: u64, part_size: u64) -> Kind {
    Kind::Multipart {
        part_size,
        part_count: size.div_ceil(part_size.max(1)),
    }
}

fn part_len(size: u64, part_size: u64, number: u64) -> u64 {
    part_size.min(size.saturating_sub((number - 1) * part_size))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl MockServer {
    /// The knobs of dataset uploads: how presigns answer, the quota, and
    /// the objects stored.
    pub fn uploads(&self) -> UploadKnobs<'_> {
        UploadKnobs {
            uploads: &self.state.uploads,
        }
    }
}

/// The knobs of the dataset uploads of a [`MockServer`], from
/// [`MockServer::uploads`].
#[derive(Debug, Clone, Copy)]
pub struct UploadKnobs<'a> {
    uploads: &'a Uploads,
}

impl UploadKnobs<'_> {
    /// How `create_manual_upload_url` answers from now on (default
    /// [`UploadMode::Auto`]: PUT below 16 MiB, else MULTIPART of 8 MiB
    /// parts). The stateful upload starts with a presign that carries
    /// `upload_protocol_version: 2` and a `dataset_upload_uid`; other
    /// presigns, and `upload_uid`s or batches the mock did not issue, get
    /// the document's example answers.
    pub fn mode(&self, mode: UploadMode) {
        self.uploads.set_mode(mode);
    }

    /// The storage quota of `get_manual_upload_quota`; a presign whose
    /// `content_length` would take `used` past `limit` is answered 413
    /// `{limit, used}`. Default: the document's example (10 GiB, 1 GiB
    /// used). Completed uploads add to `used`.
    pub fn quota(&self, limit: u64, used: u64) {
        self.uploads.set_quota(limit, used);
    }

    /// The objects the storage holds (completed v2 uploads and v1 forms),
    /// sorted by key.
    pub fn objects(&self) -> Vec<StoredObject> {
        self.uploads.objects()
    }

    /// The datasets created from manual uploads, oldest first, each with
    /// the options its finalisation carried.
    pub fn datasets(&self) -> Vec<FinalisedDataset> {
        self.uploads.book().finalised.clone()
    }
}
