//! Dropping root: when the engine runs as root, the runner zygote (and so every program) runs as an unprivileged
//! uid/gid of its worker, one that no other worker of any engine on the host uses (`rust/src/uids.rs`).
//!
//! One capability may be kept: `CAP_DAC_READ_SEARCH`, only when the interpreter's own files sit below a
//! directory that an unprivileged user cannot traverse (e.g. pyenv under a 0700 `/root`), because otherwise the
//! runner could not import the standard library lazily. It is kept in the ambient set too, so that it survives the
//! runner zygote's `execve`. Reads stay confined by Landlock to the standard library and the declared packages,
//! and `open_by_handle_at` (the known way to turn that capability into arbitrary reads) is refused by seccomp.
//!
//! The bounding set is left alone: it only limits what `execve` may grant, and after the runner zygote's own
//! exec nothing can `execve` (no-new-privs, and seccomp refuses the call to runner children).
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
}

impl Default for PrivilegePlan {
    fn default() -> Self {
        PrivilegePlan { uid: 65534, gid: 65534, keep_read_search: false }
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
    let data = [CapabilityData { effective: kept, permitted: kept, inheritable: kept }, CapabilityData::default()];
    // SAFETY: capset reads one header and two data structs (version 3 layout), all alive on our stack.
    let result = unsafe { libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) };
    check(i32::from(result != 0), "capset")?;
    // SAFETY: clearing the ambient set only changes the calling thread.
    unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) };
    if plan.keep_read_search {
        // SAFETY: raising an ambient capability that is permitted and inheritable only changes this thread.
        let raised = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                libc::c_ulong::from(CAP_DAC_READ_SEARCH),
                0,
                0,
            )
        };
        check(raised, "PR_CAP_AMBIENT_RAISE")?;
    }
    // SAFETY: getuid/getgid have no memory effects.
    if unsafe { libc::getuid() } != plan.uid || unsafe { libc::getgid() } != plan.gid {
        return Err("credentials did not change".to_owned());
    }
    Ok(())
}
