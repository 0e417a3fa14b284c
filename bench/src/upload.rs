//! `avala-bench --upload`: `client.upload_files` next to raw reqwest PUTs of
//! the same bytes, against one loopback storage server (the embedded mock,
//! which serves the API and the storage routes on one port).
//!
//! - **Small files**: N files (default 1,000 of 32 KiB), 8 at a time. The
//!   SDK runs the whole §9.1 flow (a presign, the PUT, a completion per
//!   file; the user lookup and quota once); the raw side only PUTs each
//!   file's bytes to the mock's sink route, 8 tasks.
//! - **One large file** (default 1 GiB, sparse): the SDK by MULTIPART
//!   (16 MiB parts, 2 in flight, each signed on demand); the raw side one
//!   streamed PUT of the file to the sink.
//! - **Memory**: the same large upload in a child process with the counting
//!   allocator on (the server stays in the parent): peak live bytes above
//!   the baseline taken after a warm-up upload.
//!
//! Rounds alternate the sides (SDK, raw, raw, SDK, ...). With
//! `--latency-ms N` the mock holds every answer to a presign, a completion
//! and a small file's PUT (the SDK's, raw*'s and the bare raw PUTs alike)
//! for N ms: a stand-in for a remote API and storage, where the pipelining
//! of presigns ahead of PUTs shows.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use avala::mock::{MockServer, UploadMode};
use futures::StreamExt;

use crate::alloc;

pub const PROBE_FLAG: &str = "--upload-probe";
const PART_SIZE: u64 = 16 * 1024 * 1024;
const WORKERS: usize = 8;

pub struct Opts {
    pub files: usize,
    pub file_kib: usize,
    pub large_mib: u64,
    pub rounds: usize,
    /// Added to each answer of the small-file requests (0: none).
    pub latency_ms: u64,
}

