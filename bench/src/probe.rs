//! The memory probe: one full `.stream()` (or raw cursor loop) in a child
//! process whose allocator counts every byte, against the parent's server.
//!
//! The child has no server in it and runs on a current-thread runtime, so
//! what it counts is the client side alone. After a warm-up (client built,
//! connection open, the short listing read whole and dropped) the live bytes are the
//! baseline; the peak above it while streaming every page is the answer.

use std::process::Command;

use crate::{alloc, sides};

pub const FLAG: &str = "--memory-probe";

#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub peak: isize,
    pub retained: isize,
    pub items: usize,
}

/// Runs the probe as a child of this executable.
/// `raw` is the headers the raw side sends (see [`sides::Raw::new`]), or
/// `None` for the SDK side.
pub fn spawn(base: &str, raw: Option<&str>, short: bool) -> Result<Probe, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .args([FLAG, base, if short { "short" } else { "long" }])
        .args(raw.map(|headers| ["raw", headers]).unwrap_or(["sdk", ""]))
        .output()
        .map_err(|e| format!("running the memory probe: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the memory probe failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let field = |name: &str| -> Result<i64, String> {
        stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .ok_or_else(|| format!("the memory probe printed no {name}: {stdout}"))
    };
    Ok(Probe {
        peak: field("peak")? as isize,
        retained: field("retained")? as isize,
        items: field("items")? as usize,
    })
}

/// The child's `main`; returns the exit code.
pub fn child(args: &[String]) -> i32 {
    let [base, length, side, headers] = args else {
        eprintln!("usage: avala-bench {FLAG} <base-url> short|long sdk|raw <raw headers>");
        return 2;
    };
    std::env::set_var("AVALA_ALLOW_INSECURE_BASE_URL", "1");
    let sdk = side == "sdk";
    let short = length == "short";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        let mut items = 0usize;
        let mut checksum = 0i64;
        let count = |d: &avala::types::Dataset| {
            items += 1;
            checksum = checksum.wrapping_add(d.item_count);
        };
        if sdk {
            let client = sides::sdk_client(base);
            warm_up_sdk(&client).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            sides::sdk_stream(&client, short, count)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((
                alloc::peak() - baseline,
                alloc::current() - baseline,
                items,
                checksum,
            ))
        } else {
            let client = sides::Raw::new(base, headers);
            warm_up_raw(&client).await?;
            let baseline = alloc::current();
            alloc::reset_peak();
            sides::raw_stream(&client, short, count)
                .await
                .map_err(|e| e.to_string())?;
            Ok((
                alloc::peak() - baseline,
                alloc::current() - baseline,
                items,
                checksum,
            ))
        }
    });
    match result {
        Ok((peak, retained, items, checksum)) => {
            println!("peak={peak} retained={retained} items={items} checksum={checksum}");
            0
        }
        Err(e) => {
            println!("error: {e}");
            1
        }
    }
}

/// The short listing read whole and dropped: the connection, the pool and
/// every one-time initialisation exist before the baseline.
async fn warm_up_sdk(client: &avala::Client) -> Result<(), String> {
    sides::sdk_stream(client, true, |_| {})
        .await
        .map_err(|e| e.to_string())
}

async fn warm_up_raw(client: &sides::Raw) -> Result<(), String> {
    sides::raw_stream(client, true, |_| {})
        .await
        .map_err(|e| e.to_string())
}
