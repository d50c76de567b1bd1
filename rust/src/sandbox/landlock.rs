//! Filesystem (and TCP) confinement with Landlock, for the runner zygote and the judge zygote.
//!
//! A plan is a list of (path, kind) rules, computed by the judge (`acecoder/harness/paths.py`): `read` (read and
//! execute a tree or file), `list` (list a directory and nothing below it: `site-packages` is listable, but only
//! the declared packages in it are readable) and `write` (everything). Every other path is out of reach, TCP bind
//! and connect are refused, and with [`Scopes`] the process may not signal, or connect to the abstract UNIX
//! sockets of, processes outside its domain.
//!
//! Each runner child then adds a layer of its own, built from the numbers [`child_masks`] reports, with raw
//! syscalls from Python (the child cannot load this library: its files are out of its view).
//!
//! Landlock needs no privilege and stacks with the seccomp filter; where the kernel lacks it (before 5.13) or
//! lacks some access rights, the ruleset is applied best-effort, and the judge warns.
//!
//! See: <https://docs.kernel.org/userspace-api/landlock.html>

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, Scope, ABI,
};
use serde::Deserialize;

/// The rules of one process, as (path, kind). Paths that do not exist are skipped.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct FilesystemPlan {
    pub rules: Vec<(String, String)>,
}

/// Which scopes to restrict: the runner zygote's domain may neither signal nor reach abstract sockets outside
/// itself; the judge keeps signals (it kills runners, which live in another domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scopes {
    SignalsAndSockets,
    SocketsOnly,
}

/// The newest Landlock ABI the running kernel and this crate both know.
fn abi() -> ABI {
    ABI::from(kernel_abi())
}

/// The allowed paths, opened (`O_PATH`) before the process gives up the rights it needs to open them.
pub struct OpenedPlan {
    rules: Vec<(PathFd, BitFlags<AccessFs>)>,
}

fn access_of(kind: &str, abi: ABI) -> Result<BitFlags<AccessFs>, String> {
    match kind {
        "read" => Ok(AccessFs::from_read(abi)),
        "list" => Ok(AccessFs::ReadDir.into()),
        "write" => Ok(AccessFs::from_all(abi)),
        other => Err(format!("unknown access kind {other:?}")),
    }
}

/// Opens every path of `plan` that exists.
pub fn open(plan: &FilesystemPlan) -> Result<OpenedPlan, String> {
    let abi = abi();
    let mut rules = Vec::with_capacity(plan.rules.len());
    for (path, kind) in &plan.rules {
        let access = access_of(kind, abi)?;
        if let Ok(fd) = PathFd::new(path) {
            rules.push((fd, access));
        }
    }
    Ok(OpenedPlan { rules })
}

fn is_directory(fd: &PathFd) -> bool {
    let mut status = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `stat` into the buffer we own; the descriptor stays open for the call.
    let result = unsafe { libc::fstat(fd.as_fd().as_raw_fd(), status.as_mut_ptr()) };
    // SAFETY: fstat succeeded, so it initialised the struct.
    result == 0 && (unsafe { status.assume_init() }.st_mode & libc::S_IFMT) == libc::S_IFDIR
}

/// A rule for one opened path (a file, not a directory, may only carry file access rights).
fn rule(fd: &PathFd, access: BitFlags<AccessFs>, abi: ABI) -> PathBeneath<BorrowedFd<'_>> {
    let access = if is_directory(fd) { access } else { access & AccessFs::from_file(abi) };
    PathBeneath::new(fd.as_fd(), access)
}

/// Confines the calling process (single-threaded when it calls this) to the opened plan.
pub fn restrict(plan: &OpenedPlan, scopes: Scopes) -> Result<(), String> {
    let abi = abi();
    let scope = match scopes {
        Scopes::SignalsAndSockets => Scope::from_all(abi),
        Scopes::SocketsOnly => Scope::from_all(abi) & Scope::AbstractUnixSocket,
    };
    Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|ruleset| ruleset.handle_access(AccessNet::from_all(abi)))
        .and_then(|ruleset| ruleset.scope(scope))
        .and_then(Ruleset::create)
        .and_then(|created| {
            created.add_rules(plan.rules.iter().map(|(fd, access)| Ok::<_, RulesetError>(rule(fd, *access, abi))))
        })
        .and_then(RulesetCreated::restrict_self)
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// The numbers a runner child needs to build its own layer with raw syscalls: the rights to handle, the rights of
/// a read, a file-read, a write and a file-write rule, the scopes, and the size of the ruleset attribute this
/// kernel understands. None without Landlock.
#[must_use]
pub fn child_masks() -> Option<serde_json::Value> {
    let version = kernel_abi();
    if version < 1 {
        return None;
    }
    let abi = abi();
    let file = AccessFs::from_file(abi);
    let scoped = if version >= 6 { Scope::from_all(abi).bits() } else { 0 };
    let attribute_size: u64 = if version >= 6 {
        24
    } else if version >= 4 {
        16
    } else {
        8
    };
    Some(serde_json::json!({
        "abi": version,
        "handled_fs": AccessFs::from_all(abi).bits(),
        "handled_net": 0,
        "scoped": scoped,
        "attribute_size": attribute_size,
        "read": AccessFs::from_read(abi).bits(),
        "read_file": (AccessFs::from_read(abi) & file).bits(),
        "write": AccessFs::from_all(abi).bits(),
        "write_file": (AccessFs::from_all(abi) & file).bits(),
    }))
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
