//! `avala-bench --python-paging`: items per second through the whole
//! 1,000-page listing, this SDK's `.stream()` next to the official Python
//! SDK's `client.datasets.list(cursor=...)` loop (`avala` 0.10.0 from PyPI),
//! on the bench's one loopback server, in one run.
//!
//! - The Python side is one long-lived process (`bin/python` of the
//!   virtualenv `--cli` uses; installed on first use, which needs PyPI). It
//!   pages the listing once per line it reads on stdin and answers with the
//!   item count and its own `perf_counter` seconds, so interpreter start-up
//!   is not counted and its connection stays warm, as ours does.
//! - Our side streams the same listing on a current-thread runtime: one
//!   thread, as the Python SDK's synchronous client uses.
//! - Rounds alternate (ours, Python, Python, ours, ...) after a warm-up of
//!   the 100-page listing on each side. The ratio is ours / Python's items
//!   per second, all rounds pooled; the target (issue 22) is at least 7.
//!
//! Never run by CI or the tests.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    server::{self, LONG_PAGES, PAGE_SIZE, SHORT_PAGES},
    sides,
    stats::Ratio,
};

pub const FLAG: &str = "--python-paging";
/// What the issue asks of the ratio.
const TARGET: f64 = 7.0;

/// The Python side: pages the listing once per `long`/`short` line on stdin.
const SCRIPT: &str = r#"
import sys, time
from avala import Client

client = Client(api_key=sys.argv[2], base_url=sys.argv[1])
for line in sys.stdin:
    name = "short" if line.strip() == "short" else None
    started = time.perf_counter()
    items, cursor = 0, None
    while True:
        page = client.datasets.list(limit=100, name=name, cursor=cursor)
        items += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    print(items, time.perf_counter() - started, flush=True)
"#;

struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    fn start(venv: &Path, base: &str) -> Result<Self, String> {
        let mut child = Command::new(venv.join("bin").join("python"))
            .args(["-c", SCRIPT, base, sides::API_KEY])
            // The Python SDK allows plain http only to localhost with this.
            .env("AVALA_ALLOW_INSECURE_BASE_URL", "true")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start the Python SDK: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// One pass over the listing: (items, seconds as Python measured them).
    fn page(&mut self, short: bool) -> Result<(usize, Duration), String> {
        let ask = if short { "short\n" } else { "long\n" };
        self.stdin
            .write_all(ask.as_bytes())
            .map_err(|e| format!("the Python side stopped: {e}"))?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("the Python side stopped: {e}"))?;
        let mut fields = line.split_whitespace();
        let items = fields.next().and_then(|n| n.parse().ok());
        let secs = fields.next().and_then(|s| s.parse::<f64>().ok());
        match (items, secs) {
            (Some(items), Some(secs)) if secs > 0.0 => Ok((items, Duration::from_secs_f64(secs))),
            _ => Err(format!("the Python side answered {line:?}")),
        }
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our side: one pass with `.stream()` on a current-thread runtime.
fn ours(
    rt: &tokio::runtime::Runtime,
    client: &avala::Client,
    short: bool,
) -> Result<(usize, Duration), String> {
    let mut items = 0usize;
    let started = Instant::now();
    rt.block_on(sides::sdk_stream(client, short, |_| items += 1))
        .map_err(|e| e.to_string())?;
    Ok((items, started.elapsed()))
}

pub fn run(root: &Path, rounds: usize) -> Result<(), String> {
    let venv = crate::cli::python_venv(root)?;
    println!(
        "avala-bench on {} (load average {})",
        crate::measures::machine(),
        crate::measures::load()
    );
    let server_rt = server::runtime(1)?;
    let server = server::start(&server_rt).map_err(|e| format!("starting the server: {e}"))?;
    let client = sides::sdk_client(&format!("http://{}/api/v1", server.addr));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut python = Python::start(
        &venv,
        &format!("http://localhost:{}/api/v1", server.addr.port()),
    )?;

    eprintln!("warming up ...");
    let short_items = SHORT_PAGES * PAGE_SIZE;
    expect("ours, warm-up", ours(&rt, &client, true)?, short_items)?;
    expect("python, warm-up", python.page(true)?, short_items)?;

    let long_items = LONG_PAGES * PAGE_SIZE;
    let (mut sdk, mut py) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("round {}/{rounds} ...", round + 1);
        let mut one = |python_first: bool| -> Result<(), String> {
            if python_first {
                py.push(expect("python", python.page(false)?, long_items)?);
                sdk.push(expect("ours", ours(&rt, &client, false)?, long_items)?);
            } else {
                sdk.push(expect("ours", ours(&rt, &client, false)?, long_items)?);
                py.push(expect("python", python.page(false)?, long_items)?);
            }
            Ok(())
        };
        one(round % 2 == 1)?;
    }
    report(long_items, &sdk, &py);
    println!("(load average at the end {})", crate::measures::load());
    Ok(())
}

/// The pass's time, once its item count is the whole listing.
fn expect(side: &str, (items, took): (usize, Duration), want: usize) -> Result<Duration, String> {
    if items == want {
        Ok(took)
    } else {
        Err(format!("{side}: {items} items instead of {want}"))
    }
}

fn report(items: usize, sdk: &[Duration], py: &[Duration]) {
    let rate = |d: &[Duration]| (items * d.len()) as f64 / d.iter().sum::<Duration>().as_secs_f64();
    let per: Vec<f64> = sdk
        .iter()
        .zip(py)
        .map(|(s, p)| p.as_secs_f64() / s.as_secs_f64())
        .collect();
    let ratio = Ratio::new(rate(sdk) / rate(py), &per);
    println!();
    println!("paging measure                         side    items/s");
    println!(
        "{:<38} {:<6} {:>9.0}",
        "list_datasets, 1000 pages",
        "sdk",
        rate(sdk)
    );
    println!(
        "{:<38} {:<6} {:>9.0}",
        "list_datasets, 1000 pages",
        "python",
        rate(py)
    );
    println!();
    let verdict = if ratio.value >= TARGET {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "python_paging_throughput: ratio {:.2} (items/s, SDK / official Python SDK 0.10.0; per round: \
         median {:.2}, min..max {:.2}..{:.2}; {} rounds of {items} items a side; target >= {TARGET}: {verdict})",
        ratio.value,
        ratio.round_median,
        ratio.min,
        ratio.max,
        sdk.len()
    );
}
