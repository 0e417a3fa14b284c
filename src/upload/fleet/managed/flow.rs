//! The managed Fleet upload of §9.3 and §10.4, step by step, each answer
//! checked where it arrives.

use std::{
    collections::BTreeSet,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use super::{
    limits,
    part_grant::{self, Expected, Refusal},
    receipt::Receipt,
    status::{self, canonical_uid, part_count},
    ManagedRecordingUpload, PACE, PART_SIZE,
};
use crate::{
    types::{
        self, ManagedFinalizationCode as Code, ManagedFinalizationState as FinState,
        ManagedFleetUploadStatus as Status, ManagedGenerationState as GenState,
        ManagedUploadProtocol as Protocol,
    },
    upload::{
        api_key,
        fleet::{self, RecordingFile},
        inventory::Source,
        store::{self, Flow, Saved},
        totals::Totals,
        transfer::{DataPlane, Slice, Timeouts},
        ProgressEvent,
    },
    wait::{self, Job, Pace, Verdict},
    Client, Error, Result,
};
use futures::{
    channel::oneshot,
    future::{FutureExt, Shared},
    StreamExt, TryStreamExt,
};

const PROTOCOL: &str = "fleet-managed-mcap-v1";
/// Progress listing budget (§9.3 step 4).
const PAGE_PARTS: usize = 100;
const PAGES: usize = 2;
/// Finalization failures that another finalize cannot fix.
const TERMINAL_CODES: [Code; 2] = [Code::ContentMismatch, Code::InvalidMcap];
/// Part PUTs: 60 s (§8), as httpx applies it: to connecting, to each
/// stretch without progress while sending, and to the answer.
const PART_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(60),
    stall: Duration::from_secs(60),
    answer: Duration::from_secs(60),
};

/// Checks, inventory, then the protocol.
pub(super) async fn run(up: ManagedRecordingUpload) -> Result<Status> {
    // Constraints before any call (§9.3).
    let workers = limits::workers(up.workers)?;
    let wait = limits::wait(up.wait)?;
    let recording_uid = limits::recording_uid(&up.recording_uid)?;
    let walked = fleet::walk(&up.source).await?;
    limits::files(&up.source, &walked)?;
    let files = fleet::hash(walked).await?;
    let dir = match &up.state_dir {
        Some(dir) => dir.clone(),
        None => store::default_dir(Flow::FleetManaged).ok_or_else(|| Error::InvalidArgument {
            message: "no data directory is known for the resume receipt: call .state_dir(..)"
                .to_owned(),
        })?,
    };
    // The session uid is saved before the admit.
    let store = Saved::<Receipt>::open(&dir, up.client.base_url(), &recording_uid, &files)?;
    let tracker = Totals::new(
        files.len(),
        files.iter().map(|f| f.stamp.size).sum(),
        up.on_progress.clone(),
    );
    let session = Session {
        plane: DataPlane::new(&up.client, up.knobs.timeouts(PART_TIMEOUTS))?,
        client: &up.client,
        recording_uid,
        files: &files,
        store: Mutex::new(store),
        tracker,
        workers,
    };

    // 1. Admit once; later runs observe the status instead.
    let status = session.admit_or_observe().await?;
    let outcome = status.finalization.as_ref();
    let settled =
        outcome.is_some_and(|f| f.state == FinState::Succeeded || TERMINAL_CODES.contains(&f.code));
    // 2–5. Every original's missing parts.
    for file in &files {
        if settled {
            session.tracker.finish(&file.path, file.stamp.size, 0, true);
        } else {
            session.transfer(file).await?;
        }
    }
    // 6. Finalize (when needed), then the status.
    let status = session.finalize().await?;
    // 7. The publication wait (§10.4).
    session
        .wait(status, wait, PACE.with(up.poll_interval))
        .await
}

/// One run of a session.
struct Session<'a> {
    client: &'a Client,
    plane: DataPlane,
    recording_uid: String,
    files: &'a [RecordingFile],
    store: Mutex<Saved<Receipt>>,
    tracker: Totals,
    workers: usize,
}

