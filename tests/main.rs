//! End-to-end tests of the `ardent` binary, one test binary (see ARCHITECTURE.md).

mod check;
mod data;
mod device;
mod export;
mod front;
mod grow;
mod layering;
mod options;
mod pipeline;
mod runtime;
mod sweep;
mod train;
mod vae;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn zoo(name: &str) -> PathBuf {
    root().join("models/zoo").join(name)
}

/// Runs `ardent` with `args`.
pub fn ardent<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_ardent"))
        .args(args)
        .output()
        .expect("run ardent")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure with exit code 2, no panic, and an `error:` line containing each `needle`.
pub fn assert_bad_input(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit code; stderr:\n{err}");
    assert!(!err.contains("panicked"), "panic:\n{err}");
    assert!(err.contains("error:"), "no error line:\n{err}");
    for n in needles {
        assert!(err.contains(n), "missing `{n}` in:\n{err}");
    }
}

pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write test file");
    p
}
