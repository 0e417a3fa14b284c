//! The manual dataset upload of protocol §9.1, step by step.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        OnceLock,
    },
};

use super::{
    kinds, plan,
    receipt::{Destination, State},
    slug, DatasetUpload, FileUpload, Options, UploadReport,
};
use crate::upload::{
    api_key,
    inventory::{self, LocalFile, Others, Source},
    parallel,
    store::{self, Flow},
    totals::Totals,
    transfer::{DataPlane, Put, Slice, Timeouts},
    ProgressEvent, UploadError,
};
use crate::{generated::open_enums::ManualUploadMethod, retry, types, Client, Error, Result};

/// Multipart geometry limits (§9.1, models.md `ManualUploadTarget`).
const MIN_PART: u64 = 5 * 1024 * 1024;
const MAX_PART: u64 = 128 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
/// Part PUTs in parallel for one file.
const PARTS_IN_FLIGHT: usize = 2;
/// Files presigned ahead of each transfer slot: the next file's presign is
/// in flight while the current one sends (issue 22).
const PRESIGNS_AHEAD: usize = 1;

/// What `send` and `plan` both settle before any request: the checked
/// arguments, the one walk of the source, and the data type.
pub(super) struct Prepared {
    pub(super) name: String,
    pub(super) slug: String,
    pub(super) data_type: types::DataType,
    /// Told from the files, not given.
    pub(super) detected: bool,
    pub(super) walked: inventory::Walk,
}

/// The local checks, in order: arguments, the walk, the data type (given
/// or detected), and the guard against a dataset that would be empty.
pub(super) fn prepare(up: &DatasetUpload) -> Result<Prepared> {
    up.options.check()?;
    let name = up
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Error::invalid("upload_dataset needs a dataset name: call .name(..)"))?;
    let slug = up.slug.clone().unwrap_or_else(|| slugify(&name));
    if slug.is_empty() {
        return Err(Error::invalid(format!(
            "cannot make a slug from the name `{name}`: call .slug(..)"
        )));
    }
    let walked = inventory::walk(&up.source, Others::Report)?;
    if walked.files.is_empty() {
        return Err(Error::invalid(format!(
            "{} holds no file to upload",
            up.source.display()
        )));
    }
    let (data_type, detected) = match &up.data_type {
        Some(given) => (given.clone(), false),
        None => (kinds::detect(&walked.files)?, true),
    };
    kinds::guard(&data_type, &walked.files)?;
    Ok(Prepared {
        name,
        slug,
        data_type,
        detected,
        walked,
    })
}

/// `create_from_local`: transfer, finalise, wait.
pub(crate) async fn upload_dataset(up: DatasetUpload) -> Result<types::Dataset> {
    let Prepared {
        name,
        slug,
        data_type,
        walked,
        ..
    } = prepare(&up)?;
    let client = up.client;

    // Step 0: a taken slug is refused now, before any byte is sent, not at
    // the finalisation after all of them.
    let org = up.options.organization_uid.as_deref();
    slug::ensure_free(&client, up.owner_name.as_deref(), org, &slug).await?;

    // Steps 1–4: storage root, quota, batch id, every file. The resume
    // state is the slug's and the source root's: another directory uploaded
    // under the same name gets a batch of its own.
    let source_root =
        std::fs::canonicalize(&up.source).map_err(|e| inventory::io(&up.source, e))?;
    let key = format!("{slug} {source_root:?}");
    let done = transfer(&client, &name, &key, walked, &up.options).await?;

    // Step 5: finalise, under the storage root the files were sent to.
    let root = storage_root(&client, up.options.organization_uid.as_deref()).await;
    if let (Some(before), Some(after)) = (&done.root, &root) {
        if before != after {
            return Err(UploadError::StorageRootChanged {
                before: before.clone(),
                after: after.clone(),
            }
            .into());
        }
    }
    // As Python sends it: `create_metadata` always, `industry` and
    // `license` only when set.
    let body = types::CreateDatasetFromManualUploadRequest {
        create_metadata: Some(up.create_metadata),
        data_type,
        dataset_upload_uid: Some(done.state.batch_id().to_owned()),
        industry: up.industry,
        license: up.license,
        metadata: up.metadata,
        name,
        organization_uid: up.options.organization_uid.clone(),
        owner_name: up.owner_name,
        slug,
        visibility: Some(up.visibility),
    };
    let dataset = client
        .create_dataset_from_manual_upload()
        .body(body)
        .send()
        .await?
        .into_inner();
    // The batch is consumed: a later upload of the same name starts afresh.
    done.state.remove()?;

    // Step 6: the optional wait (§10.2).
    match up.wait {
        // §10.2, as Python's `create_from_local(wait=True)`: every 10 s.
        Some(timeout) => {
            let mut wait = client.wait_for_dataset(&dataset.uid).timeout(timeout);
            if let Some(interval) = up.poll_interval {
                wait = wait.poll_interval(interval);
            }
            wait.send().await
        }
        None => Ok(dataset),
    }
}