impl Session<'_> {
    fn store(&self) -> MutexGuard<'_, Saved<Receipt>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn session_uid(&self) -> String {
        self.store().doc.session_uid.clone()
    }

    /// `UploadError::Mismatch`: what did not fit, and how to resume.
    fn mismatch(&self, why: impl std::fmt::Display) -> Error {
        let store = self.store();
        crate::Error::from(crate::upload::UploadError::Mismatch {
            message: format!(
                "managed upload session {}: {why}. Keep {} and the original files; run the upload \
                 again to resume (or delete that file to start a new session)",
                store.doc.session_uid,
                store.path().display()
            ),
        })
    }

    /// Checks a `{protocol, session_uid, ..}` envelope.
    fn envelope(&self, protocol: &Protocol, session_uid: &str, what: &str) -> Result<()> {
        if *protocol != Protocol::FleetManagedMcapV1 || session_uid != self.session_uid() {
            return Err(self.mismatch(format!(
                "the {what} answer names another protocol or session"
            )));
        }
        Ok(())
    }

    /// A retryable call (admit, part grants, finalize): the
    /// Fleet plane of [`crate::retry`], 3 attempts.
    async fn retried<T, F, Fut>(&self, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let policy = self.client.retry_policy();
        crate::retry::run(&policy, crate::retry::Plane::Fleet, |_| {
            let attempt = call();
            async {
                let result = attempt.await;
                let verdict = crate::retry::workflow(&result);
                (result, verdict)
            }
        })
        .await
    }

    /// Step 1: the admit when the receipt has not learnt the files yet (the
    /// session uid makes repeating it safe), else the status.
    async fn admit_or_observe(&self) -> Result<Status> {
        if !self.store().doc.originals.is_empty() {
            return self.observe().await;
        }
        let body = types::AdmitFleetManagedUploadRequest {
            files: self
                .files
                .iter()
                .map(|f| types::AdmitFleetManagedUploadRequestFilesItem {
                    content_sha256: f.sha256.clone(),
                    path: f.path.clone(),
                    size_bytes: f.stamp.size as i64,
                })
                .collect(),
            protocol: Protocol::FleetManagedMcapV1,
            session_uid: self.session_uid(),
        };
        let status = self
            .retried(|| async {
                let call = self.client.admit_fleet_managed_upload();
                let call = call
                    .recording_uid(self.recording_uid.as_str())
                    .body(body.clone());
                Ok(call.send().await?.into_inner())
            })
            .await?;
        self.accept(status)
    }

    /// `GET .../status/`, checked and retained.
    async fn observe(&self) -> Result<Status> {
        let status = self
            .client
            .get_fleet_managed_upload_status()
            .recording_uid(self.recording_uid.as_str())
            .protocol(PROTOCOL)
            .session_uid(self.session_uid())
            .send()
            .await?
            .into_inner();
        self.accept(status)
    }

    /// Checks a status against the manifest and the receipt, and saves what
    /// it confirms.
    fn accept(&self, status: Status) -> Result<Status> {
        let mut store = self.store();
        let originals = status::observe(&status, self.files, &store.doc);
        let originals = match originals {
            Ok(originals) => originals,
            Err(why) => {
                drop(store);
                return Err(self.mismatch(why));
            }
        };
        store.doc.originals = originals;
        if let Some(outcome) = &status.finalization {
            store.doc.finalization_uid = Some(outcome.uid.clone());
            store
                .doc
                .publication_uid
                .clone_from(&outcome.publication_uid);
            store.doc.dataset_uid.clone_from(&outcome.dataset_uid);
        }
        store.save()?;
        Ok(status)
    }

    /// Steps 2–5 for one original.
    async fn transfer(&self, file: &RecordingFile) -> Result<()> {
        self.initialize(file).await?;
        // 3. Skip it when verified or its generation is completed.
        let status = self.observe().await?;
        let row = status.files.iter().find(|r| r.path == file.path);
        let generation = row.and_then(|r| r.generation.as_ref());
        if row.is_some_and(|r| r.verified)
            || generation.is_some_and(|g| g.state == GenState::Completed)
        {
            self.tracker.finish(&file.path, file.stamp.size, 0, true);
            return Ok(());
        }
        if !generation.is_some_and(|g| matches!(g.state, GenState::Active | GenState::Completing)) {
            return Err(self.mismatch(format!(
                "the multipart generation of `{}` is not active (abandoned or never created); this session cannot continue",
                file.path
            )));
        }
        // Opened once, checked to be the file that was hashed; every part
        // is read from this handle.
        let handle = Source::open(&file.local, file.stamp, None)?;
        self.tracker.emit(
            &file.path,
            ProgressEvent::Started {
                size: file.stamp.size,
            },
        );
        // 4. What the server already stores.
        let present = self.stored_parts(file).await?;
        let missing: Vec<u64> = (1..=part_count(file.stamp.size))
            .filter(|n| !present.contains(n))
            .collect();
        // 5. Each missing part: a grant, then the PUT. The grants are asked
        // for concurrently; the destination pin comes from the receipt, or
        // else from the first missing part's grant, whatever order the
        // answers arrive in.
        let known = self.store().doc.originals[&file.path].pin.clone();
        let (first, pinned) = oneshot::channel();
        let pinned = pinned.shared();
        let mut first = Some(first);
        let sent: u64 = futures::stream::iter(missing)
            .map(|number| {
                let source = match (&known, first.take()) {
                    (Some(pin), _) => PinSource::Known(pin.clone()),
                    (None, Some(first)) => PinSource::Sets(first),
                    (None, None) => PinSource::Awaits(pinned.clone()),
                };
                self.part(file, &handle, number, source)
            })
            .buffer_unordered(self.workers)
            .try_fold(0, |sum, bytes| async move { Ok(sum + bytes) })
            .await?;
        self.tracker
            .finish(&file.path, file.stamp.size, sent, sent == 0);
        Ok(())
    }

    /// Step 2: the multipart init, unless the receipt (kept up to date by
    /// every status) knows the file's generation. Not retried within a run
    /// (an answer lost may have created the generation) and recorded only
    /// once answered: after a failure the next run's status shows whether
    /// the generation exists, and the init is sent again only if it does
    /// not.
    async fn initialize(&self, file: &RecordingFile) -> Result<()> {
        let file_uid = {
            let store = self.store();
            let original = &store.doc.originals[&file.path];
            if original.generation_uid.is_some() {
                return Ok(());
            }
            original.file_uid.clone()
        };
        let body = types::InitFleetManagedMultipartRequest {
            file_uid: file_uid.clone(),
            protocol: Protocol::FleetManagedMcapV1,
            session_uid: self.session_uid(),
        };
        let init = self
            .client
            .init_fleet_managed_multipart()
            .recording_uid(self.recording_uid.as_str())
            .body(body)
            .send()
            .await?
            .into_inner();
        self.envelope(&init.protocol, &init.session_uid, "multipart init")?;
        let exact = init.file_uid == file_uid
            && canonical_uid(&init.generation_uid)
            && init.number == 1
            && init.state == GenState::Active
            && init.part_size == PART_SIZE as i64
            && u64::try_from(init.part_count) == Ok(part_count(file.stamp.size));
        if !exact {
            return Err(self.mismatch(format!(
                "the multipart init of `{}` is not generation 1, active, with 64 MiB parts of this file",
                file.path
            )));
        }
        self.store()
            .update(&file.path, |o| o.generation_uid = Some(init.generation_uid))
    }

    /// Step 4: the stored parts, from at most 2 pages of at most 100.
    async fn stored_parts(&self, file: &RecordingFile) -> Result<BTreeSet<u64>> {
        let (file_uid, generation_uid) = self.generation_of(file);
        let mut present = BTreeSet::new();
        let mut after = 0u64;
        for _ in 0..PAGES {
            let page = self
                .client
                .get_fleet_managed_multipart_progress()
                .recording_uid(self.recording_uid.as_str())
                .protocol(PROTOCOL)
                .session_uid(self.session_uid())
                .file_uid(file_uid.as_str())
                .generation_uid(generation_uid.as_str())
                .after(after as u32)
                .send()
                .await?
                .into_inner();
            self.envelope(&page.protocol, &page.session_uid, "multipart progress")?;
            let bad =
                |why: &str| self.mismatch(format!("the part listing of `{}` {why}", file.path));
            if page.file_uid != file_uid || page.generation_uid != generation_uid {
                return Err(bad("names another file or generation"));
            }
            match listed(&page, after, file.stamp.size, &mut present).map_err(bad)? {
                None => return Ok(present),
                Some(next) => after = next,
            }
        }
        Err(self.mismatch(format!(
            "the part listing of `{}` needs more than {PAGES} pages",
            file.path
        )))
    }

    fn generation_of(&self, file: &RecordingFile) -> (String, String) {
        let store = self.store();
        let original = &store.doc.originals[&file.path];
        (
            original.file_uid.clone(),
            original.generation_uid.clone().unwrap_or_default(),
        )
    }

    /// Step 5 for one part: its grant, checked and pinned, then one PUT of
    /// exactly its bytes, read from the file's one open `handle`. The PUT is not retried (as Python): an answer lost
    /// may have stored it, and the next run asks the server. Returns the
    /// bytes sent.
    async fn part(
        &self,
        file: &RecordingFile,
        handle: &Source,
        number: u64,
        source: PinSource,
    ) -> Result<u64> {
        let Some(grant) = self.granted(file, number, source).await? else {
            return Ok(0);
        };
        handle.unchanged()?;
        let slice = Slice {
            source: handle.clone(),
            remote: file.path.clone(),
            offset: (number - 1) * PART_SIZE,
            len: part_len(file.stamp.size, number),
        };
        self.plane
            .put_exact(&grant.url, &slice, api_key(self.client))
            .await?;
        self.tracker.sent(&file.path, slice.len);
        Ok(slice.len)
    }

    /// The grant of part `number` (retryable), checked against the file's
    /// pin from `source`; a grant that sets the pin saves it in the receipt
    /// before it is used. `None` when the pin never came: the grant that
    /// was to set it failed, and its error ends the run.
    async fn granted(
        &self,
        file: &RecordingFile,
        number: u64,
        source: PinSource,
    ) -> Result<Option<part_grant::Grant>> {
        let (file_uid, generation_uid) = self.generation_of(file);
        let body = types::SignFleetManagedMultipartPartsRequest {
            file_uid: file_uid.clone(),
            generation_uid: generation_uid.clone(),
            numbers: vec![number as i64],
            protocol: Protocol::FleetManagedMcapV1,
            session_uid: self.session_uid(),
        };
        let grants = self
            .retried(|| async {
                let call = self.client.sign_fleet_managed_multipart_parts();
                let call = call
                    .recording_uid(self.recording_uid.as_str())
                    .body(body.clone());
                Ok(call.send().await?.into_inner())
            })
            .await?;
        self.envelope(&grants.protocol, &grants.session_uid, "part grant")?;
        let [granted] = &grants.parts[..] else {
            return Err(self.mismatch(format!(
                "the grant answer for part {number} of `{}` does not hold exactly one grant",
                file.path
            )));
        };
        if grants.file_uid != file_uid || grants.generation_uid != generation_uid {
            return Err(self.mismatch(format!(
                "the grant for part {number} of `{}` names another file or generation",
                file.path
            )));
        }
        let (pin, sets) = match source {
            PinSource::Known(pin) => (Some(pin), None),
            PinSource::Sets(first) => (None, Some(first)),
            PinSource::Awaits(pinned) => match pinned.await {
                Ok(pin) => (Some(pin), None),
                Err(_) => return Ok(None),
            },
        };
        let mut store = self.store();
        let want = Expected {
            session_uid: &store.doc.session_uid,
            path: &file.path,
            size: file.stamp.size,
            number,
            pin: pin.as_deref(),
        };
        let checked = part_grant::check(
            granted,
            &want,
            |url| self.plane.check(url),
            chrono::Utc::now(),
        );
        match checked {
            Ok(grant) => {
                if let Some(first) = sets {
                    store.update(&file.path, |o| o.pin = Some(grant.pin.clone()))?;
                    // Nobody waits any more when the run already failed.
                    let _ = first.send(grant.pin.clone());
                }
                Ok(Some(grant))
            }
            Err(Refusal::Host(e)) => Err(e.into()),
            Err(Refusal::Invalid(why)) => {
                drop(store);
                Err(self.mismatch(format!(
                    "the grant for part {number} of `{}` is refused: {why}",
                    file.path
                )))
            }
        }
    }

    /// Step 6: finalize unless a finalization is under way, done, or failed
    /// for good; then the status.
    async fn finalize(&self) -> Result<Status> {
        let status = self.observe().await?;
        let needed = match &status.finalization {
            None => true,
            Some(f) => f.state == FinState::Failed && !TERMINAL_CODES.contains(&f.code),
        };
        if !needed {
            return self.observe().await;
        }
        let mut files: Vec<types::FinalizeFleetManagedUploadRequestFilesItem> = {
            let mut store = self.store();
            store.doc.finalizing = true;
            store.save()?;
            store
                .doc
                .originals
                .values()
                .map(|o| types::FinalizeFleetManagedUploadRequestFilesItem {
                    file_uid: o.file_uid.clone(),
                    generation_uid: o.generation_uid.clone(),
                })
                .collect()
        };
        files.sort_by(|a, b| a.file_uid.cmp(&b.file_uid));
        let body = types::FinalizeFleetManagedUploadRequest {
            files,
            protocol: Protocol::FleetManagedMcapV1,
            session_uid: self.session_uid(),
        };
        let answer = self
            .retried(|| async {
                let call = self.client.finalize_fleet_managed_upload();
                let call = call
                    .recording_uid(self.recording_uid.as_str())
                    .body(body.clone());
                Ok(call.send().await?.into_inner())
            })
            .await?;
        self.envelope(&answer.protocol, &answer.session_uid, "finalize")?;
        let outcome = &answer.finalization;
        status::finalization(outcome).map_err(|why| self.mismatch(why))?;
        {
            let mut store = self.store();
            if store
                .doc
                .finalization_uid
                .as_ref()
                .is_some_and(|uid| *uid != outcome.uid)
            {
                drop(store);
                return Err(
                    self.mismatch("the finalize answer names another finalization than before")
                );
            }
            store.doc.finalization_uid = Some(outcome.uid.clone());
            store.save()?;
        }
        self.observe().await
    }

    /// §10.4 by the rule of [`crate::wait`]: without a wait, the status
    /// after the finalize is judged as it is; with one, the status is
    /// polled until the publication succeeded or failed.
    async fn wait(&self, status: Status, timeout: Option<Duration>, pace: Pace) -> Result<Status> {
        let job = Job {
            name: format!(
                "the managed publication of recording {}",
                self.recording_uid
            ),
            judge: &publication_verdict,
            key: api_key(self.client),
        };
        match timeout {
            None => job.settle(status),
            Some(timeout) => {
                wait::until(&job, pace, timeout, Some(status), || self.observe(), None).await
            }
        }
    }
}

