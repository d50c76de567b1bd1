//! The seccomp-BPF filters of a worker's processes (installed with `PR_SET_NO_NEW_PRIVS`).
//!
//! Deny lists over allow-by-default filters: CPython and the C extensions that programs import use a wide and
//! version-dependent set of syscalls, so an allow list would break honest programs, while the dangerous
//! capabilities are a short, stable list: creating processes, reaching the network or another process's IPC,
//! signalling other processes, inspecting other processes, changing mounts/namespaces/the kernel, and raising
//! resource limits. Three policies, one per process role ([`Policy`]):
//!
//! - the runner zygote's, installed before it is exec'd and inherited by every runner child: everything but
//!   process creation (the zygote forks, and its exec happens under this filter);
//! - each runner child's own, stacked on it: no new processes, no exec, no signals but to itself, no raised limits;
//! - the judge zygote's, inherited by its judge children: like the runner zygote's, minus exec (the judge kills and
//!   waits for runners, so it keeps `kill` and `pidfd_*`).
//!
//! No process may create a socket (`socket` is refused outright, whatever the family: a pathname UNIX socket,
//! an ssh-agent or a container runtime, is reachable through the filesystem whatever Landlock says before its
//! ABI 9) or connect one; `socketpair` stays allowed for `SOCK_STREAM` and `SOCK_SEQPACKET` (asyncio's self-pipe,
//! the engine's own channels), whose peers are fixed at creation. System V IPC and POSIX message queues are
//! refused: their objects outlive a job and are shared by every process of a uid.
//!
//! Threads stay allowed (`clone` with `CLONE_THREAD`); `clone3` answers `ENOSYS` so libc falls back to `clone`,
//! whose flags a classic BPF filter can inspect (`clone3` passes them behind a pointer). A syscall made through
//! another ABI (32-bit `int 0x80`, x32) kills the process: those numbers would otherwise slip past the list.
//!
//! Programs are assembled here (one compact filter each, see [`compact_program`]); the tests check each against
//! the same policy expressed as `seccompiler` rules, syscall by syscall.
//!
//! See: <https://www.kernel.org/doc/html/latest/userspace-api/seccomp_filter.html>

use seccompiler::BpfProgram;

/// Refused for every process of a worker.
const DENIED_ALWAYS: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
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
    // Sockets: none may be created or connected (see the module documentation).
    libc::SYS_socket,
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    // System V IPC and POSIX message queues: objects that outlive a job and any engine.
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_semctl,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
    libc::SYS_mq_open,
    libc::SYS_mq_unlink,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_timedreceive,
    libc::SYS_mq_notify,
    libc::SYS_mq_getsetattr,
];

/// Refused to the runner zygote and its children: they have no business with other processes' descriptors.
const DENIED_TO_RUNNERS: &[i64] = &[libc::SYS_pidfd_open, libc::SYS_pidfd_send_signal];

/// Refused to a runner child on top of the zygote's filter: new processes, exec and raised limits.
const DENIED_TO_RUNNER_CHILDREN: &[i64] = &[
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_setrlimit,
];

/// Refused to the judge zygote and its children (after the judge has started its runner zygote).
const DENIED_TO_JUDGES: &[i64] = &[libc::SYS_execve, libc::SYS_execveat];

/// Placeholders in the runner child's filter that each child replaces with its own pid (and its negation) before
/// installing it: the rules on signals name the process itself. Values no syscall number or flag ever takes.
pub const PID_PLACEHOLDER: u32 = 0x7ace_c0d1;
pub const NEGATIVE_PID_PLACEHOLDER: u32 = 0x7ace_c0d2;

/// Which process a filter is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    RunnerZygote,
    /// For the given pid; [`PID_PLACEHOLDER`] makes the template each runner child patches.
    RunnerChild(u32),
    Judge,
}

/// Installs `policy`'s filter on the calling thread (`apply_filter` sets `PR_SET_NO_NEW_PRIVS` first).
pub fn install(policy: Policy) -> Result<(), String> {
    let program = compact_program(policy)?;
    seccompiler::apply_filter(&program).map_err(|error| error.to_string())
}

