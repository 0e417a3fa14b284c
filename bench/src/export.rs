//! `avala-bench --export`: an export's file downloaded with
//! `Client::download_export` next to a raw client doing the same two steps
//! (`GET /exports/{uid}/` for the `download_url`, then a streamed GET of it
//! into a file, MD5 over the bytes, fsynced), from the embedded mock.
//!
//! - Throughput: A/B/B/A rounds in this process, MiB/s of the large file.
//! - Memory: a child process per side and size with the counting allocator
//!   on; after a warm-up download (connection pools, buffers), the peak
//!   above that baseline while the whole file streams to disk. The file is
//!   published twice, at `mib / 16` and `mib`: a download whose memory
//!   followed the file would show a peak 16 times larger at the larger
//!   size. The server's copy of the file lives in this (parent) process,
//!   not in the measured child.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use avala::mock::MockServer;
use futures::StreamExt;
use md5::{Digest, Md5};

use crate::{
    alloc, stats,
    upload::{report_peak, run_probe},
};

pub const FLAG: &str = "--export";
pub const PROBE_FLAG: &str = "--export-probe";

const SMALL_UID: &str = "exp_bench_small";
const LARGE_UID: &str = "exp_bench_large";
const WARM_UID: &str = "exp_bench_warm";
/// The most the peak may grow from the small file to the large one.
const FLAT: f64 = 1.10;

/// What `--export` runs.
pub struct Opts {
    /// The large file's size; the small one is a sixteenth of it.
    pub mib: usize,
    /// Throughput rounds of each side.
    pub rounds: usize,
}

/// The parent: publishes the files, times both sides, runs the probes.
pub fn run(opts: &Opts) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mock = runtime.block_on(MockServer::start());
    let large = opts.mib << 20;
    mock.exports().publish(WARM_UID, pattern(1 << 20));
    mock.exports().publish(SMALL_UID, pattern(large / 16));
    mock.exports().publish(LARGE_UID, pattern(large));
    let scratch = Scratch::new("parent")?;

    eprintln!(
        "throughput: {} rounds of {} MiB a side ...",
        opts.rounds, opts.mib
    );
    let client = mock.client();
    let raw = reqwest::Client::new();
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    runtime.block_on(async {
        for round in 0..opts.rounds * 2 {
            let sdk_first = round % 2 == 0;
            for sdk in [sdk_first, !sdk_first] {
                let to = scratch.0.join(format!("round-{round}-{sdk}"));
                let started = Instant::now();
                let size = if sdk {
                    sdk_download(&client, LARGE_UID, &to).await?
                } else {
                    raw_download(&raw, mock.base_url(), LARGE_UID, &to).await?
                };
                times[usize::from(!sdk)].push(started.elapsed());
                if size != large as u64 {
                    return Err(format!("downloaded {size} bytes of {large}"));
                }
                std::fs::remove_file(&to).map_err(|e| e.to_string())?;
            }
        }
        Ok::<_, String>(())
    })?;

    eprintln!("memory: four child processes ...");
    let base = mock.base_url().to_owned();
    let mut peaks = [[0isize; 2]; 2];
    for (s, side) in ["sdk", "raw"].into_iter().enumerate() {
        for (z, uid) in [SMALL_UID, LARGE_UID].into_iter().enumerate() {
            peaks[s][z] = run_probe(PROBE_FLAG, &[&base, uid, side])?;
        }
    }

    let (sdk_s, raw_s) = (stats::median_secs(&times[0]), stats::median_secs(&times[1]));
    let mib = |s: f64| opts.mib as f64 / s;
    println!();
    println!(
        "{:<36} {:>4} {:>10} {:>10}",
        "export download", "side", "median s", "MiB/s"
    );
    let name = format!("1 file of {} MiB", opts.mib);
    println!("{name:<36} {:>4} {sdk_s:>10.3} {:>10.0}", "sdk", mib(sdk_s));
    println!("{name:<36} {:>4} {raw_s:>10.3} {:>10.0}", "raw", mib(raw_s));
    println!();
    println!(
        "{:<36} {:>4} {:>22}",
        "memory while downloading", "side", "peak above baseline"
    );
    for (s, side) in ["sdk", "raw"].into_iter().enumerate() {
        for (z, size) in [opts.mib / 16, opts.mib].into_iter().enumerate() {
            let label = format!("1 file of {size} MiB");
            println!("{label:<36} {side:>4} {:>22}", stats::kib(peaks[s][z]));
        }
    }
    println!();
    println!(
        "export_throughput: ratio {:.2} (SDK / raw MiB/s, medians of {} rounds a side; no target)",
        raw_s / sdk_s,
        opts.rounds * 2
    );
    for (s, side) in ["sdk", "raw"].into_iter().enumerate() {
        let growth = peaks[s][1].max(1) as f64 / peaks[s][0].max(1) as f64;
        let verdict = if growth <= FLAT { "met" } else { "MISSED" };
        println!(
            "export_memory_growth_{side}: ratio {growth:.2} (peak at {} MiB / at {} MiB; flat is <= {FLAT:.2}: {verdict})",
            opts.mib,
            opts.mib / 16
        );
    }
    println!(
        "export_peak_memory: ratio {:.2} (SDK {} vs raw {} above baseline at {} MiB)",
        peaks[0][1].max(1) as f64 / peaks[1][1].max(1) as f64,
        stats::kib(peaks[0][1]),
        stats::kib(peaks[1][1]),
        opts.mib
    );
    Ok(())
}

