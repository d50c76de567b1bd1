//! The worker pool: a shared job queue served by one host thread per zygote worker.
//!
//! Each host thread owns one worker: it takes the next job from the queue, sends it, and waits for the result with
//! a deadline derived from the job's limits. A worker that dies, hangs or answers garbage is killed and replaced,
//! and its job reports `sandbox_error` (never a silent zero). Jobs from several batches (threads, coroutines)
//! share the queue; each batch has its own result channel, so results never cross.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::limits::Limits;
use crate::protocol::{Job, JobResult};
use crate::worker::{read_tail, Worker};

/// Slack added to a job's computed wall bound before the host declares its worker hung.
const HOST_SLACK: Duration = Duration::from_secs(30);
/// How long a worker may take to start and pre-import its modules.
const STARTUP: Duration = Duration::from_secs(120);
/// How long a closing worker gets to exit on its own.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Everything needed to start workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[expect(clippy::struct_excessive_bools, reason = "independent on/off switches, one per sandbox layer")]
pub struct PoolConfig {
    /// Interpreter for the workers (the caller's `sys.executable` from Python).
    pub python: String,
    pub workers: usize,
    pub limits: Limits,
    /// Directories prepended to the workers' `sys.path` (they run with `-s -S`, so nothing else is there).
    pub sys_path: Vec<String>,
    /// Modules every worker imports once, before it forks any job.
    pub preload: Vec<String>,
    /// The engine's shared library, whose C entry points enter the sandbox and write the records. Required:
    /// `Pool::new` refuses a configuration without it (it is optional only so that it can be filled in later).
    pub sandbox_library: Option<String>,
    /// Sandbox layers; all on by default. Turning one off is for measuring what it costs, not for production.
    pub seccomp: bool,
    pub landlock: bool,
    pub drop_privileges: bool,
    /// Compare the values in a test's final `assert` strictly (plain data only), so programs cannot fake equality.
    pub strict_equality: bool,
    /// Extra trees a job may read (data files the tests need).
    pub extra_read_paths: Vec<String>,
    /// Parent of the per-worker scratch directories; a fresh temporary directory when `None`.
    pub scratch_root: Option<PathBuf>,
}

impl PoolConfig {
    #[must_use]
    pub fn new(python: impl Into<String>, workers: usize) -> Self {
        PoolConfig {
            python: python.into(),
            workers,
            limits: Limits::default(),
            sys_path: Vec::new(),
            preload: Vec::new(),
            sandbox_library: None,
            seccomp: true,
            landlock: true,
            drop_privileges: true,
            strict_equality: true,
            extra_read_paths: Vec::new(),
            scratch_root: None,
        }
    }
}

struct QueuedJob {
    index: usize,
    payload: Vec<u8>,
    test_count: usize,
    wall_bound: Duration,
    /// The batch's result channel; when the last job holding it is gone, the batch sees the end.
    sender: Sender<(usize, JobResult)>,
    cancelled: Arc<AtomicBool>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<QueuedJob>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Set by `close`: host threads waiting on a worker give up at once.
    closing: AtomicBool,
    available: Condvar,
    pids: Mutex<Vec<Option<u32>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running pool of zygote workers.
pub struct Pool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    scratch_root: PathBuf,
    owns_scratch: bool,
    /// Held open while the pool lives: marks its scratch root as in use (see `remove_stale_scratch_roots`).
    _scratch_lock: Option<std::fs::File>,
    limits: Limits,
}

/// Results of one submitted batch, in completion order.
pub struct Batch {
    receiver: Receiver<(usize, JobResult)>,
    cancelled: Arc<AtomicBool>,
    remaining: usize,
    total: usize,
}

static POOL_COUNTER: AtomicU64 = AtomicU64::new(0);
const SCRATCH_PREFIX: &str = "acecoder-";

/// The process id in the name of a scratch root this module created (`acecoder-<pid>-<counter>`).
fn scratch_root_owner(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(SCRATCH_PREFIX)?;
    let (pid, counter) = rest.split_once('-')?;
    if pid.is_empty() || counter.is_empty() || !counter.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|pid: &i32| *pid > 0)
}

