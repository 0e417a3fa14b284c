//! Create an export of a dataset and wait until it is done.

mod common;

use std::time::Duration;

use avala::types::{CreateExportRequest, ExportStatus};

#[tokio::main]
async fn main() -> avala::Result<()> {
    let target = common::connect().await?;
    let client = &target.client;
    let dataset = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ds_demo".to_owned());

    let export = client
        .create_export()
        .body(CreateExportRequest::builder().dataset(Some(dataset.clone())))
        .send()
        .await?;
    println!(
        "Export {} of {dataset} created: {:?}",
        export.uid, export.status
    );
    if let Some(mock) = &target.mock {
        // Offline: the export is pending, then processing, then done.
        mock.jobs()
            .export_statuses(&export.uid, ["pending", "processing", "exported"]);
    }

    // Poll every 2 s (the default) for up to 10 minutes.
    let export = client
        .wait_for_export(&export.uid)
        .timeout(Duration::from_secs(600))
        .on_poll(|e| println!("Still {:?}…", e.status))
        .send()
        .await?;
    match export.status {
        Some(ExportStatus::Exported) => println!(
            "Ready: {}",
            export.download_url.as_deref().unwrap_or("(no URL)")
        ),
        // A failed export is an answer, not an error.
        _ => println!("The export ended as {:?}.", export.status),
    }
    Ok(())
}