/// A directory removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(opts: &Opts) -> Result<(), String> {
    let server_rt = crate::server::runtime(2)?;
    let mock = server_rt.block_on(MockServer::start());
    // Completed uploads count against the mock's quota: make room for many GiB.
    mock.uploads().quota(u64::MAX / 2, 0);
    let latency = Duration::from_millis(opts.latency_ms);
    if !latency.is_zero() {
        for op in ["create_manual_upload_url", "complete_manual_upload"] {
            mock.fault(op, avala::mock::Fault::delay(latency));
        }
        for route in [
            avala::mock::StorageRoute::Put,
            avala::mock::StorageRoute::Sink,
        ] {
            mock.storage()
                .fault(route, avala::mock::Fault::delay(latency));
        }
    }
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("avala-bench-upload-{}", std::process::id())));
    let small_dir = scratch.0.join("small");
    std::fs::create_dir_all(&small_dir).map_err(|e| e.to_string())?;
    let mut small = Vec::new();
    for i in 0..opts.files {
        let path = small_dir.join(format!("{i:05}.jpg"));
        let bytes: Vec<u8> = (0..opts.file_kib * 1024).map(|j| (i + j) as u8).collect();
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        small.push(path);
    }
    let large = scratch.0.join("large.bin");
    let large_bytes = opts.large_mib * 1024 * 1024;
    std::fs::File::create(&large)
        .and_then(|f| f.set_len(large_bytes))
        .map_err(|e| format!("creating the sparse file: {e}"))?;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let sink = format!("http://{}/_storage/sink", mock.address());
    println!(
        "upload bench: {} files of {} KiB ({} workers, {} ms a presign, PUT and completion), one file of {} MiB (parts of {} MiB), {} rounds a side",
        opts.files,
        opts.file_kib,
        WORKERS,
        opts.latency_ms,
        opts.large_mib,
        PART_SIZE >> 20,
        opts.rounds
    );

    let mut small_times = [Vec::new(), Vec::new()];
    let mut protocol_times = Vec::new();
    let mut large_times = [Vec::new(), Vec::new()];
    client_rt.block_on(async {
        let client = mock.client();
        for round in 0..opts.rounds * 2 {
            let sdk_first = round % 2 == 0;
            for sdk in [sdk_first, !sdk_first] {
                let state = scratch.0.join("state");
                let started = Instant::now();
                if sdk {
                    mock.uploads().mode(UploadMode::Put);
                    let files = small.iter().map(|p| {
                        (
                            p.clone(),
                            p.file_name().unwrap().to_string_lossy().into_owned(),
                        )
                    });
                    let report = client
                        .upload_files(format!("small-{round}"), files)
                        .workers(WORKERS)
                        .state_dir(&state)
                        .resume(false)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if report.files_sent != opts.files {
                        return Err(format!("the SDK sent {} files", report.files_sent));
                    }
                } else {
                    raw_small(&raw, &sink, &small).await?;
                }
                small_times[usize::from(!sdk)].push(started.elapsed());
            }
            mock.uploads().mode(UploadMode::Put);
            let started = Instant::now();
            raw_protocol(&raw, mock.base_url(), &format!("small-raw-{round}"), &small).await?;
            protocol_times.push(started.elapsed());
        }
        for round in 0..opts.rounds * 2 {
            let sdk_first = round % 2 == 0;
            for sdk in [sdk_first, !sdk_first] {
                let started = Instant::now();
                if sdk {
                    mock.uploads().mode(UploadMode::Multipart {
                        part_size: PART_SIZE,
                    });
                    sdk_large(
                        &client,
                        &large,
                        &scratch.0.join("state"),
                        &format!("large-{round}"),
                    )
                    .await?;
                } else {
                    raw_large(&raw, &sink, &large).await?;
                }
                large_times[usize::from(!sdk)].push(started.elapsed());
            }
        }
        Ok::<_, String>(())
    })?;

    eprintln!("memory: the large upload in two child processes ...");
    let base = mock.base_url().to_owned();
    let mem_sdk = probe(&base, &large, "sdk")?;
    let mem_raw = probe(&base, &large, "raw")?;

    let small_bytes = (opts.files * opts.file_kib * 1024) as f64;
    let rate = |times: &[Duration], bytes: f64| {
        let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        secs.sort_by(f64::total_cmp);
        bytes / secs[secs.len() / 2] / (1024.0 * 1024.0)
    };
    println!();
    println!(
        "{:<40} {:>4} {:>12} {:>12}",
        "upload measure", "side", "median s", "MiB/s"
    );
    let median = crate::stats::median_secs;
    let small_name = format!(
        "{} files of {} KiB, {WORKERS} workers",
        opts.files, opts.file_kib
    );
    let large_name = format!("1 file of {} MiB", opts.large_mib);
    for (name, times, bytes) in [
        (&small_name, &small_times, small_bytes),
        (&large_name, &large_times, large_bytes as f64),
    ] {
        for (side, t) in [("sdk", &times[0]), ("raw", &times[1])] {
            println!(
                "{:<40} {:>4} {:>12.3} {:>12.1}",
                name,
                side,
                median(t),
                rate(t, bytes)
            );
        }
        if std::ptr::eq(times, &small_times) {
            let t = &protocol_times;
            println!(
                "{:<40} {:>4} {:>12.3} {:>12.1}",
                name,
                "raw*",
                median(t),
                rate(t, bytes)
            );
        }
    }
    println!("raw*: the same presign + PUT + complete per file, by hand with reqwest");
    let small_ratio = rate(&small_times[0], small_bytes) / rate(&small_times[1], small_bytes);
    let large_ratio =
        rate(&large_times[0], large_bytes as f64) / rate(&large_times[1], large_bytes as f64);
    println!();
    println!(
        "small files: throughput ratio {small_ratio:.2} (target >= 0.90: {}; the SDK also makes 2 API calls a file)",
        if small_ratio >= 0.9 { "met" } else { "NOT met" }
    );
    let protocol_ratio = rate(&small_times[0], small_bytes) / rate(&protocol_times, small_bytes);
    println!(
        "small files: throughput ratio to raw* (the same protocol by hand) {protocol_ratio:.2}"
    );
    println!(
        "large file: throughput ratio {large_ratio:.2} (target >= 0.90: {})",
        if large_ratio >= 0.9 { "met" } else { "NOT met" }
    );
    println!(
        "memory while {} MiB upload: peak above baseline sdk {:.1} MiB, raw {:.1} MiB (target < 64 MiB: {})",
        opts.large_mib,
        mem_sdk as f64 / 1048576.0,
        mem_raw as f64 / 1048576.0,
        if mem_sdk < 64 << 20 { "met" } else { "NOT met" }
    );
    drop(mock);
    Ok(())
}

