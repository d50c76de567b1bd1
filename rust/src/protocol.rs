//! Frames between the host and its zygote workers.
//!
//! Every frame is a little-endian `u32` byte length followed by that many bytes of UTF-8 JSON. JSON keeps the
//! stdlib-only harness simple (the C-accelerated `json` module parses a job in microseconds) and makes the wire
//! readable when debugging; the host validates every result frame before it trusts it.
//!
//! Host → worker: per job, a [`crate::limits::JobPlan`] frame, then the [`Job`] frame as the caller encoded it.
//! Worker → host: first a [`Ready`] frame, then one [`JobResult`] per job, in the order the jobs were sent.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Largest frame either side accepts (256 MiB: an evalplus task can expect a single output of tens of megabytes);
/// a job with more bytes than this is refused as invalid input.
pub const MAX_FRAME_BYTES: usize = 256 << 20;

/// Outcome of one test, or of a whole job (the first test that did not pass decides the job's status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    Error,
    Timeout,
    MemoryExceeded,
    OutputExceeded,
    Killed,
    SandboxError,
    NotRun,
}

impl Status {
    /// The name used on the wire and in Python.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::MemoryExceeded => "memory_exceeded",
            Status::OutputExceeded => "output_exceeded",
            Status::Killed => "killed",
            Status::SandboxError => "sandbox_error",
            Status::NotRun => "not_run",
        }
    }
}

/// One test of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TestCase {
    /// A Python statement run after the program, in the program's namespace (AceCoder `test_cases`).
    Assert { code: String },
    /// The program runs as `__main__` with `stdin`; its stdout must equal `stdout` after whitespace
    /// normalisation, numbers within `float_tolerance` when given.
    Io { stdin: String, stdout: String, float_tolerance: Option<f64> },
    /// A call of the program's function `entry_point` (evalplus style): `arguments` is the base64 of the tuple of
    /// arguments as a wire value slot (what the runner receives), `expected` the base64 pickle of the expected
    /// value (which only the judge ever decodes), `expected_key` a digest under which the judge may cache it; the
    /// judge calls the function in the runner and compares the answer itself, exactly or within `atol`, or by
    /// the named `oracle`.
    Call {
        entry_point: String,
        arguments: String,
        expected: String,
        #[serde(default)]
        expected_key: Option<String>,
        #[serde(default)]
        atol: f64,
        #[serde(default)]
        oracle: Option<String>,
        /// This test's CPU-time limit, instead of the engine's `test_cpu_seconds`.
        #[serde(default)]
        cpu_seconds: Option<f64>,
    },
}

impl TestCase {
    /// This test's CPU-time limit, given the engine's default.
    #[must_use]
    pub fn cpu_seconds(&self, default: f64) -> f64 {
        match self {
            TestCase::Call { cpu_seconds: Some(seconds), .. } => *seconds,
            _ => default,
        }
    }
}

/// One unit of work: a program and its tests.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub program: String,
    pub tests: Vec<TestCase>,
    /// Seed for `random` (and numpy, if loaded) in the job's child.
    pub seed: u64,
    /// Stop at the first test that does not pass; the rest are `not_run` (evalplus's fast check).
    #[serde(default)]
    pub fail_fast: bool,
    /// This job's per-test CPU limit (a question's calibrated limit), in place of the engine's `test_cpu_seconds`
    /// and never above it; a `Call` test's own `cpu_seconds` still wins.
    #[serde(default)]
    pub test_cpu_seconds: Option<f64>,
}

impl Job {
    /// Refuses a job the host cannot plan or the judge cannot run as given, before it reaches a worker (a mistake of
    /// the caller must not come back as a `sandbox_error` that reads as the program's doing): its per-test limit
    /// must be a positive number, and its tests must be of one kind, since the judge runs a job's tests one way:
    /// all `io` (the program as `__main__` per test), all `call` (compared in the judge), or statements (`assert`).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(seconds) = self.test_cpu_seconds {
            if !(seconds.is_finite() && seconds > 0.0) {
                return Err(format!("test_cpu_seconds must be a positive number, got {seconds}"));
            }
        }
        let kind = |test: &TestCase| match test {
            TestCase::Assert { .. } => "assert",
            TestCase::Io { .. } => "io",
            TestCase::Call { .. } => "call",
        };
        let Some(first) = self.tests.first().map(kind) else { return Ok(()) };
        match self.tests.iter().map(kind).find(|&other| other != first) {
            Some(other) => Err(format!(
                "a job's tests must all be of one kind (assert statements, IOTests or CallTests), got {first} and {other}"
            )),
            None => Ok(()),
        }
    }
}

/// First frame a worker sends once it has started and pre-imported its modules.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ready {
    pub pid: u32,
    pub python: String,
}

/// Outcome of one test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub status: Status,
    #[serde(default)]
    pub exception_type: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// CPU seconds the test used.
    #[serde(default)]
    pub cpu_time: f64,
}

