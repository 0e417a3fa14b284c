//! `-v/--verbose`: the SDK's request log on stderr, through `tracing`. One
//! line a request when it ends (operation, method, path, status, attempts,
//! milliseconds) and one a retry (plane, attempt, delay). Each line goes
//! through the same [`Redactor`] as every other line the CLI prints, so the
//! key cannot appear and server or file-system text cannot drive the
//! terminal. The SDK puts no header in its spans; the redaction is the net.

use std::{io::Write, sync::Arc};

use tracing::Level;
use tracing_subscriber::{filter::Targets, fmt::format::FmtSpan, layer::SubscriberExt};

use crate::output::Redactor;

/// Installs the log for the rest of the run; `avala`'s own events only
/// (the HTTP stack's are not a person's business).
pub fn install(redactor: Arc<Redactor>) {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || Line {
            redactor: redactor.clone(),
            text: Vec::new(),
        })
        .with_ansi(false)
        .with_target(false)
        .with_max_level(Level::DEBUG)
        // The request span closes once the response (after any retries) is
        // in: that close is the request's line, with the fields it recorded.
        .with_span_events(FmtSpan::CLOSE)
        .finish()
        .with(Targets::new().with_target("avala", Level::DEBUG));
    // Only `main` installs it, once; a second install would be a bug, and
    // then the first log stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// One event, buffered, then cleaned and written whole when dropped.
struct Line {
    redactor: Arc<Redactor>,
    text: Vec<u8>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let clean = self.redactor.clean(&String::from_utf8_lossy(&self.text));
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(clean.as_bytes());
    }
}
