//! The seccomp-BPF filter a job's child installs on itself (with `PR_SET_NO_NEW_PRIVS`).
//!
//! A deny list over an allow-by-default filter: CPython and the C extensions that programs import use a wide and
//! version-dependent set of syscalls, so an allow list would break honest programs, while the dangerous
//! capabilities are a short, stable list: creating processes, reaching the network, signalling other processes,
//! inspecting other processes, changing mounts/namespaces/the kernel, and raising resource limits.
//!
//! Threads stay allowed (`clone` with `CLONE_THREAD`); `clone3` answers `ENOSYS` so libc falls back to `clone`,
//! whose flags a classic BPF filter can inspect (`clone3` passes them behind a pointer).
//!
//! See: <https://www.kernel.org/doc/html/latest/userspace-api/seccomp_filter.html>

use std::collections::BTreeMap;
use std::sync::OnceLock;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Syscalls refused outright.
const DENIED: &[i64] = &[
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_getfd,
    libc::SYS_pidfd_send_signal,
    libc::SYS_tkill,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_reboot,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_setrlimit,
    libc::SYS_userfaultfd,
    libc::SYS_name_to_handle_at,
    libc::SYS_open_by_handle_at,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_adjtimex,
    libc::SYS_clock_adjtime,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_mknodat,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fanotify_init,
    libc::SYS_quotactl,
];

fn condition(argument: u8, operation: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(argument, SeccompCmpArgLen::Dword, operation, value).map_err(|error| error.to_string())
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, String> {
    SeccompRule::new(conditions).map_err(|error| error.to_string())
}

/// A pid as the low 32 bits the kernel compares (`pid_t` is a C int).
fn pid_bits(pid: i32) -> u64 {
    u64::from(pid.cast_unsigned())
}

/// Rules whose match means "refuse with EPERM", for a process whose pid (and process group) is `pid`.
fn deny_rules(pid: i32) -> Result<BTreeMap<i64, Vec<SeccompRule>>, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|&call| (call, Vec::new())).collect();
    let clone_thread = u64::try_from(libc::CLONE_THREAD).map_err(|error| error.to_string())?;
    // A clone that is not a thread is a new process.
    rules.insert(libc::SYS_clone, vec![rule(vec![condition(0, SeccompCmpOp::MaskedEq(clone_thread), 0)?])?]);
    // Only local sockets: AF_UNIX is what multiprocessing-free stdlib code may use; no network families.
    let unix = u64::try_from(libc::AF_UNIX).map_err(|error| error.to_string())?;
    rules.insert(libc::SYS_socket, vec![rule(vec![condition(0, SeccompCmpOp::Ne, unix)?])?]);
    // Signals only to the job itself: kill(pid), kill(0) (own group) and kill(-pid) (the group it leads).
    rules.insert(
        libc::SYS_kill,
        vec![rule(vec![
            condition(0, SeccompCmpOp::Ne, pid_bits(pid))?,
            condition(0, SeccompCmpOp::Ne, 0)?,
            condition(0, SeccompCmpOp::Ne, pid_bits(-pid))?,
        ])?],
    );
    for call in [libc::SYS_tgkill, libc::SYS_rt_tgsigqueueinfo, libc::SYS_rt_sigqueueinfo] {
        rules.insert(call, vec![rule(vec![condition(0, SeccompCmpOp::Ne, pid_bits(pid))?])?]);
    }
    // prlimit64 may read limits (new_limit == NULL) but never set them.
    rules.insert(libc::SYS_prlimit64, vec![rule(vec![condition(2, SeccompCmpOp::Ne, 0)?])?]);
    Ok(rules)
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> Result<BpfProgram, String> {
    let errno = u32::try_from(errno).map_err(|error| error.to_string())?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno), ARCH)
        .map_err(|error| error.to_string())?;
    BpfProgram::try_from(filter).map_err(|error| error.to_string())
}

/// Stands for the job's pid while the filter is compiled once per zygote; patched per child (pids stay below
/// 2^22, so this value cannot be a real pid).
const PID_PLACEHOLDER: i32 = 0x3EAD_BEEF;

/// Filters compiled once in the zygote (compiling in every child costs more than the rest of the sandbox).
struct Templates {
    deny: BpfProgram,
    clone3: BpfProgram,
}

static TEMPLATES: OnceLock<Result<Templates, String>> = OnceLock::new();

fn templates() -> Result<&'static Templates, String> {
    TEMPLATES
        .get_or_init(|| {
            Ok(Templates {
                deny: compile(deny_rules(PID_PLACEHOLDER)?, libc::EPERM)?,
                clone3: compile(BTreeMap::from([(libc::SYS_clone3, Vec::new())]), libc::ENOSYS)?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Compiles the filter templates now (the zygote calls this once, before it forks any job).
pub fn prepare() -> Result<(), String> {
    templates().map(|_| ())
}

/// The deny filter for a process whose pid is `pid`.
fn deny_program(pid: i32) -> Result<BpfProgram, String> {
    let placeholder = u32::try_from(pid_bits(PID_PLACEHOLDER)).map_err(|error| error.to_string())?;
    let negative_placeholder = u32::try_from(pid_bits(-PID_PLACEHOLDER)).map_err(|error| error.to_string())?;
    let mut program = templates()?.deny.clone();
    for instruction in &mut program {
        if instruction.k == placeholder {
            instruction.k = pid.cast_unsigned();
        } else if instruction.k == negative_placeholder {
            instruction.k = (-pid).cast_unsigned();
        }
    }
    Ok(program)
}

/// Installs the filters on the calling thread (the job's child is single-threaded when it calls this).
pub fn install() -> Result<(), String> {
    // SAFETY: getpid has no memory effects.
    let pid = unsafe { libc::getpid() };
    let deny = deny_program(pid)?;
    // apply_filter sets PR_SET_NO_NEW_PRIVS first.
    seccompiler::apply_filter(&deny).map_err(|error| error.to_string())?;
    seccompiler::apply_filter(&templates()?.clone3).map_err(|error| error.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile() {
        assert!(compile(deny_rules(1234).unwrap(), libc::EPERM).is_ok());
    }

    #[test]
    fn template_patching_matches_a_direct_compile() {
        let pid = 4321;
        let direct = compile(deny_rules(pid).unwrap(), libc::EPERM).unwrap();
        assert_eq!(deny_program(pid).unwrap(), direct);
        let placeholder = u32::try_from(pid_bits(PID_PLACEHOLDER)).unwrap();
        assert!(templates().unwrap().deny.iter().any(|instruction| instruction.k == placeholder));
    }
}
