//! Infrastructure failures. A program that fails is a [`crate::JobResult`], never one of these: they are raised
//! only when the engine itself cannot work (no interpreter, cannot start workers, engine closed).

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot start a worker with interpreter {python:?}: {source}")]
    WorkerStart { python: String, source: io::Error },
    #[error("worker did not become ready: {0}")]
    WorkerNotReady(String),
    #[error("the engine is closed")]
    Closed,
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A job the judge cannot run as given (the batch is refused before any of it is queued).
    #[error("job {index}: {reason}")]
    InvalidJob { index: usize, reason: String },
    #[error("i/o error talking to a worker: {0}")]
    Io(#[from] io::Error),
}
