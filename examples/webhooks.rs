//! Register a webhook, send it a test delivery, and list recent deliveries.

mod common;

use avala::types::CreateWebhookRequest;
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> avala::Result<()> {
    let target = common::connect().await?;
    let client = &target.client;

    let hook = client
        .create_webhook()
        .body(CreateWebhookRequest {
            target_url: "https://example.com/avala-hook".to_owned(),
            events: vec!["export.completed".to_owned(), "dataset.created".to_owned()],
            is_active: Some(true),
            secret: None,
        })
        .send()
        .await?;
    println!("Webhook {} -> {}", hook.uid, hook.target_url);

    let test = client.test_webhook().uid(&hook.uid).send().await?;
    println!("Test delivery succeeded: {:?}", test.success);

    let deliveries: Vec<_> = client
        .list_webhook_deliveries()
        .limit(20)
        .stream()
        .try_collect()
        .await?;
    for d in deliveries.iter().take(5) {
        println!("  {} {} -> {:?}", d.uid, d.event_type, d.response_status);
    }
    Ok(())
}
