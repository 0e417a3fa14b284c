//! `cargo xtask bench` (or `cargo run --release -p avala-bench`): the SDK's
//! cost next to raw reqwest + serde_json, against one in-process loopback
//! server. See BENCHMARKS.md for how to read the output.

mod alloc;
mod build_cost;
mod cli;
mod decode;
mod download;
mod download_all;
mod export;
mod fleet;
mod managed;
mod measures;
mod probe;
mod python_paging;
mod server;
mod sides;
mod stats;
mod upload;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

const USAGE: &str = "\
usage: avala-bench [--quick] [--build-cost] [--download-mib N] [--download-object-kib N] [--download-only]
       avala-bench --upload [--files N] [--file-kib N] [--large-mib N] [--rounds N] [--latency-ms N]
       avala-bench --blocking [--quick]
       avala-bench --cli [--reps N]
       avala-bench --python-paging [--rounds N]
       avala-bench --fleet [--hash-mib N] [--files N] [--file-kib N] [--rounds N]
       avala-bench --managed [--mib N] [--rounds N]
       avala-bench --export [--mib N] [--rounds N]
  --quick            a tenth of the calls (a smoke run; figures are noisier)
  --build-cost       also time a clean build of avala, a no-op rebuild and a
                     rebuild after touching openapi/avala.json (takes minutes)
  --download-mib N   the size of the verified-download object (default 1024;
                     128 with --quick)
  --download-object-kib N
                     the size of each of the 250 objects of the parallel
                     download (default 1024; 256 with --quick)
  --download-only    only the verified downloads (one object, then 250
                     objects 8 at a time)
  --upload           only the upload measures (see bench/src/upload.rs)
  --blocking         only get_dataset's send_blocking next to send, send on a
                     current-thread runtime (the target's comparison) and on
                     the multi-thread one (also in the default run)
  --cli              only our `avala` binary next to the Python CLI (avala 0.10.0
                     from PyPI, in a virtualenv it makes; needs network once)
  --python-paging    only paging items/s next to the official Python SDK
                     (python_paging.rs; the --cli virtualenv, needs PyPI once)
  --fleet            only the Fleet recording measures (see bench/src/fleet.rs)
  --managed          only the managed Fleet upload measure (bench/src/managed.rs;
                     one sparse file of N MiB, default 1024)
  --export           only an export's download next to a raw client, with the
                     peak memory at N/16 and N MiB (bench/src/export.rs;
                     default N 256, 3 rounds)";

struct Opts {
    quick: bool,
    build_cost: bool,
    download_mib: Option<u64>,
    download_object_kib: Option<usize>,
    download_only: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(probe::FLAG) {
        // The memory probe: a child process with counting on from the start.
        alloc::enable();
        std::process::exit(probe::child(&args[1..]));
    }
    if args.first().map(String::as_str) == Some(download::PROBE_FLAG) {
        alloc::enable();
        std::process::exit(download::child(&args[1..]));
    }
    // A probe child: counts its own allocations and reports its peak.
    type Child = fn(&[String]) -> i32;
    let probes: [(&str, Child); 4] = [
        (upload::PROBE_FLAG, upload::child),
        (export::PROBE_FLAG, export::child),
        (fleet::PROBE_FLAG, fleet::child),
        (managed::PROBE_FLAG, managed::child),
    ];
    for (flag, child) in probes {
        if args.first().map(String::as_str) == Some(flag) {
            std::env::set_var("AVALA_ALLOW_INSECURE_BASE_URL", "1");
            alloc::enable();
            std::process::exit(child(&args[1..]));
        }
    }
    // Before any thread: the SDK refuses plain http unless this is set.
    std::env::set_var("AVALA_ALLOW_INSECURE_BASE_URL", "1");
    let mut opts = Opts {
        quick: false,
        build_cost: false,
        download_mib: None,
        download_object_kib: None,
        download_only: false,
    };
    if args.first().map(String::as_str) == Some("--profile") {
        if let Err(e) = measures::profile(&args[1..]) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--blocking") {
        let quick = match args.get(1..) {
            Some([]) | None => false,
            Some([flag]) if flag == "--quick" => true,
            _ => {
                eprintln!("error: --blocking takes only --quick\n{USAGE}");
                std::process::exit(2);
            }
        };
        if let Err(e) = measures::run_blocking(quick) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some(cli::FLAG) {
        let reps = match args.get(1..) {
            Some([flag, n]) if flag == "--reps" => n.parse().ok().filter(|n| *n > 0),
            Some([]) | None => Some(30),
            _ => None,
        };
        let Some(reps) = reps else {
            eprintln!("error: --cli takes only --reps N\n{USAGE}");
            std::process::exit(2);
        };
        if let Err(e) = cli::run(&measures::workspace_root(), reps) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some(python_paging::FLAG) {
        let rounds = match args.get(1..) {
            Some([flag, n]) if flag == "--rounds" => n.parse().ok().filter(|n| *n > 0),
            Some([]) | None => Some(6),
            _ => None,
        };
        let Some(rounds) = rounds else {
            eprintln!("error: --python-paging takes only --rounds N\n{USAGE}");
            std::process::exit(2);
        };
        if let Err(e) = python_paging::run(&measures::workspace_root(), rounds) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--upload") {
        let mut opts = upload::Opts {
            files: 1000,
            file_kib: 32,
            large_mib: 1024,
            rounds: 3,
            latency_ms: 0,
        };
        let mut rest = args[1..].iter();
        while let Some(flag) = rest.next() {
            let value = rest.next().and_then(|v| v.parse::<usize>().ok());
            match (flag.as_str(), value) {
                ("--files", Some(v)) => opts.files = v.max(1),
                ("--file-kib", Some(v)) => opts.file_kib = v.max(1),
                ("--large-mib", Some(v)) => opts.large_mib = v.max(1) as u64,
                ("--rounds", Some(v)) => opts.rounds = v.max(1),
                ("--latency-ms", Some(v)) => opts.latency_ms = v as u64,
                _ => {
                    eprintln!("error: bad upload argument {flag:?}\n{USAGE}");
                    std::process::exit(2);
                }
            }
        }
        if let Err(e) = upload::run(&opts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some(export::FLAG) {
        let mut opts = export::Opts {
            mib: 256,
            rounds: 3,
        };
        let mut rest = args[1..].iter();
        while let Some(flag) = rest.next() {
            let value = rest.next().and_then(|v| v.parse::<usize>().ok());
            match (flag.as_str(), value) {
                ("--mib", Some(v)) => opts.mib = v.max(16),
                ("--rounds", Some(v)) => opts.rounds = v.max(1),
                _ => {
                    eprintln!("error: bad export argument {flag:?}\n{USAGE}");
                    std::process::exit(2);
                }
            }
        }
        if let Err(e) = export::run(&opts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--fleet") {
        let mut opts = fleet::Opts {
            hash_mib: 1024,
            files: 200,
            file_kib: 1024,
            rounds: 3,
        };
        let mut rest = args[1..].iter();
        while let Some(flag) = rest.next() {
            let value = rest.next().and_then(|v| v.parse::<usize>().ok());
            match (flag.as_str(), value) {
                ("--hash-mib", Some(v)) => opts.hash_mib = v.max(1) as u64,
                ("--files", Some(v)) => opts.files = v.max(1),
                ("--file-kib", Some(v)) => opts.file_kib = v.max(1),
                ("--rounds", Some(v)) => opts.rounds = v.max(1),
                _ => {
                    eprintln!("error: bad fleet argument {flag:?}\n{USAGE}");
                    std::process::exit(2);
                }
            }
        }
        if let Err(e) = fleet::run(&opts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--managed") {
        let mut opts = managed::Opts {
            mib: 1024,
            rounds: 3,
        };
        let mut rest = args[1..].iter();
        while let Some(flag) = rest.next() {
            match (
                flag.as_str(),
                rest.next().and_then(|v| v.parse::<u64>().ok()),
            ) {
                ("--mib", Some(v)) => opts.mib = v.max(1),
                ("--rounds", Some(v)) => opts.rounds = v.max(1) as usize,
                _ => {
                    eprintln!("error: bad managed argument {flag:?}\n{USAGE}");
                    std::process::exit(2);
                }
            }
        }
        if let Err(e) = managed::run(&opts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--download-only" => opts.download_only = true,
            "--download-mib" => match rest.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => opts.download_mib = Some(n),
                _ => {
                    eprintln!("error: --download-mib needs a positive number\n{USAGE}");
                    std::process::exit(2);
                }
            },
            "--download-object-kib" => match rest.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => opts.download_object_kib = Some(n),
                _ => {
                    eprintln!("error: --download-object-kib needs a positive number\n{USAGE}");
                    std::process::exit(2);
                }
            },
            "--build-cost" => opts.build_cost = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("error: unknown argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if !opts.download_only {
        if let Err(e) = measures::run(opts.quick, opts.build_cost) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    let mib = opts
        .download_mib
        .unwrap_or(if opts.quick { 128 } else { 1024 });
    let rounds = if opts.quick { 1 } else { 3 };
    if let Err(e) = download::run(mib << 20, rounds) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let object_kib = opts
        .download_object_kib
        .unwrap_or(if opts.quick { 256 } else { 1024 });
    if let Err(e) = download_all::run(object_kib, rounds) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