/// The runner child's filter with placeholders for its pid, as raw `sock_filter` bytes (8 per instruction).
pub fn runner_child_template() -> Result<Vec<u8>, String> {
    let program = compact_program(Policy::RunnerChild(PID_PLACEHOLDER))?;
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for instruction in &program {
        bytes.extend_from_slice(&instruction.code.to_le_bytes());
        bytes.push(instruction.jt);
        bytes.push(instruction.jf);
        bytes.extend_from_slice(&instruction.k.to_le_bytes());
    }
    Ok(bytes)
}

/// A jump target while the program is assembled.
#[derive(Clone, Copy)]
enum Target {
    Next,
    Allow,
    Deny,
    Kill,
    /// A position placed later with [`Assembler::place`].
    Label(usize),
}

/// (opcode, constant, jump if true, jump if false)
type Instruction = (u16, u32, Target, Target);

/// A tiny assembler for classic BPF: instructions with symbolic jump targets, resolved at the end.
struct Assembler {
    code: Vec<Instruction>,
    labels: Vec<usize>,
}

/// Classic BPF opcodes (class | operation | source), from <linux/bpf_common.h>.
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JMP_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_JMP_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// Offsets in `struct seccomp_data`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const fn argument_low(index: u32) -> u32 {
    16 + 8 * index
}
/// The x32 ABI shares x86_64's audit arch and marks its syscall numbers with this bit.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// Syscall numbers a leaf of the dispatch tree compares one by one.
const LEAF_SIZE: usize = 3;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

fn number(call: i64) -> u32 {
    u32::try_from(call).unwrap_or(u32::MAX)
}

fn errno_data(errno: i32) -> u32 {
    u32::try_from(errno).unwrap_or(1) & 0xffff
}

impl Assembler {
    fn new() -> Self {
        Assembler { code: Vec::new(), labels: Vec::new() }
    }
    fn emit(&mut self, code: u16, value: u32, if_true: Target, if_false: Target) {
        self.code.push((code, value, if_true, if_false));
    }
    fn load(&mut self, offset: u32) {
        self.emit(BPF_LD_W_ABS, offset, Target::Next, Target::Next);
    }
    fn ret(&mut self, value: u32) {
        self.emit(BPF_RET_K, value, Target::Next, Target::Next);
    }
    fn label(&mut self) -> Target {
        self.labels.push(usize::MAX);
        Target::Label(self.labels.len() - 1)
    }
    fn place(&mut self, label: Target) {
        if let Target::Label(index) = label {
            self.labels[index] = self.code.len();
        }
    }

    /// Dispatches on the syscall number (already loaded) with a binary search over `entries` (sorted by number):
    /// each syscall costs a handful of comparisons, both when the filter runs and when the kernel pre-computes
    /// its per-syscall action cache at install time. A number not in `entries` is allowed.
    fn dispatch(&mut self, entries: &[(u32, Target)]) {
        if entries.len() <= LEAF_SIZE {
            for (position, &(call, target)) in entries.iter().enumerate() {
                let otherwise = if position + 1 == entries.len() { Target::Allow } else { Target::Next };
                self.emit(BPF_JMP_JEQ_K, call, target, otherwise);
            }
            if entries.is_empty() {
                self.ret(SECCOMP_RET_ALLOW);
            }
            return;
        }
        let middle = entries.len() / 2;
        let upper = self.label();
        self.emit(BPF_JMP_JGE_K, entries[middle].0, upper, Target::Next);
        self.dispatch(&entries[..middle]);
        self.place(upper);
        self.dispatch(&entries[middle..]);
    }

