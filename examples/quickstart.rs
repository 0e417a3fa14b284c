//! The quickstart: list datasets with the auto-paging stream, fetch one, show
//! the rate-limit state and how an error is handled.
//!
//! ```text
//! cargo run --example quickstart                    # offline, against the embedded mock
//! AVALA_API_KEY=avk_... cargo run --example quickstart   # against the real API
//! ```

mod common;

use avala::mock::Fault;
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> avala::Result<()> {
    let target = common::connect().await?;
    let client = &target.client;
    if let Some(mock) = &target.mock {
        // Give the mock 45 datasets, served 20 per page, so paging shows.
        let datasets: Vec<_> = (1..=45)
            .map(|i| {
                serde_json::json!({
                    "uid": format!("ds_{i:03}"),
                    "name": format!("Street scenes {i}"),
                    "slug": format!("street-scenes-{i}"),
                    "data_type": if i % 3 == 0 { "lidar" } else { "image" },
                    "status": "created",
                    "item_count": i * 100,
                })
            })
            .collect();
        // `get_dataset` answers with the first of them.
        mock.respond("get_dataset", &datasets[0]).times(1);
        mock.paginate("list_datasets", datasets, 20);
    }

    // 1. Every dataset, across as many pages as it takes (20 per request).
    let mut datasets = client.list_datasets().limit(20).stream();
    let mut first_uid = None;
    let mut count = 0;
    while let Some(dataset) = datasets.try_next().await? {
        count += 1;
        if count <= 5 {
            println!(
                "  dataset {:<24} {} ({:?})",
                dataset.name, dataset.uid, dataset.data_type
            );
        }
        first_uid.get_or_insert(dataset.uid);
    }
    match &target.mock {
        Some(mock) => println!(
            "Listed {count} datasets in {} requests.",
            mock.hits("list_datasets")
        ),
        None => println!("Listed {count} datasets."),
    }

    // 2. One dataset by uid.
    if let Some(uid) = first_uid {
        let dataset = client.get_dataset().uid(uid).send().await?;
        println!(
            "Fetched {:?}: status {:?}, {} items.",
            dataset.name, dataset.status, dataset.item_count
        );
    }

    // 3. What the server said about our rate limit on the last response.
    match client.last_rate_limit() {
        Some(rl) => println!(
            "Rate limit: {:?} remaining of {:?}, reset {:?}.",
            rl.remaining, rl.limit, rl.reset
        ),
        None => println!("The last response carried no rate-limit headers."),
    }

    // 4. Errors are typed: match on what you can handle.
    if let Some(mock) = &target.mock {
        // The real API answers 404 for an unknown uid; script the mock to.
        mock.fault(
            "get_dataset",
            Fault::status(404).json(serde_json::json!({"detail": "Not found."})),
        )
        .times(1);
    }
    for uid in ["ds_does_not_exist", ".."] {
        match client.get_dataset().uid(uid).send().await {
            Ok(d) => println!("Unexpectedly found {}.", d.uid),
            Err(avala::Error::NotFound(e)) => println!("{uid:?}: not found ({}).", e.message),
            // A path parameter that would change the route is refused
            // before anything is sent.
            Err(avala::Error::InvalidArgument { message }) => {
                println!("{uid:?}: refused before sending: {message}")
            }
            Err(e) => println!("{uid:?}: failed ({:?}): {}", e.status(), e.message()),
        }
    }
    Ok(())
}