/// Outcome of one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub status: Status,
    pub passed: usize,
    pub total: usize,
    pub tests: Vec<TestResult>,
    /// Exception type and message when the program itself (before any test) failed.
    #[serde(default)]
    pub exception_type: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    pub wall_time: f64,
    /// CPU seconds of the job's processes: its runners and its judge child.
    pub cpu_time: f64,
    /// The part of `cpu_time` spent running the program, and the part spent running its tests.
    #[serde(default)]
    pub runner_cpu_time: f64,
    #[serde(default)]
    pub judge_cpu_time: f64,
    /// Peak resident set size of the job's runners, in bytes.
    pub peak_memory: u64,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
}

impl JobResult {
    /// A result for a job the engine could not run to an honest verdict (its worker died or hung): every test is
    /// marked `sandbox_error`, so a lost job is never mistaken for a program that failed.
    #[must_use]
    pub fn sandbox_error(test_count: usize, message: String, wall_time: f64) -> Self {
        let test = TestResult { status: Status::SandboxError, exception_type: None, message: None, cpu_time: 0.0 };
        JobResult {
            status: Status::SandboxError,
            passed: 0,
            total: test_count,
            tests: vec![test; test_count],
            exception_type: Some("SandboxError".to_owned()),
            message: Some(message),
            wall_time,
            cpu_time: 0.0,
            runner_cpu_time: 0.0,
            judge_cpu_time: 0.0,
            peak_memory: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// Checks that a worker's frame is self-consistent for a job of `test_count` tests.
    pub fn validate(&self, test_count: usize) -> Result<(), String> {
        if self.tests.len() != test_count || self.total != test_count {
            return Err(format!("result has {} tests, job had {test_count}", self.tests.len()));
        }
        let passed = self.tests.iter().filter(|t| t.status == Status::Passed).count();
        if passed != self.passed {
            return Err(format!("result claims {} passed but lists {passed}", self.passed));
        }
        Ok(())
    }
}

/// Writes one frame.
pub fn write_frame(writer: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame larger than MAX_FRAME_BYTES"))?;
    writer.write_all(&length.to_le_bytes())?;
    writer.write_all(payload)?;
    writer.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub fn read_frame(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    match reader.read_exact(&mut header) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let length = u32::from_le_bytes(header) as usize;
    if length > MAX_FRAME_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {length} bytes")));
    }
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload)?;
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut buffer = Vec::new();
        write_frame(&mut buffer, b"{\"a\":1}").unwrap();
        write_frame(&mut buffer, b"").unwrap();
        let mut reader = buffer.as_slice();
        assert_eq!(read_frame(&mut reader).unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(read_frame(&mut reader).unwrap().unwrap(), b"");
        assert!(read_frame(&mut reader).unwrap().is_none());
    }

    #[test]
    fn oversized_frame_header_is_refused() {
        let header = u32::try_from(MAX_FRAME_BYTES + 1).unwrap().to_le_bytes();
        let mut reader = &header[..];
        assert_eq!(read_frame(&mut reader).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn test_case_wire_format() {
        let case = TestCase::Assert { code: "assert f(1) == 2".into() };
        assert_eq!(serde_json::to_string(&case).unwrap(), r#"{"kind":"assert","code":"assert f(1) == 2"}"#);
        let io: TestCase =
            serde_json::from_str(r#"{"kind":"io","stdin":"1\n","stdout":"2\n","float_tolerance":null}"#).unwrap();
        assert!(matches!(io, TestCase::Io { .. }));
        let call: TestCase = serde_json::from_str(
            r#"{"kind":"call","entry_point":"f","arguments":"gAQpLg==","expected":"gARLAi4=","cpu_seconds":2.5}"#,
        )
        .unwrap();
        assert!((call.cpu_seconds(4.0) - 2.5).abs() < 1e-12);
        assert!((case.cpu_seconds(4.0) - 4.0).abs() < 1e-12);
        let job: Job = serde_json::from_str(r#"{"program":"","tests":[],"seed":0}"#).unwrap();
        assert!(!job.fail_fast);
        assert_eq!(job.test_cpu_seconds, None);
        let job: Job = serde_json::from_str(r#"{"program":"","tests":[],"seed":0,"test_cpu_seconds":0.5}"#).unwrap();
        assert_eq!(job.test_cpu_seconds, Some(0.5));
        assert!(job.validate().is_ok());
    }

    #[test]
    fn a_job_limit_that_is_not_a_positive_number_is_refused() {
        for seconds in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let job = Job {
                program: String::new(),
                tests: vec![],
                seed: 0,
                fail_fast: false,
                test_cpu_seconds: Some(seconds),
            };
            assert!(job.validate().unwrap_err().contains("test_cpu_seconds"), "{seconds}");
        }
    }

    #[test]
    fn validate_rejects_inconsistent_counts() {
        let mut result = JobResult::sandbox_error(2, "x".into(), 0.0);
        assert!(result.validate(2).is_ok());
        assert!(result.validate(3).is_err());
        result.passed = 1;
        assert!(result.validate(2).is_err());
    }
}
