//! The tracing output of one test: a subscriber set as the default of the
//! test's thread for as long as the [`Capture`] lives, so that what another
//! test logs at the same time is never read. Included with
//! `#[path = "common/capture.rs"] mod capture;`; needs a current-thread
//! runtime (the default of `#[tokio::test]`), where every task the test
//! starts runs on its thread.

use std::{
    io,
    sync::{Arc, Mutex},
};

/// The events logged on this thread since [`Capture::start`].
pub struct Capture {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct Writer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Captures every event (TRACE and up, with span fields) from now on.
    pub fn start() -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Writer(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        Self {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// What was captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// The `delay_ms` of every `retrying` event so far, in order.
    #[allow(dead_code)]
    pub fn retry_delays(&self) -> Vec<u64> {
        self.text()
            .lines()
            .filter(|l| l.contains("retrying"))
            .filter_map(|l| {
                l.split("delay_ms=")
                    .nth(1)?
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }
}