/// `upload_files`: the transfer alone.
pub(crate) async fn upload_files(up: FileUpload) -> Result<UploadReport> {
    up.options.check()?;
    let mut files = Vec::with_capacity(up.files.len());
    for (local, remote) in up.files {
        inventory::check_remote(&remote)?;
        files.push(LocalFile::named(local, remote)?);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = files.iter().find(|f| !seen.insert(f.remote.as_str())) {
        return Err(Error::invalid(format!(
            "`{}` is given twice as a path in the dataset",
            dup.remote
        )));
    }
    let walked = inventory::Walk {
        files,
        excluded: Vec::new(),
    };
    let done = transfer(&up.client, &up.dataset_name, "", walked, &up.options).await?;
    Ok(done.report)
}

/// What the transfer leaves for the finalisation.
struct Transferred {
    report: UploadReport,
    state: State,
    /// The storage root the files went to, when it could be learnt.
    root: Option<String>,
}

/// Steps 1–4 of §9.1. `key` names the upload's resume state next to the
/// destination (for a dataset upload: its slug and source root). What the
/// walk left out is reported first.
async fn transfer(
    client: &Client,
    dataset_name: &str,
    key: &str,
    walked: inventory::Walk,
    options: &Options,
) -> Result<Transferred> {
    let inventory::Walk { files, excluded } = walked;
    let org = options.organization_uid.as_deref();

    // 1. Storage root: `__o__=/<org>` without a call, else `__u__=/<uid>`
    //    from /users/me/ (advisory: a failure leaves it unknown). It also
    //    keys the resume state.
    let root = storage_root(client, org).await;
    let owner = match (org, &root) {
        (Some(org), _) => format!("o:{org}"),
        (None, Some(root)) => format!("u:{}", root.trim_start_matches("__u__=/")),
        (None, None) => "unknown".to_owned(),
    };
    let dir = match &options.state_dir {
        Some(dir) => dir.clone(),
        None => store::default_dir(Flow::Dataset).ok_or_else(|| {
            Error::invalid(
                "no data directory is known for the resume state: call .state_dir(..)".to_owned(),
            )
        })?,
    };
    let destination = Destination {
        base_url: client.base_url().to_owned(),
        owner,
        dataset_name: dataset_name.to_owned(),
        key: key.to_owned(),
    };
    let mut state = State::open(&dir, destination, options.resume)?;

    let progress = Totals::new(
        files.len(),
        files.iter().map(|f| f.stamp.size).sum(),
        options.on_progress.clone(),
    );
    for (remote, kind) in excluded {
        tracing::warn!(path = %remote, ?kind, "left out of the upload");
        progress.emit(&remote, ProgressEvent::Excluded(kind));
    }
    let (done, pending): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|f| state.is_done(&f.remote, &f.stamp));
    for file in &done {
        progress.finish(&file.remote, file.stamp.size, 0, true);
    }

    // 2. Quota preparallel: the bytes still to send against `limit` (not
    //    `remaining`). An error of this call is ignored.
    if options.check_quota && !pending.is_empty() {
        let to_send: u64 = pending.iter().map(|f| f.stamp.size).sum();
        let quota = plan::quota(client, org, to_send).await;
        if let Some(q) = quota.filter(|q| !q.within_limit) {
            return Err(quota_exceeded(q.needed, q.limit, Some(q.used)));
        }
    }

    // 3. Batch id: a UUID v4 from the state, written before the first
    //    presign so that a retry or a second run resumes the same batch.
    state.flush()?;
    let batch = state.batch_id().to_owned();

    // 4. Every file, `workers` sending at a time and as many presigned
    //    ahead of them, each with its own retries.
    let run = Run {
        client,
        plane: DataPlane::new(client, options.knobs.timeouts(Timeouts::default()))?,
        key: api_key(client).to_owned(),
        dataset_name,
        org,
        batch: &batch,
        progress: &progress,
        slots: parallel::Slots::new(options.workers, options.workers * PRESIGNS_AHEAD),
    };
    let sent = parallel::each_ahead(
        &run.slots,
        pending.len(),
        |i| run.file(&pending[i]),
        |file| match file {
            Some(file) => state
                .mark_done(&file.remote, file.stamp)
                .map_err(Error::from),
            // Presigned, then stopped by another file's failure: not sent.
            None => Ok(()),
        },
    )
    .await;
    // What finished is kept either way, so that a re-run resumes; the
    // transfer's error, when there is one, is the one to report.
    let flushed = state.flush();
    sent?;
    flushed?;
    Ok(Transferred {
        report: UploadReport {
            files_sent: progress.files_sent.load(Ordering::SeqCst),
            files_skipped: progress.files_skipped.load(Ordering::SeqCst),
            bytes_sent: progress.bytes_sent.load(Ordering::SeqCst),
            dataset_upload_uid: Some(batch),
        },
        state,
        root,
    })
}

