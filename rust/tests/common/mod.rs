//! Helpers shared by the integration tests: a pool on the system `python3` with the sandbox library that cargo
//! built next to the test binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use _engine::{Job, Limits, Pool, PoolConfig, TestCase};

static BUILD: OnceLock<Result<(), String>> = OnceLock::new();

/// The engine's cdylib (`target/<profile>/lib_engine.so`), rebuilt once per test run: `cargo test` links the
/// integration tests against the rlib and leaves the cdylib as it was, so without this the workers would load
/// a stale sandbox.
pub fn sandbox_library() -> Option<String> {
    let built = BUILD.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--lib", "--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")])
            .status()
            .map_err(|error| error.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("cargo build failed: {status}"))
        }
    });
    if let Err(why) = built {
        panic!("cannot build the engine's shared library: {why}");
    }
    let executable = std::env::current_exe().ok()?;
    let profile_directory = executable.parent()?.parent()?;
    let library: PathBuf = profile_directory.join("lib_engine.so");
    library.exists().then(|| library.to_string_lossy().into_owned())
}

pub fn python() -> String {
    std::env::var("ACECODER_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

pub fn config(workers: usize, limits: Limits) -> PoolConfig {
    let mut config = PoolConfig::new(python(), workers);
    config.limits = limits;
    // The judge is the package's own module (stdlib only, with the library through ctypes): the checkout's copy.
    config.sys_path = vec![concat!(env!("CARGO_MANIFEST_DIR"), "/../python").to_owned()];
    config.sandbox_library = sandbox_library();
    assert!(config.sandbox_library.is_some(), "lib_engine.so not built next to the tests");
    config
}

pub fn pool(workers: usize) -> Pool {
    Pool::new(&config(workers, fast_limits())).expect("pool starts")
}

/// Short limits so timeout tests stay quick.
pub fn fast_limits() -> Limits {
    Limits {
        test_cpu_seconds: 1.0,
        program_cpu_seconds: 2.0,
        wall_multiplier: 2.0,
        wall_slack_seconds: 1.0,
        ..Limits::default()
    }
}

pub fn assert_job(program: &str, tests: &[&str]) -> Job {
    Job {
        program: program.to_owned(),
        tests: tests.iter().map(|code| TestCase::Assert { code: (*code).to_owned() }).collect(),
        seed: 0,
        fail_fast: false,
        test_cpu_seconds: None,
    }
}
