//! One worker (a judge zygote, `python -m acecoder.harness.judge`) and the framed pipe to it.
//!
//! Workers are started with fork+exec (`std::process::Command`), never by forking the caller, in a process group
//! of their own so that one `killpg` removes a worker and its runner zygote (runners die with their zygote, by
//! their parent-death signal). Reads from a worker always carry a deadline: a worker that hangs is killed and
//! replaced, never waited on forever.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::EngineError;
use crate::protocol::{read_frame, write_frame, JobResult, Ready, MAX_FRAME_BYTES};

/// The judge zygote's module.
pub const JUDGE_MODULE: &str = "acecoder.harness.judge";

/// Environment of every worker: nothing from the caller (no API keys, no tokens), single-threaded numeric
/// libraries (a test's BLAS must not start one thread per core on a shared machine), a fixed hash seed, and the
/// caller's import path (`PYTHONPATH`), so that the judge imports the package the caller runs.
///
/// Workers run with `-s -S` rather than `-I`: isolated mode would ignore `PYTHONPATH` and `PYTHONHASHSEED`, and
/// the environment is entirely ours anyway. `PYTHONSAFEPATH` (3.11+) keeps the current directory off `sys.path`.
const WORKER_ENVIRONMENT: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "C.UTF-8"),
    ("PYTHONHASHSEED", "0"),
    ("PYTHONSAFEPATH", "1"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("PYTHONIOENCODING", "utf-8"),
    ("OMP_NUM_THREADS", "1"),
    ("OPENBLAS_NUM_THREADS", "1"),
    ("MKL_NUM_THREADS", "1"),
    ("NUMEXPR_NUM_THREADS", "1"),
    ("VECLIB_MAXIMUM_THREADS", "1"),
];

/// Why a worker could not deliver a result.
#[derive(Debug)]
pub enum WorkerFailure {
    /// The worker did not answer before the deadline.
    Hung,
    /// The judge's own code hung in the test of this index (a test run in the judge whose code never returned):
    /// the job can run again, in a fresh worker, without that test.
    Stalled(usize),
    /// The worker's pipe closed or broke.
    Lost(String),
    /// The worker answered with something that is not a valid result.
    Garbled(String),
}

impl std::fmt::Display for WorkerFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerFailure::Hung => {
                write!(formatter, "worker did not answer before the job's deadline")
            }
            WorkerFailure::Stalled(index) => write!(formatter, "the judge hung in test {index}"),
            WorkerFailure::Lost(why) => write!(formatter, "worker lost: {why}"),
            WorkerFailure::Garbled(why) => {
                write!(formatter, "worker sent an invalid result: {why}")
            }
        }
    }
}

pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    progress: Progress,
    pub pid: u32,
}

/// Where the judge is: a small shared file (a memfd, the judge's fd 3) the judge writes before each test it runs
/// itself, read here when the host's wait passes a check interval. Layout (little-endian): u32 sequence (odd while
/// written), u32 phase (1: a test runs), u32 test index, 4 bytes padding, f64 deadline on `CLOCK_MONOTONIC`
/// (`python/acecoder/harness/judge.py`, `Progress`).
struct Progress {
    file: File,
}

/// How often a waiting host thread looks at its judge's progress.
const PROGRESS_CHECK: Duration = Duration::from_millis(200);

fn monotonic_seconds() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut now) };
    #[expect(clippy::cast_precision_loss, reason = "seconds since boot fit an f64's mantissa")]
    let seconds = now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9;
    seconds
}

impl Progress {
    fn new() -> io::Result<Progress> {
        // SAFETY: memfd_create reads a NUL-terminated name and returns a new descriptor (or -1).
        let fd = unsafe { libc::memfd_create(c"acecoder-progress".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns.
        let file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        file.set_len(4096)?;
        Ok(Progress { file })
    }

    /// The index of the test the judge runs itself past its deadline, if any.
    fn stalled(&self) -> Option<usize> {
        let mut bytes = [0u8; 24];
        std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut bytes, 0).ok()?;
        let word = |offset: usize| u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap_or_default());
        let sequence = word(0);
        if sequence % 2 == 1 || word(4) != 1 {
            return None;
        }
        let deadline = f64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default());
        let mut again = [0u8; 4];
        std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut again, 0).ok()?;
        if u32::from_le_bytes(again) != sequence || monotonic_seconds() <= deadline {
            return None;
        }
        usize::try_from(word(8)).ok()
    }
}

/// How often a waiting host thread checks whether the engine is closing.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Waits until `fd` is readable, `deadline` passes (`Ok(false)`) or `stop` is set (`ConnectionAborted`; not `Interrupted`, which `read_exact` retries).
fn wait_readable(fd: i32, deadline: Instant, stop: &AtomicBool) -> io::Result<bool> {
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "the engine is closing"));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(false);
        }
        let millis = i32::try_from(remaining.min(STOP_CHECK).as_millis().max(1)).unwrap_or(i32::MAX);
        let mut poll_fd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll reads and writes exactly one pollfd that lives on our stack for the call.
        let ready = unsafe { libc::poll(&raw mut poll_fd, 1, millis) };
        if ready > 0 {
            return Ok(true);
        }
        if ready == 0 {
            continue;
        }
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

/// A reader that fails with `TimedOut` instead of blocking past a deadline, and, with `progress`, with
/// [`Stalled`] as soon as the judge's own code runs past a test's deadline.
struct DeadlineReader<'a> {
    stdout: &'a mut ChildStdout,
    deadline: Instant,
    stop: &'a AtomicBool,
    progress: Option<&'a Progress>,
}

