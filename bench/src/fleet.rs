//! `avala-bench --fleet`: the legacy Fleet recording upload's costs.
//!
//! - **Hashing**: the SDK's streamed SHA-256 of one file (what the
//!   recording inventory runs per file) next to `sha256sum` on the same
//!   file (default 1 GiB of pseudo-random bytes, read once first so both
//!   sides hash from the page cache), alternating, median of the rounds.
//! - **Recording upload**: `client.upload_recording` of N files (default
//!   200 of 1 MiB, 4 workers) against the embedded mock, the whole flow
//!   (hashing every file, status, init, URLs, PUTs, confirms, finalize),
//!   next to raw reqwest PUTs of the same files' bytes (4 tasks, each file
//!   read into memory) to the mock's sink route on the same port.
//! - **Memory**: the same upload in a child process with the counting
//!   allocator on: peak live bytes above the baseline of a warm-up upload.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use avala::mock::MockServer;
use futures::StreamExt;

use crate::{alloc, stats};

pub const PROBE_FLAG: &str = "--fleet-probe";
const WORKERS: usize = 4;

pub struct Opts {
    pub hash_mib: u64,
    pub files: usize,
    pub file_kib: usize,
    pub rounds: usize,
}

/// A directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(opts: &Opts) -> Result<(), String> {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("avala-bench-fleet-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).map_err(|e| e.to_string())?;
    let hashed = hashing(&scratch.0, opts)?;

    let server_rt = runtime("bench-server")?;
    let client_rt = runtime("bench-client")?;
    let mock = server_rt.block_on(MockServer::start());
    let recording = scratch.0.join("recording");
    write_recording(&recording, opts.files, opts.file_kib)?;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let sink = format!("http://{}/_storage/sink", mock.address());
    let mut times = [Vec::new(), Vec::new()];
    client_rt.block_on(async {
        let client = mock.client();
        for round in 0..opts.rounds * 2 {
            let sdk_first = round % 2 == 0;
            for sdk in [sdk_first, !sdk_first] {
                let started = Instant::now();
                if sdk {
                    sdk_upload(
                        &client,
                        &recording,
                        &scratch.0.join(format!("state-{round}")),
                    )
                    .await?;
                } else {
                    raw_upload(&raw, &sink, &recording).await?;
                }
                times[usize::from(!sdk)].push(started.elapsed());
            }
        }
        Ok::<_, String>(())
    })?;
    eprintln!("memory: the recording upload in two child processes ...");
    let mem_sdk = probe(mock.base_url(), &recording, "sdk")?;
    let mem_raw = probe(mock.base_url(), &recording, "raw")?;

    let bytes = (opts.files * opts.file_kib * 1024) as f64;
    let (sdk, raw) = (stats::median_secs(&times[0]), stats::median_secs(&times[1]));
    println!();
    println!(
        "{:<44} {:>4} {:>10} {:>10}",
        "fleet measure", "side", "median s", "MiB/s"
    );
    let hash_bytes = (opts.hash_mib << 20) as f64;
    for (side, secs) in [("sdk", hashed.0), ("sha256sum", hashed.1)] {
        println!(
            "{:<44} {:>4} {:>10.3} {:>10.1}",
            format!("SHA-256 of {} MiB", opts.hash_mib),
            side,
            secs,
            hash_bytes / secs / 1048576.0
        );
    }
    let name = format!("recording of {} files of {} KiB", opts.files, opts.file_kib);
    for (side, secs) in [("sdk", sdk), ("raw", raw)] {
        println!(
            "{name:<44} {side:>4} {secs:>10.3} {:>10.1}",
            bytes / secs / 1048576.0
        );
    }
    let hash_ratio = hashed.1 / hashed.0;
    let upload_ratio = raw / sdk;
    println!();
    println!(
        "hashing: throughput ratio to sha256sum {hash_ratio:.2} (target >= 0.90: {})",
        verdict(hash_ratio)
    );
    println!(
        "recording upload: throughput ratio to raw PUTs {upload_ratio:.2} (target >= 0.90: {}; the SDK also hashes every file and makes the API calls)",
        verdict(upload_ratio)
    );
    println!(
        "memory while uploading the recording: peak above baseline sdk {:.1} MiB, raw {:.1} MiB",
        mem_sdk as f64 / 1048576.0,
        mem_raw as f64 / 1048576.0
    );
    Ok(())
}

fn verdict(ratio: f64) -> &'static str {
    if ratio >= 0.9 {
        "met"
    } else {
        "NOT met"
    }
}

