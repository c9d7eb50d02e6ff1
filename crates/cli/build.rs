//! Link settings of the `sluice` binary's release builds on Linux: see `docs/PERFORMANCE.md`,
//! "Resident code".
//!
//! * `-z pack-relative-relocs`: the position-independent binary's relative relocations in the
//!   compact RELR form, so the loader reads 8 KiB at start instead of 433 KiB.
//! * `--symbol-ordering-file text-order.txt` (LLD, rustc's default linker on x86_64 Linux since
//!   1.90): the functions a running server executes (listed by `bench/text-order.sh`) placed
//!   together at the start of `.text`, so the machine code a server keeps resident is what it
//!   uses rather than most of the binary. Names not in the binary (another compiler or
//!   dependency version) are skipped without a warning: a stale list costs resident memory,
//!   never correctness.
//!
//! Each is used only if a probe program links with it under the same compiler, target, linker
//! and flags, so another linker (GNU ld has no symbol ordering file) builds as before.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=text-order.txt");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !release || !linux {
        return;
    }
    let relr = "-Wl,-z,pack-relative-relocs".to_owned();
    let order =
        Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("text-order.txt");
    let ordering = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_owned(),
    ];
    let mut args = Vec::new();
    if links_with(std::slice::from_ref(&relr)) {
        args.push(relr);
    }
    if order.is_file() && links_with(&ordering) {
        args.extend(ordering);
    }
    for arg in args {
        println!("cargo:rustc-link-arg-bin=sluice={arg}");
    }
}

/// Whether an empty program links with `link_args` added, built as this crate is.
fn links_with(link_args: &[String]) -> bool {
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let src = out.join("link_probe.rs");
    if std::fs::write(&src, "fn main() {}\n").is_err() {
        return false;
    }
    let mut cmd = Command::new(env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()));
    cmd.arg("--crate-type=bin")
        .arg("--crate-name=link_probe")
        .arg("-o")
        .arg(out.join("link_probe"))
        .arg(&src);
    if let Ok(target) = env::var("TARGET") {
        cmd.arg("--target").arg(target);
    }
    if let Ok(linker) = env::var("RUSTC_LINKER") {
        cmd.arg(format!("-Clinker={linker}"));
    }
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    for arg in link_args {
        cmd.arg(format!("-Clink-arg={arg}"));
    }
    cmd.output().is_ok_and(|o| o.status.success())
}
