//! The measures, run A/B/A/B against one server, and the report.

use std::{
    hint::black_box,
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{
    build_cost, probe, server,
    sides::{self, Raw},
    stats::{self, Ratio},
};

/// Concurrent tasks of the throughput measure.
const TASKS: usize = 64;

/// The server runtime's thread name (not counted as client CPU).
use crate::server::SERVER_THREAD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sdk = 0,
    Raw = 1,
}

/// Step `i` (a round, or a call) runs the SDK first when even, raw first when odd.
fn order(i: usize) -> [Side; 2] {
    if i.is_multiple_of(2) {
        [Side::Sdk, Side::Raw]
    } else {
        [Side::Raw, Side::Sdk]
    }
}

struct Sides {
    sdk: avala::Client,
    raw: Raw,
}

impl Sides {
    /// One `get_dataset` of an existing dataset.
    async fn get(&self, side: Side) {
        match side {
            Side::Sdk => {
                let d = sides::sdk_get_dataset(&self.sdk, "ds-0000001").await;
                black_box(d.expect("the SDK reads the dataset"));
            }
            Side::Raw => {
                let d = sides::raw_get_dataset(&self.raw, "ds-0000001").await;
                black_box(d.expect("raw reads the dataset").expect("a 2xx"));
            }
        }
    }

    /// One `get_dataset` of a missing dataset: the error path.
    async fn missing(&self, side: Side) {
        match side {
            Side::Sdk => match sides::sdk_get_dataset(&self.sdk, "missing").await {
                Err(avala::Error::NotFound(e)) => {
                    debug_assert_eq!(e.message, "Not found.");
                    black_box(e);
                }
                other => panic!("the SDK mapped a 404 to {other:?}"),
            },
            Side::Raw => match sides::raw_get_dataset(&self.raw, "missing").await {
                Ok(Err(e)) if e.status == 404 => {
                    debug_assert_eq!(e.detail.as_deref(), Some("Not found."));
                    black_box(e);
                }
                other => panic!("raw read a 404 as {other:?}"),
            },
        }
    }

    /// The whole listing; returns the number of items.
    async fn page_through(&self, side: Side, short: bool) -> usize {
        let mut items = 0usize;
        let mut checksum = 0i64;
        let count = |d: &avala::types::Dataset| {
            items += 1;
            checksum = checksum.wrapping_add(d.item_count);
        };
        match side {
            Side::Sdk => sides::sdk_stream(&self.sdk, short, count)
                .await
                .expect("the SDK pages"),
            Side::Raw => sides::raw_stream(&self.raw, short, count)
                .await
                .expect("raw pages"),
        }
        black_box(checksum);
        items
    }
}

/// Latencies of one side, all rounds pooled, and its per-round medians/p99s.
#[derive(Default)]
struct Latencies {
    all: Vec<u64>,
    round_median: Vec<u64>,
    round_p99: Vec<u64>,
}

struct LatencyResult {
    sdk: Latencies,
    raw: Latencies,
    rounds: usize,
    block: usize,
}

impl LatencyResult {
    /// The median ratio is the median of the per-round ratios of medians
    /// (each round interleaves the sides call by call, so it compares like
    /// with like even when the machine's load changes between rounds). The
    /// p99 ratio is over all rounds pooled: one round's p99 is only its 5th
    /// worst call of 500, too few to rank on.
    fn ratios(&self) -> (Ratio, Ratio) {
        let (_, sp) = stats::median_p99(&self.sdk.all);
        let (_, rp) = stats::median_p99(&self.raw.all);
        let per = |a: &[u64], b: &[u64]| -> Vec<f64> {
            a.iter()
                .zip(b)
                .map(|(x, y)| *x as f64 / *y as f64)
                .collect()
        };
        (
            Ratio::from_rounds(&per(&self.sdk.round_median, &self.raw.round_median)),
            Ratio::new(
                sp as f64 / rp as f64,
                &per(&self.sdk.round_p99, &self.raw.round_p99),
            ),
        )
    }
}

#[derive(Clone, Copy)]
enum Call {
    Get,
    Missing,
}