fn runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Pseudo-random bytes, so that neither side meets a pattern.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The median seconds of (the SDK's hash, `sha256sum`), after checking
/// that they agree.
fn hashing(dir: &Path, opts: &Opts) -> Result<(f64, f64), String> {
    let path = dir.join("hash.bin");
    let mut file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let chunk = noise(8 << 20, 7);
    for _ in 0..(opts.hash_mib * 1024 * 1024).div_ceil(chunk.len() as u64) {
        file.write_all(&chunk).map_err(|e| e.to_string())?;
    }
    drop(file);
    let sum = |path: &Path| -> Result<String, String> {
        let out = Command::new("sha256sum")
            .arg(path)
            .output()
            .map_err(|e| format!("running sha256sum: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .next()
            .map(str::to_owned)
            .ok_or_else(|| "sha256sum printed nothing".to_owned())
    };
    // Warm the page cache, and check both sides compute the same hash.
    let ours = avala::upload::sha256_file_hex(&path).map_err(|e| e.to_string())?;
    if ours != sum(&path)? {
        return Err("the SDK and sha256sum disagree".to_owned());
    }
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..opts.rounds * 2 {
        let sdk_first = round % 2 == 0;
        for sdk in [sdk_first, !sdk_first] {
            let started = Instant::now();
            if sdk {
                avala::upload::sha256_file_hex(&path).map_err(|e| e.to_string())?;
            } else {
                sum(&path)?;
            }
            times[usize::from(!sdk)].push(started.elapsed());
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok((stats::median_secs(&times[0]), stats::median_secs(&times[1])))
}

fn write_recording(dir: &Path, files: usize, kib: usize) -> Result<(), String> {
    for i in 0..files {
        let path = dir.join(format!("topic-{:02}/{i:04}.mcap", i % 8));
        std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(|e| e.to_string())?;
        std::fs::write(&path, noise(kib * 1024, i as u64 + 11)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn files_of(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for topic in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        for file in std::fs::read_dir(topic.map_err(|e| e.to_string())?.path())
            .map_err(|e| e.to_string())?
        {
            out.push(file.map_err(|e| e.to_string())?.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The SDK: a new recording each time (the mock keeps one session per
/// recording), its receipts under `state`.
async fn sdk_upload(client: &avala::Client, dir: &Path, state: &Path) -> Result<(), String> {
    let recording = uuid::Uuid::new_v4().to_string();
    let status = client
        .upload_recording(&recording, dir)
        .workers(WORKERS)
        .state_dir(state)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if status.confirmed_bytes != status.total_bytes {
        return Err(format!("the SDK did not confirm every byte: {status:?}"));
    }
    let _ = std::fs::remove_dir_all(state);
    Ok(())
}

/// Raw reqwest: each file's bytes PUT to the sink, 4 at a time.
async fn raw_upload(raw: &reqwest::Client, sink: &str, dir: &Path) -> Result<(), String> {
    let files = files_of(dir)?;
    let results: Vec<Result<(), String>> = futures::stream::iter(files.iter().enumerate())
        .map(|(i, path)| async move {
            let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
            raw.put(format!("{sink}/fleet-{i}"))
                .header("content-type", "application/octet-stream")
                .body(bytes)
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

/// Runs the memory probe in a child; its peak above baseline, in bytes.
fn probe(base: &str, dir: &Path, side: &str) -> Result<isize, String> {
    crate::upload::run_probe(PROBE_FLAG, &[base, &dir.to_string_lossy(), side])
}

/// The probe child's `main`: counting is on; returns the exit code.
pub fn child(args: &[String]) -> i32 {
    let [base, dir, side] = args else {
        eprintln!("usage: avala-bench {PROBE_FLAG} <base-url> <dir> sdk|raw");
        return 2;
    };
    let dir = PathBuf::from(dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let state =
        std::env::temp_dir().join(format!("avala-bench-fleet-probe-{}", std::process::id()));
    let result = runtime.block_on(async {
        let warm = state.join("warm");
        write_recording(&warm, 4, 64)?;
        if side == "sdk" {
            let client = avala::Client::builder()
                .api_key(MockServer::API_KEY)
                .base_url(base)
                .build()
                .map_err(|e| e.to_string())?;
            sdk_upload(&client, &warm, &state.join("s1")).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            sdk_upload(&client, &dir, &state.join("s2")).await?;
            Ok::<_, String>(alloc::peak() - baseline)
        } else {
            let origin = base.trim_end_matches("/api/v1");
            let sink = format!("{origin}/_storage/sink");
            let raw = reqwest::Client::new();
            raw_upload(&raw, &sink, &warm).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            raw_upload(&raw, &sink, &dir).await?;
            Ok(alloc::peak() - baseline)
        }
    });
    let _ = std::fs::remove_dir_all(&state);
    crate::upload::report_peak(result)
}
