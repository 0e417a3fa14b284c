//! `cargo xtask`: maintenance of `openapi/avala.json`. See `xtask/README.md`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = xtask::run(args) {
        // One line, whatever the cause; details (lint findings, diffs) were
        // already printed above it.
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
