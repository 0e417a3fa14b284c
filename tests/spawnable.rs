//! Every workflow's future can be handed to `tokio::spawn` (it is `Send`,
//! and `'static` once it owns its client). A compile-time check: a closure
//! over a borrowed item inside a workflow breaks it with "FnOnce is not
//! general enough", which only shows where a caller spawns.

use avala::{resolver::Resolver, Client};

// Never called: the file compiling is the check (cargo test builds it).
#[allow(dead_code)]
fn workflows_can_be_spawned(client: Client, resolver: Resolver) {
    tokio::spawn(client.upload_dataset("dir").send());
    tokio::spawn(client.upload_dataset("dir").plan());
    tokio::spawn(client.upload_files("dataset", []).send());
    tokio::spawn(client.upload_recording("uid", "dir").send());
    tokio::spawn(client.upload_managed_recording("uid", "dir").send());
    let waiting = client.clone();
    tokio::spawn(async move { waiting.wait_for_export("uid").send().await });
    let waiting = client.clone();
    tokio::spawn(async move { waiting.wait_for_dataset("uid").send().await });
    let downloading = client.clone();
    tokio::spawn(async move { downloading.download_export("uid", "e.zip").send().await });
    tokio::spawn(avala::signup("a@b.c", "pw").send());
    tokio::spawn(async move {
        let dataset = resolver.load("owner/dataset").await?;
        if let Some(object) = dataset.object("image", 0).await? {
            object.download_to("image.bin").await?;
        }
        Ok::<_, avala::Error>(())
    });
}