/// `rounds` rounds of `block` calls a side, the sides alternating call by
/// call (SDK, raw, raw, SDK, ...) so that any burst of machine noise lands on
/// both.
async fn sequential(sides: &Sides, call: Call, rounds: usize, block: usize) -> LatencyResult {
    let mut result = LatencyResult {
        sdk: Latencies::default(),
        raw: Latencies::default(),
        rounds,
        block,
    };
    for _ in 0..rounds {
        let mut samples = [Vec::with_capacity(block), Vec::with_capacity(block)];
        for i in 0..block {
            for side in order(i) {
                let started = Instant::now();
                match call {
                    Call::Get => sides.get(side).await,
                    Call::Missing => sides.missing(side).await,
                }
                samples[side as usize].push(started.elapsed().as_nanos() as u64);
            }
        }
        for (side, samples) in [Side::Sdk, Side::Raw].into_iter().zip(samples) {
            let (m, p) = stats::median_p99(&samples);
            let l = if side == Side::Sdk {
                &mut result.sdk
            } else {
                &mut result.raw
            };
            l.round_median.push(m);
            l.round_p99.push(p);
            l.all.extend(samples);
        }
    }
    result
}

/// `total` calls over [`TASKS`] tasks that take the next call from a shared
/// counter; returns the wall time.
async fn concurrent_block(sides: &Arc<Sides>, side: Side, total: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let sides = sides.clone();
            let next = next.clone();
            tokio::spawn(async move {
                while next.fetch_add(1, Relaxed) < total {
                    sides.get(side).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a benchmark task");
    }
}

/// `send_blocking` next to `send`: the same `get_dataset` of the same server,
/// the same number of calls a side. `send` is measured twice: on a
/// current-thread runtime, the kind `send_blocking` runs on (the fair
/// comparison), and on the multi-thread client runtime of the other
/// measures, where the connection's task runs on a worker thread and every
/// call crosses threads on its way out and back.
struct Blocking {
    blocking: Latencies,
    /// `send` on a current-thread runtime.
    current: Latencies,
    /// `send` on the multi-thread client runtime.
    multi: Latencies,
    rounds: usize,
    block: usize,
}

/// The three sides of [`Blocking`], in the order of their rows.
#[derive(Clone, Copy)]
enum Run {
    Blocking,
    Current,
    Multi,
}

impl Blocking {
    fn side(&mut self, run: Run) -> &mut Latencies {
        match run {
            Run::Blocking => &mut self.blocking,
            Run::Current => &mut self.current,
            Run::Multi => &mut self.multi,
        }
    }

    /// The median of the per-round ratios of medians, `a` / `b`.
    fn ratio(a: &Latencies, b: &Latencies) -> Ratio {
        let per: Vec<f64> = a
            .round_median
            .iter()
            .zip(&b.round_median)
            .map(|(a, b)| *a as f64 / *b as f64)
            .collect();
        Ratio::from_rounds(&per)
    }
}

/// `block` timed `get_dataset` calls with `send` on `runtime`.
fn async_block(
    runtime: &tokio::runtime::Runtime,
    client: &avala::Client,
    uid: &str,
    n: usize,
) -> Vec<u64> {
    runtime.block_on(async {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let d = sides::sdk_get_dataset(client, uid).await;
            black_box(d.expect("the SDK reads the dataset"));
            samples.push(started.elapsed().as_nanos() as u64);
        }
        samples
    })
}

/// `rounds` rounds of `block` calls a side, the side that goes first
/// rotating by round. `send_blocking` runs on this thread, which is in no
/// runtime, the way a program without async code calls; each side has a
/// client of its own (a client's connections belong to the runtime that
/// opened them).
fn blocking_next_to_async(
    base: &str,
    client_rt: &tokio::runtime::Runtime,
    rounds: usize,
    block: usize,
) -> Result<Blocking, String> {
    const UID: &str = "ds-0000001";
    let current_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (multi, current) = (sides::sdk_client(base), sides::sdk_client(base));
    let blocking = sides::sdk_client(base);
    let blocking_block = |n: usize| {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let d = sides::sdk_get_dataset_blocking(&blocking, UID);
            black_box(d.expect("send_blocking reads the dataset"));
            samples.push(started.elapsed().as_nanos() as u64);
        }
        samples
    };
    let measure = |run: Run, n: usize| match run {
        Run::Blocking => blocking_block(n),
        Run::Current => async_block(&current_rt, &current, UID, n),
        Run::Multi => async_block(client_rt, &multi, UID, n),
    };
    let mut order = [Run::Blocking, Run::Current, Run::Multi];
    // Warm-up: connections, and the blocking client's runtime.
    for run in order {
        measure(run, 200);
    }
    let mut result = Blocking {
        blocking: Latencies::default(),
        current: Latencies::default(),
        multi: Latencies::default(),
        rounds,
        block,
    };
    for _ in 0..rounds {
        for run in order {
            let samples = measure(run, block);
            let (m, p) = stats::median_p99(&samples);
            let l = result.side(run);
            l.round_median.push(m);
            l.round_p99.push(p);
            l.all.extend(samples);
        }
        order.rotate_left(1);
    }
    Ok(result)
}

