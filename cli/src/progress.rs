//! Progress on stderr: `indicatif` bars and spinners on a terminal; on a pipe
//! or a log, a plain line when something changes, and nothing in between.
//! Every text shown (labels, statuses, counters, often from the server) has
//! its control characters escaped first.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressStyle};

use crate::output::for_terminal;

/// A progress display. Cheap to clone; clones share the display.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    /// The last line printed on a non-terminal, to print only changes.
    last: Arc<Mutex<String>>,
    label: String,
}

impl Progress {
    /// A bar over `total` bytes on a terminal (`interactive`).
    pub fn bytes(interactive: bool, total: u64, label: &str) -> Self {
        let bar = interactive.then(|| {
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            ProgressBar::new(total)
                .with_style(style)
                .with_message(for_terminal(label))
        });
        Self::with(bar, label)
    }

    /// A spinner with a message on a terminal (`interactive`).
    pub fn spinner(interactive: bool, label: &str) -> Self {
        let bar = interactive.then(|| {
            let bar = ProgressBar::new_spinner().with_message(for_terminal(label));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self::with(bar, label)
    }

    fn with(bar: Option<ProgressBar>, label: &str) -> Self {
        Self {
            bar,
            last: Arc::default(),
            label: for_terminal(label),
        }
    }

    /// Moves a bar to `done` (bytes or items).
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    /// Sets a bar's total (known only once the work is listed).
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            if bar.length() != Some(total) {
                bar.set_length(total);
            }
        }
    }

    /// Shows `text` on a terminal only: for counters that change too often
    /// to print as lines.
    pub fn tick(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {}", self.label, for_terminal(text)));
        }
    }

    /// Shows `status`: the spinner's message on a terminal, a line
    /// `<label>: <status>` otherwise when it differs from the last one.
    pub fn status(&self, status: &str) {
        let status = for_terminal(status);
        match &self.bar {
            Some(bar) => bar.set_message(format!("{}: {status}", self.label)),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                if *last != status {
                    eprintln!("{}: {status}", self.label);
                    *last = status;
                }
            }
        }
    }

    /// Prints `line` on stderr for a person to read: above a bar on a
    /// terminal, as a plain line otherwise; every time, not only on change.
    pub fn note(&self, line: &str) {
        let line = for_terminal(line);
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar (the result follows on stdout).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
