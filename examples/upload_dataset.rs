//! Upload a local folder into a new dataset with a progress bar.
//!
//! `cargo run --example upload_dataset [FOLDER]`. Without `AVALA_API_KEY`
//! it runs offline against the embedded mock, on a generated folder.

mod common;

use std::{path::PathBuf, time::Duration};

use avala::types::DataType;

#[tokio::main]
async fn main() -> avala::Result<()> {
    let target = common::connect().await?;
    let (folder, generated) = match std::env::args().nth(1) {
        Some(folder) => (PathBuf::from(folder), false),
        None => (demo_folder()?, true),
    };

    let (bar, on_progress) = common::upload_bar();
    let dataset = target
        .client
        .upload_dataset(&folder)
        .name("Upload example")
        .data_type(DataType::Image)
        .wait(Duration::from_secs(600))
        .on_progress(on_progress)
        .send()
        .await?;
    bar.finish();
    println!(
        "Dataset {} ({}) is {:?}: {} items.",
        dataset.name, dataset.uid, dataset.status, dataset.item_count
    );
    if generated {
        let _ = std::fs::remove_dir_all(&folder);
    }
    Ok(())
}

/// A folder of 40 small files and one of 20 MiB (sent by MULTIPART).
fn demo_folder() -> avala::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("avala-upload-example-{}", std::process::id()));
    let write = |rel: String, len: usize| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
        std::fs::write(path, vec![0x5a; len])
    };
    let result = (0..40)
        .try_for_each(|i| write(format!("frames/{i:03}.jpg"), 64 * 1024 + i))
        .and_then(|()| write("video/drive.mp4".to_owned(), 20 * 1024 * 1024));
    result.map_err(|e| avala::Error::InvalidArgument {
        message: format!("could not write the demo folder: {e}"),
    })?;
    Ok(dir)
}
