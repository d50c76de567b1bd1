//! acecoder's execution engine: runs many (program, tests) jobs in parallel, each in a sandboxed child process.
//!
//! The engine never forks its caller (which may be a large GPU trainer): it starts small *zygote* workers with
//! fork+exec, each a `python -s -S` running the embedded [`HARNESS`], and each zygote forks once per job. The child
//! enters the sandbox (see [`sandbox`]) before any untrusted byte runs, executes the program and then its tests,
//! and reports one record per test to its zygote; the zygote enforces deadlines from outside and sends one result
//! frame per job back to the host ([`pool`]).
//!
//! Modules:
//! - [`protocol`]: job and result frames between the host and the workers.
//! - [`limits`]: resource limits and the rlimits applied in the job's child.
//! - [`sandbox`]: everything a job's child applies to itself before it runs untrusted code (C ABI, called by the
//!   harness through `ctypes` so the same code path serves Python and `cargo test`).
//! - [`worker`]: one zygote process and the framed pipe to it.
//! - [`pool`]: the worker pool: dispatch, deadlines, respawn, batches.
//! - `python` (feature `python`): the only file that touches PyO3.

pub mod error;
pub mod limits;
pub mod pool;
pub mod protocol;
pub mod sandbox;
pub mod worker;

#[cfg(feature = "python")]
mod python;

pub use error::EngineError;
pub use limits::Limits;
pub use pool::{Batch, Pool, PoolConfig};
pub use protocol::{Job, JobResult, Status, TestCase, TestResult};

/// The zygote harness: stdlib-only Python, run by every worker as `python -s -S -c HARNESS CONFIG`. The value
/// digest (`python/acecoder/digest.py`) is the package's own module, so that jobs and callers hash alike.
pub const HARNESS: &str = concat!(
    include_str!("harness/strict.py"),
    "\n",
    include_str!("../../python/acecoder/digest.py"),
    "\n",
    include_str!("harness/calls.py"),
    "\n",
    include_str!("harness/child.py"),
    "\n",
    include_str!("harness/planning.py"),
    "\n",
    include_str!("harness/zygote.py")
);
