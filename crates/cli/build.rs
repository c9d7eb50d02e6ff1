//! Link settings of the `sluice` binary's release builds (x86_64 Linux, where rustc links with
//! its bundled LLD): see `docs/PERFORMANCE.md`, "Resident code".
//!
//! * `-z pack-relative-relocs`: the position-independent binary's relative relocations in the
//!   compact RELR form, so the loader reads a few KiB at start instead of ~430 KiB.
//! * `--symbol-ordering-file text-order.txt`: the functions a running server executes (listed
//!   by `bench/text-order.sh`) placed together at the start of `.text`, so the pages of machine
//!   code it keeps resident are those it uses rather than most of the binary. Names that are not
//!   in the binary (another compiler or dependency version) are skipped without a warning: a
//!   stale list costs resident memory, never correctness.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=text-order.txt");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let target = env::var("TARGET").unwrap_or_default();
    if !release || target != "x86_64-unknown-linux-gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bin=sluice=-Wl,-z,pack-relative-relocs");
    let dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = Path::new(&dir).join("text-order.txt");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=sluice=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=sluice=-Wl,--no-warn-symbol-ordering");
    }
}
