//! Upload a Fleet recording directory (legacy presigned-PUT protocol) with a
//! progress bar, then wait until the recording is processed.
//!
//! `cargo run --example fleet_upload [RECORDING_UID DIRECTORY]`. Without
//! `AVALA_API_KEY` it runs offline against the embedded mock, on a
//! generated recording.

mod common;

use std::{path::PathBuf, time::Duration};

#[tokio::main]
async fn main() -> avala::Result<()> {
    let target = common::connect().await?;
    let mut args = std::env::args().skip(1);
    let (recording_uid, dir, generated) = match (args.next(), args.next()) {
        (Some(uid), Some(dir)) => (uid, PathBuf::from(dir), false),
        _ => (uuid::Uuid::new_v4().to_string(), demo_recording()?, true),
    };

    let (bar, on_progress) = common::upload_bar();
    let mut upload = target
        .client
        .upload_recording(&recording_uid, &dir)
        .workers(4)
        .wait(Duration::from_secs(3600))
        .on_progress(on_progress);
    if generated {
        // Keep the demo's receipts out of the user's data directory.
        upload = upload
            .state_dir(dir.with_extension("receipts"))
            .poll_interval(Duration::from_millis(200));
    }
    let status = upload.send().await?;
    bar.finish();
    println!(
        "Recording {recording_uid}: upload session {} is {}, {}/{} files ({} bytes) confirmed.",
        status.session_uid,
        status.status.as_str(),
        status.confirmed_files,
        status.total_files,
        status.confirmed_bytes
    );
    if generated {
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(dir.with_extension("receipts"));
    }
    Ok(())
}

/// A recording of one 24 MiB bag and 30 small sidecar files.
fn demo_recording() -> avala::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("avala-fleet-example-{}", std::process::id()));
    let write = |rel: String, len: usize| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
        std::fs::write(path, vec![0xa5; len])
    };
    let result = write("bags/drive.mcap".to_owned(), 24 * 1024 * 1024)
        .and_then(|()| (0..30).try_for_each(|i| write(format!("meta/{i:02}.json"), 2048 + i)));
    result.map_err(|e| avala::Error::InvalidArgument {
        message: format!("could not write the demo recording: {e}"),
    })?;
    Ok(dir)
}
