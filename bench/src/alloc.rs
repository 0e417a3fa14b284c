//! A counting global allocator: live heap bytes and their peak.
//!
//! Counting is off (a pass-through to the system allocator, with one relaxed
//! load of a flag that never changes) in the timing process, so timings are
//! not skewed by atomics shared between threads. The memory probe, a child
//! process with no server in it, turns counting on first thing in `main`.
//!
//! Why not `peak_alloc` or `stats_alloc`: `peak_alloc` cannot be switched off
//! and implements `realloc` as alloc + copy + free (it would slow down every
//! growing buffer of both sides), and `stats_alloc` keeps totals but no peak.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed},
};

pub struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
// Signed: blocks allocated before counting began may be freed after it.
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grow(bytes: usize) {
    let now = CURRENT.fetch_add(bytes as isize, Relaxed) + bytes as isize;
    PEAK.fetch_max(now, Relaxed);
}

fn shrink(bytes: usize) {
    CURRENT.fetch_sub(bytes as isize, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters change.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && ENABLED.load(Relaxed) {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() && ENABLED.load(Relaxed) {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        if ENABLED.load(Relaxed) {
            shrink(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() && ENABLED.load(Relaxed) {
            // Counted as the new block arriving before the old one leaves:
            // a moving realloc holds both for a moment.
            grow(new_size);
            shrink(layout.size());
        }
        p
    }
}

/// Starts counting. Call once, before any other thread exists.
pub fn enable() {
    ENABLED.store(true, Relaxed);
}

/// Live bytes counted so far (relative to when counting began).
pub fn current() -> isize {
    CURRENT.load(Relaxed)
}

/// The highest [`current`] since the last [`reset_peak`].
pub fn peak() -> isize {
    PEAK.load(Relaxed)
}

/// Starts a new peak from the present live bytes.
pub fn reset_peak() {
    PEAK.store(CURRENT.load(Relaxed), Relaxed);
}
