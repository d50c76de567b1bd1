//! The worker pool: a shared job queue served by one host thread per worker.
//!
//! Each host thread owns one worker (a judge zygote and, below it, its runner zygote): it takes the next job from
//! the queue, sends it with its plan ([`Limits::plan`]), and waits for the result with a deadline derived from that
//! plan. A worker that dies, hangs or answers garbage is killed and replaced, in a fresh scratch directory, and its
//! job reports `sandbox_error` (never a silent zero). Jobs from several batches (threads, coroutines) share the
//! queue; each batch has its own result channel, so results never cross.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::limits::{JobPlan, Limits};
use crate::protocol::{Job, JobResult};
use crate::scratch::remove_tree;
use crate::uids::{lease, UidLease};
use crate::worker::{read_tail, Worker, WorkerFailure};

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
    /// Modules every runner zygote imports once, before it forks any runner.
    pub preload: Vec<String>,
    /// Third-party packages (top-level names) programs may import; their files join the runner's view.
    #[serde(default)]
    pub importable: Vec<String>,
    /// The engine's shared library, whose C entry points validate answers and enter the sandboxes. Required:
    /// `Pool::new` refuses a configuration without it (it is optional only so that it can be filled in later).
    pub sandbox_library: Option<String>,
    /// Sandbox layers; all on by default. Turning one off is for measuring what it costs, not for production.
    pub seccomp: bool,
    pub landlock: bool,
    pub drop_privileges: bool,
    /// Extra trees a job may read (data files the program or the tests need).
    pub extra_read_paths: Vec<String>,
    /// Pin each worker (its judge and its runners) to one CPU of the caller's, spread over them.
    #[serde(default = "pin_by_default")]
    pub pin_workers: bool,
    /// Parent of the per-worker scratch directories; a fresh temporary directory when `None`.
    pub scratch_root: Option<PathBuf>,
    /// The runner's files and import path (`acecoder.harness.paths.runner_files`), computed once by the caller;
    /// each worker computes them when absent.
    #[serde(default)]
    pub runner_files: Option<serde_json::Value>,
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
            importable: Vec::new(),
            sandbox_library: None,
            seccomp: true,
            landlock: true,
            drop_privileges: true,
            extra_read_paths: Vec::new(),
            pin_workers: true,
            scratch_root: None,
            runner_files: None,
        }
    }
}

struct QueuedJob {
    index: usize,
    plan: JobPlan,
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
    /// The job uids of the workers, leased for the pool's life (root engines only).
    uid_leases: Vec<UidLease>,
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
            let _left = remove_tree(&entry.path()); // a stale root; whatever stays is retried by the next pool
        }
    }
}

fn pin_by_default() -> bool {
    true
}

/// The CPUs this process may run on (its affinity mask), in order.
fn usable_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set, which sched_getaffinity fills for this process.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into `set`, which we own.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw mut set) } != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET only reads the set for indices below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect()
}

fn worker_config(config: &PoolConfig, scratch: &Path, slot: usize, uid: Option<u32>, cpu: Option<usize>) -> String {
    serde_json::json!({
        "worker": slot,
        "limits": config.limits,
        "preload": config.preload,
        "importable": config.importable,
        "sandbox_library": config.sandbox_library,
        "seccomp": config.seccomp,
        "landlock": config.landlock,
        "extra_read_paths": config.extra_read_paths,
        "scratch": scratch,
        "runner_files": config.runner_files,
        "runner_privilege": uid.map(|uid| serde_json::json!({"uid": uid, "gid": uid})),
        "cpu": cpu,
    })
    .to_string()
}

