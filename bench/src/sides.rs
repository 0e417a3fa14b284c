//! The two sides of every measure: the SDK as users get it, and what a user
//! would write by hand with reqwest + serde_json for the same calls.

use std::{sync::Arc, time::Duration};

use avala::types::{Dataset, DatasetPage};
use futures::TryStreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::server::PAGE_SIZE;

/// The key both sides send (the server does not check it).
pub const API_KEY: &str = "avk_bench_0000000000000000";

/// The SDK with every default: retries, hooks, tracing spans, error mapping.
pub fn sdk_client(base: &str) -> avala::Client {
    avala::Client::builder()
        .api_key(API_KEY)
        .base_url(base)
        .build()
        .expect("an SDK client for the loopback server")
}

/// A hand-written client with the SDK's HTTP settings: the same timeouts, no
/// redirects, the same User-Agent, and the same request headers (as the
/// client's default headers, the idiomatic and cheapest way).
#[derive(Clone)]
pub struct Raw {
    http: reqwest::Client,
    base: Arc<str>,
}

impl Raw {
    /// `sent` is what the SDK was seen to send, one `name: value` a line (the
    /// server's echo): the raw side sends the same, except `host`, which
    /// reqwest sets itself.
    pub fn new(base: &str, sent: &str) -> Self {
        let mut headers = HeaderMap::new();
        let mut user_agent = None;
        for (name, value) in sent.lines().filter_map(|l| l.split_once(": ")) {
            match name {
                "host" => {}
                "user-agent" => user_agent = Some(value.to_owned()),
                _ => {
                    let mut v = HeaderValue::from_str(value).expect("a header value");
                    v.set_sensitive(name == "x-avala-api-key");
                    headers.append(
                        HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                        v,
                    );
                }
            }
        }
        let mut http = reqwest::Client::builder()
            .https_only(false)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            // The SDK's defaults (ClientBuilder::timeout / connect_timeout).
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10));
        if let Some(agent) = user_agent {
            http = http.user_agent(agent);
        }
        Self {
            http: http.build().expect("a reqwest client"),
            base: base.into(),
        }
    }

    fn get(&self, url: String) -> reqwest::RequestBuilder {
        self.http.get(url)
    }
}

/// What the raw side returns for a non-2xx response.
#[derive(Debug)]
pub struct RawError {
    pub status: u16,
    pub detail: Option<String>,
    #[allow(dead_code)] // kept like a user would, for logging
    pub body: bytes::Bytes,
}

#[derive(Deserialize)]
struct Detail {
    detail: Option<String>,
}

pub type RawResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn raw_error(response: reqwest::Response) -> RawResult<RawError> {
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    let detail = serde_json::from_slice::<Detail>(&body)
        .ok()
        .and_then(|d| d.detail);
    Ok(RawError {
        status,
        detail,
        body,
    })
}

/// `GET /datasets/{uid}/` by hand.
pub async fn raw_get_dataset(raw: &Raw, uid: &str) -> RawResult<Result<Dataset, RawError>> {
    let response = raw
        .get(format!("{}/datasets/{uid}/", raw.base))
        .send()
        .await?;
    if !response.status().is_success() {
        return Ok(Err(raw_error(response).await?));
    }
    let body = response.bytes().await?;
    Ok(Ok(serde_json::from_slice(&body)?))
}

/// `GET /datasets/{uid}/` with the SDK.
pub async fn sdk_get_dataset(client: &avala::Client, uid: &str) -> avala::Result<Dataset> {
    Ok(client.get_dataset().uid(uid).send().await?.into_inner())
}

/// `GET /datasets/{uid}/` with the SDK's blocking call, on this thread.
pub fn sdk_get_dataset_blocking(client: &avala::Client, uid: &str) -> avala::Result<Dataset> {
    Ok(client.get_dataset().uid(uid).send_blocking()?.into_inner())
}

/// Every dataset of the listing with `.stream()`; calls `each` per item.
pub async fn sdk_stream(
    client: &avala::Client,
    short: bool,
    mut each: impl FnMut(&Dataset),
) -> avala::Result<()> {
    let mut builder = client.list_datasets().limit(PAGE_SIZE as u32);
    if short {
        builder = builder.name("short");
    }
    let mut items = builder.stream();
    while let Some(d) = items.try_next().await? {
        each(&d);
    }
    Ok(())
}

/// Every dataset of the listing by hand: request a page, decode it, take the
/// `cursor` from its `next` link, repeat.
pub async fn raw_stream(raw: &Raw, short: bool, mut each: impl FnMut(&Dataset)) -> RawResult<()> {
    let url = format!("{}/datasets/", raw.base);
    let limit = PAGE_SIZE.to_string();
    let mut cursor: Option<String> = None;
    loop {
        let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
        if short {
            query.push(("name", "short"));
        }
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let response = raw.get(url.clone()).query(&query).send().await?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()).into());
        }
        let body = response.bytes().await?;
        let page: DatasetPage = serde_json::from_slice(&body)?;
        drop(body);
        for d in &page.results {
            each(d);
        }
        let next = page.next.as_deref().map(url::Url::parse).transpose()?;
        cursor = next.and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned())
        });
        if cursor.is_none() {
            return Ok(());
        }
    }
}
