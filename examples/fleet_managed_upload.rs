//! Upload a recording directory of MCAP files to a Fleet recording with the
//! managed protocol, with a progress bar, and wait for the publication.
//!
//! `cargo run --example fleet_managed_upload [RECORDING_UID DIRECTORY]`.
//! Without `AVALA_API_KEY` it runs offline against the embedded mock, on a
//! generated directory (one file of two 64 MiB parts, one small).

mod common;

use std::{path::PathBuf, time::Duration};

#[tokio::main]
async fn main() -> avala::Result<()> {
    let target = common::connect().await?;
    let mut args = std::env::args().skip(1);
    let (recording_uid, folder, generated) = match (args.next(), args.next()) {
        (Some(uid), Some(dir)) => (uid, PathBuf::from(dir), false),
        _ => (uuid::Uuid::new_v4().to_string(), demo_folder()?, true),
    };

    let (bar, on_progress) = common::upload_bar();
    let mut upload = target
        .client
        .upload_managed_recording(&recording_uid, &folder)
        .workers(2)
        .wait(Duration::from_secs(600))
        .on_progress(on_progress);
    if generated {
        // Keep the demo's resume receipt out of the user's data directory.
        upload = upload.state_dir(folder.with_extension("receipts"));
    }
    let status = upload.send().await?;
    bar.finish();
    match &status.finalization {
        Some(f) => println!(
            "Recording {}: {} of {} files verified; publication {} ({}).",
            status.recording_uid, status.confirmed_files, status.total_files, f.state, f.code
        ),
        None => println!("Recording {}: not finalized yet.", status.recording_uid),
    }
    if generated {
        let _ = std::fs::remove_dir_all(&folder);
        let _ = std::fs::remove_dir_all(folder.with_extension("receipts"));
    }
    Ok(())
}

/// `drive.mcap` (64 MiB + 1 MiB: two parts) and `imu/imu.mcap` (1 MiB).
fn demo_folder() -> avala::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("avala-fleet-example-{}", std::process::id()));
    let write = |rel: &str, len: usize| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
        std::fs::write(path, vec![0x5a; len])
    };
    write("drive.mcap", 65 * 1024 * 1024)
        .and_then(|()| write("imu/imu.mcap", 1024 * 1024))
        .map_err(|e| avala::Error::InvalidArgument {
            message: format!("could not write the demo directory: {e}"),
        })?;
    Ok(dir)
}
