//! The PyO3 module `acecoder._engine`: the only file that touches Python.
//!
//! Deliberately thin. Python passes owned data in (a JSON pool config, jobs as JSON bytes), every blocking call
//! releases the GIL (`Python::detach`) so the caller's other threads and event loop keep running, and results
//! come back as JSON strings that the typed façade `acecoder.exec` turns into dataclasses.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

use crate::error::EngineError as NativeError;
use crate::pool::{Batch, Canceller, Pool, PoolConfig};
use crate::protocol::{Job, JobResult};

create_exception!(_engine, EngineError, PyException, "The execution engine itself failed (not a program).");
create_exception!(_engine, WorkerStartError, EngineError, "Workers could not be started.");
create_exception!(_engine, EngineClosedError, EngineError, "The engine was closed.");

fn to_python_error(error: NativeError) -> PyErr {
    match error {
        NativeError::Closed => EngineClosedError::new_err(error.to_string()),
        NativeError::InvalidConfig(message) => PyValueError::new_err(message),
        NativeError::InvalidJob { .. } => PyValueError::new_err(error.to_string()),
        NativeError::WorkerStart { .. } | NativeError::WorkerNotReady(_) => {
            WorkerStartError::new_err(error.to_string())
        }
        NativeError::Io(_) => EngineError::new_err(error.to_string()),
    }
}

fn encode(result: &JobResult) -> PyResult<String> {
    serde_json::to_string(result).map_err(|error| EngineError::new_err(error.to_string()))
}

/// A pool of zygote workers.
#[pyclass(frozen, module = "acecoder._engine")]
struct NativePool {
    pool: Pool,
}

#[pymethods]
impl NativePool {
    #[new]
    fn new(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let config: PoolConfig =
            serde_json::from_str(config_json).map_err(|error| PyValueError::new_err(error.to_string()))?;
        let pool = py.detach(|| Pool::new(&config)).map_err(to_python_error)?;
        Ok(NativePool { pool })
    }

    /// Queues jobs (each a JSON-encoded `Job`) and returns their batch.
    fn submit(&self, py: Python<'_>, jobs: Vec<Vec<u8>>) -> PyResult<NativeBatch> {
        let batch = py.detach(|| {
            let mut encoded = Vec::with_capacity(jobs.len());
            for (index, payload) in jobs.into_iter().enumerate() {
                let job: Job = serde_json::from_slice(&payload)
                    .map_err(|error| PyValueError::new_err(format!("job {index} is malformed: {error}")))?;
                encoded.push((job, payload));
            }
            self.pool.submit_encoded(encoded).map_err(to_python_error)
        })?;
        Ok(NativeBatch { canceller: batch.canceller(), batch: Mutex::new(Some(batch)) })
    }

    fn worker_pids(&self) -> Vec<u32> {
        self.pool.worker_pids()
    }

    fn close(&self, py: Python<'_>) {
        py.detach(|| self.pool.close());
    }
}

/// Results of one submitted batch.
#[pyclass(frozen, module = "acecoder._engine")]
struct NativeBatch {
    batch: Mutex<Option<Batch>>,
    // Apart from the batch: `collect` moves the batch out of its mutex while it waits, and a cancel from another
    // thread (an asyncio task cancelled while `run_async` awaits `collect`) must still reach the queued jobs.
    canceller: Canceller,
}

#[pymethods]
impl NativeBatch {
    /// The next finished job as `(index, result_json)`, or `None` when all are delivered or `timeout` passed.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<(usize, String)>> {
        let limit = timeout.map(|seconds| Duration::from_secs_f64(seconds.max(0.0)));
        let item = py.detach(|| {
            let mut guard = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_mut() {
                Some(batch) => batch.next_timeout(limit),
                None => Ok(None),
            }
        });
        match item.map_err(to_python_error)? {
            Some((index, result)) => Ok(Some((index, encode(&result)?))),
            None => Ok(None),
        }
    }

    /// Every result, in input order (blocks until the batch is done).
    fn collect(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let results = py.detach(|| {
            let batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner).take();
            batch.map_or(Ok(Vec::new()), Batch::collect_ordered)
        });
        results.map_err(to_python_error)?.iter().map(encode).collect()
    }

    /// Jobs not delivered yet.
    fn remaining(&self) -> usize {
        self.batch.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map_or(0, Batch::remaining)
    }

    /// Keeps the batch's queued jobs from starting, also while another thread waits in `collect`.
    fn cancel(&self) {
        self.canceller.cancel();
    }
}

/// The Landlock ABI version of the running kernel (0 when it has none).
#[pyfunction]
fn landlock_abi() -> i32 {
    crate::sandbox::landlock::kernel_abi()
}

#[pymodule(gil_used = false)]
fn _engine(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add_class::<NativePool>()?;
    module.add_class::<NativeBatch>()?;
    module.add_function(wrap_pyfunction!(landlock_abi, module)?)?;
    module.add("EngineError", py.get_type::<EngineError>())?;
    module.add("WorkerStartError", py.get_type::<WorkerStartError>())?;
    module.add("EngineClosedError", py.get_type::<EngineClosedError>())?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
