//! Tests that need a program from the system rather than a crate: the dashboard in headless
//! Chromium through chromedriver, and the shipped systemd unit through `systemd-analyze`.
//!
//! Their own binary on libtest-mimic: the built-in harness can only pass or fail a test, so
//! a test whose program is missing would read as passed. Here it is reported *ignored* — in
//! its line and in the summary's count, with a SKIPPED line saying what to install — and
//! under `CI_STRICT=1` (set by `.ci/run`) it fails instead. Run with `--ignored`, an
//! ignored test fails with the same reason rather than pass.

#[path = "../integration/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod browser;
mod systemd;

use libtest_mimic::{Arguments, Failed, Trial};

/// A test that needs `programs` (absolute paths): run when all exist, else ignored (or, under
/// CI_STRICT, failed) with what to install.
pub fn needing(
    name: &str,
    programs: &[&str],
    install: &str,
    test: impl FnOnce() -> Result<(), Failed> + Send + 'static,
) -> Trial {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return Trial::test(name, test);
    }
    let reason = format!("needs {} ({install})", missing.join(" and "));
    let strict = std::env::var_os("CI_STRICT").is_some_and(|v| !v.is_empty() && v != "0");
    if !strict {
        eprintln!("SKIPPED {name}: {reason}; reported as ignored below");
    }
    let fail = move || {
        Err(Failed::from(format!(
            "{reason}; CI_STRICT makes this a failure"
        )))
    };
    Trial::test(name, fail).with_ignored_flag(!strict)
}

/// Runs an async test body on its own runtime.
pub fn block_on<F: std::future::Future<Output = Result<(), Failed>>>(f: F) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![browser::trial(), systemd::trial()];
    libtest_mimic::run(&args, trials).exit();
}
