//! The dry run of a dataset upload: [`DatasetUpload::plan`] runs the
//! checks and the walk of [`DatasetUpload::send`] (through
//! [`flow::prepare`]) and reads the quota, and stops there.

use serde::Serialize;

use super::{flow, kinds, DatasetUpload};
use crate::upload::Excluded;
use crate::{types, Client, Result};

/// What [`DatasetUpload::send`] would do, from [`DatasetUpload::plan`]:
/// the dataset it would create, the files it would send and those it would
/// leave out, and the quota it would use. Serializes to JSON with these
/// field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UploadPlan {
    /// The dataset's name.
    pub name: String,
    /// The dataset's slug (given, or made from the name).
    pub slug: String,
    /// The data type the dataset would be created with.
    pub data_type: types::DataType,
    /// Whether `data_type` was told from the files (not given).
    pub data_type_detected: bool,
    /// The files that would be sent, sorted by their path in the dataset.
    pub files: Vec<PlannedFile>,
    /// The bytes of all of them.
    pub total_bytes: u64,
    /// What the walk met and would leave out, sorted by path.
    pub skipped: Vec<SkippedEntry>,
    /// The quota check `send` would make; `None` with `check_quota(false)`
    /// or when the quota could not be read (the check is advisory).
    pub quota: Option<QuotaUse>,
}

/// A file an upload would send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PlannedFile {
    /// Its path in the dataset (relative, `/`-separated).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether the server would index it for the plan's data type; a file
    /// that is not is still sent and stored, but is no item of the dataset.
    pub indexed: bool,
}

/// An entry the walk would leave out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SkippedEntry {
    /// Where it would be in the dataset.
    pub path: String,
    /// Why it is left out.
    pub reason: Excluded,
}

/// The bytes an upload needs against the storage quota, in bytes. The rule
/// `send` applies: it refuses to start when `needed` is over `limit` (not
/// over what remains: `used` counts open reservations, §9.1 step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QuotaUse {
    /// The bytes to send. A plan counts every file: it does not read the
    /// resume state, so files an earlier run finished count too.
    pub needed: u64,
    /// The bytes used now, open reservations included (may exceed `limit`).
    pub used: u64,
    /// The bytes the owner may use in all.
    pub limit: u64,
    /// Whether `needed` is within `limit`: `send` starts only then.
    pub within_limit: bool,
}

impl QuotaUse {
    /// `needed` bytes against the quota the server reported.
    pub(crate) fn of(needed: u64, quota: &types::UploadQuota) -> Self {
        let limit = u64::try_from(quota.limit).unwrap_or(0);
        Self {
            needed,
            used: u64::try_from(quota.used).unwrap_or(0),
            limit,
            within_limit: needed <= limit,
        }
    }
}

/// The plan of `up`: its checks and walk, then the quota when asked.
pub(super) async fn plan(up: DatasetUpload) -> Result<UploadPlan> {
    let prepared = flow::prepare(&up)?;
    let data_type = prepared.data_type;
    let files: Vec<PlannedFile> = prepared
        .walked
        .files
        .iter()
        .map(|f| PlannedFile {
            path: f.remote.clone(),
            size: f.stamp.size,
            indexed: kinds::indexed(&data_type, &f.remote),
        })
        .collect();
    let total_bytes = files.iter().map(|f| f.size).sum();
    let quota = if up.options.check_quota {
        let org = up.options.organization_uid.as_deref();
        quota(&up.client, org, total_bytes).await
    } else {
        None
    };
    let skipped = prepared.walked.excluded.into_iter();
    Ok(UploadPlan {
        name: prepared.name,
        slug: prepared.slug,
        data_type,
        data_type_detected: prepared.detected,
        files,
        total_bytes,
        skipped: skipped
            .map(|(path, reason)| SkippedEntry { path, reason })
            .collect(),
        quota,
    })
}

/// `needed` against `GET /datasets/manual-upload/quota/` (§9.1 step 2);
/// `None` when the call fails, which is not an error (the check is
/// advisory: the presign's 413 remains the authority).
pub(super) async fn quota(client: &Client, org: Option<&str>, needed: u64) -> Option<QuotaUse> {
    let mut call = client.get_manual_upload_quota();
    if let Some(org) = org {
        call = call.organization_uid(org);
    }
    let quota = call.send().await.ok()?.into_inner();
    Some(QuotaUse::of(needed, &quota))
}