/// The probe child's `main`: counting is on; returns the exit code.
pub fn child(args: &[String]) -> i32 {
    let [base, uid, side] = args else {
        eprintln!("usage: avala-bench {PROBE_FLAG} <base-url> <export-uid> sdk|raw");
        return 2;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        let scratch = Scratch::new("probe")?;
        let (warm, to) = (scratch.0.join("warm"), scratch.0.join("file"));
        let measured = if side == "sdk" {
            let client = avala::Client::builder()
                .api_key(MockServer::API_KEY)
                .base_url(base)
                .build()
                .map_err(|e| e.to_string())?;
            sdk_download(&client, WARM_UID, &warm).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            sdk_download(&client, uid, &to).await?;
            alloc::peak() - baseline
        } else {
            let raw = reqwest::Client::new();
            raw_download(&raw, base, WARM_UID, &warm).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            raw_download(&raw, base, uid, &to).await?;
            alloc::peak() - baseline
        };
        Ok::<_, String>(measured)
    });
    report_peak(result)
}

/// The SDK's download of export `uid` to `to`; its size.
async fn sdk_download(client: &avala::Client, uid: &str, to: &Path) -> Result<u64, String> {
    let file = client
        .download_export(uid, to)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !file.md5_checked {
        return Err("the SDK did not check the mock's MD5 ETag".into());
    }
    Ok(file.size)
}

/// The same two steps by hand: the export's `download_url`, then its file
/// streamed to `to` with an MD5 of the bytes, fsynced; its size.
async fn raw_download(
    raw: &reqwest::Client,
    base: &str,
    uid: &str,
    to: &Path,
) -> Result<u64, String> {
    let export: serde_json::Value = raw
        .get(format!("{base}/exports/{uid}/"))
        .header("X-Avala-Api-Key", MockServer::API_KEY)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let url = export["download_url"]
        .as_str()
        .ok_or("no download_url")?
        .to_owned();
    let response = raw
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?;
    let mut file = std::fs::File::create(to).map_err(|e| e.to_string())?;
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        md5.update(&chunk);
        file.write_all(&chunk).map_err(|e| e.to_string())?;
        size += chunk.len() as u64;
    }
    file.sync_all().map_err(|e| e.to_string())?;
    std::hint::black_box(md5.finalize());
    Ok(size)
}

/// `len` bytes that do not compress to nothing (a repeated odd pattern).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8).collect()
}

/// A scratch directory of this process, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Result<Self, String> {
        let dir =
            std::env::temp_dir().join(format!("avala-bench-export-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
