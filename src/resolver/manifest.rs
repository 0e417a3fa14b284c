//! Step 3 of §9.4: the manifest, page by page.
//!
//! Every page is checked on arrival (identity, cursors, objects); across
//! pages, objects must be strictly increasing by (`role`, `ordinal`,
//! `logical_path`), with no object, (`role`, `ordinal`) or path twice, and
//! the running count and size stay within the manifest's totals, which an
//! unfiltered listing must meet exactly at its end. Objects that name an
//! episode have it looked up (`role=episode`, `ordinals`, 1–100 at a time).

use std::{
    collections::{BTreeSet, HashSet},
    sync::Arc,
};

use futures::{stream, stream::BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;

use super::{
    documents::{integrity, ObjectDoc, Page, PageRequest},
    Loaded, ResolvedObject,
};
use crate::Result;

/// Objects per page asked for.
const PAGE_LIMIT: u32 = 100;
/// Most ordinals in one lookup.
const MAX_ORDINALS: usize = 100;

/// One page as asked for.
async fn fetch(loaded: &Loaded, request: PageRequest<'_>) -> Result<Page> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if request.ordinals.is_none() {
        query.push(("limit", PAGE_LIMIT.to_string()));
    }
    if let Some(role) = request.role {
        query.push(("role", role.to_owned()));
    }
    if let Some(ordinal) = request.ordinal {
        query.push(("ordinal", ordinal.to_string()));
    }
    for ordinal in request.ordinals.unwrap_or_default() {
        query.push(("ordinals", ordinal.to_string()));
    }
    if let Some(cursor) = request.cursor {
        query.push(("cursor", cursor.to_owned()));
    }
    let document = loaded
        .transport
        .call(
            Method::GET,
            &loaded.revision.manifest.objects_path,
            &query,
            Some(&loaded.pinned),
        )
        .await?;
    let page: Page = super::documents::parse(&document.body, "manifest page")?;
    page.check(&loaded.revision, request)?;
    Ok(page)
}

/// The state of one listing.
struct Listing {
    loaded: Arc<Loaded>,
    role: Option<String>,
    cursor: Option<String>,
    finished: bool,
    seen_cursors: HashSet<String>,
    seen_uids: HashSet<String>,
    seen_role_ordinals: HashSet<(String, u64)>,
    seen_paths: HashSet<String>,
    last_key: Option<(String, u64, String)>,
    count: u64,
    size: u64,
    episodes_listed: BTreeSet<u64>,
    episodes_referenced: BTreeSet<u64>,
}

impl Listing {
    /// The checks of one object against those listed before it.
    fn admit(&mut self, o: &ObjectDoc) -> Result<()> {
        let manifest = &self.loaded.revision.manifest;
        let key = (o.role.clone(), o.ordinal, o.logical_path.clone());
        if !self.seen_uids.insert(o.object_uid.clone())
            || !self.seen_role_ordinals.insert((o.role.clone(), o.ordinal))
            || !self.seen_paths.insert(o.logical_path.clone())
        {
            return Err(integrity("the manifest lists an object twice"));
        }
        if self
            .last_key
            .as_ref()
            .is_some_and(|last| (last.0.as_str(), last.1, last.2.as_str()) >= o.order_key())
        {
            return Err(integrity(
                "the manifest is out of order (role, ordinal, logical_path must increase)",
            ));
        }
        self.last_key = Some(key);
        self.count += 1;
        self.size = self.size.saturating_add(o.size_bytes);
        if self.count > manifest.object_count {
            return Err(integrity(
                "the manifest lists more objects than its object_count",
            ));
        }
        if self.size > manifest.total_size_bytes {
            return Err(integrity(
                "the manifest's objects exceed its total_size_bytes",
            ));
        }
        if o.role == "episode" {
            self.episodes_listed.insert(o.ordinal);
        } else if let Some(e) = o.episode_ordinal {
            self.episodes_referenced.insert(e);
        }
        Ok(())
    }

    /// The next page's objects; `None` after the last page (and its checks).
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectDoc>>> {
        if self.finished {
            return Ok(None);
        }
        let page = fetch(
            &self.loaded,
            PageRequest {
                role: self.role.as_deref(),
                ordinal: None,
                ordinals: None,
                cursor: self.cursor.as_deref(),
            },
        )
        .await?;
        for o in &page.results {
            self.admit(o)?;
        }
        if self.role.is_some() {
            resolve_episodes(&self.loaded, &page.results).await?;
        }
        match page.next_cursor {
            Some(next) => {
                if page.results.is_empty() || !self.seen_cursors.insert(next.clone()) {
                    return Err(integrity("the manifest's cursors repeat or lead nowhere"));
                }
                self.cursor = Some(next);
            }
            None => {
                self.finished = true;
                if self.role.is_none() {
                    self.check_totals()?;
                }
            }
        }
        Ok(Some(page.results))
    }