/// The table rows of [`blocking_next_to_async`]: `blk` is `send_blocking`,
/// `cur` and `mt` are `send` on a current-thread and a multi-thread runtime.
fn blocking_rows(b: &Blocking) {
    for (side, l) in [("blk", &b.blocking), ("cur", &b.current), ("mt", &b.multi)] {
        let (m, p) = stats::median_p99(&l.all);
        let total: u64 = l.all.iter().sum();
        println!(
            "{:<34} {:>4} {:>9} {:>10} {:>10} {:>11.0} {:>10}",
            "get_dataset, send_blocking / send",
            side,
            l.all.len(),
            stats::us(m),
            stats::us(p),
            l.all.len() as f64 / (total as f64 / 1e9),
            "-"
        );
    }
}

/// The result lines of [`blocking_next_to_async`]: the target compares
/// runtimes of one kind; the second line shows what the kind of runtime
/// alone changes.
fn blocking_line(b: &Blocking) {
    let fair = Blocking::ratio(&b.blocking, &b.current);
    println!(
        "send_blocking_median: ratio {:.2} (send_blocking / send, both on a current-thread runtime; {}; {} rounds of {} calls a side; target <= 1.10: {})",
        fair.value,
        fair.spread(),
        b.rounds,
        b.block,
        verdict(fair.value <= 1.10)
    );
    let multi = Blocking::ratio(&b.blocking, &b.multi);
    let kind = Blocking::ratio(&b.current, &b.multi);
    println!(
        "send_blocking_vs_multi_thread_median: ratio {:.2} (send_blocking / send on the 2-worker runtime of the other measures; {}; send current-thread / multi-thread {:.2}; no target)",
        multi.value,
        multi.spread(),
        kind.value
    );
}

/// `--blocking`: only [`blocking_next_to_async`], against the same server
/// as the default run.
pub fn run_blocking(quick: bool) -> Result<(), String> {
    let (rounds, block) = (40, if quick { 50 } else { 500 });
    println!("avala-bench on {} (load average {})", machine(), load());
    let server_rt = crate::server::runtime(2)?;
    let server = server::start(&server_rt).map_err(|e| format!("starting the server: {e}"))?;
    let base = format!("http://{}/api/v1", server.addr);
    let client_rt = client_runtime()?;
    eprintln!("send_blocking next to send ...");
    let b = blocking_next_to_async(&base, &client_rt, rounds, block)?;
    println!();
    blocking_rows(&b);
    println!();
    blocking_line(&b);
    println!("(load average at the end {})", load());
    Ok(())
}

/// The runtime the SDK's async side runs on.
fn client_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// On-CPU nanoseconds of every thread of this process but the server's
/// (from `/proc/self/task/*/schedstat`): the client side's CPU, which other
/// load on the machine does not inflate the way it inflates wall time.
fn client_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() != SERVER_THREAD)
        })
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// Wall time and client CPU of one block of calls.
#[derive(Clone, Copy)]
struct Block {
    wall: Duration,
    cpu_ns: u64,
}

async fn timed<F: std::future::Future>(f: F) -> (Block, F::Output) {
    let (cpu, started) = (client_cpu_ns(), Instant::now());
    let out = f.await;
    let wall = started.elapsed();
    let cpu_ns = client_cpu_ns().saturating_sub(cpu);
    (Block { wall, cpu_ns }, out)
}