/// §10.4: `succeeded` and `failed` end the wait; a failure names its code.
fn publication_verdict(status: &Status) -> Verdict {
    match &status.finalization {
        None => Verdict::Running(Some("not started".to_owned())),
        Some(f) => match f.state {
            FinState::Succeeded => Verdict::Succeeded,
            FinState::Failed => Verdict::Failed(format!("failed ({})", f.code.as_str())),
            ref running => Verdict::Running(Some(running.as_str().to_owned())),
        },
    }
}

/// Where a part's grant finds the destination pin it is checked against.
enum PinSource {
    /// The receipt's.
    Known(String),
    /// None yet: this grant, the file's first missing part's, sets it.
    Sets(oneshot::Sender<String>),
    /// Set by the first missing part's grant, whenever that arrives.
    Awaits(Shared<oneshot::Receiver<String>>),
}

/// One page of step 4's listing, after part `after`, of a file of `size`
/// bytes: at most 100 parts, in increasing order, each a part of the file
/// with its length, added to `present`. Answers the `after` of the next
/// page (`None` on the last), or why the page is refused: a cursor must
/// follow a page that listed something, name its last part and leave a
/// part to list.
fn listed(
    page: &types::ManagedPartInventory,
    after: u64,
    size: u64,
    present: &mut BTreeSet<u64>,
) -> std::result::Result<Option<u64>, &'static str> {
    if page.parts.len() > PAGE_PARTS {
        return Err("has more than 100 parts on a page");
    }
    let count = part_count(size);
    let mut last = after;
    for part in &page.parts {
        let number = u64::try_from(part.part_number).unwrap_or(0);
        if number <= last
            || number > count
            || u64::try_from(part.size) != Ok(part_len(size, number))
        {
            return Err("is out of order or gives a part another size");
        }
        last = number;
        present.insert(number);
    }
    match page.next_cursor {
        None => Ok(None),
        Some(cursor)
            if !page.parts.is_empty() && u64::try_from(cursor) == Ok(last) && last < count =>
        {
            Ok(Some(last))
        }
        Some(_) => Err("has a cursor that cannot advance"),
    }
}