/// Whether the engine runs as root (then each worker's programs run as a leased unprivileged uid).
fn is_root() -> bool {
    // SAFETY: geteuid has no memory effects.
    unsafe { libc::geteuid() == 0 }
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
        let uids = if config.drop_privileges && is_root() { lease(config.workers)? } else { Vec::new() };
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
            uid_leases: Vec::new(),
            limits: config.limits.clone(),
        };
        let (ready_sender, ready_receiver) = mpsc::channel();
        let python_path = config.sys_path.join(":");
        let cpus = if config.pin_workers { usable_cpus() } else { Vec::new() };
        // Pools of one process start at different CPUs, so that two engines do not pile onto the first ones.
        let offset = usize::try_from(POOL_COUNTER.load(Ordering::Relaxed)).unwrap_or(0) * config.workers;
        for slot in 0..config.workers {
            let context = WorkerContext {
                slot,
                python: config.python.clone(),
                python_path: python_path.clone(),
                config: config.clone(),
                uid: uids.get(slot).map(|lease| lease.uid),
                cpu: (!cpus.is_empty()).then(|| cpus[(offset + slot) % cpus.len()]),
                root: pool.scratch_root.clone(),
                generation: 0,
                directory: PathBuf::new(),
                log: pool.scratch_root.join(format!("worker-{slot}.log")),
                shared: Arc::clone(&shared),
            };
            let ready = ready_sender.clone();
            let handle = std::thread::Builder::new()
                .name(format!("acecoder-worker-{slot}"))
                .spawn(move || context.serve(&ready))?;
            lock(&pool.threads).push(handle);
        }
        drop(ready_sender);
        let mut pool = pool;
        pool.uid_leases = uids;
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
            .map(|job| serde_json::to_vec(&job).map(|payload| (job, payload)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| EngineError::InvalidConfig(error.to_string()))?;
        self.submit_encoded(encoded)
    }

    /// Queues jobs with their JSON frames as the caller encoded them (sent to the worker as they are).
    pub fn submit_encoded(&self, jobs: Vec<(Job, Vec<u8>)>) -> Result<Batch, EngineError> {
        for (index, (job, _)) in jobs.iter().enumerate() {
            job.validate().map_err(|reason| EngineError::InvalidJob { index, reason })?;
        }
        let (sender, receiver) = mpsc::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let total = jobs.len();
        let mut queued = Vec::with_capacity(total);
        for (index, (job, payload)) in jobs.into_iter().enumerate() {
            let plan = self.limits.plan(&job);
            let wall_bound = Duration::from_secs_f64(plan.job_wall.min(1e7)) + HOST_SLACK;
            let (sender, cancelled) = (sender.clone(), Arc::clone(&cancelled));
            let test_count = job.tests.len();
            queued.push(QueuedJob { index, plan, payload, test_count, wall_bound, sender, cancelled });
        }
        let mut queue = lock(&self.shared.queue);
        if !queue.closed {
            queue.jobs.extend(queued);
        }
        // With the pool closed no job holds a sender, so the receiver is disconnected and `Batch::next_timeout`
        // reports `Closed`.
        drop(queue);
        self.shared.available.notify_all();
        Ok(Batch { receiver, cancelled, remaining: total, total })
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
            let _left = remove_tree(&self.scratch_root); // nothing left to tell: the pool is gone
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
    python_path: String,
    config: PoolConfig,
    uid: Option<u32>,
    cpu: Option<usize>,
    root: PathBuf,
    /// Each start of this slot's worker gets a fresh scratch directory: nothing a lost worker's programs left
    /// behind reaches the next one.
    generation: u64,
    directory: PathBuf,
    log: PathBuf,
    shared: Arc<Shared>,
}

impl WorkerContext {
    fn spawn(&mut self) -> Result<Worker, EngineError> {
        if !self.directory.as_os_str().is_empty() {
            let left = remove_tree(&self.directory);
            if left > 0 {
                let note = format!("acecoder: {left} entries of {} could not be removed\n", self.directory.display());
                let _ = std::fs::OpenOptions::new().append(true).open(&self.log).map(|mut log| {
                    let _ = std::io::Write::write_all(&mut log, note.as_bytes());
                });
            }
        }
        self.generation += 1;
        self.directory = self.root.join(format!("worker-{}-{}", self.slot, self.generation));
        std::fs::create_dir_all(&self.directory)?;
        let config_json = worker_config(&self.config, &self.directory, self.slot, self.uid, self.cpu);
        let worker = Worker::spawn(&self.python, &self.python_path, &config_json, &self.directory, &self.log, STARTUP)?;
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

    fn serve(mut self, ready: &Sender<Result<(), EngineError>>) {
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

    /// Runs `job` on this slot's worker (starting one if needed). A judge that hangs in a test it runs itself is
    /// replaced and the job runs again without that test (judged a timeout), at most once per test; any other
    /// failure of the worker is the job's `sandbox_error`.
    fn run_one(&mut self, slot: &mut Option<Worker>, job: &QueuedJob, started: Instant) -> JobResult {
        let mut plan = job.plan.clone();
        loop {
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
            let encoded = serde_json::to_vec(&plan).unwrap_or_default();
            let deadline = started + job.wall_bound;
            let failure = match worker.run(&encoded, &job.payload, job.test_count, deadline, &self.shared.closing) {
                Ok(result) => return result,
                Err(failure) => failure,
            };
            worker.kill();
            *slot = None;
            lock(&self.shared.pids)[self.slot] = None;
            if let WorkerFailure::Stalled(index) = failure {
                if index < job.test_count && !plan.skip.contains(&index) && !self.shared.closing.load(Ordering::Relaxed)
                {
                    plan.skip.push(index);
                    continue;
                }
            }
            let log_tail = read_tail(&self.log, 1500);
            let message = if log_tail.is_empty() { failure.to_string() } else { format!("{failure}; {log_tail}") };
            return JobResult::sandbox_error(job.test_count, message, started.elapsed().as_secs_f64());
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

    /// A handle that cancels this batch from elsewhere, even while another thread owns the batch (waiting in
    /// [`Batch::collect_ordered`]) or after it is gone.
    #[must_use]
    pub fn canceller(&self) -> Canceller {
        Canceller(Arc::clone(&self.cancelled))
    }
}

/// Cancels one batch's queued jobs (see [`Batch::canceller`]).
#[derive(Clone)]
pub struct Canceller(Arc<AtomicBool>);

impl Canceller {
    /// Stops the batch's queued jobs from starting; jobs already running finish.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
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
