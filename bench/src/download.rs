//! The verified download: `ResolvedObject::stream()` of one large object
//! next to a raw reqwest GET of the same URL with `sha2` over the same
//! bytes, from one loopback server that streams the object from a repeated
//! 1 MiB block (so the server itself allocates nothing per byte).
//!
//! Throughput: A/B/A/B rounds in this process (the SDK side includes its
//! access-grant request). Peak memory: a child process per side with the
//! counting allocator on, after a warm-up that opens the connection; the
//! peak above that baseline while the whole object streams through.

use std::{
    convert::Infallible,
    net::SocketAddr,
    process::Command,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::{body::Frame, service::service_fn, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

use crate::{alloc, stats};

pub const PROBE_FLAG: &str = "--download-probe";

const DATASET_UID: &str = "0d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f70";
const OBJECT_UID: &str = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b";
const REVISION: &str = "a3f1c9e7b5d3f1a9c7e5b3d1f9a7c5e3b1d9f7a5c3e1b9d7f5a3c1e9b7d5f3a1";
const MANIFEST: &str = "5e3c1a9f7d5b3e1c9a7f5d3b1e9c7a5f3d1b9e7c5a3f1d9b7e5c3a1f9d7b5e3c";
const BLOCK: usize = 1024 * 1024;

/// The peak memory target above baseline.
const MEMORY_TARGET: isize = 64 * 1024 * 1024;

/// The object: `size` bytes of a repeated pseudo-random block.
#[derive(Clone)]
struct Object {
    block: Bytes,
    size: u64,
    sha256: String,
}

impl Object {
    fn new(size: u64) -> Self {
        let block = Bytes::from(noise(BLOCK, 0));
        let mut hasher = Sha256::new();
        for chunk in chunks(&block, size) {
            hasher.update(&chunk);
        }
        Self {
            block,
            size,
            sha256: hex(&hasher.finalize()),
        }
    }
}

/// `len` pseudo-random bytes (xorshift), distinct for each `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The object's bytes as slices of the block (no copy).
fn chunks(block: &Bytes, size: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
    let block = block.clone();
    let full = size / BLOCK as u64;
    let rest = (size % BLOCK as u64) as usize;
    (0..full)
        .map(|_| BLOCK)
        .chain((rest > 0).then_some(rest))
        .map(move |n| block.slice(..n))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Body = BoxBody<Bytes, Infallible>;

fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn route(origin: &str, object: &Object, req: &Request<hyper::body::Incoming>) -> Response<Body> {
    let canonical = format!("avala://datasets/{DATASET_UID}@{REVISION}");
    let objects_path = format!("/resolve/uid/{DATASET_UID}/{REVISION}/objects/");
    let path = req.uri().path().strip_prefix("/api/v1").unwrap_or_default();
    let entry = serde_json::json!({
        "object_uid": OBJECT_UID, "logical_path": "blobs/large.bin", "role": "blob",
        "ordinal": 0, "episode_ordinal": null, "content_type": "application/octet-stream",
        "origin": "primary", "size_bytes": object.size, "sha256": object.sha256,
        "access_path": format!("{objects_path}{OBJECT_UID}/access/"),
    });
    if path == format!("/resolve/uid/{DATASET_UID}/{REVISION}/") {
        return json(
            StatusCode::OK,
            serde_json::json!({
                "schema_version": 1, "requested_reference": canonical,
                "display_reference": format!("bench/large@{REVISION}"),
                "canonical_reference": canonical, "dataset_uid": DATASET_UID,
                "revision_uid": "c2e4a6b8-0d1f-4c3e-a5b7-d9f1b3c5e7a9",
                "revision_sha256": REVISION, "state": "published",
                "manifest": {
                    "schema_version": 1, "sha256": MANIFEST, "object_count": 1,
                    "total_size_bytes": object.size,
                    "origins": [{"name": "primary", "kind": "avala", "canonical_ref": "x", "external_revision": "y"}],
                    "objects_path": objects_path,
                },
                "rights": {
                    "status": "declared", "access": "open_download", "name": "CC0",
                    "url": "https://creativecommons.org/publicdomain/zero/1.0/",
                    "document_sha256": MANIFEST, "attestation_sha256": MANIFEST,
                },
            }),
        );
    }
    if path == objects_path {
        return json(
            StatusCode::OK,
            serde_json::json!({
                "schema_version": 1, "canonical_reference": canonical,
                "revision_sha256": REVISION, "manifest_sha256": MANIFEST,
                "next_cursor": null, "previous_cursor": null, "results": [entry],
            }),
        );
    }
    if path == format!("{objects_path}{OBJECT_UID}/access/") {
        let now = SystemTime::now();
        let expires = chrono::DateTime::<chrono::Utc>::from(now + Duration::from_secs(60))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut r = json(
            StatusCode::OK,
            serde_json::json!({
                "schema_version": 1, "provider": "avala_proxy",
                "url": format!("{origin}/api/v1/resolve/download/{OBJECT_UID}/"),
                "method": "GET", "canonical_reference": canonical,
                "dataset_uid": DATASET_UID, "revision_sha256": REVISION,
                "manifest_sha256": MANIFEST, "object_uid": OBJECT_UID,
                "size_bytes": object.size, "sha256": object.sha256,
                "range_supported": false, "expires_at": expires,
            }),
        );
        if let Ok(date) = httpdate::fmt_http_date(now).parse() {
            r.headers_mut().insert(hyper::header::DATE, date);
        }
        return r;
    }
    if path == format!("/resolve/download/{OBJECT_UID}/") {
        let frames = stream::iter(chunks(&object.block, object.size))
            .map(|c| Ok::<_, Infallible>(Frame::data(c)));
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
        r.headers_mut()
            .insert(hyper::header::CONTENT_LENGTH, object.size.into());
        return r;
    }
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({"detail": "Not found."}),
    )
}

fn start_server(runtime: &tokio::runtime::Runtime, object: Object) -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let origin = Arc::<str>::from(format!("http://{addr}"));
    let object = Arc::new(object);
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (origin, object) = (origin.clone(), object.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let response = route(&origin, &object, &req);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// The SDK side, ready to stream.
async fn sdk_object(base: &str) -> Result<avala::resolver::ResolvedObject, String> {
    let resolver = avala::resolver::Resolver::builder()
        .base_url(base)
        .build()
        .map_err(|e| e.to_string())?;
    let dataset = resolver
        .load(&format!("avala://datasets/{DATASET_UID}@{REVISION}"))
        .await
        .map_err(|e| e.to_string())?;
    dataset
        .object("blob", 0)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no blob 0".to_owned())
}

/// One verified download by the SDK; returns the bytes seen.
async fn sdk_download(object: &avala::resolver::ResolvedObject) -> Result<u64, String> {
    let mut chunks = object.stream();
    let mut n = 0u64;
    while let Some(chunk) = chunks.try_next().await.map_err(|e| e.to_string())? {
        n += chunk.len() as u64;
    }
    Ok(n)
}

/// The raw side: the client a user would build (no redirects, 30 s read
/// timeout), a GET, `sha2` over every chunk, the same two checks.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .read_timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

async fn raw_download(
    http: &reqwest::Client,
    base: &str,
    size: u64,
    sha256: &str,
) -> Result<u64, String> {
    let mut response = http
        .get(format!("{base}/resolve/download/{OBJECT_UID}/"))
        .header("accept-encoding", "identity")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("raw: HTTP {}", response.status()));
    }
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        n += chunk.len() as u64;
        hasher.update(&chunk);
    }
    if n != size || hex(&hasher.finalize()) != sha256 {
        return Err("raw: size or sha256 mismatch".into());
    }
    Ok(n)
}

