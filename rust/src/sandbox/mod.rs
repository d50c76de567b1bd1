//! What a job's child applies to itself, after fork and before any untrusted byte runs.
//!
//! The zygote harness is Python, but the sandbox is Rust: the harness calls [`acecoder_enter_sandbox`] through
//! `ctypes` on the engine's own shared library. A C entry point (rather than a PyO3 function) lets `cargo test`
//! exercise exactly the code that production runs, with any `python3` and no Python linkage.
//!
//! Order matters: rlimits first (they need no privilege to lower), then the seccomp filter last, because it
//! forbids syscalls that the earlier layers may need.

pub mod seccomp;

use std::ffi::c_int;

use serde::Deserialize;

use crate::limits::RlimitPlan;

/// What the child asks for, as JSON from the harness.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    pub rlimits: RlimitPlan,
    /// Install the seccomp filter (no new processes, no network, no kernel-level escapes).
    pub seccomp: bool,
}

/// Enters the sandbox described by `config` in the calling process.
pub fn enter(config: &SandboxConfig) -> Result<(), String> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only changes a flag of the calling process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    config
        .rlimits
        .apply()
        .map_err(|error| format!("setrlimit: {error}"))?;
    if config.seccomp {
        seccomp::install().map_err(|error| format!("seccomp: {error}"))?;
    }
    Ok(())
}

/// C entry point for the zygote, called once before it forks any job: does the expensive, job-independent work
/// (compiling the seccomp filter) so that each child only patches and installs it. Returns 0 on success.
#[no_mangle]
pub extern "C" fn acecoder_prepare_sandbox() -> c_int {
    match seccomp::prepare() {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// C entry point for the harness: `config` is `length` bytes of JSON ([`SandboxConfig`]). Returns 0 on success;
/// otherwise -1 with a message (truncated, NUL-terminated) in `error`.
///
/// # Safety
/// `config` must point to `length` readable bytes and `error` to `error_capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn acecoder_enter_sandbox(
    config: *const u8,
    length: usize,
    error: *mut u8,
    error_capacity: usize,
) -> c_int {
    // SAFETY: the caller guarantees `config` points to `length` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(config, length) };
    let outcome = serde_json::from_slice::<SandboxConfig>(bytes)
        .map_err(|parse_error| format!("bad sandbox config: {parse_error}"))
        .and_then(|parsed| enter(&parsed));
    match outcome {
        Ok(()) => 0,
        Err(message) => {
            if error_capacity > 0 {
                let count = message.len().min(error_capacity - 1);
                // SAFETY: the caller guarantees `error` has `error_capacity` writable bytes; we write at most
                // `error_capacity - 1` of them plus the terminating NUL.
                unsafe {
                    std::ptr::copy_nonoverlapping(message.as_ptr(), error, count);
                    *error.add(count) = 0;
                }
            }
            -1
        }
    }
}
