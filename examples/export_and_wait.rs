//! Create an export of a dataset and poll it until it is done.

mod common;

use std::time::Duration;

use avala::mock::Fault;
use avala::types::{CreateExportRequest, ExportStatus};

#[tokio::main]
async fn main() -> avala::Result<()> {
    let target = common::connect().await?;
    let client = &target.client;
    let dataset = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ds_demo".to_owned());
    if let Some(mock) = &target.mock {
        // Offline: the export is processing on the first poll, done on the second.
        for status in ["processing", "exported"] {
            let body = serde_json::json!({
                "uid": "exp_demo",
                "status": status,
                "download_url": (status == "exported").then_some("https://example.com/export.zip"),
            });
            mock.fault("get_export", Fault::status(200).json(body))
                .times(1);
        }
    }

    let export = client
        .create_export()
        .body(CreateExportRequest::builder().dataset(Some(dataset.clone())))
        .send()
        .await?;
    println!(
        "Export {} of {dataset} created: {:?}",
        export.uid, export.status
    );

    // Poll with a growing interval; give up after ~2 minutes.
    let mut wait = Duration::from_millis(500);
    for _ in 0..10 {
        let export = client
            .get_export()
            .uid(&export.uid)
            .send()
            .await?
            .into_inner();
        match export.status {
            Some(ExportStatus::Exported) => {
                println!(
                    "Ready: {}",
                    export.download_url.as_deref().unwrap_or("(no URL)")
                );
                return Ok(());
            }
            Some(ExportStatus::Failed) => {
                println!("The export failed.");
                return Ok(());
            }
            other => println!("Still {other:?}; next check in {wait:?}"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
    println!("Gave up waiting.");
    Ok(())
}