/// `--download-probe <base> <size> <sha256> sdk|raw` in a child process.
pub fn child(args: &[String]) -> i32 {
    let [base, size, sha256, side] = args else {
        eprintln!("usage: avala-bench {PROBE_FLAG} <base> <size> <sha256> sdk|raw");
        return 2;
    };
    std::env::set_var("AVALA_ALLOW_INSECURE_BASE_URL", "1");
    let size: u64 = size.parse().unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        if side == "sdk" {
            // Warm-up: resolve and look the object up (connection open).
            let object = sdk_object(base).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            let n = sdk_download(&object).await?;
            Ok::<_, String>((alloc::peak() - baseline, n))
        } else {
            let http = raw_client();
            let warm = http
                .get(format!("{base}/resolve/uid/{DATASET_UID}/{REVISION}/"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            warm.bytes().await.map_err(|e| e.to_string())?;
            let baseline = alloc::current();
            alloc::reset_peak();
            let n = raw_download(&http, base, size, sha256).await?;
            Ok((alloc::peak() - baseline, n))
        }
    });
    match result {
        Ok((peak, n)) if n == size => {
            println!("peak={peak} bytes={n}");
            0
        }
        Ok((_, n)) => {
            println!("error: {n} bytes of {size}");
            1
        }
        Err(e) => {
            println!("error: {e}");
            1
        }
    }
}

