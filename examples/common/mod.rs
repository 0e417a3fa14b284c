//! Shared by the examples: the real API when `AVALA_API_KEY` is set, the
//! embedded mock otherwise.

use avala::mock::MockServer;

/// Where an example sends its requests.
pub struct Target {
    pub client: avala::Client,
    /// The mock, kept alive while the example runs; `None` for the real API.
    #[allow(dead_code)] // read only by the examples that script the mock
    pub mock: Option<MockServer>,
}

/// Connects to the API named by the environment, or starts the mock. The
/// first line printed says which.
pub async fn connect() -> avala::Result<Target> {
    if std::env::var_os("AVALA_API_KEY").is_some() {
        let client = avala::Client::from_env()?;
        println!(
            "Using the Avala API at {} (AVALA_API_KEY is set).",
            client.base_url()
        );
        Ok(Target { client, mock: None })
    } else {
        let mock = MockServer::start().await;
        println!(
            "AVALA_API_KEY is not set: using the embedded mock server at {} (no network needed).",
            mock.base_url()
        );
        Ok(Target {
            client: mock.client(),
            mock: Some(mock),
        })
    }
}

/// A byte progress bar, and the `on_progress` callback that drives it (the
/// upload examples).
#[allow(dead_code)] // used by the upload examples only
pub fn upload_bar() -> (
    indicatif::ProgressBar,
    impl Fn(&avala::upload::Progress) + Send + Sync + 'static,
) {
    use avala::upload::ProgressEvent;
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    ) {
        bar.set_style(style);
    }
    let progress = bar.clone();
    let on_progress = move |p: &avala::upload::Progress| {
        progress.set_length(p.bytes_total);
        progress.set_position(p.bytes_done);
        let what = match p.event {
            ProgressEvent::Done => "sent",
            ProgressEvent::Skipped => "already there",
            _ => return,
        };
        progress.set_message(format!(
            "{}/{} files, {what}: {}",
            p.files_done, p.files_total, p.path
        ));
    };
    (bar, on_progress)
}