/// The file in a scratch root that its pool keeps locked while it lives (`flock`, released by the kernel however
/// the process ends).
const SCRATCH_LOCK: &str = ".owner.lock";

/// Takes an exclusive `flock` on `file` without waiting; false when another open file description holds it.
fn try_lock(file: &std::fs::File) -> bool {
    // SAFETY: flock on a descriptor that `file` owns; closing the file releases the lock.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(file), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Takes the lock that marks `root` as in use, for as long as the returned file stays open.
fn lock_scratch_root(root: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::File::create(root.join(SCRATCH_LOCK))?;
    if !try_lock(&file) {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

/// Whether the pool that made `root` is gone: its lock can be taken (the kernel dropped it with the process, even
/// one killed by SIGKILL or in another pid namespace sharing this directory), or, for a root without a lock file
/// (made by an older version), no process has the id in its name.
fn scratch_root_abandoned(root: &Path, pid: i32) -> bool {
    match std::fs::OpenOptions::new().write(true).open(root.join(SCRATCH_LOCK)) {
        Ok(file) => try_lock(&file),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // SAFETY: kill with signal 0 sends nothing; it only asks whether the process exists.
            let refused = unsafe { libc::kill(pid, 0) } != 0;
            refused && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        }
        Err(_) => false,
    }
}

/// Removes the scratch roots of pools whose process is gone. A pool removes its own root when it closes, but a
/// caller killed with SIGKILL (or ended by `os._exit`) leaves it behind, and a long-lived machine would gather
/// them. Only directories named like a root (`acecoder-<pid>-<counter>`) and abandoned are touched.
fn remove_stale_scratch_roots(directory: &Path) {
    let Ok(entries) = std::fs::read_dir(directory) else { return };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(scratch_root_owner) else { continue };
        if u32::try_from(pid).ok() == Some(std::process::id()) || !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        if scratch_root_abandoned(&entry.path(), pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn worker_config(config: &PoolConfig, scratch: &Path, slot: usize) -> String {
    serde_json::json!({
        "worker": slot,
        "limits": config.limits,
        "sys_path": config.sys_path,
        "preload": config.preload,
        "sandbox_library": config.sandbox_library,
        "seccomp": config.seccomp,
        "landlock": config.landlock,
        "drop_privileges": config.drop_privileges,
        "strict_equality": config.strict_equality,
        "extra_read_paths": config.extra_read_paths,
        "scratch": scratch.join("job"),
    })
    .to_string()
}

impl Pool {
    /// Starts `config.workers` workers and waits until each is ready.
    pub fn new(config: &PoolConfig) -> Result<Pool, EngineError> {
        if config.workers == 0 {
            return Err(EngineError::InvalidConfig("workers must be at least 1".to_owned()));
        }
        config.limits.validate().map_err(EngineError::InvalidConfig)?;
        if config.sandbox_library.is_none() {
            return Err(EngineError::InvalidConfig(
                "sandbox_library (the engine's shared library) is required".to_owned(),
            ));
        }
        let owns_scratch = config.scratch_root.is_none();
        let scratch_root = config.scratch_root.clone().unwrap_or_else(|| {
            let unique = POOL_COUNTER.fetch_add(1, Ordering::Relaxed);
            if unique == 0 {
                remove_stale_scratch_roots(&std::env::temp_dir());
            }
            std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}-{unique}", std::process::id()))
        });
        std::fs::create_dir_all(&scratch_root)?;
        let scratch_lock = if owns_scratch { Some(lock_scratch_root(&scratch_root)?) } else { None };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            closing: AtomicBool::new(false),
            available: Condvar::new(),
            pids: Mutex::new(vec![None; config.workers]),
        });
        let pool = Pool {
            shared: Arc::clone(&shared),
            threads: Mutex::new(Vec::new()),
            scratch_root,
            owns_scratch,
            _scratch_lock: scratch_lock,
            limits: config.limits.clone(),
        };
        let (ready_sender, ready_receiver) = mpsc::channel();
        for slot in 0..config.workers {
            let directory = pool.scratch_root.join(format!("worker-{slot}"));
            std::fs::create_dir_all(directory.join("job"))?;
            let context = WorkerContext {
                slot,
                python: config.python.clone(),
                config_json: worker_config(config, &directory, slot),
                log: directory.join("worker.log"),
                shared: Arc::clone(&shared),
            };
            let ready = ready_sender.clone();
            let handle = std::thread::Builder::new()
                .name(format!("acecoder-worker-{slot}"))
                .spawn(move || context.serve(&ready))?;
            lock(&pool.threads).push(handle);
        }
        drop(ready_sender);
        for _ in 0..config.workers {
            match ready_receiver.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    pool.close();
                    return Err(error);
                }
                Err(_) => {
                    pool.close();
                    return Err(EngineError::WorkerNotReady("a worker thread ended during startup".to_owned()));
                }
            }
        }
        Ok(pool)
    }

    /// Queues `jobs` and returns a handle yielding `(index, result)` as each finishes.
    pub fn submit(&self, jobs: Vec<Job>) -> Result<Batch, EngineError> {
        let encoded = jobs
            .into_iter()
            .map(|job| {
                let bound = self.job_wall_bound_seconds(&job);
                serde_json::to_vec(&job).map(|payload| (payload, job.tests.len(), bound))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| EngineError::InvalidConfig(error.to_string()))?;
        Ok(self.submit_encoded(encoded))
    }

    /// The longest the job may legitimately take in a worker (see [`Limits::job_wall_bound_for`]).
    #[must_use]
    pub fn job_wall_bound_seconds(&self, job: &Job) -> f64 {
        let default = self.limits.test_cpu_seconds;
        self.limits.job_wall_bound_for(job.tests.iter().map(|test| test.cpu_seconds(default)))
    }

    /// Queues jobs already encoded as JSON frames, each with its test count and wall-clock bound in seconds
    /// ([`Pool::job_wall_bound_seconds`]).
    #[must_use]
    pub fn submit_encoded(&self, jobs: Vec<(Vec<u8>, usize, f64)>) -> Batch {
        let (sender, receiver) = mpsc::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let total = jobs.len();
        let mut queue = lock(&self.shared.queue);
        if !queue.closed {
            for (index, (payload, test_count, bound)) in jobs.into_iter().enumerate() {
                let wall_bound = Duration::from_secs_f64(bound.min(1e7)) + HOST_SLACK;
                let sender = sender.clone();
                let cancelled = Arc::clone(&cancelled);
                queue.jobs.push_back(QueuedJob { index, payload, test_count, wall_bound, sender, cancelled });
            }
        }
        // With the pool closed no job holds a sender, so the receiver is disconnected and `Batch::next_timeout`
        // reports `Closed`.
        drop(queue);
        self.shared.available.notify_all();
        Batch { receiver, cancelled, remaining: total, total }
    }

    /// Process ids of the live workers.
    #[must_use]
    pub fn worker_pids(&self) -> Vec<u32> {
        lock(&self.shared.pids).iter().flatten().copied().collect()
    }

    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Stops every worker and waits for them; queued jobs are dropped. Idempotent.
    pub fn close(&self) {
        {
            let mut queue = lock(&self.shared.queue);
            queue.closed = true;
            queue.jobs.clear();
        }
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.available.notify_all();
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for handle in threads {
            let _ = handle.join();
        }
        if self.owns_scratch {
            let _ = std::fs::remove_dir_all(&self.scratch_root);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.close();
    }
}

struct WorkerContext {
    slot: usize,
    python: String,
    config_json: String,
    log: PathBuf,
    shared: Arc<Shared>,
}

impl WorkerContext {
    fn spawn(&self) -> Result<Worker, EngineError> {
        let worker = Worker::spawn(&self.python, &self.config_json, &self.log, STARTUP)?;
        lock(&self.shared.pids)[self.slot] = Some(worker.pid);
        Ok(worker)
    }

    fn next_job(&self) -> Option<QueuedJob> {
        let mut queue = lock(&self.shared.queue);
        loop {
            if queue.closed {
                return None;
            }
            if let Some(job) = queue.jobs.pop_front() {
                return Some(job);
            }
            queue = self.shared.available.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn serve(self, ready: &Sender<Result<(), EngineError>>) {
        let mut worker = match self.spawn() {
            Ok(worker) => {
                let _ = ready.send(Ok(()));
                Some(worker)
            }
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        while let Some(job) = self.next_job() {
            if job.cancelled.load(Ordering::Relaxed) {
                continue;
            }
            let started = Instant::now();
            let result = self.run_one(&mut worker, &job, started);
            if self.shared.closing.load(Ordering::Relaxed) {
                break;
            }
            let _ = job.sender.send((job.index, result));
        }
        lock(&self.shared.pids)[self.slot] = None;
        if let Some(worker) = worker {
            worker.shutdown(SHUTDOWN_GRACE);
        }
    }

    fn run_one(&self, slot: &mut Option<Worker>, job: &QueuedJob, started: Instant) -> JobResult {
        if slot.is_none() {
            match self.spawn() {
                Ok(fresh) => *slot = Some(fresh),
                Err(error) => {
                    return JobResult::sandbox_error(
                        job.test_count,
                        format!("could not restart a worker: {error}"),
                        started.elapsed().as_secs_f64(),
                    )
                }
            }
        }
        let Some(worker) = slot.as_mut() else {
            return JobResult::sandbox_error(job.test_count, "no worker".to_owned(), 0.0);
        };
        match worker.run(&job.payload, job.test_count, started + job.wall_bound, &self.shared.closing) {
            Ok(result) => result,
            Err(failure) => {
                worker.kill();
                *slot = None;
                lock(&self.shared.pids)[self.slot] = None;
                let log_tail = read_tail(&self.log, 1500);
                let message = if log_tail.is_empty() { failure.to_string() } else { format!("{failure}; {log_tail}") };
                JobResult::sandbox_error(job.test_count, message, started.elapsed().as_secs_f64())
            }
        }
    }
}

impl Batch {
    /// Number of jobs in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        self.total
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Next finished job, waiting at most `timeout` (forever when `None`).
    ///
    /// `Ok(None)`: every job has been delivered, or the timeout passed (check [`Batch::remaining`]).
    /// `Err(EngineError::Closed)`: the pool closed before the batch finished.
    pub fn next_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<(usize, JobResult)>, EngineError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let received = match timeout {
            None => self.receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(limit) => self.receiver.recv_timeout(limit),
        };
        match received {
            Ok(item) => {
                self.remaining -= 1;
                Ok(Some(item))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(EngineError::Closed),
        }
    }

    /// Jobs not yet delivered.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Waits for every job and returns the results in input order.
    pub fn collect_ordered(mut self) -> Result<Vec<JobResult>, EngineError> {
        let mut slots: Vec<Option<JobResult>> = vec![None; self.total];
        while let Some((index, result)) = self.next_timeout(None)? {
            slots[index] = Some(result);
        }
        slots.into_iter().map(|slot| slot.ok_or(EngineError::Closed)).collect()
    }

    /// Stops queued jobs of this batch from starting.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::scratch_root_owner;

    #[test]
    fn only_names_of_scratch_roots_have_an_owner() {
        assert_eq!(scratch_root_owner("acecoder-4242-0"), Some(4242));
        assert_eq!(scratch_root_owner("acecoder-4242-17"), Some(4242));
        for name in
            ["acecoder-bench-evaluate-x1", "acecoder-4242", "acecoder--1", "acecoder-0-1", "acecoder-12-x", "other-1-2"]
        {
            assert_eq!(scratch_root_owner(name), None, "{name}");
        }
    }
}