fn probe(base: &str, object: &Object, side: &str) -> Result<isize, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .args([
            PROBE_FLAG,
            base,
            &object.size.to_string(),
            &object.sha256,
            side,
        ])
        .output()
        .map_err(|e| format!("running the download probe: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("peak=")?.parse().ok())
        .filter(|_| out.status.success())
        .ok_or_else(|| format!("the download probe ({side}) failed: {stdout}"))
}

/// Runs the measure for an object of `size` bytes, `rounds` a side.
pub fn run(size: u64, rounds: usize) -> Result<(), String> {
    let started = Instant::now();
    eprintln!(
        "verified download: hashing the {} MiB object once ...",
        size >> 20
    );
    let object = Object::new(size);
    let server_rt = crate::server::runtime(1)?;
    let addr = start_server(&server_rt, object.clone())?;
    let base = format!("http://{addr}/api/v1");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (sdk_secs, raw_secs) = client_rt.block_on(async {
        let sdk = sdk_object(&base).await?;
        let raw = raw_client();
        let (mut sdk_secs, mut raw_secs) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            eprintln!("verified download: round {}/{rounds} ...", round + 1);
            let sdk_first = round % 2 == 0;
            for side_is_sdk in [sdk_first, !sdk_first] {
                let t = Instant::now();
                let n = if side_is_sdk {
                    sdk_download(&sdk).await?
                } else {
                    raw_download(&raw, &base, object.size, &object.sha256).await?
                };
                assert_eq!(n, object.size);
                let secs = t.elapsed().as_secs_f64();
                if side_is_sdk {
                    sdk_secs.push(secs);
                } else {
                    raw_secs.push(secs);
                }
            }
        }
        Ok::<_, String>((sdk_secs, raw_secs))
    })?;
    let sdk_peak = probe(&base, &object, "sdk")?;
    let raw_peak = probe(&base, &object, "raw")?;

    let per_round: Vec<f64> = raw_secs.iter().zip(&sdk_secs).map(|(r, s)| r / s).collect();
    let ratio = stats::Ratio::new(
        raw_secs.iter().sum::<f64>() / sdk_secs.iter().sum::<f64>(),
        &per_round,
    );
    let mib_s = |secs: &[f64]| {
        (object.size as f64 * secs.len() as f64) / secs.iter().sum::<f64>() / 1048576.0
    };
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "verified_download_throughput: ratio {:.2} ({}; SDK {:.0} MiB/s vs raw GET + sha2 {:.0} MiB/s; {} rounds a side of {} MiB; target >= 0.90: {})",
        ratio.value,
        ratio.spread(),
        mib_s(&sdk_secs),
        mib_s(&raw_secs),
        rounds,
        object.size >> 20,
        met(ratio.value >= 0.9)
    );
    println!(
        "verified_download_peak_memory: SDK {} vs raw {} above baseline for {} MiB (target SDK < 64 MiB: {})",
        stats::kib(sdk_peak),
        stats::kib(raw_peak),
        object.size >> 20,
        met(sdk_peak < MEMORY_TARGET)
    );
    println!(
        "(verified download ran in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
