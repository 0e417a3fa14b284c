//! `avala-bench --managed`: `client.upload_managed_recording` next to the
//! same work by hand with raw reqwest, against one loopback server (the
//! embedded mock, which runs the managed protocol and its part storage).
//!
//! - **The SDK**: the whole §9.3 flow for a recording of one sparse file
//!   (default 1 GiB: 16 parts of 64 MiB, 2 in flight): streamed SHA-256,
//!   admit, init, status, progress, a grant per part with every check, the
//!   part PUTs streamed from disk, finalize and the status after it.
//! - **Raw PUTs**: the same parts PUT to the mock's sink route, 2 in
//!   flight, each read into memory first (a hand-written multipart upload);
//!   **raw hash + PUTs** adds one streamed SHA-256 of the file (the manifest
//!   the protocol needs), which is the fair comparison.
//! - **Memory**: both again in a child process with the counting allocator
//!   on (the server stays in the parent): peak live bytes above the baseline
//!   taken after a warm-up upload.
//!
//! Rounds alternate the sides.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use avala::mock::MockServer;
use sha2::{Digest, Sha256};

use crate::{
    alloc,
    upload::{raw_parts, report_peak, run_probe, Scratch},
};

pub const PROBE_FLAG: &str = "--managed-probe";
const PART_SIZE: u64 = 64 * 1024 * 1024;
const WORKERS: usize = 2;

pub struct Opts {
    pub mib: u64,
    pub rounds: usize,
}

pub fn run(opts: &Opts) -> Result<(), String> {
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    };
    let server_rt = runtime("bench-server")?;
    let mock = server_rt.block_on(MockServer::start());
    let client_rt = runtime("bench-client")?;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("avala-bench-managed-{}", std::process::id())));
    let recording = scratch.0.join("recording");
    std::fs::create_dir_all(&recording).map_err(|e| e.to_string())?;
    let file = recording.join("drive.mcap");
    std::fs::File::create(&file)
        .and_then(|f| f.set_len(opts.mib << 20))
        .map_err(|e| format!("creating the sparse file: {e}"))?;
    let sink = format!("http://{}/_storage/sink", mock.address());
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    println!(
        "managed upload bench: one file of {} MiB ({} parts of 64 MiB, {WORKERS} in flight), {} rounds a side",
        opts.mib,
        (opts.mib << 20).div_ceil(PART_SIZE),
        opts.rounds
    );

    let mut times: [Vec<Duration>; 3] = Default::default();
    client_rt.block_on(async {
        let client = mock.client();
        for round in 0..opts.rounds * 2 {
            let sdk_first = round % 2 == 0;
            for sdk in [sdk_first, !sdk_first] {
                if sdk {
                    let started = Instant::now();
                    sdk_upload(
                        &client,
                        &recording,
                        &scratch.0.join(format!("state-{round}")),
                    )
                    .await?;
                    times[0].push(started.elapsed());
                } else {
                    let started = Instant::now();
                    raw_parts(&raw, &sink, &file, PART_SIZE).await?;
                    let put = started.elapsed();
                    let hash = hash_file(&file)?;
                    times[1].push(put);
                    times[2].push(put + hash);
                }
            }
        }
        Ok::<_, String>(())
    })?;
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let [sdk, put, hash_put] = &mut times;
    let (sdk, put, hash_put) = (median(sdk), median(put), median(hash_put));
    let rate = |d: Duration| (opts.mib as f64) / d.as_secs_f64();
    println!(
        "  SDK managed upload   median {:>8.2?}  {:>7.0} MiB/s",
        sdk,
        rate(sdk)
    );
    println!(
        "  raw PUTs             median {:>8.2?}  {:>7.0} MiB/s",
        put,
        rate(put)
    );
    println!(
        "  raw hash + PUTs      median {:>8.2?}  {:>7.0} MiB/s",
        hash_put,
        rate(hash_put)
    );
    println!(
        "  throughput SDK / raw hash+PUTs = {:.2}   (SDK / raw PUTs = {:.2})",
        hash_put.as_secs_f64() / sdk.as_secs_f64(),
        put.as_secs_f64() / sdk.as_secs_f64()
    );
    for side in ["sdk", "raw"] {
        let peak = run_probe(
            PROBE_FLAG,
            &[mock.base_url(), &file.to_string_lossy(), side],
        )?;
        println!(
            "  peak heap above baseline, {side}: {:.1} MiB",
            peak as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

/// One managed upload of `recording` to a fresh recording uid.
async fn sdk_upload(client: &avala::Client, recording: &Path, state: &Path) -> Result<(), String> {
    let uid = uuid::Uuid::new_v4().to_string();
    let status = client
        .upload_managed_recording(uid, recording)
        .workers(WORKERS)
        .state_dir(state)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if status.confirmed_files != 1 {
        return Err(format!("the SDK did not upload the file: {status:?}"));
    }
    Ok(())
}

/// One streamed SHA-256 of the file; how long it took.
fn hash_file(path: &Path) -> Result<Duration, String> {
    let started = Instant::now();
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    std::hint::black_box(hasher.finalize());
    Ok(started.elapsed())
}

/// The probe child's `main`: counting is on; returns the exit code.
pub fn child(args: &[String]) -> i32 {
    let [base, file, side] = args else {
        eprintln!("usage: avala-bench {PROBE_FLAG} <base-url> <file> sdk|raw");
        return 2;
    };
    let file = PathBuf::from(file);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        let sink = format!("{}/_storage/sink", base.trim_end_matches("/api/v1"));
        let scratch =
            std::env::temp_dir().join(format!("avala-bench-mprobe-{}", std::process::id()));
        let warm = scratch.join("warm");
        std::fs::create_dir_all(&warm).map_err(|e| e.to_string())?;
        std::fs::write(warm.join("warm.mcap"), vec![1u8; 1 << 20]).map_err(|e| e.to_string())?;
        let recording = file.parent().unwrap_or(Path::new("."));
        let out = if side == "sdk" {
            let client = avala::Client::builder()
                .api_key(MockServer::API_KEY)
                .base_url(base)
                .build()
                .map_err(|e| e.to_string())?;
            sdk_upload(&client, &warm, &scratch.join("state")).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            sdk_upload(&client, recording, &scratch.join("state")).await?;
            Ok::<_, String>(alloc::peak() - baseline)
        } else {
            let raw = reqwest::Client::new();
            raw_parts(&raw, &sink, &warm.join("warm.mcap"), PART_SIZE).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            raw_parts(&raw, &sink, &file, PART_SIZE).await?;
            Ok(alloc::peak() - baseline)
        };
        let _ = std::fs::remove_dir_all(&scratch);
        out
    });
    report_peak(result)
}