async fn raw_small(raw: &reqwest::Client, sink: &str, files: &[PathBuf]) -> Result<(), String> {
    let results: Vec<Result<(), String>> = futures::stream::iter(files.iter().enumerate())
        .map(|(i, path)| async move {
            let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
            let response = raw
                .put(format!("{sink}/{i}"))
                .body(bytes)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            response
                .error_for_status()
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .buffer_unordered(WORKERS)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The raw large upload: the file's parts of [`PART_SIZE`], each read into
/// memory and PUT to the sink, 2 in flight (what a hand-written multipart
/// upload does).
async fn raw_large(raw: &reqwest::Client, sink: &str, path: &Path) -> Result<(), String> {
    raw_parts(raw, sink, path, PART_SIZE).await
}

/// The file's parts of `part_size`, each read into memory and PUT to the
/// sink, 2 in flight.
pub(crate) async fn raw_parts(
    raw: &reqwest::Client,
    sink: &str,
    path: &Path,
    part_size: u64,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let len = tokio::fs::metadata(path)
        .await
        .map_err(|e| e.to_string())?
        .len();
    let parts = len.div_ceil(part_size);
    let results: Vec<Result<(), String>> = futures::stream::iter(0..parts)
        .map(|n| async move {
            let offset = n * part_size;
            let size = part_size.min(len - offset) as usize;
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(|e| e.to_string())?;
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; size];
            file.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            raw.put(format!("{sink}/large-{n}"))
                .body(buf)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .buffer_unordered(2)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The §9.1 protocol by hand for each small file (presign, PUT, complete),
/// 8 at a time, with the key header: the SDK's own overhead is the
/// difference to its side.
async fn raw_protocol(
    raw: &reqwest::Client,
    base: &str,
    name: &str,
    files: &[PathBuf],
) -> Result<(), String> {
    let batch = "00000000-0000-4000-8000-000000000b0b";
    let results: Vec<Result<(), String>> = futures::stream::iter(files.iter())
        .map(|path| async move {
            let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
            let file_name = path.file_name().unwrap_or_default().to_string_lossy();
            let target: serde_json::Value = raw
                .post(format!("{base}/datasets/manual-upload/file-upload-url/"))
                .header("x-avala-api-key", MockServer::API_KEY)
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({
                        "dataset_name": name,
                        "file_path_in_dataset": file_name,
                        "content_length": bytes.len(),
                        "dataset_upload_uid": batch,
                        "upload_protocol_version": 2,
                    })
                    .to_string(),
                )
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let uid = target["upload_uid"].as_str().ok_or("no upload_uid")?;
            let url = target["url"].as_str().ok_or("no url")?;
            let mut put = raw.put(url).body(bytes);
            for (k, v) in target["headers"].as_object().into_iter().flatten() {
                put = put.header(k, v.as_str().unwrap_or_default());
            }
            put.send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| e.to_string())?;
            raw.post(format!(
                "{base}/datasets/manual-upload/uploads/{uid}/complete/"
            ))
            .header("x-avala-api-key", MockServer::API_KEY)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(drop)
            .map_err(|e| e.to_string())
        })
        .buffer_unordered(WORKERS)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn sdk_large(
    client: &avala::Client,
    path: &Path,
    state: &Path,
    name: &str,
) -> Result<(), String> {
    let report = client
        .upload_files(name, [(path.to_owned(), "large.bin".to_owned())])
        .state_dir(state)
        .resume(false)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if report.files_sent != 1 {
        return Err(format!("the SDK did not send the large file: {report:?}"));
    }
    Ok(())
}

/// Runs the memory probe in a child; its peak above baseline, in bytes.
fn probe(base: &str, large: &Path, side: &str) -> Result<isize, String> {
    run_probe(PROBE_FLAG, &[base, &large.to_string_lossy(), side])
}

/// Runs this benchmark again as a probe child (`flag args..`) and reads the
/// `peak=<bytes>` it prints.
pub fn run_probe(flag: &str, args: &[&str]) -> Result<isize, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg(flag)
        .args(args)
        .output()
        .map_err(|e| format!("running the probe {flag}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("peak=")?.parse().ok())
        .ok_or_else(|| {
            format!(
                "the probe {flag} failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// A probe child's report of its peak (or error) and its exit code.
pub fn report_peak(result: Result<isize, String>) -> i32 {
    match result {
        Ok(peak) => {
            println!("peak={peak}");
            0
        }
        Err(e) => {
            println!("error: {e}");
            1
        }
    }
}

/// The probe child's `main`: counting is on; returns the exit code.
pub fn child(args: &[String]) -> i32 {
    let [base, large, side] = args else {
        eprintln!("usage: avala-bench {PROBE_FLAG} <base-url> <file> sdk|raw");
        return 2;
    };
    let large = PathBuf::from(large);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        let origin = base.trim_end_matches("/api/v1");
        let sink = format!("{origin}/_storage/sink");
        let state = std::env::temp_dir().join(format!("avala-bench-probe-{}", std::process::id()));
        let small = state.join("warm.bin");
        std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
        std::fs::write(&small, vec![1u8; 6 << 20]).map_err(|e| e.to_string())?;
        let out = if side == "sdk" {
            // The mock answers MULTIPART (its mode is set by the parent).
            let client = avala::Client::builder()
                .api_key(MockServer::API_KEY)
                .base_url(base)
                .build()
                .map_err(|e| e.to_string())?;
            sdk_large(&client, &small, &state, "probe-warm").await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            sdk_large(&client, &large, &state, "probe").await?;
            Ok::<_, String>(alloc::peak() - baseline)
        } else {
            let raw = reqwest::Client::new();
            raw_large(&raw, &sink, &small).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            raw_large(&raw, &sink, &large).await?;
            Ok(alloc::peak() - baseline)
        };
        let _ = std::fs::remove_dir_all(&state);
        out
    });
    report_peak(result)
}
