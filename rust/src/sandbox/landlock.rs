//! Filesystem (and TCP) confinement with Landlock: a job may write only inside its scratch directory and read
//! only what the interpreter needs; it may not bind or connect TCP sockets, connect to abstract UNIX sockets
//! created outside its own sandbox, or signal processes outside it.
//!
//! Landlock needs no privilege and stacks with the seccomp filter; where the kernel lacks it (before 5.13) or
//! lacks some access rights, the ruleset is applied best-effort and the returned status says so, so callers can
//! warn instead of failing.
//!
//! See: <https://docs.kernel.org/userspace-api/landlock.html>

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, RulesetStatus, Scope, ABI,
};
use serde::Deserialize;

/// The newest Landlock ABI whose semantics this code was written and tested against (kernel 6.12+: scopes).
const TARGET_ABI: ABI = ABI::V6;

/// What a job may touch, as absolute paths. Paths that do not exist are skipped.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct FilesystemPlan {
    /// Trees (or single files) that may be read and executed.
    pub read: Vec<String>,
    /// Trees (or single files) that may be read, written, created and removed.
    pub write: Vec<String>,
}

/// How much of the requested confinement the kernel enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcement {
    Full,
    Partial,
    None,
}

/// The allowed paths, opened once in the zygote (`O_PATH`): resolving a dozen paths per job would cost more than
/// the rest of the sandbox. Each job's child inherits the descriptors and only builds and applies the ruleset.
pub struct OpenedPlan {
    read: Vec<PathFd>,
    write: Vec<PathFd>,
}

/// Opens every path of `plan` that exists.
#[must_use]
pub fn open(plan: &FilesystemPlan) -> OpenedPlan {
    let opened = |paths: &[String]| paths.iter().filter_map(|path| PathFd::new(path).ok()).collect();
    OpenedPlan { read: opened(&plan.read), write: opened(&plan.write) }
}

fn is_directory(fd: &PathFd) -> bool {
    let mut status = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `stat` into the buffer we own; the descriptor stays open for the call.
    let result = unsafe { libc::fstat(fd.as_fd().as_raw_fd(), status.as_mut_ptr()) };
    // SAFETY: fstat succeeded, so it initialised the struct.
    result == 0 && (unsafe { status.assume_init() }.st_mode & libc::S_IFMT) == libc::S_IFDIR
}

/// A rule for one opened path.
fn rule(fd: &PathFd, access: BitFlags<AccessFs>) -> PathBeneath<BorrowedFd<'_>> {
    // A file (not a directory) may only carry file access rights.
    let access = if is_directory(fd) { access } else { access & AccessFs::from_file(TARGET_ABI) };
    PathBeneath::new(fd.as_fd(), access)
}

/// Confines the calling thread (the job's child is single-threaded when it calls this): reads below the prepared
/// read paths and the job's own `/proc/self`, writes below the prepared write paths, no TCP, no signals or
/// abstract-socket connections leaving the sandbox.
pub fn restrict(plan: &OpenedPlan) -> Result<Enforcement, String> {
    let read = AccessFs::from_read(TARGET_ABI);
    let write = AccessFs::from_all(TARGET_ABI);
    let own_process = PathFd::new("/proc/self").ok();
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .and_then(|ruleset| ruleset.handle_access(AccessNet::from_all(TARGET_ABI)))
        .and_then(|ruleset| ruleset.scope(Scope::from_all(TARGET_ABI)))
        .and_then(Ruleset::create)
        .and_then(|created| created.add_rules(plan.read.iter().map(|fd| Ok::<_, RulesetError>(rule(fd, read)))))
        .and_then(|created| created.add_rules(plan.write.iter().map(|fd| Ok::<_, RulesetError>(rule(fd, write)))))
        .and_then(|created| created.add_rules(own_process.iter().map(|fd| Ok::<_, RulesetError>(rule(fd, read)))))
        .and_then(RulesetCreated::restrict_self)
        .map_err(|error| error.to_string())?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::None,
    })
}

/// The Landlock ABI version the running kernel offers (0: none).
#[must_use]
pub fn kernel_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, landlock_create_ruleset only returns
    // the ABI version (or an error); it reads and writes no memory.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(version).unwrap_or(0).max(0)
}
