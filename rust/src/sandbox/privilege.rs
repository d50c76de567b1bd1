//! Dropping root: a job that the engine starts as root runs as an unprivileged uid/gid (`nobody` by default).
//!
//! One capability may be kept: `CAP_DAC_READ_SEARCH`, only when the interpreter's own files sit below a
//! directory that an unprivileged user cannot traverse (e.g. pyenv under a 0700 `/root`), because otherwise the
//! job could not import the standard library lazily. Reads stay confined by Landlock to the interpreter's trees,
//! and `open_by_handle_at` (the known way to turn that capability into arbitrary reads) is refused by seccomp.
//!
//! The bounding set is left alone: it only limits what `execve` may grant, and a job can never `execve`
//! (no-new-privs, and seccomp refuses the call).
//!
//! See: <https://man7.org/linux/man-pages/man7/capabilities.7.html>

use std::io;

use serde::Deserialize;

/// Who the job becomes when the engine runs as root.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PrivilegePlan {
    pub uid: u32,
    pub gid: u32,
    /// Keep `CAP_DAC_READ_SEARCH` (see the module documentation).
    pub keep_read_search: bool,
    /// Most processes and threads the job's uid may have (`RLIMIT_NPROC`, counted per uid: each worker gets
    /// its own uid, so one job's thread bomb cannot starve another worker's job).
    pub max_threads: u64,
}

impl Default for PrivilegePlan {
    fn default() -> Self {
        PrivilegePlan { uid: 65534, gid: 65534, keep_read_search: false, max_threads: 256 }
    }
}

const CAP_DAC_READ_SEARCH: u32 = 2;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapabilityHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapabilityData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn check(result: libc::c_int, what: &str) -> Result<(), String> {
    if result == 0 {
        Ok(())
    } else {
        Err(format!("{what}: {}", io::Error::last_os_error()))
    }
}

/// Drops to `plan.uid`/`plan.gid` if the calling process is root; does nothing otherwise.
pub fn drop_privileges(plan: &PrivilegePlan) -> Result<(), String> {
    // SAFETY: geteuid has no memory effects.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    if plan.max_threads > 0 {
        let limit = libc::rlimit { rlim_cur: plan.max_threads, rlim_max: plan.max_threads };
        // SAFETY: setrlimit reads one fully initialised struct.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &raw const limit) }, "RLIMIT_NPROC")?;
    }
    // SAFETY: each call below changes only the calling process's credentials and reads no memory of ours
    // (setgroups is given an empty list).
    unsafe {
        check(libc::setgroups(0, std::ptr::null()), "setgroups")?;
        check(libc::setresgid(plan.gid, plan.gid, plan.gid), "setresgid")?;
        if plan.keep_read_search {
            check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS")?;
        }
        check(libc::setresuid(plan.uid, plan.uid, plan.uid), "setresuid")?;
    }
    let kept = if plan.keep_read_search { 1 << CAP_DAC_READ_SEARCH } else { 0 };
    let header = CapabilityHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [CapabilityData { effective: kept, permitted: kept, inheritable: 0 }, CapabilityData::default()];
    // SAFETY: capset reads one header and two data structs (version 3 layout), all alive on our stack.
    let result = unsafe { libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) };
    check(i32::from(result != 0), "capset")?;
    // SAFETY: clearing the ambient set only changes the calling thread.
    unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) };
    // SAFETY: getuid/getgid have no memory effects.
    if unsafe { libc::getuid() } != plan.uid || unsafe { libc::getgid() } != plan.gid {
        return Err("credentials did not change".to_owned());
    }
    Ok(())
}