struct Throughput {
    /// Calls (or items) per second, all rounds pooled.
    sdk: f64,
    raw: f64,
    ratio: Ratio,
    /// Client CPU per call (or item), nanoseconds, all rounds pooled.
    sdk_cpu: f64,
    raw_cpu: f64,
    cpu_ratio: Ratio,
    rounds: usize,
    per_round: usize,
}

fn throughput(per_round: usize, sdk: &[Block], raw: &[Block]) -> Throughput {
    let rate = |b: &[Block]| {
        (per_round * b.len()) as f64 / b.iter().map(|b| b.wall).sum::<Duration>().as_secs_f64()
    };
    let cpu =
        |b: &[Block]| b.iter().map(|b| b.cpu_ns).sum::<u64>() as f64 / (per_round * b.len()) as f64;
    let per: Vec<f64> = sdk
        .iter()
        .zip(raw)
        .map(|(s, r)| r.wall.as_secs_f64() / s.wall.as_secs_f64())
        .collect();
    let per_cpu: Vec<f64> = sdk
        .iter()
        .zip(raw)
        .map(|(s, r)| s.cpu_ns as f64 / r.cpu_ns.max(1) as f64)
        .collect();
    Throughput {
        sdk: rate(sdk),
        raw: rate(raw),
        // The median of the per-round ratios: a burst of load on the machine
        // during one block moves it less than it moves the pooled rates.
        ratio: Ratio::from_rounds(&per),
        sdk_cpu: cpu(sdk),
        raw_cpu: cpu(raw),
        cpu_ratio: Ratio::new(cpu(sdk) / cpu(raw), &per_cpu),
        rounds: sdk.len(),
        per_round,
    }
}

async fn concurrent(sides: &Arc<Sides>, rounds: usize, per_round: usize) -> Throughput {
    let (mut sdk, mut raw) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for side in order(round) {
            let (block, ()) = timed(concurrent_block(sides, side, per_round)).await;
            if side == Side::Sdk {
                sdk.push(block);
            } else {
                raw.push(block);
            }
        }
    }
    throughput(per_round, &sdk, &raw)
}

async fn paging(sides: &Sides, rounds: usize) -> Throughput {
    let (mut sdk, mut raw) = (Vec::new(), Vec::new());
    let expected = server::LONG_PAGES * server::PAGE_SIZE;
    for round in 0..rounds {
        for side in order(round) {
            let (block, items) = timed(sides.page_through(side, false)).await;
            assert_eq!(items, expected, "{side:?} streamed {items} items");
            if side == Side::Sdk {
                sdk.push(block);
            } else {
                raw.push(block);
            }
        }
    }
    throughput(expected, &sdk, &raw)
}

/// Reads the SDK's request headers back from the server, builds the raw
/// client to send the same ones, and checks that it does. Returns the sides
/// and the header lines (for the memory probe's raw client).
async fn matched_sides(base: &str) -> Result<(Sides, String), String> {
    let sdk = sides::sdk_client(base);
    let sdk_headers = sides::sdk_get_dataset(&sdk, "echo-headers")
        .await
        .map(|d| d.name)
        .map_err(|e| format!("SDK echo: {e}"))?;
    let raw = Raw::new(base, &sdk_headers);
    let raw_headers = match sides::raw_get_dataset(&raw, "echo-headers").await {
        Ok(Ok(d)) => d.name,
        other => return Err(format!("raw echo: {other:?}")),
    };
    if sdk_headers != raw_headers {
        return Err(format!(
            "the two sides send different headers:\nSDK:\n{sdk_headers}\nraw:\n{raw_headers}"
        ));
    }
    Ok((Sides { sdk, raw }, sdk_headers))
}

/// The 1-minute load average: other work on the machine shows here.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "rustc unknown".into());
    format!("{cores} cores, {cpu}, {rustc}")
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