    /// At the end of an unfiltered listing: the totals match exactly, and
    /// every referenced episode was listed.
    fn check_totals(&self) -> Result<()> {
        let manifest = &self.loaded.revision.manifest;
        if self.count != manifest.object_count || self.size != manifest.total_size_bytes {
            return Err(integrity(format!(
                "the manifest lists {} objects of {} bytes, but declares {} objects of {} bytes",
                self.count, self.size, manifest.object_count, manifest.total_size_bytes
            )));
        }
        if !self.episodes_referenced.is_subset(&self.episodes_listed) {
            return Err(integrity(
                "an object names an episode the manifest does not list",
            ));
        }
        Ok(())
    }
}

/// Every object (or every object of `role`), across every page.
pub(crate) fn list(
    loaded: Arc<Loaded>,
    role: Option<String>,
) -> BoxStream<'static, Result<ResolvedObject>> {
    let listing = Listing {
        loaded,
        role,
        cursor: None,
        finished: false,
        seen_cursors: HashSet::new(),
        seen_uids: HashSet::new(),
        seen_role_ordinals: HashSet::new(),
        seen_paths: HashSet::new(),
        last_key: None,
        count: 0,
        size: 0,
        episodes_listed: BTreeSet::new(),
        episodes_referenced: BTreeSet::new(),
    };
    stream::try_unfold(listing, |mut listing| async move {
        let page = listing.next_page().await?;
        let loaded = listing.loaded.clone();
        Ok::<_, crate::Error>(page.map(|docs| {
            let objects = docs
                .into_iter()
                .map(move |doc| Ok(ResolvedObject::new(loaded.clone(), doc)));
            (stream::iter(objects), listing)
        }))
    })
    .try_flatten()
    .boxed()
}

/// The object of `role` at `ordinal`, if the manifest has one.
pub(crate) async fn lookup(
    loaded: &Arc<Loaded>,
    role: &str,
    ordinal: u64,
) -> Result<Option<ObjectDoc>> {
    let page = fetch(
        loaded,
        PageRequest {
            role: Some(role),
            ordinal: Some(ordinal),
            ordinals: None,
            cursor: None,
        },
    )
    .await?;
    let Some(doc) = page.results.into_iter().next() else {
        return Ok(None);
    };
    let manifest = &loaded.revision.manifest;
    if manifest.object_count == 0 || doc.size_bytes > manifest.total_size_bytes {
        return Err(integrity(
            "the object does not fit within the manifest's totals",
        ));
    }
    resolve_episodes(loaded, std::slice::from_ref(&doc)).await?;
    Ok(Some(doc))
}

/// Looks up the episodes that `objects` name and that are not known yet:
/// each lookup must answer exactly the ordinals asked for, in order.
async fn resolve_episodes(loaded: &Loaded, objects: &[ObjectDoc]) -> Result<()> {
    let missing: Vec<u64> = {
        let known = loaded.episodes.lock().unwrap_or_else(|p| p.into_inner());
        objects
            .iter()
            .filter_map(|o| o.episode_ordinal)
            .filter(|e| !known.contains_key(e))
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .collect()
    };
    for batch in missing.chunks(MAX_ORDINALS) {
        let page = fetch(
            loaded,
            PageRequest {
                role: Some("episode"),
                ordinal: None,
                ordinals: Some(batch),
                cursor: None,
            },
        )
        .await?;
        let returned: Vec<u64> = page.results.iter().map(|o| o.ordinal).collect();
        if returned != batch {
            return Err(integrity(
                "an episode lookup did not answer exactly the ordinals asked for, in order",
            ));
        }
        let mut known = loaded.episodes.lock().unwrap_or_else(|p| p.into_inner());
        for doc in page.results {
            match known.get(&doc.ordinal) {
                Some(existing) if *existing != doc => {
                    return Err(integrity(
                        "the manifest lists an episode twice, differently",
                    ))
                }
                _ => {
                    known.insert(doc.ordinal, doc);
                }
            }
        }
    }
    Ok(())
}