    /// Resolves targets: `Allow`, `Deny` and `Kill` are the three final instructions.
    fn finish(mut self) -> Result<BpfProgram, String> {
        self.ret(SECCOMP_RET_ALLOW);
        let allow = self.code.len() - 1;
        self.ret(SECCOMP_RET_ERRNO | errno_data(libc::EPERM));
        let deny = self.code.len() - 1;
        self.ret(SECCOMP_RET_KILL_PROCESS);
        let kill = self.code.len() - 1;
        let mut program = Vec::with_capacity(self.code.len());
        for (index, &(code, value, if_true, if_false)) in self.code.iter().enumerate() {
            let offset = |target: Target| -> Result<u8, String> {
                let destination = match target {
                    Target::Next => index + 1,
                    Target::Allow => allow,
                    Target::Deny => deny,
                    Target::Kill => kill,
                    Target::Label(label) => self.labels[label],
                };
                destination
                    .checked_sub(index + 1)
                    .and_then(|distance| u8::try_from(distance).ok())
                    .ok_or_else(|| "seccomp filter jump out of range".to_owned())
            };
            program.push(seccompiler::sock_filter { code, jt: offset(if_true)?, jf: offset(if_false)?, k: value });
        }
        Ok(program)
    }
}

/// `policy` as one compact filter.
///
/// Hand-assembled rather than generated by `seccompiler`: the kernel JIT-compiles a filter and pre-computes its
/// per-syscall action cache on every install (once per runner child here), and both costs grow with the
/// program's length and the comparisons each syscall needs. Each program is one filter, dispatches by binary
/// search instead of a linear chain, and the tests check that it decides every syscall exactly as the reference
/// built from `seccompiler` rules does.
fn compact_program(policy: Policy) -> Result<BpfProgram, String> {
    let clone_thread = u32::try_from(libc::CLONE_THREAD).map_err(|error| error.to_string())?;
    let unix = u32::try_from(libc::AF_UNIX).map_err(|error| error.to_string())?;
    let mut assembler = Assembler::new();
    // A foreign syscall ABI (e.g. 32-bit int 0x80 on x86_64) would bypass every number below: kill at once.
    assembler.load(OFFSET_ARCH);
    assembler.emit(BPF_JMP_JEQ_K, AUDIT_ARCH, Target::Next, Target::Kill);
    assembler.load(OFFSET_NR);
    assembler.emit(BPF_JMP_JGE_K, X32_SYSCALL_BIT, Target::Deny, Target::Next);

    // Syscalls whose verdict depends on an argument get a block of their own.
    let denied: Vec<i64> = match policy {
        Policy::RunnerZygote => [DENIED_ALWAYS, DENIED_TO_RUNNERS].concat(),
        Policy::RunnerChild(_) => DENIED_TO_RUNNER_CHILDREN.to_vec(),
        Policy::Judge => [DENIED_ALWAYS, DENIED_TO_JUDGES].concat(),
    };
    let mut blocks: Vec<(Target, Vec<Instruction>)> = Vec::new();
    let mut entries: Vec<(u32, Target)> = denied.iter().map(|&call| (number(call), Target::Deny)).collect();
    let mut special = |assembler: &mut Assembler, call: i64, block: Vec<Instruction>| {
        let label = assembler.label();
        entries.push((number(call), label));
        blocks.push((label, block));
    };
    // clone3 hides its flags behind a pointer: answer ENOSYS so libc falls back to clone.
    special(
        &mut assembler,
        libc::SYS_clone3,
        vec![(BPF_RET_K, SECCOMP_RET_ERRNO | errno_data(libc::ENOSYS), Target::Next, Target::Next)],
    );
    match policy {
        Policy::RunnerZygote | Policy::Judge => {
            // socketpair(AF_UNIX, SOCK_STREAM or SOCK_SEQPACKET, ...) only: a datagram socket could still send to
            // a pathname socket by name.
            special(
                &mut assembler,
                libc::SYS_socketpair,
                vec![
                    (BPF_LD_W_ABS, argument_low(0), Target::Next, Target::Next),
                    (BPF_JMP_JEQ_K, unix, Target::Next, Target::Deny),
                    (BPF_LD_W_ABS, argument_low(1), Target::Next, Target::Next),
                    (BPF_ALU_AND_K, SOCKET_TYPE_MASK, Target::Next, Target::Next),
                    (BPF_JMP_JEQ_K, socket_type(libc::SOCK_STREAM), Target::Allow, Target::Next),
                    (BPF_JMP_JEQ_K, socket_type(libc::SOCK_SEQPACKET), Target::Allow, Target::Deny),
                ],
            );
        }
        Policy::RunnerChild(pid) => {
            let negative = negated(pid);
            // clone: only threads.
            special(
                &mut assembler,
                libc::SYS_clone,
                vec![
                    (BPF_LD_W_ABS, argument_low(0), Target::Next, Target::Next),
                    (BPF_JMP_JSET_K, clone_thread, Target::Allow, Target::Deny),
                ],
            );
            // kill(pid), kill(0) (own group) and kill(-pid) (the group it leads) only.
            special(
                &mut assembler,
                libc::SYS_kill,
                vec![
                    (BPF_LD_W_ABS, argument_low(0), Target::Next, Target::Next),
                    (BPF_JMP_JEQ_K, pid, Target::Allow, Target::Next),
                    (BPF_JMP_JEQ_K, 0, Target::Allow, Target::Next),
                    (BPF_JMP_JEQ_K, negative, Target::Allow, Target::Deny),
                ],
            );
            for call in [libc::SYS_tgkill, libc::SYS_rt_tgsigqueueinfo, libc::SYS_rt_sigqueueinfo] {
                special(
                    &mut assembler,
                    call,
                    vec![
                        (BPF_LD_W_ABS, argument_low(0), Target::Next, Target::Next),
                        (BPF_JMP_JEQ_K, pid, Target::Allow, Target::Deny),
                    ],
                );
            }
            // prlimit64(pid, resource, new_limit, old_limit): reading (new_limit == NULL) only.
            special(
                &mut assembler,
                libc::SYS_prlimit64,
                vec![
                    (BPF_LD_W_ABS, argument_low(2), Target::Next, Target::Next),
                    (BPF_JMP_JEQ_K, 0, Target::Next, Target::Deny),
                    (BPF_LD_W_ABS, argument_low(2) + 4, Target::Next, Target::Next),
                    (BPF_JMP_JEQ_K, 0, Target::Allow, Target::Deny),
                ],
            );
        }
    }
    entries.sort_by_key(|&(call, _)| call);
    entries.dedup_by_key(|entry| entry.0);
    assembler.dispatch(&entries);
    for (label, block) in blocks {
        assembler.place(label);
        assembler.code.extend(block);
    }
    assembler.finish()
}