/// One upload's shared context for the per-file work.
struct Run<'a> {
    client: &'a Client,
    plane: DataPlane,
    /// The API key, only to scrub it from storage error bodies.
    key: String,
    dataset_name: &'a str,
    org: Option<&'a str>,
    batch: &'a str,
    progress: &'a Totals,
    /// The transfer slots (`workers`) and the presigns ahead of them.
    slots: parallel::Slots,
}

/// What one file keeps across its attempts: its slot, taken by the first
/// attempt that gets a presign and held until the file ends (a retry's
/// backoff included, as before the look-ahead), and its handle, opened
/// then (not when presigned ahead, while the previous file may still be
/// sending); every attempt sends from that handle.
#[derive(Default)]
struct Turn<'s> {
    slot: OnceLock<tokio::sync::SemaphorePermit<'s>>,
    source: OnceLock<Source>,
}

/// How one attempt at a file ended.
enum Outcome {
    Sent,
    /// The server already had it (`complete: true`, or 412 on a PUT that
    /// carried `If-None-Match: *`).
    AlreadyThere,
    /// Presigned, but another file failed before this one got a slot:
    /// nothing was sent.
    Stopped,
}

impl Run<'_> {
    /// Step 4 for one file: up to 8 attempts (the dataset plane of
    /// [`crate::retry`]), each presigning again. `None` when it was stopped
    /// by another file's failure before sending anything.
    async fn file<'f>(&self, file: &'f LocalFile) -> Result<Option<&'f LocalFile>> {
        let turn = Turn::default();
        let credited = AtomicU64::new(0);
        let size = file.stamp.size;
        let policy = self.client.retry_policy();
        let outcome = retry::run(&policy, retry::Plane::DatasetFile, |_| async {
            let result = self.attempt(file, &turn, &credited).await;
            let verdict = retry::workflow(&result);
            (result, verdict)
        })
        .await?;
        let skipped = match outcome {
            Outcome::Stopped => return Ok(None),
            Outcome::Sent => false,
            Outcome::AlreadyThere => true,
        };
        let credited = credited.load(Ordering::SeqCst);
        self.progress.finish(&file.remote, size, credited, skipped);
        Ok(Some(file))
    }

    /// One attempt: presign (the first one ahead of a slot), then, in the
    /// file's slot, the transfer the answer asks for and its `complete`.
    /// `Started` is reported once the attempt has its slot and its file, or
    /// when its presign failed.
    async fn attempt<'s>(
        &'s self,
        file: &LocalFile,
        turn: &Turn<'s>,
        credited: &AtomicU64,
    ) -> Result<Outcome> {
        let size = file.stamp.size;
        let started = || {
            self.progress
                .emit(&file.remote, ProgressEvent::Started { size })
        };
        let target = self.presign(file).await.inspect_err(|_| started())?;
        if turn.slot.get().is_none() {
            let Some(slot) = self.slots.take().await else {
                return Ok(Outcome::Stopped);
            };
            let _ = turn.slot.set(slot);
        }
        let source = match turn.source.get() {
            Some(source) => source,
            None => {
                let opened = Source::open(&file.local, file.stamp, Some(file.device))?;
                turn.source.get_or_init(|| opened)
            }
        };
        started();
        self.transfer(file, source, target, credited).await
    }

    /// 4.1 Presign (a 413 `{limit, used}` is `QuotaExceeded`, not retried).
    async fn presign(&self, file: &LocalFile) -> Result<types::ManualUploadTarget> {
        let size = file.stamp.size;
        let request = types::CreateManualUploadUrlRequest {
            content_length: i64::try_from(size)
                .map_err(|_| Error::invalid(format!("{} is too large", file.local.display())))?,
            dataset_name: self.dataset_name.to_owned(),
            dataset_upload_uid: Some(self.batch.to_owned()),
            file_path_in_dataset: file.remote.clone(),
            organization_uid: self.org.map(str::to_owned),
            upload_protocol_version: Some(2),
        };
        Ok(self
            .client
            .create_manual_upload_url()
            .body(request)
            .send()
            .await?
            .into_inner())
    }

    /// 4.2 and 4.3: the transfer `target` asks for, from `source`.
    async fn transfer(
        &self,
        file: &LocalFile,
        source: &Source,
        target: types::ManualUploadTarget,
        credited: &AtomicU64,
    ) -> Result<Outcome> {
        let size = file.stamp.size;
        let whole = Slice {
            source: source.clone(),
            remote: file.remote.clone(),
            offset: 0,
            len: size,
        };
        match target {
            // 4.2 A managed transfer the server already completed (its
            // `complete` went through before, e.g. when the answer was lost):
            // confirm again (idempotent), send nothing (§9.1, §13.1).
            types::ManualUploadTarget::CompletedTarget(t) => {
                let managed = matches!(
                    t.method,
                    ManualUploadMethod::Put | ManualUploadMethod::Multipart
                );
                if !t.complete || !managed {
                    return Err(protocol(
                        file,
                        format!(
                            "a `{}` answer without a url is neither a transfer nor a completed upload",
                            t.method.as_str()
                        ),
                    ));
                }
                self.already_complete(&t.upload_uid, file).await
            }
            // 4.2 Managed single PUT.
            types::ManualUploadTarget::PutTarget(t) => {
                if t.complete == Some(true) {
                    return self.already_complete(&t.upload_uid, file).await;
                }
                let upload = self.upload_uid(&t.upload_uid, file)?;
                let put = self
                    .plane
                    .put(&t.url, &t.headers, &whole, &self.key)
                    .await?;
                source.unchanged()?;
                if put == Put::Stored {
                    self.sent(file, size, credited);
                }
                self.complete(&upload).await?;
                Ok(match put {
                    Put::Stored => Outcome::Sent,
                    Put::AlreadyThere => Outcome::AlreadyThere,
                })
            }
            // 4.2 Managed MULTIPART.
            types::ManualUploadTarget::MultipartTarget(t) => {
                if t.complete == Some(true) {
                    return self.already_complete(&t.upload_uid, file).await;
                }
                let upload = self.upload_uid(&t.upload_uid, file)?;
                let part_size = geometry(t.part_size, t.part_count, size)
                    .map_err(|message| protocol(file, message))?;
                let part_count = t.part_count as u64;
                let have: HashMap<i64, i64> = t
                    .uploaded_parts
                    .iter()
                    .map(|p| (p.part_number, p.size))
                    .collect();
                let missing: Vec<Slice> = (1..=part_count)
                    .map(|n| {
                        let offset = (n - 1) * part_size;
                        Slice {
                            offset,
                            len: part_size.min(size - offset),
                            ..whole.clone()
                        }
                    })
                    .filter(|s| have.get(&part_number(s, part_size)) != Some(&(s.len as i64)))
                    .collect();
                let sent_parts = missing.len();
                parallel::each(
                    missing.len(),
                    PARTS_IN_FLIGHT,
                    |i| self.part(&upload, &missing[i], part_size, file, credited),
                    Ok,
                )
                .await?;
                source.unchanged()?;
                self.complete(&upload).await?;
                Ok(if sent_parts == 0 {
                    Outcome::AlreadyThere
                } else {
                    Outcome::Sent
                })
            }
            // 4.3 Legacy v1: a form POST of every field plus `file`.
            types::ManualUploadTarget::PostTarget(t) => {
                self.plane
                    .post_form(&t.url, &t.fields, &whole, &self.key)
                    .await?;
                source.unchanged()?;
                self.sent(file, size, credited);
                Ok(Outcome::Sent)
            }
        }
    }

    /// One missing part: signed on demand, checked, PUT from its offset.
    async fn part(
        &self,
        upload: &str,
        slice: &Slice,
        part_size: u64,
        file: &LocalFile,
        credited: &AtomicU64,
    ) -> Result<()> {
        let number = part_number(slice, part_size);
        let signed = self
            .client
            .sign_manual_upload_parts()
            .upload_uid(upload)
            .body(types::SignManualUploadPartsRequest {
                part_numbers: vec![number],
            })
            .send()
            .await?
            .into_inner();
        let [target] = signed.parts.as_slice() else {
            return Err(protocol(
                file,
                format!(
                    "signing part {number} gave {} URLs, not one",
                    signed.parts.len()
                ),
            ));
        };
        if target.part_number != number {
            return Err(protocol(
                file,
                format!(
                    "asked to sign part {number}, got part {}",
                    target.part_number
                ),
            ));
        }
        // Parts carry no conditional header (§13.1), so a 412 is an error.
        let put = self
            .plane
            .put(&target.url, &target.headers, slice, &self.key)
            .await?;
        if put == Put::Stored {
            self.sent(file, slice.len, credited);
        }
        Ok(())
    }

    /// A transfer the server reports complete: confirmed, nothing sent.
    async fn already_complete(&self, raw_uid: &str, file: &LocalFile) -> Result<Outcome> {
        let upload = self.upload_uid(raw_uid, file)?;
        self.complete(&upload).await?;
        Ok(Outcome::AlreadyThere)
    }

    /// `POST .../uploads/{upload_uid}/complete/` with `{}`.
    async fn complete(&self, upload: &str) -> Result<()> {
        self.client
            .complete_manual_upload()
            .upload_uid(upload)
            .body(types::CompleteManualUploadRequest(serde_json::Map::new()))
            .send()
            .await?;
        Ok(())
    }

    /// The `upload_uid` as a canonical UUID (§13.1: anything else is not a
    /// managed upload).
    fn upload_uid(&self, raw: &str, file: &LocalFile) -> Result<String> {
        uuid::Uuid::parse_str(raw)
            .map(|u| u.hyphenated().to_string())
            .map_err(|_| protocol(file, "the upload_uid is not a UUID".to_owned()))
    }

    fn sent(&self, file: &LocalFile, bytes: u64, credited: &AtomicU64) {
        credited.fetch_add(bytes, Ordering::SeqCst);
        self.progress.sent(&file.remote, bytes);
    }
}