pub fn run(quick: bool, with_build_cost: bool) -> Result<(), String> {
    // Full run: about 30 s of measuring on 2 cores; --quick: a tenth.
    let scale = if quick { 10 } else { 1 };
    let (seq_rounds, seq_block) = (40, 500 / scale);
    let (conc_rounds, conc_block) = (30, 5_000 / scale);
    let page_rounds = if quick { 2 } else { 16 };
    let (err_rounds, err_block) = (30, 500 / scale);

    let started = Instant::now();
    println!("avala-bench on {} (load average {})", machine(), load());
    let server_rt = crate::server::runtime(2)?;
    let server = server::start(&server_rt).map_err(|e| format!("starting the server: {e}"))?;
    let base = format!("http://{}/api/v1", server.addr);
    println!(
        "server: {base} (one Dataset: {} bytes; one page of {}: {} bytes)",
        server.dataset_bytes,
        server::PAGE_SIZE,
        server.page_bytes
    );

    let client_rt = client_runtime()?;
    let report = client_rt.block_on(async {
        let (sides, headers) = matched_sides(&base).await?;
        let sides = Arc::new(sides);
        eprintln!("warming up ...");
        for side in [Side::Sdk, Side::Raw, Side::Sdk, Side::Raw] {
            for _ in 0..200 {
                sides.get(side).await;
                sides.missing(side).await;
            }
            concurrent_block(&sides, side, TASKS * 4).await;
            sides.page_through(side, true).await;
        }
        eprintln!("1/6 get_dataset, sequential ...");
        let seq = sequential(&sides, Call::Get, seq_rounds, seq_block).await;
        eprintln!("2/6 get_dataset, {TASKS} tasks ...");
        let conc = concurrent(&sides, conc_rounds, conc_block).await;
        eprintln!("3/6 paging ...");
        let pages = paging(&sides, page_rounds).await;
        eprintln!("4/6 404 path ...");
        let err = sequential(&sides, Call::Missing, err_rounds, err_block).await;
        Ok::<_, String>((seq, conc, pages, err, headers))
    })?;
    let (seq, conc, pages, err, headers) = report;
    eprintln!("5/6 send_blocking next to send ...");
    let blocking = blocking_next_to_async(&base, &client_rt, seq_rounds, seq_block)?;

    eprintln!("6/6 memory while streaming (4 child processes) ...");
    let raw = Some(headers.as_str());
    let mem = [
        probe::spawn(&base, None, false)?,
        probe::spawn(&base, raw, false)?,
        probe::spawn(&base, None, true)?,
        probe::spawn(&base, raw, true)?,
    ];
    let long_items = server::LONG_PAGES * server::PAGE_SIZE;
    for (p, expected) in mem
        .iter()
        .zip([long_items, long_items, long_items / 10, long_items / 10])
    {
        if p.items != expected {
            return Err(format!(
                "a memory probe streamed {} items, not {expected}",
                p.items
            ));
        }
    }
    let run_seconds = started.elapsed().as_secs_f64();

    let build = if with_build_cost {
        Some(build_cost::run(&workspace_root())?)
    } else {
        None
    };

    // The table.
    println!();
    println!(
        "{:<34} {:>4} {:>9} {:>10} {:>10} {:>11} {:>10}",
        "measure", "side", "calls", "median us", "p99 us", "per second", "CPU us"
    );
    let lat_rows = |name: &str, r: &LatencyResult| {
        for (side, l) in [("sdk", &r.sdk), ("raw", &r.raw)] {
            let (m, p) = stats::median_p99(&l.all);
            let total: u64 = l.all.iter().sum();
            println!(
                "{:<34} {:>4} {:>9} {:>10} {:>10} {:>11.0} {:>10}",
                name,
                side,
                l.all.len(),
                stats::us(m),
                stats::us(p),
                l.all.len() as f64 / (total as f64 / 1e9),
                "-"
            );
        }
    };
    let rate_rows = |name: &str, t: &Throughput| {
        for (side, rate, cpu) in [("sdk", t.sdk, t.sdk_cpu), ("raw", t.raw, t.raw_cpu)] {
            println!(
                "{:<34} {:>4} {:>9} {:>10} {:>10} {:>11.0} {:>10}",
                name,
                side,
                t.rounds * t.per_round,
                "-",
                "-",
                rate,
                stats::us(cpu as u64)
            );
        }
    };
    lat_rows("get_dataset, sequential", &seq);
    rate_rows(&format!("get_dataset, {TASKS} tasks"), &conc);
    rate_rows(
        &format!("list_datasets, {} pages (items)", server::LONG_PAGES),
        &pages,
    );
    lat_rows("get_dataset 404, sequential", &err);
    blocking_rows(&blocking);
    println!();
    println!(
        "{:<34} {:>6} {:>12} {:>24}",
        "memory while streaming", "side", "items", "peak above baseline"
    );
    for (p, side, pages) in [
        (&mem[0], "sdk", server::LONG_PAGES),
        (&mem[1], "raw", server::LONG_PAGES),
        (&mem[2], "sdk", server::SHORT_PAGES),
        (&mem[3], "raw", server::SHORT_PAGES),
    ] {
        println!(
            "{:<34} {:>6} {:>12} {:>24}",
            format!("{pages} pages"),
            side,
            p.items,
            format!("{} (left: {})", stats::kib(p.peak), stats::kib(p.retained))
        );
    }
    if let Some(b) = &build {
        println!();
        println!(
            "{:<34} {:>10}  generator reran",
            "build of avala (dev profile)", "seconds"
        );
        println!("{:<34} {:>10.1}  yes", "clean", b.clean_s);
        println!(
            "{:<34} {:>10.1}  {}",
            "no-op rebuild",
            b.noop_s,
            if b.noop_reran_generator {
                "YES (wrong)"
            } else {
                "no"
            }
        );
        println!(
            "{:<34} {:>10.1}  {}",
            "after touching openapi/avala.json",
            b.touched_s,
            if b.touched_reran_generator {
                "yes"
            } else {
                "NO (wrong)"
            }
        );
        let avala = |units: &[build_cost::Unit], target: &str| {
            units
                .iter()
                .find(|u| u.name == "avala" && u.target == target)
                .map_or("?".to_owned(), |u| format!("{:.1}", u.seconds))
        };
        println!(
            "  of which avala: generator (build.rs run) {} s, lib {} s, build.rs compile {} s; after touching: generator {} s, lib {} s",
            avala(&b.clean_units, " build-script (run)"),
            avala(&b.clean_units, ""),
            avala(&b.clean_units, " build-script"),
            avala(&b.touched_units, " build-script (run)"),
            avala(&b.touched_units, ""),
        );
        println!(
            "{:<34} {:>10.1}  (the schemars crate and the derives)",
            "first build with schemars", b.schemars_first_s
        );
        println!(
            "{:<34} {:>10.1}  ratio {:.2} to the same rebuild without; lib {} s against {} s",
            "  touched, with schemars",
            b.schemars_touched_s,
            b.schemars_touched_s / b.touched_s,
            avala(&b.schemars_touched_units, ""),
            avala(&b.touched_units, ""),
        );
        let slowest: Vec<String> = b
            .clean_units
            .iter()
            .filter(|u| u.name != "avala")
            .take(5)
            .map(|u| format!("{}{} {:.1} s", u.name, u.target, u.seconds))
            .collect();
        println!(
            "  slowest dependencies (2 jobs in parallel): {}",
            slowest.join(", ")
        );
    }

    // One line per measure.
    println!();
    let (seq_median, seq_p99) = seq.ratios();
    let (err_median, err_p99) = err.ratios();
    println!(
        "get_dataset_median: ratio {:.2} ({}; {} rounds of {} calls a side; target <= 1.05: {})",
        seq_median.value,
        seq_median.spread(),
        seq.rounds,
        seq.block,
        verdict(seq_median.value <= 1.05)
    );
    println!(
        "get_dataset_p99: ratio {:.2} ({}; target <= 1.05: {})",
        seq_p99.value,
        seq_p99.spread(),
        verdict(seq_p99.value <= 1.05)
    );
    println!(
        "get_dataset_64_tasks_throughput: ratio {:.2} ({}; {} rounds of {} calls a side; target >= 0.95: {})",
        conc.ratio.value,
        conc.ratio.spread(),
        conc.rounds,
        conc.per_round,
        verdict(conc.ratio.value >= 0.95)
    );
    println!(
        "stream_throughput: ratio {:.2} ({}; {} runs a side of {} items; target >= 0.95: {})",
        pages.ratio.value,
        pages.ratio.spread(),
        pages.rounds,
        pages.per_round,
        verdict(pages.ratio.value >= 0.95)
    );
    println!(
        "get_dataset_64_tasks_client_cpu: ratio {:.2} (CPU a call, SDK / raw; {}; no target: read with the throughput)",
        conc.cpu_ratio.value,
        conc.cpu_ratio.spread()
    );
    println!(
        "stream_client_cpu: ratio {:.2} (CPU an item, SDK / raw; {}; no target)",
        pages.cpu_ratio.value,
        pages.cpu_ratio.spread()
    );
    let peak_ratio = mem[0].peak as f64 / mem[1].peak as f64;
    println!(
        "stream_peak_memory: ratio {peak_ratio:.2} (SDK {} vs raw {} above baseline at {} pages)",
        stats::kib(mem[0].peak),
        stats::kib(mem[1].peak),
        server::LONG_PAGES
    );
    // Flat: the peak over 1,000 pages within 10% of the peak over 100.
    let growth = |long: &probe::Probe, short: &probe::Probe| {
        let per_page =
            (long.peak - short.peak) as f64 / (server::LONG_PAGES - server::SHORT_PAGES) as f64;
        (long.peak as f64 / short.peak as f64, per_page)
    };
    let (sdk_growth, sdk_per_page) = growth(&mem[0], &mem[2]);
    let (raw_growth, raw_per_page) = growth(&mem[1], &mem[3]);
    println!(
        "stream_memory_growth: ratio {sdk_growth:.2} (SDK peak at {} pages / at {}: {sdk_per_page:+.0} bytes a page; raw {raw_growth:.2}, {raw_per_page:+.0} bytes a page; flat is <= 1.10: {})",
        server::LONG_PAGES,
        server::SHORT_PAGES,
        verdict(sdk_growth <= 1.10)
    );
    println!(
        "not_found_median: ratio {:.2} ({}; {} rounds of {} calls a side; no target)",
        err_median.value,
        err_median.spread(),
        err.rounds,
        err.block
    );
    println!(
        "not_found_p99: ratio {:.2} ({}; no target)",
        err_p99.value,
        err_p99.spread()
    );
    blocking_line(&blocking);
    println!(
        "(measures ran in {run_seconds:.0} s; load average at the end {})",
        load()
    );
    Ok(())
}