/// `-pid` as the kernel passes it, or its placeholder in the template.
fn negated(pid: u32) -> u32 {
    if pid == PID_PLACEHOLDER {
        NEGATIVE_PID_PLACEHOLDER
    } else {
        pid.wrapping_neg()
    }
}

/// The socket type in `socket`/`socketpair`'s second argument, without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`.
const SOCKET_TYPE_MASK: u32 = 0xf;

fn socket_type(kind: i32) -> u32 {
    kind.cast_unsigned() & SOCKET_TYPE_MASK
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
    };

    use super::*;

    #[cfg(target_arch = "x86_64")]
    const ARCH: TargetArch = TargetArch::x86_64;
    #[cfg(target_arch = "aarch64")]
    const ARCH: TargetArch = TargetArch::aarch64;

    fn condition(argument: u8, operation: SeccompCmpOp, value: u64) -> SeccompCondition {
        SeccompCondition::new(argument, SeccompCmpArgLen::Dword, operation, value).unwrap()
    }

    /// The policy written as seccompiler rules: the reference the compact program must agree with.
    fn reference(policy: Policy) -> (BpfProgram, BpfProgram) {
        let denied: Vec<i64> = match policy {
            Policy::RunnerZygote => [DENIED_ALWAYS, DENIED_TO_RUNNERS].concat(),
            Policy::RunnerChild(_) => DENIED_TO_RUNNER_CHILDREN.to_vec(),
            Policy::Judge => [DENIED_ALWAYS, DENIED_TO_JUDGES].concat(),
        };
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied.iter().map(|&call| (call, Vec::new())).collect();
        match policy {
            Policy::RunnerZygote | Policy::Judge => {
                let unix = u64::try_from(libc::AF_UNIX).unwrap();
                let mut socketpair = vec![SeccompRule::new(vec![condition(0, SeccompCmpOp::Ne, unix)]).unwrap()];
                let allowed = [u64::from(socket_type(libc::SOCK_STREAM)), u64::from(socket_type(libc::SOCK_SEQPACKET))];
                for kind in (0..=u64::from(SOCKET_TYPE_MASK)).filter(|kind| !allowed.contains(kind)) {
                    let masked = SeccompCmpOp::MaskedEq(u64::from(SOCKET_TYPE_MASK));
                    socketpair.push(SeccompRule::new(vec![condition(1, masked, kind)]).unwrap());
                }
                rules.insert(libc::SYS_socketpair, socketpair);
            }
            Policy::RunnerChild(pid) => {
                let pid_bits = u64::from(pid);
                let clone_thread = u64::try_from(libc::CLONE_THREAD).unwrap();
                rules.insert(
                    libc::SYS_clone,
                    vec![SeccompRule::new(vec![condition(0, SeccompCmpOp::MaskedEq(clone_thread), 0)]).unwrap()],
                );
                rules.insert(
                    libc::SYS_kill,
                    vec![SeccompRule::new(vec![
                        condition(0, SeccompCmpOp::Ne, pid_bits),
                        condition(0, SeccompCmpOp::Ne, 0),
                        condition(0, SeccompCmpOp::Ne, u64::from(negated(pid))),
                    ])
                    .unwrap()],
                );
                for call in [libc::SYS_tgkill, libc::SYS_rt_tgsigqueueinfo, libc::SYS_rt_sigqueueinfo] {
                    rules.insert(call, vec![SeccompRule::new(vec![condition(0, SeccompCmpOp::Ne, pid_bits)]).unwrap()]);
                }
                let pointer = |operation| SeccompCondition::new(2, SeccompCmpArgLen::Qword, operation, 0).unwrap();
                rules.insert(libc::SYS_prlimit64, vec![SeccompRule::new(vec![pointer(SeccompCmpOp::Ne)]).unwrap()]);
            }
        }
        let errno = |value: i32| SeccompAction::Errno(u32::try_from(value).unwrap());
        let deny = SeccompFilter::new(rules, SeccompAction::Allow, errno(libc::EPERM), ARCH).unwrap();
        let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
        let clone3 = SeccompFilter::new(clone3, SeccompAction::Allow, errno(libc::ENOSYS), ARCH).unwrap();
        (BpfProgram::try_from(deny).unwrap(), BpfProgram::try_from(clone3).unwrap())
    }

    /// Runs a classic BPF program over a `seccomp_data` (the instructions both generators emit).
    fn run(program: &BpfProgram, data: &[u8; 64]) -> u32 {
        let word = |offset: u32| {
            let start = offset as usize;
            u32::from_le_bytes(data[start..start + 4].try_into().unwrap())
        };
        let (mut accumulator, mut pc) = (0u32, 0usize);
        loop {
            let instruction = &program[pc];
            let class = instruction.code & 0x07;
            let operation = instruction.code & 0xf0;
            pc += 1;
            match class {
                0x00 => accumulator = word(instruction.k),
                0x04 if operation == 0x50 => accumulator &= instruction.k,
                0x05 => {
                    let taken = match operation {
                        0x00 => {
                            pc += instruction.k as usize;
                            continue;
                        }
                        0x10 => accumulator == instruction.k,
                        0x20 => accumulator > instruction.k,
                        0x30 => accumulator >= instruction.k,
                        0x40 => accumulator & instruction.k != 0,
                        other => panic!("unexpected jump {other:#x}"),
                    };
                    pc += usize::from(if taken { instruction.jt } else { instruction.jf });
                }
                0x06 => return instruction.k,
                other => panic!("unexpected class {other:#x}"),
            }
        }
    }

    fn data(number: u32, arguments: [u64; 6]) -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&number.to_le_bytes());
        bytes[4..8].copy_from_slice(&AUDIT_ARCH.to_le_bytes());
        for (index, argument) in arguments.iter().enumerate() {
            bytes[16 + 8 * index..24 + 8 * index].copy_from_slice(&argument.to_le_bytes());
        }
        bytes
    }

    /// What the kernel returns for two stacked filters: the most restrictive action, ERRNO below ALLOW.
    fn combined(first: u32, second: u32) -> u32 {
        first.min(second)
    }

    fn agrees_with_reference(policy: Policy, pid: u32) {
        let compact = compact_program(policy).unwrap();
        let (deny, clone3) = reference(policy);
        let pid_bits = u64::from(pid);
        let negative = u64::from(negated(pid));
        let unix = u64::try_from(libc::AF_UNIX).unwrap();
        let stream = u64::try_from(libc::SOCK_STREAM | libc::SOCK_CLOEXEC).unwrap();
        let datagram = u64::try_from(libc::SOCK_DGRAM).unwrap();
        let sequenced = u64::try_from(libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK).unwrap();
        let argument_sets = [
            [0; 6],
            [u64::try_from(libc::CLONE_THREAD | libc::CLONE_VM).unwrap(), 0, 0, 0, 0, 0],
            [unix, stream, 0, 0, 0, 0],
            [unix, datagram, 0, 0, 0, 0],
            [unix, sequenced, 0, 0, 0, 0],
            [u64::try_from(libc::AF_INET).unwrap(), stream, 0, 0, 0, 0],
            [pid_bits, 9, 0, 0, 0, 0],
            [negative, 9, 0, 0, 0, 0],
            [999, 9, 0, 0, 0, 0],
            [0, 3, 0x7fff_0000_1000, 0, 0, 0],
            [0, 3, 0x1_0000_0000, 0, 0, 0],
        ];
        for number in 0..600 {
            for arguments in argument_sets {
                let input = data(number, arguments);
                let expected = combined(run(&deny, &input), run(&clone3, &input));
                assert_eq!(run(&compact, &input), expected, "{policy:?}: syscall {number} with {arguments:?}");
            }
        }
        assert!(compact.len() * 2 < deny.len() + clone3.len(), "{} vs {}", compact.len(), deny.len());
    }

    #[test]
    fn every_policy_decides_like_the_seccompiler_reference() {
        agrees_with_reference(Policy::RunnerZygote, 0);
        agrees_with_reference(Policy::Judge, 0);
        agrees_with_reference(Policy::RunnerChild(4321), 4321);
        agrees_with_reference(Policy::RunnerChild(PID_PLACEHOLDER), PID_PLACEHOLDER);
    }

    #[test]
    fn the_child_template_holds_each_placeholder_once_per_rule() {
        let bytes = runner_child_template().unwrap();
        assert_eq!(bytes.len() % 8, 0);
        let constants: Vec<u32> =
            bytes.chunks(8).map(|instruction| u32::from_le_bytes(instruction[4..8].try_into().unwrap())).collect();
        // kill names the pid and its negation; tgkill, rt_tgsigqueueinfo and rt_sigqueueinfo the pid.
        assert_eq!(constants.iter().filter(|&&value| value == PID_PLACEHOLDER).count(), 4);
        assert_eq!(constants.iter().filter(|&&value| value == NEGATIVE_PID_PLACEHOLDER).count(), 1);
    }

    #[test]
    fn foreign_abis_are_killed() {
        for policy in [Policy::RunnerZygote, Policy::Judge, Policy::RunnerChild(1)] {
            let compact = compact_program(policy).unwrap();
            let mut input = data(2, [0; 6]);
            input[4..8].copy_from_slice(&0x4000_0003u32.to_le_bytes()); // AUDIT_ARCH_I386
            assert_eq!(run(&compact, &input), SECCOMP_RET_KILL_PROCESS);
            assert_eq!(run(&compact, &data(X32_SYSCALL_BIT | 0x39, [0; 6])), SECCOMP_RET_ERRNO | 1);
        }
    }
}
