//! What a worker's processes apply to themselves, through C entry points the judge calls with `ctypes`.
//!
//! A worker is two zygotes (see `python/acecoder/harness/`): the judge zygote, which runs no program code, and the
//! runner zygote, the only process tree where program code runs. Each is confined once, when it starts, and its
//! children inherit the confinement through fork; each runner child then adds a small layer of its own (built
//! from [`runner_child_plan`], since the child cannot read this library's file).
//!
//! C entry points rather than PyO3 functions: `cargo test` exercises exactly the code production runs, with any
//! `python3` and no Python linkage.
//!
//! Order matters for the runner zygote: the Landlock paths are opened first (they may need root), then the
//! privilege drop, the parent-death signal (a credential change clears it), Landlock, and the seccomp filter last,
//! because it forbids syscalls the earlier layers need.

pub mod landlock;
pub mod privilege;
pub mod seccomp;

use std::ffi::c_int;

use serde::Deserialize;

/// How a zygote confines itself; every layer optional so that benchmarks can measure what it costs.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ZygotePlan {
    pub privilege: Option<privilege::PrivilegePlan>,
    pub filesystem: Option<landlock::FilesystemPlan>,
    pub seccomp: bool,
}

fn set_no_new_privileges() -> Result<(), String> {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) only changes a flag of the calling thread.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("PR_SET_NO_NEW_PRIVS: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Confines the runner zygote: called by the judge in its child between fork and exec.
pub fn enter_runner_zygote(plan: &ZygotePlan) -> Result<(), String> {
    let opened = plan.filesystem.as_ref().map(landlock::open).transpose()?;
    if let Some(privilege) = &plan.privilege {
        privilege::drop_privileges(privilege).map_err(|error| format!("privilege drop: {error}"))?;
    }
    // SAFETY: prctl(PR_SET_PDEATHSIG) only changes a flag of the calling process; it survives the coming exec.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // SAFETY: getppid has no memory effects. If the judge died before the flag was set, nobody would kill us.
    if unsafe { libc::getppid() } == 1 {
        return Err("the judge exited while the runner zygote started".to_owned());
    }
    set_no_new_privileges()?;
    if let Some(opened) = &opened {
        landlock::restrict(opened, landlock::Scopes::SignalsAndSockets)
            .map_err(|error| format!("landlock: {error}"))?;
    }
    if plan.seccomp {
        seccomp::install(seccomp::Policy::RunnerZygote).map_err(|error| format!("seccomp: {error}"))?;
    }
    Ok(())
}

/// Confines the judge zygote (and so every judge child it forks), once it has started its runner zygote.
pub fn enter_judge(plan: &ZygotePlan) -> Result<(), String> {
    set_no_new_privileges()?;
    if let Some(filesystem) = &plan.filesystem {
        let opened = landlock::open(filesystem)?;
        landlock::restrict(&opened, landlock::Scopes::SocketsOnly).map_err(|error| format!("landlock: {error}"))?;
    }
    if plan.seccomp {
        seccomp::install(seccomp::Policy::Judge).map_err(|error| format!("seccomp: {error}"))?;
    }
    Ok(())
}

/// What each runner child applies on top of its zygote's layers: Landlock numbers for this kernel, and the
/// seccomp filter with placeholders for its pid.
pub fn runner_child_plan() -> Result<serde_json::Value, String> {
    let filter = seccomp::runner_child_template()?;
    let hex: String = filter.iter().fold(String::with_capacity(filter.len() * 2), |mut text, byte| {
        use std::fmt::Write;
        let _ = write!(text, "{byte:02x}");
        text
    });
    Ok(serde_json::json!({
        "landlock": landlock::child_masks(),
        "seccomp": hex,
        "seccomp_placeholders": {
            "pid": seccomp::PID_PLACEHOLDER,
            "negative_pid": seccomp::NEGATIVE_PID_PLACEHOLDER,
        },
    }))
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

/// Parses `length` bytes of JSON at `config` as a [`ZygotePlan`].
///
/// # Safety
/// `config` must point to `length` readable bytes.
unsafe fn parse_plan(config: *const u8, length: usize) -> Result<ZygotePlan, String> {
    // SAFETY: the caller guarantees `config` points to `length` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(config, length) };
    serde_json::from_slice(bytes).map_err(|error| format!("bad sandbox plan: {error}"))
}

/// C entry point: [`enter_runner_zygote`] with a JSON [`ZygotePlan`]. Returns 0, or -1 with a message in `error`.
///
/// # Safety
/// `config` must point to `length` readable bytes and `error` to `error_capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn acecoder_enter_runner_zygote(
    config: *const u8,
    length: usize,
    error: *mut u8,
    error_capacity: usize,
) -> c_int {
    // SAFETY: forwarded from our caller's guarantee.
    let outcome = unsafe { parse_plan(config, length) }.and_then(|plan| enter_runner_zygote(&plan));
    report(outcome, error, error_capacity)
}

/// C entry point: [`enter_judge`] with a JSON [`ZygotePlan`]. Returns 0, or -1 with a message in `error`.
///
/// # Safety
/// `config` must point to `length` readable bytes and `error` to `error_capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn acecoder_enter_judge(
    config: *const u8,
    length: usize,
    error: *mut u8,
    error_capacity: usize,
) -> c_int {
    // SAFETY: forwarded from our caller's guarantee.
    let outcome = unsafe { parse_plan(config, length) }.and_then(|plan| enter_judge(&plan));
    report(outcome, error, error_capacity)
}

/// C entry point: writes [`runner_child_plan`] as JSON into `output` and returns its length, or -1 if it does not
/// fit (or cannot be made).
///
/// # Safety
/// `output` must point to `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn acecoder_runner_child_plan(output: *mut u8, capacity: usize) -> isize {
    let Ok(plan) = runner_child_plan() else { return -1 };
    let text = plan.to_string();
    if text.len() > capacity {
        return -1;
    }
    // SAFETY: `text.len() <= capacity` and the caller guarantees `output` has `capacity` writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), output, text.len()) };
    isize::try_from(text.len()).unwrap_or(-1)
}

/// C entry point: the Landlock ABI version of the running kernel (0 when it has none).
#[no_mangle]
pub extern "C" fn acecoder_landlock_abi() -> c_int {
    landlock::kernel_abi()
}