/// The length of part `number` of a file of `size` bytes.
fn part_len(size: u64, number: u64) -> u64 {
    PART_SIZE.min(size - (number - 1) * PART_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page listing parts `numbers` of a file of `size` bytes, each of
    /// its length, with `cursor`.
    fn page(
        size: u64,
        numbers: impl IntoIterator<Item = u64>,
        cursor: Option<u64>,
    ) -> types::ManagedPartInventory {
        let parts: Vec<_> = numbers
            .into_iter()
            .map(|n| serde_json::json!({"part_number": n, "size": part_len(size, n)}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "protocol": PROTOCOL,
            "session_uid": "s",
            "file_uid": "f",
            "generation_uid": "g",
            "parts": parts,
            "next_cursor": cursor,
        }))
        .unwrap()
    }

    #[test]
    fn a_page_holds_at_most_one_hundred_parts() {
        let size = 100 * PART_SIZE + 1; // 101 parts
        let mut present = BTreeSet::new();
        let full = page(size, 1..=100, Some(100));
        assert_eq!(listed(&full, 0, size, &mut present), Ok(Some(100)));
        assert_eq!(present, (1..=100).collect());
        let over = page(size, 1..=101, None);
        assert_eq!(
            listed(&over, 0, size, &mut BTreeSet::new()),
            Err("has more than 100 parts on a page")
        );
    }

    #[test]
    fn a_cursor_must_leave_a_part_to_list() {
        let size = 2 * PART_SIZE; // 2 parts
        let mut present = BTreeSet::new();
        assert_eq!(
            listed(&page(size, [1], Some(1)), 0, size, &mut present),
            Ok(Some(1))
        );
        assert_eq!(
            listed(&page(size, [2], None), 1, size, &mut present),
            Ok(None)
        );
        assert_eq!(present, [1, 2].into());
        // Every part listed, and still a cursor: nothing can follow.
        assert_eq!(
            listed(&page(size, [1, 2], Some(2)), 0, size, &mut BTreeSet::new()),
            Err("has a cursor that cannot advance")
        );
    }
}
