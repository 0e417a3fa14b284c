//! The running totals of an upload, reported to its progress callback:
//! one tracker for dataset and Fleet uploads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{Callback, Progress, ProgressEvent};

/// The running totals, and the callback they are reported to.
pub(crate) struct Totals {
    files_total: usize,
    bytes_total: u64,
    files_done: AtomicUsize,
    pub(crate) files_sent: AtomicUsize,
    pub(crate) files_skipped: AtomicUsize,
    bytes_done: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    callback: Option<Callback>,
}

impl Totals {
    pub(crate) fn new(files_total: usize, bytes_total: u64, callback: Option<Callback>) -> Self {
        Self {
            files_total,
            bytes_total,
            files_done: AtomicUsize::new(0),
            files_sent: AtomicUsize::new(0),
            files_skipped: AtomicUsize::new(0),
            bytes_done: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            callback,
        }
    }

    pub(crate) fn sent(&self, path: &str, bytes: u64) {
        self.bytes_sent.fetch_add(bytes, Ordering::SeqCst);
        self.bytes_done.fetch_add(bytes, Ordering::SeqCst);
        self.emit(path, ProgressEvent::BytesSent(bytes));
    }

    /// A file is finished: `credited` of its `size` bytes were already
    /// counted as sent.
    pub(crate) fn finish(&self, path: &str, size: u64, credited: u64, skipped: bool) {
        self.bytes_done
            .fetch_add(size.saturating_sub(credited), Ordering::SeqCst);
        self.files_done.fetch_add(1, Ordering::SeqCst);
        let (counter, event) = if skipped && credited == 0 {
            (&self.files_skipped, ProgressEvent::Skipped)
        } else {
            (&self.files_sent, ProgressEvent::Done)
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.emit(path, event);
    }

    pub(crate) fn emit(&self, path: &str, event: ProgressEvent) {
        if let Some(callback) = &self.callback {
            callback(&Progress {
                path: path.to_owned(),
                event,
                files_done: self.files_done.load(Ordering::SeqCst),
                files_total: self.files_total,
                bytes_done: self.bytes_done.load(Ordering::SeqCst),
                bytes_total: self.bytes_total,
                bytes_sent: self.bytes_sent.load(Ordering::SeqCst),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Totals has no error branch; its one decision is how a finished file
    /// counts. A file resumed after some of its bytes were sent is sent,
    /// not skipped, and its bytes are counted once.
    #[test]
    fn a_file_is_skipped_only_when_none_of_it_was_sent() {
        let seen = Arc::new(Mutex::new(Vec::<Progress>::new()));
        let log = seen.clone();
        let totals = Totals::new(
            3,
            300,
            Some(Arc::new(move |p: &Progress| {
                log.lock().unwrap().push(p.clone())
            })),
        );
        totals.finish("a", 100, 0, true);
        totals.sent("b", 40);
        totals.finish("b", 100, 40, true);
        totals.finish("c", 100, 0, false);
        let seen = seen.lock().unwrap();
        let events: Vec<_> = seen.iter().map(|p| (p.path.as_str(), &p.event)).collect();
        assert_eq!(
            events,
            [
                ("a", &ProgressEvent::Skipped),
                ("b", &ProgressEvent::BytesSent(40)),
                ("b", &ProgressEvent::Done),
                ("c", &ProgressEvent::Done),
            ]
        );
        let last = seen.last().unwrap();
        assert_eq!(
            (last.files_done, last.bytes_done, last.bytes_sent),
            (3, 300, 40)
        );
        assert_eq!(totals.files_skipped.load(Ordering::SeqCst), 1);
        assert_eq!(totals.files_sent.load(Ordering::SeqCst), 2);
        // Without a callback nothing is reported, and nothing fails.
        Totals::new(1, 1, None).finish("d", 1, 0, false);
    }
}