/// The error payload of a judge found stalled in a test.
#[derive(Debug)]
struct Stalled(usize);

impl std::fmt::Display for Stalled {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "the judge hung in test {}", self.0)
    }
}

impl std::error::Error for Stalled {}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            let check = match self.progress {
                Some(_) => self.deadline.min(Instant::now() + PROGRESS_CHECK),
                None => self.deadline,
            };
            if wait_readable(self.stdout.as_raw_fd(), check, self.stop)? {
                return self.stdout.read(buffer);
            }
            if Instant::now() >= self.deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
            if let Some(index) = self.progress.and_then(Progress::stalled) {
                return Err(io::Error::other(Stalled(index)));
            }
        }
    }
}

impl Worker {
    /// Starts a worker in `directory` and waits (at most `startup`) for its ready frame.
    pub fn spawn(
        python: &str,
        python_path: &str,
        config_json: &str,
        directory: &Path,
        log: &Path,
        startup: Duration,
    ) -> Result<Worker, EngineError> {
        let log_file = File::options().create(true).append(true).open(log)?;
        let progress = Progress::new()?;
        let progress_fd = progress.file.as_raw_fd();
        let mut command = Command::new(python);
        command
            .args(["-s", "-S", "-m", JUDGE_MODULE, config_json])
            .env_clear()
            .envs(WORKER_ENVIRONMENT.iter().copied())
            .env("PYTHONPATH", python_path)
            .current_dir(directory)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only calls dup2, which is
        // async-signal-safe; the new descriptor 3 is not close-on-exec, so the judge inherits it.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(progress_fd, 3) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child =
            command.spawn().map_err(|source| EngineError::WorkerStart { python: python.to_owned(), source })?;
        let pid = child.id();
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(EngineError::WorkerNotReady("worker pipes missing".to_owned()));
        };
        let mut worker = Worker { child, stdin, stdout, progress, pid };
        let deadline = Instant::now() + startup;
        let never = AtomicBool::new(false);
        let frame =
            read_frame(&mut DeadlineReader { stdout: &mut worker.stdout, deadline, stop: &never, progress: None });
        let ready = match frame {
            Ok(Some(bytes)) => serde_json::from_slice::<Ready>(&bytes).map_err(|error| error.to_string()),
            Ok(None) => Err("worker exited during startup".to_owned()),
            Err(error) => Err(error.to_string()),
        };
        match ready {
            Ok(_) => Ok(worker),
            Err(why) => {
                worker.kill();
                let log_tail = read_tail(log, 2000);
                Err(EngineError::WorkerNotReady(format!("{why}; worker log: {log_tail}")))
            }
        }
    }

    /// Sends one job (its plan, then the job itself) and waits for its result until `deadline` (or until `stop`
    /// is set).
    pub fn run(
        &mut self,
        plan: &[u8],
        job: &[u8],
        test_count: usize,
        deadline: Instant,
        stop: &AtomicBool,
    ) -> Result<JobResult, WorkerFailure> {
        if job.len() > MAX_FRAME_BYTES {
            return Err(WorkerFailure::Garbled("job larger than the frame limit".to_owned()));
        }
        write_frame(&mut self.stdin, plan).map_err(|error| WorkerFailure::Lost(error.to_string()))?;
        write_frame(&mut self.stdin, job).map_err(|error| WorkerFailure::Lost(error.to_string()))?;
        let progress = Some(&self.progress);
        let frame = read_frame(&mut DeadlineReader { stdout: &mut self.stdout, deadline, stop, progress });
        let bytes = match frame {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(WorkerFailure::Lost("worker exited".to_owned())),
            Err(error) if error.kind() == io::ErrorKind::TimedOut => return Err(WorkerFailure::Hung),
            Err(error) if error.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<Stalled>) => {
                let index = error
                    .into_inner()
                    .and_then(|inner| inner.downcast::<Stalled>().ok())
                    .map_or(0, |stalled| stalled.0);
                return Err(WorkerFailure::Stalled(index));
            }
            Err(error) => return Err(WorkerFailure::Lost(error.to_string())),
        };
        let result: JobResult =
            serde_json::from_slice(&bytes).map_err(|error| WorkerFailure::Garbled(error.to_string()))?;
        result.validate(test_count).map_err(WorkerFailure::Garbled)?;
        Ok(result)
    }

    /// Asks the worker to exit (end of its input), then kills its process group if it has not within `grace`.
    pub fn shutdown(mut self, grace: Duration) {
        let _ = self.stdin.flush();
        drop(self.stdin);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                kill_group(self.pid);
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        kill_group(self.pid);
        let _ = self.child.wait();
    }

    /// Kills the worker and its process group at once and reaps it.
    pub fn kill(&mut self) {
        self.kill_group();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn kill_group(&self) {
        kill_group(self.pid);
    }
}

fn kill_group(pid: u32) {
    if let Ok(group) = i32::try_from(pid) {
        // SAFETY: killpg only sends a signal; the group is the worker's own (process_group(0) at spawn).
        unsafe { libc::killpg(group, libc::SIGKILL) };
    }
}

/// The last `limit` bytes of a worker log, for error messages.
#[must_use]
pub fn read_tail(path: &Path, limit: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(limit);
    String::from_utf8_lossy(&text[start..]).trim().to_owned()
}
