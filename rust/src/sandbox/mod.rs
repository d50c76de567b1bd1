//! What a job's child applies to itself, after fork and before any untrusted byte runs.
//!
//! The zygote harness is Python, but the sandbox is Rust: the harness calls [`acecoder_enter_sandbox`] through
//! `ctypes` on the engine's own shared library. A C entry point (rather than a PyO3 function) lets `cargo test`
//! exercise exactly the code that production runs, with any `python3` and no Python linkage.
//!
//! Order matters: the record channel first (it reads a pipe), rlimits (lowering needs no privilege), Landlock
//! (it opens the allowed paths, which may need root), the privilege drop, the parent-death signal (a credential
//! change clears it), and the seccomp filter last, because it forbids syscalls that the earlier layers need.

pub mod channel;
pub mod landlock;
pub mod privilege;
pub mod seccomp;

use std::ffi::c_int;
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;

use crate::limits::RlimitPlan;

/// Where the harness's records go (see [`channel`]).
#[derive(Debug, Deserialize)]
pub struct ChannelPlan {
    pub record_fd: i32,
}

/// The job-independent part of the sandbox, as JSON from the zygote at start-up. Each layer is optional so that
/// benchmarks can measure what it costs; the engine turns all of them on by default.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    pub channel: Option<ChannelPlan>,
    /// `cpu_seconds` here is ignored: each job passes its own budget to [`enter`].
    pub rlimits: RlimitPlan,
    pub filesystem: Option<landlock::FilesystemPlan>,
    pub privilege: Option<privilege::PrivilegePlan>,
    /// Install the seccomp filter (no new processes, no network, no kernel-level escapes).
    pub seccomp: bool,
}

/// What the zygote prepared once; every job's child inherits it through fork.
struct Prepared {
    config: SandboxConfig,
    filesystem: Option<landlock::OpenedPlan>,
}

static PREPARED: Mutex<Option<Prepared>> = Mutex::new(None);

/// Parses the configuration and does what can be done once (opening the Landlock paths, measuring the
/// footprint the address-space limit adds to).
pub fn prepare(mut config: SandboxConfig) -> Result<(), String> {
    if config.rlimits.memory_bytes > 0 && config.rlimits.address_space_base == 0 {
        config.rlimits.address_space_base =
            crate::limits::current_address_space().map_err(|error| format!("address space: {error}"))?;
    }
    let filesystem = config.filesystem.as_ref().map(landlock::open);
    *PREPARED.lock().unwrap_or_else(PoisonError::into_inner) = Some(Prepared { config, filesystem });
    Ok(())
}

/// Enters the prepared sandbox in the calling process, with a whole-job CPU budget of `cpu_seconds`.
pub fn enter(cpu_seconds: u64) -> Result<(), String> {
    let prepared = PREPARED.lock().unwrap_or_else(PoisonError::into_inner).take();
    let Prepared { config, filesystem } = prepared.ok_or_else(|| "the sandbox was not prepared".to_owned())?;
    if let Some(plan) = &config.channel {
        channel::open(plan.record_fd);
    }
    let rlimits = RlimitPlan { cpu_seconds, ..config.rlimits };
    rlimits.apply().map_err(|error| format!("setrlimit: {error}"))?;
    if let Some(plan) = &filesystem {
        landlock::restrict(plan).map_err(|error| format!("landlock: {error}"))?;
    }
    if let Some(plan) = &config.privilege {
        privilege::drop_privileges(plan).map_err(|error| format!("privilege drop: {error}"))?;
    }
    // SAFETY: prctl(PR_SET_PDEATHSIG) only changes a flag of the calling process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // SAFETY: getppid has no memory effects. If the zygote died before the flag was set, nobody would kill us.
    if unsafe { libc::getppid() } == 1 {
        return Err("the worker exited while the job started".to_owned());
    }
    if config.seccomp {
        seccomp::install().map_err(|error| format!("seccomp: {error}"))?;
    }
    Ok(())
}

fn report(outcome: Result<(), String>, error: *mut u8, error_capacity: usize) -> c_int {
    match outcome {
        Ok(()) => 0,
        Err(message) => {
            if !error.is_null() && error_capacity > 0 {
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

/// C entry point for the zygote, called once before it forks any job: `config` is `length` bytes of JSON
/// ([`SandboxConfig`]). Returns 0, or -1 with a message (truncated, NUL-terminated) in `error`.
///
/// # Safety
/// `config` must point to `length` readable bytes and `error` to `error_capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn acecoder_prepare_sandbox(
    config: *const u8,
    length: usize,
    error: *mut u8,
    error_capacity: usize,
) -> c_int {
    // SAFETY: the caller guarantees `config` points to `length` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(config, length) };
    let outcome = serde_json::from_slice::<SandboxConfig>(bytes)
        .map_err(|parse_error| format!("bad sandbox config: {parse_error}"))
        .and_then(prepare);
    report(outcome, error, error_capacity)
}

/// C entry point for a job's child: enters the prepared sandbox. Returns 0, or -1 with a message in `error`.
///
/// # Safety
/// `error` must point to `error_capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn acecoder_enter_sandbox(cpu_seconds: u64, error: *mut u8, error_capacity: usize) -> c_int {
    report(enter(cpu_seconds), error, error_capacity)
}

/// C entry point for the harness: writes one record (see [`channel`]). Returns 0, or -1 if the channel is gone.
///
/// # Safety
/// `payload` must point to `length` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn acecoder_record(payload: *const u8, length: usize) -> c_int {
    // SAFETY: the caller guarantees `payload` points to `length` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(payload, length) };
    match channel::write_record(bytes) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// C entry point for the zygote, before each fork: a fresh record nonce. Returns 0, or -1 if the kernel's
/// random source failed.
#[no_mangle]
pub extern "C" fn acecoder_renew_nonce() -> c_int {
    match channel::renew_nonce() {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// C entry point for the zygote: copies the payloads of the records in `input` that carry the current nonce
/// into `output` (newline-separated) and returns their length; `output` must be at least `length` bytes.
///
/// # Safety
/// `input` must point to `length` readable bytes and `output` to `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn acecoder_verified_records(
    input: *const u8,
    length: usize,
    output: *mut u8,
    capacity: usize,
) -> isize {
    // SAFETY: the caller guarantees `input` points to `length` readable bytes.
    let records = unsafe { std::slice::from_raw_parts(input, length) };
    let kept = channel::verified(records);
    if kept.len() > capacity {
        return -1;
    }
    // SAFETY: `kept.len() <= capacity` and the caller guarantees `output` has `capacity` writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(kept.as_ptr(), output, kept.len()) };
    isize::try_from(kept.len()).unwrap_or(-1)
}

/// C entry point: the Landlock ABI version of the running kernel (0 when it has none).
#[no_mangle]
pub extern "C" fn acecoder_landlock_abi() -> c_int {
    landlock::kernel_abi()
}
