//! Load a public dataset by name and read its objects, verified.
//!
//! `cargo run --example load_public_dataset` runs offline against the
//! embedded mock; `cargo run --example load_public_dataset -- owner/dataset`
//! asks the real resolver (no API key needed).

use avala::mock::{MockServer, PublicDataset, PublicObject};
use avala::resolver::Resolver;
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> avala::Result<()> {
    let (resolver, reference, _mock) = match std::env::args().nth(1) {
        Some(reference) => {
            println!(
                "Using the public resolver at {}.",
                avala::config::DEFAULT_BASE_URL
            );
            (Resolver::new()?, reference, None)
        }
        None => {
            let mock = MockServer::start().await;
            println!(
                "No reference given: using the embedded mock at {} (no network needed).",
                mock.base_url()
            );
            mock.resolver().publish(
                PublicDataset::new("acme-robotics", "warehouse-lidar")
                    .object(PublicObject::new(
                        "episode",
                        0,
                        "episodes/000000.json",
                        &br#"{"frames": 2}"#[..],
                    ))
                    .object(
                        PublicObject::new("frame", 0, "frames/000000.pcd", vec![0u8; 4096])
                            .episode(0),
                    )
                    .object(
                        PublicObject::new("frame", 1, "frames/000001.pcd", vec![1u8; 4096])
                            .episode(0),
                    ),
            );
            (
                mock.resolver().client(),
                "acme-robotics/warehouse-lidar".to_owned(),
                Some(mock),
            )
        }
    };

    let dataset = resolver.load(&reference).await?;
    let (license, _) = dataset.license();
    println!(
        "{} is {} ({} objects, {} bytes, {license})",
        reference,
        dataset.canonical_reference(),
        dataset.object_count(),
        dataset.total_size_bytes()
    );

    // Every object, across every manifest page; each read is verified.
    let mut objects = dataset.objects();
    while let Some(object) = objects.try_next().await? {
        let bytes = object.read().await?;
        println!(
            "  {:<24} {:>8} bytes  sha256 {}…  verified",
            object.logical_path(),
            bytes.len(),
            &object.sha256()[..12]
        );
    }

    // One object straight to a file: it gets its name only once verified.
    if let Some(frame) = dataset.object("frame", 0).await? {
        let path = std::env::temp_dir().join(format!("avala-frame-{}.pcd", std::process::id()));
        frame.download_to(&path).await?;
        println!("Wrote {} ({} bytes).", path.display(), frame.size_bytes());
        let _ = std::fs::remove_file(&path);
    }

    // Every object into a directory, 8 at a time. A second run keeps the
    // files that are there (same size and SHA-256) without a request; a
    // file that differs would stop it (`.overwrite(true)` replaces it).
    let dir = std::env::temp_dir().join(format!("avala-dataset-{}", std::process::id()));
    let first = dataset.download_all(&dir).workers(8).await?;
    let again = dataset.download_all(&dir).await?;
    println!(
        "Wrote {} files ({} bytes) into {}; a second run kept {} and fetched {}.",
        first.files_fetched,
        first.bytes_fetched,
        dir.display(),
        again.files_kept,
        again.files_fetched
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
