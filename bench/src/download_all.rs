//! The parallel download: `ResolvedDataset::download_all(dir).workers(8)`
//! of 250 objects published on the embedded mock, next to raw verified GETs
//! of the same 250 download URLs, 8 at a time, against the same mock.
//!
//! Both sides write every object to its own file in a fresh directory the
//! way a careful hand-written download does (a temporary file, fsync,
//! rename once the size and SHA-256 match), since that is what the SDK
//! guarantees. The SDK side also lists the manifest and asks for an access
//! grant per object; the raw side knows the URLs. A third figure, raw GETs
//! hashed in memory without writing, shows what the disk costs.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use avala::mock::{MockServer, PublicDataset, PublicObject, Published};
use futures::{stream, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::stats;

/// Objects in the dataset.
pub const OBJECTS: usize = 250;
/// Objects fetched at the same time, on both sides.
pub const WORKERS: usize = 8;

/// Which side a round measures.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Sdk,
    RawToDisk,
    RawInMemory,
}

/// `OBJECTS` objects of `size` distinct bytes each.
fn dataset(size: usize) -> PublicDataset {
    (0..OBJECTS as u64).fold(PublicDataset::new("bench", "parallel"), |d, i| {
        let bytes = crate::download::noise(size, i + 1);
        d.object(PublicObject::new(
            "blob",
            i,
            &format!("blobs/{i:03}.bin"),
            bytes,
        ))
    })
}

/// One raw verified GET into `dir`: temporary file, fsync, rename.
async fn raw_one(
    http: &reqwest::Client,
    published: &Published,
    index: usize,
    dir: Option<&Path>,
) -> Result<u64, String> {
    let object = &published.objects[index];
    let mut response = http
        .get(published.download_url(index))
        .header("accept-encoding", "identity")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("raw: HTTP {}", response.status()));
    }
    let mut file = match dir {
        Some(dir) => {
            let temp = dir.join(format!(".{index:03}.part"));
            Some((
                tokio::fs::File::create(&temp)
                    .await
                    .map_err(|e| e.to_string())?,
                temp,
            ))
        }
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        n += chunk.len() as u64;
        hasher.update(&chunk);
        if let Some((file, _)) = &mut file {
            file.write_all(&chunk).await.map_err(|e| e.to_string())?;
        }
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if n != object.bytes.len() as u64 || digest != object.sha256 {
        return Err("raw: size or sha256 mismatch".into());
    }
    if let (Some((mut file, temp)), Some(dir)) = (file, dir) {
        file.flush().await.map_err(|e| e.to_string())?;
        file.sync_all().await.map_err(|e| e.to_string())?;
        tokio::fs::rename(&temp, dir.join(format!("{index:03}.bin")))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(n)
}

/// One round of `side` into a fresh `dir`; the seconds it took.
async fn round(
    side: Side,
    published: &Published,
    dataset: &avala::resolver::ResolvedDataset,
    http: &reqwest::Client,
    dir: &Path,
) -> Result<f64, String> {
    let total: u64 = published.objects.iter().map(|o| o.bytes.len() as u64).sum();
    let started = Instant::now();
    let bytes = match side {
        Side::Sdk => {
            let report = dataset
                .download_all(dir)
                .workers(WORKERS)
                .await
                .map_err(|e| e.to_string())?;
            if report.files_fetched != OBJECTS {
                return Err(format!("sdk: fetched {} objects", report.files_fetched));
            }
            report.bytes_fetched
        }
        Side::RawToDisk | Side::RawInMemory => {
            let target = (side == Side::RawToDisk).then_some(dir);
            if let Some(dir) = target {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let sizes: Vec<u64> = stream::iter(0..OBJECTS)
                .map(|i| raw_one(http, published, i, target))
                .buffer_unordered(WORKERS)
                .try_collect()
                .await?;
            sizes.iter().sum()
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if bytes != total {
        return Err(format!("{bytes} bytes of {total}"));
    }
    Ok(secs)
}

/// A fresh directory for one round, below `root`.
fn fresh(root: &Path, n: usize) -> PathBuf {
    root.join(format!("round-{n}"))
}

/// Runs the measure: `rounds` a side, objects of `object_kib` KiB.
pub fn run(object_kib: usize, rounds: usize) -> Result<(), String> {
    let started = Instant::now();
    let server_rt = crate::server::runtime(1)?;
    let mock = server_rt.block_on(MockServer::start());
    eprintln!("parallel download: publishing {OBJECTS} objects of {object_kib} KiB ...");
    let published = mock.resolver().publish(dataset(object_kib * 1024));
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let root = std::env::temp_dir().join(format!("avala-bench-download-{}", std::process::id()));
    let result = client_rt.block_on(async {
        let resolver = mock.resolver().client();
        let dataset = resolver
            .load(&published.canonical_reference())
            .await
            .map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .read_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let sides = [Side::Sdk, Side::RawToDisk, Side::RawInMemory];
        let mut secs: [Vec<f64>; 3] = Default::default();
        let mut n = 0;
        for r in 0..rounds {
            eprintln!("parallel download: round {}/{rounds} ...", r + 1);
            // A/B/C, then rotated, so no side always runs first.
            for k in 0..sides.len() {
                let which = (k + r) % sides.len();
                n += 1;
                let dir = fresh(&root, n);
                let s = round(sides[which], &published, &dataset, &http, &dir).await?;
                let _ = tokio::fs::remove_dir_all(&dir).await;
                secs[which].push(s);
            }
        }
        Ok::<_, String>(secs)
    });
    let _ = std::fs::remove_dir_all(&root);
    let [sdk, raw_disk, raw_memory] = result?;

    let total_mib = (OBJECTS * object_kib) as f64 / 1024.0;
    let mib_s = |s: &[f64]| total_mib * s.len() as f64 / s.iter().sum::<f64>();
    let ratio = |raw: &[f64]| {
        let per_round: Vec<f64> = raw.iter().zip(&sdk).map(|(r, s)| r / s).collect();
        stats::Ratio::new(
            raw.iter().sum::<f64>() / sdk.iter().sum::<f64>(),
            &per_round,
        )
    };
    let to_disk = ratio(&raw_disk);
    let in_memory = ratio(&raw_memory);
    let met = if to_disk.value >= 0.9 {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "parallel_download_throughput: ratio {:.2} ({}; SDK download_all {:.0} MiB/s vs raw verified GETs to disk {:.0} MiB/s; {OBJECTS} objects of {object_kib} KiB, {WORKERS} workers, {rounds} rounds a side; target >= 0.90: {met})",
        to_disk.value,
        to_disk.spread(),
        mib_s(&sdk),
        mib_s(&raw_disk),
    );
    println!(
        "parallel_download_vs_memory: ratio {:.2} ({}; raw verified GETs hashed in memory, no file written: {:.0} MiB/s; no target)",
        in_memory.value,
        in_memory.spread(),
        mib_s(&raw_memory),
    );
    println!(
        "(parallel download ran in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
