//! The one loopback server both sides talk to: fixed fixture bytes, rendered
//! once at start, served by hyper 1 (HTTP/1.1, keep-alive) on 127.0.0.1.
//!
//! Routes, below `/api/v1`:
//! - `GET /datasets/{uid}/`: one `Dataset` (the same bytes every time);
//! - `GET /datasets/missing/`: 404 with `{"detail":"Not found."}`;
//! - `GET /datasets/echo-headers/`: a `Dataset` whose `name` lists the
//!   request's headers, used once to check that both sides send the same ones;
//! - `GET /datasets/?limit=100[&name=short][&cursor=cN]`: page N of 1,000
//!   (or of 100 with `name=short`), 100 datasets each, with an absolute `next`
//!   link that carries the cursor, as the API sends it.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, header, service::service_fn, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;

/// The name of the server runtime's threads (the CPU probes leave them out).
pub const SERVER_THREAD: &str = "bench-server";

/// The runtime every loopback server of the benchmark runs on, on threads
/// of its own (`workers` of them) so the measured side does not share them.
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Items per page, as requested with `limit`.
pub const PAGE_SIZE: usize = 100;
/// Pages of the long listing; the short one (`name=short`) has a tenth.
pub const LONG_PAGES: usize = 1_000;
pub const SHORT_PAGES: usize = LONG_PAGES / 10;

/// The body of every 404.
pub const NOT_FOUND_BODY: &str = r#"{"detail":"Not found."}"#;

struct Fixtures {
    dataset: Bytes,
    not_found: Bytes,
    long: Vec<Bytes>,
    short: Vec<Bytes>,
}

/// One dataset as the API renders it.
pub fn dataset_json(n: usize) -> serde_json::Value {
    json!({
        "uid": format!("ds-{n:07}"),
        "name": format!("Dataset {n}"),
        "slug": format!("dataset-{n}"),
        "owner_name": "acme-robotics",
        "data_type": "image",
        "status": "created",
        "is_sequence": false,
        "item_count": 1234 + n,
        "created_at": "2024-05-01T12:00:00Z",
        "updated_at": "2024-06-01T08:30:00.123456Z",
        "predefined_labels": [
            {"name": "car", "color": "#ff0000"},
            {"name": "pedestrian", "color": "#00ff00"}
        ]
    })
}

fn pages(origin: &str, count: usize, short: bool) -> Vec<Bytes> {
    let filter = if short { "&name=short" } else { "" };
    (0..count)
        .map(|p| {
            let next = (p + 1 < count).then(|| {
                format!(
                    "{origin}/api/v1/datasets/?cursor=c{}&limit={PAGE_SIZE}{filter}",
                    p + 1
                )
            });
            let previous = (p > 0).then(|| {
                format!("{origin}/api/v1/datasets/?cursor=p{p}&limit={PAGE_SIZE}{filter}")
            });
            let results: Vec<_> = (0..PAGE_SIZE)
                .map(|i| dataset_json(p * PAGE_SIZE + i))
                .collect();
            let page = json!({"next": next, "previous": previous, "results": results});
            Bytes::from(serde_json::to_vec(&page).expect("a page serializes"))
        })
        .collect()
}

/// A running server; it lives as long as the runtime it was started on.
pub struct Server {
    pub addr: SocketAddr,
    /// Bytes of one `Dataset` body and of one page body (for the table).
    pub dataset_bytes: usize,
    pub page_bytes: usize,
}

/// Binds 127.0.0.1 on a free port and serves on `runtime`.
pub fn start(runtime: &tokio::runtime::Runtime) -> std::io::Result<Server> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let origin = format!("http://{addr}");
    let fixtures = Arc::new(Fixtures {
        dataset: Bytes::from(serde_json::to_vec(&dataset_json(1)).expect("serializes")),
        not_found: Bytes::from_static(NOT_FOUND_BODY.as_bytes()),
        long: pages(&origin, LONG_PAGES, false),
        short: pages(&origin, SHORT_PAGES, true),
    });
    let server = Server {
        addr,
        dataset_bytes: fixtures.dataset.len(),
        page_bytes: fixtures.long[1].len(),
    };
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let fixtures = fixtures.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let fixtures = fixtures.clone();
                    async move { Ok::<_, Infallible>(route(&fixtures, &req)) }
                });
                // A client closing its connection ends this task; nothing to report.
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(server)
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    // What the API sends on every response; the SDK reads them each time.
    headers.insert(
        "x-ratelimit-limit",
        header::HeaderValue::from_static("10000"),
    );
    headers.insert(
        "x-ratelimit-remaining",
        header::HeaderValue::from_static("9999"),
    );
    headers.insert("x-ratelimit-reset", header::HeaderValue::from_static("60"));
    response
}

fn route(f: &Fixtures, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let not_found = || respond(StatusCode::NOT_FOUND, f.not_found.clone());
    let Some(rest) = req.uri().path().strip_prefix("/api/v1/datasets/") else {
        return not_found();
    };
    if req.method() != hyper::Method::GET {
        return not_found();
    }
    if rest.is_empty() {
        let (mut page, mut short) = (0usize, false);
        for pair in req.uri().query().unwrap_or("").split('&') {
            if let Some(n) = pair.strip_prefix("cursor=c") {
                page = n.parse().unwrap_or(usize::MAX);
            } else if pair == "name=short" {
                short = true;
            }
        }
        let set = if short { &f.short } else { &f.long };
        return match set.get(page) {
            Some(body) => respond(StatusCode::OK, body.clone()),
            None => not_found(),
        };
    }
    match rest.strip_suffix('/') {
        Some("missing") | None | Some("") => not_found(),
        Some("echo-headers") => {
            let mut lines: Vec<String> = req
                .headers()
                .iter()
                .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
                .collect();
            lines.sort();
            let mut d = dataset_json(0);
            d["name"] = lines.join("\n").into();
            respond(
                StatusCode::OK,
                Bytes::from(serde_json::to_vec(&d).expect("serializes")),
            )
        }
        Some(_) => respond(StatusCode::OK, f.dataset.clone()),
    }
}
