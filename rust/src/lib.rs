//! acecoder's execution engine: runs many (program, tests) jobs in parallel, the program where it can reach no
//! verdict, the tests where no program code runs.
//!
//! The engine never forks its caller (which may be a large GPU trainer): it starts one worker per core with
//! fork+exec. A worker is a judge zygote (`python -m acecoder.harness.judge`, trusted harness code) and the runner
//! zygote it starts in a sandbox; per program run the runner zygote forks a runner child, the only process that
//! runs program code, and the judge talks to it over a socket in plain values only (see [`wire`]). The host sends
//! each job with its plan ([`limits::Limits::plan`]), enforces a deadline on the whole job, and replaces a worker
//! that dies or hangs ([`pool`]).
//!
//! Modules:
//! - [`protocol`]: job and result frames between the host and the workers.
//! - [`limits`]: resource limits and the plan of one job.
//! - [`sandbox`]: what each process of a worker applies to itself (C ABI, called by the judge through `ctypes`,
//!   so the same code path serves Python and `cargo test`).
//! - [`wire`]: the validator of the values a runner sends the judge.
//! - [`uids`], [`scratch`]: job uids no two workers share; scratch trees and their removal.
//! - [`worker`]: one worker process and the framed pipe to it.
//! - [`pool`]: the worker pool: dispatch, deadlines, respawn, batches.
//! - `python` (feature `python`): the only file that touches PyO3.

pub mod error;
pub mod limits;
pub mod pool;
pub mod protocol;
pub mod sandbox;
pub mod scratch;
pub mod uids;
pub mod wire;
pub mod worker;

#[cfg(feature = "python")]
mod python;

pub use error::EngineError;
pub use limits::{JobPlan, Limits};
pub use pool::{Batch, Pool, PoolConfig};
pub use protocol::{Job, JobResult, Status, TestCase, TestResult};
