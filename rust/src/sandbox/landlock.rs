//! Filesystem (and TCP) confinement with Landlock: a job may write only inside its scratch directory and read
//! only what the interpreter needs; it may not bind or connect TCP sockets, connect to abstract UNIX sockets
//! created outside its own sandbox, or signal processes outside it.
//!
//! Landlock needs no privilege and stacks with the seccomp filter; where the kernel lacks it (before 5.13) or
//! lacks some access rights, the ruleset is applied best-effort and the returned status says so, so callers can
//! warn instead of failing.
//!
//! See: <https://docs.kernel.org/userspace-api/landlock.html>

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
    ABI,
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

/// Confines the calling thread (the job's child is single-threaded when it calls this).
pub fn restrict(plan: &FilesystemPlan) -> Result<Enforcement, String> {
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .and_then(|ruleset| ruleset.handle_access(AccessNet::from_all(TARGET_ABI)))
        .and_then(|ruleset| ruleset.scope(Scope::from_all(TARGET_ABI)))
        .and_then(Ruleset::create)
        .and_then(|created| created.add_rules(path_beneath_rules(&plan.read, AccessFs::from_read(TARGET_ABI))))
        .and_then(|created| created.add_rules(path_beneath_rules(&plan.write, AccessFs::from_all(TARGET_ABI))))
        .and_then(landlock::RulesetCreated::restrict_self)
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