/// The part size, when `part_size` × `part_count` describes a file of
/// `size` bytes within the limits.
fn geometry(part_size: i64, part_count: i64, size: u64) -> std::result::Result<u64, String> {
    let bad = || {
        format!("multipart geometry {part_count} parts of {part_size} bytes does not fit a file of {size} bytes")
    };
    let part_size = u64::try_from(part_size).map_err(|_| bad())?;
    let count = u64::try_from(part_count).map_err(|_| bad())?;
    if !(MIN_PART..=MAX_PART).contains(&part_size)
        || !(1..=MAX_PARTS).contains(&count)
        || count != size.div_ceil(part_size)
    {
        return Err(bad());
    }
    Ok(part_size)
}

fn part_number(slice: &Slice, part_size: u64) -> i64 {
    (slice.offset / part_size + 1) as i64
}

/// The storage root of §9.1 step 1, or `None` when it cannot be learnt.
async fn storage_root(client: &Client, org: Option<&str>) -> Option<String> {
    if let Some(org) = org {
        return Some(format!("__o__=/{org}"));
    }
    let me = client.get_current_user().send().await.ok()?.into_inner();
    Some(format!("__u__=/{}", me.uid))
}

/// `QuotaExceeded` from the local preparallel (no response behind it).
fn quota_exceeded(to_send: u64, limit: u64, used: Option<u64>) -> Error {
    let message = format!(
        "the upload needs {to_send} bytes but the storage quota is {limit} bytes; free space or raise the quota"
    );
    Error::QuotaExceeded {
        error: Box::new(crate::ApiError {
            status: 413,
            message,
            body: None,
            raw_body: String::new(),
            request_id: None,
        }),
        limit: Some(limit),
        used,
    }
}

fn protocol(file: &LocalFile, message: String) -> Error {
    UploadError::Protocol {
        path: file.remote.clone(),
        message,
    }
    .into()
}

/// `Warehouse Frames 2` → `warehouse-frames-2`.
fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Warehouse Frames 2"), "warehouse-frames-2");
        assert_eq!(slugify("  --x__y--"), "x-y");
        assert_eq!(slugify("日本"), "");
    }

    #[test]
    fn geometry_is_checked() {
        let mib = 1024 * 1024;
        assert_eq!(geometry(5 * mib, 3, 11 * mib as u64), Ok(5 * mib as u64));
        assert!(geometry(5 * mib, 2, 11 * mib as u64).is_err());
        assert!(geometry(4 * mib, 3, 11 * mib as u64).is_err());
        assert!(geometry(129 * mib, 1, 11 * mib as u64).is_err());
        assert!(geometry(5 * mib, 0, 0).is_err());
        assert!(geometry(-1, 1, 1).is_err());
    }
}