/// `--profile <sdk|raw> <get|missing|stream|decode|timestamps> <n>`: only
/// that side and call, `n` times, for a profiler (`valgrind
/// --tool=callgrind`, `perf record`); compare the two sides' instruction
/// counts. `decode` and `timestamps` run without a server ([`crate::decode`]).
pub fn profile(args: &[String]) -> Result<(), String> {
    let [side, call, n] = args else {
        return Err(
            "usage: avala-bench --profile sdk|raw get|missing|stream|decode|timestamps <n>".into(),
        );
    };
    match call.as_str() {
        "decode" => return crate::decode::decode(n.parse().map_err(|e| format!("n: {e}"))?),
        "timestamps" => {
            return crate::decode::timestamps(n.parse().map_err(|e| format!("n: {e}"))?)
        }
        _ => {}
    }
    let side = match side.as_str() {
        "sdk" => Side::Sdk,
        "raw" => Side::Raw,
        other => return Err(format!("unknown side {other:?}")),
    };
    let n: usize = n.parse().map_err(|e| format!("n: {e}"))?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let server = server::start(&server_rt).map_err(|e| e.to_string())?;
    let base = format!("http://{}/api/v1", server.addr);
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    client_rt.block_on(async {
        let (sides, _) = matched_sides(&base).await?;
        let started = Instant::now();
        for _ in 0..n {
            match call.as_str() {
                "get" => sides.get(side).await,
                "missing" => sides.missing(side).await,
                "stream" => {
                    sides.page_through(side, true).await;
                }
                other => return Err(format!("unknown call {other:?}")),
            }
        }
        eprintln!("{n} x {call} ({side:?}) in {:?}", started.elapsed());
        // Bytes moved whenever a future is moved or boxed.
        eprintln!(
            "future sizes: SDK get_dataset {} bytes, raw {} bytes; SDK stream {} bytes",
            std::mem::size_of_val(&sides::sdk_get_dataset(&sides.sdk, "x")),
            std::mem::size_of_val(&sides::raw_get_dataset(&sides.raw, "x")),
            std::mem::size_of_val(&sides.sdk.list_datasets().stream()),
        );
        Ok(())
    })
}

pub fn workspace_root() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}
