//! Record fleet events for a recording and list the critical ones.

mod common;

use avala::types::{BatchEventParams, CreateFleetEventsBatchRequest, FleetSeverity};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> avala::Result<()> {
    let target = common::connect().await?;
    let client = &target.client;

    let event = |label: &str, severity: FleetSeverity| -> avala::Result<BatchEventParams> {
        BatchEventParams::builder()
            .recording("rec_demo")
            .device("dev_demo")
            .label(label)
            .type_("anomaly")
            .timestamp(chrono::Utc::now())
            .severity(Some(severity))
            .try_into()
            .map_err(
                |e: avala::types::error::ConversionError| avala::Error::InvalidArgument {
                    message: e.to_string(),
                },
            )
    };
    let batch = CreateFleetEventsBatchRequest {
        events: vec![
            event("hard brake", FleetSeverity::Warning)?,
            event("lidar dropout", FleetSeverity::Critical)?,
        ],
    };
    let created = client
        .create_fleet_events_batch()
        .body(batch)
        .send()
        .await?;
    println!("Created {} events.", created.created);

    let critical: Vec<_> = client
        .list_fleet_events()
        .severity(FleetSeverity::Critical)
        .limit(50)
        .stream()
        .try_collect()
        .await?;
    for e in &critical {
        println!("  {} {:?} at {:?}", e.uid, e.label, e.timestamp);
    }
    println!("{} critical events.", critical.len());
    Ok(())
}
