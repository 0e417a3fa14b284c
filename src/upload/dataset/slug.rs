//! The check that a dataset upload's slug is free, made before the first
//! byte is sent (the server would refuse the slug only at the end, when
//! every file is already stored).

use crate::upload::UploadError;
use crate::{Client, Error, Result};

/// Fails with [`UploadError::SlugTaken`] when `GET /datasets/{owner}/{slug}/`
/// finds a dataset. A 404 means the slug is free; any other failure of that
/// call is returned, as nothing has been sent yet. When the owner cannot be
/// learnt (see [`owner`]), the check is skipped and the server's own check at
/// the finalisation remains.
pub(super) async fn ensure_free(
    client: &Client,
    owner_name: Option<&str>,
    organization_uid: Option<&str>,
    slug: &str,
) -> Result<()> {
    let Some(owner) = owner(client, owner_name, organization_uid).await else {
        tracing::debug!(
            "the dataset's owner is unknown: its slug is not checked before the upload"
        );
        return Ok(());
    };
    match client
        .get_dataset_by_slug()
        .owner(&owner)
        .slug(slug)
        .send()
        .await
    {
        Ok(_) => Err(UploadError::SlugTaken {
            owner,
            slug: slug.to_owned(),
        }
        .into()),
        Err(Error::NotFound(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// The `owner` path segment the dataset will have: `owner_name` when given,
/// else the organization's slug (looked up by its uid among the caller's
/// organizations), else the caller's username. `None` when it cannot be
/// learnt: no such organization, no username, or a failed lookup (as the
/// storage root's own `/users/me/` call, these lookups are advisory).
async fn owner(
    client: &Client,
    owner_name: Option<&str>,
    organization_uid: Option<&str>,
) -> Option<String> {
    if let Some(owner) = owner_name {
        return Some(owner.to_owned());
    }
    if let Some(uid) = organization_uid {
        return client.organization_slug(uid).await.ok().flatten();
    }
    client
        .get_current_user()
        .send()
        .await
        .ok()?
        .into_inner()
        .username
}
