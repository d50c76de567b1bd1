//! Resource limits, and the plan of one job: every number the judge applies to it, computed here, once.
//!
//! CPU time is the verdict, wall-clock time only a backstop: on a loaded machine an honest test gets less of a
//! core, so its wall time grows while its CPU time does not. The judge measures each test's CPU time on the
//! runner's own CPU clock (and its own), and kills the runner from outside when a limit or the generous wall-clock
//! backstop passes. `RLIMIT_CPU` bounds a whole runner even if the judge were slow to notice.
//!
//! The address-space limit is relative to the runner zygote's own footprint, so that interpreters with numpy or
//! OpenBLAS pre-imported still start and the limit means "this much more than an idle runner".
//!
//! See: <https://man7.org/linux/man-pages/man2/setrlimit.2.html>

use serde::{Deserialize, Serialize};

use crate::protocol::Job;

/// Per-job limits. All times in seconds, all sizes in bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// CPU time one test may use.
    pub test_cpu_seconds: f64,
    /// CPU time the program itself (definitions, top-level code) may use before the first test.
    pub program_cpu_seconds: f64,
    /// Wall-clock backstop = CPU limit × `wall_multiplier` + `wall_slack_seconds`.
    pub wall_multiplier: f64,
    pub wall_slack_seconds: f64,
    /// Address space a job may add on top of its runner zygote's own.
    pub memory_bytes: u64,
    /// Bytes each of stdout and stderr may hold; also the largest file a job may write.
    pub output_bytes: u64,
    /// Bytes of the tail of stdout/stderr kept in the result.
    pub capture_bytes: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Largest answer (one encoded value) the runner may send the judge; a larger one fails its test.
    pub value_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            test_cpu_seconds: 4.0,
            program_cpu_seconds: 10.0,
            wall_multiplier: 3.0,
            wall_slack_seconds: 2.0,
            memory_bytes: 2 << 30,
            output_bytes: 8 << 20,
            capture_bytes: 4096,
            open_files: 256,
            value_bytes: 16 << 20,
        }
    }
}

/// The numbers the judge applies to one job (sent with it; the judge derives nothing itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobPlan {
    /// CPU seconds for the program's top level, and its wall-clock backstop.
    pub program_cpu: f64,
    pub program_wall: f64,
    /// Per test: CPU seconds, and the wall-clock backstop.
    pub test_cpu: Vec<f64>,
    pub test_wall: Vec<f64>,
    /// The longest the whole job may legitimately take in its worker: the program may run again after every test
    /// whose runner died. The host adds its slack to this to detect a hung worker.
    pub job_wall: f64,
    /// Tests not to run, judged timed out: a previous attempt's judge hung in them (see `pool.rs`).
    #[serde(default)]
    pub skip: Vec<usize>,
}

impl Limits {
    /// Checks that every limit is usable.
    pub fn validate(&self) -> Result<(), String> {
        let times = [
            ("test_cpu_seconds", self.test_cpu_seconds),
            ("program_cpu_seconds", self.program_cpu_seconds),
            ("wall_multiplier", self.wall_multiplier),
        ];
        for (name, value) in times {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{name} must be a positive number, got {value}"));
            }
        }
        if !(self.wall_slack_seconds.is_finite() && self.wall_slack_seconds >= 0.0) {
            return Err(format!("wall_slack_seconds must be >= 0, got {}", self.wall_slack_seconds));
        }
        if self.wall_multiplier < 1.0 {
            return Err("wall_multiplier must be >= 1 (wall time can never be below CPU time)".to_owned());
        }
        if self.memory_bytes < (16 << 20) {
            return Err("memory_bytes must be at least 16 MiB".to_owned());
        }
        if self.output_bytes < 1024 || self.open_files < 16 {
            return Err("output_bytes must be >= 1024 and open_files >= 16".to_owned());
        }
        if self.value_bytes < 1024 {
            return Err("value_bytes must be >= 1024".to_owned());
        }
        Ok(())
    }

    /// Wall-clock backstop for something allowed `cpu_seconds` of CPU.
    #[must_use]
    pub fn wall_seconds(&self, cpu_seconds: f64) -> f64 {
        cpu_seconds * self.wall_multiplier + self.wall_slack_seconds
    }

    /// The per-test CPU limit of `job`'s tests that carry none of their own: the job's own limit (a question's
    /// calibrated one) where it has one, capped by the engine's, so a dataset column can tighten a limit but never
    /// raise it past what the engine was started with.
    #[must_use]
    pub fn test_cpu_for(&self, job: &Job) -> f64 {
        job.test_cpu_seconds.map_or(self.test_cpu_seconds, |seconds| seconds.min(self.test_cpu_seconds))
    }

    /// Every number the judge needs for `job`.
    #[must_use]
    pub fn plan(&self, job: &Job) -> JobPlan {
        let default = self.test_cpu_for(job);
        let test_cpu: Vec<f64> = job.tests.iter().map(|test| test.cpu_seconds(default)).collect();
        let test_wall: Vec<f64> = test_cpu.iter().map(|&seconds| self.wall_seconds(seconds)).collect();
        let program_wall = self.wall_seconds(self.program_cpu_seconds);
        let job_wall = test_wall.iter().map(|wall| program_wall + wall).sum::<f64>() + program_wall;
        JobPlan { program_cpu: self.program_cpu_seconds, program_wall, test_cpu, test_wall, job_wall, skip: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::TestCase;

    #[test]
    fn defaults_are_valid() {
        assert!(Limits::default().validate().is_ok());
    }

    #[test]
    fn invalid_limits_are_named() {
        let limits = Limits { test_cpu_seconds: -1.0, ..Limits::default() };
        assert!(limits.validate().unwrap_err().contains("test_cpu_seconds"));
        let limits = Limits { wall_multiplier: 0.5, ..Limits::default() };
        assert!(limits.validate().is_err());
        let limits = Limits { memory_bytes: 1, ..Limits::default() };
        assert!(limits.validate().is_err());
    }

    #[test]
    fn a_plan_holds_each_tests_own_limit_and_a_bound_that_grows_with_tests() {
        let limits = Limits::default();
        let call = |seconds| TestCase::Call {
            entry_point: "f".into(),
            arguments: String::new(),
            expected: String::new(),
            expected_key: None,
            atol: 0.0,
            oracle: None,
            cpu_seconds: seconds,
        };
        let job = Job {
            program: String::new(),
            tests: vec![call(Some(0.5)), call(None)],
            seed: 0,
            fail_fast: false,
            test_cpu_seconds: None,
        };
        let plan = limits.plan(&job);
        assert_eq!(plan.test_cpu, vec![0.5, 4.0]);
        assert!((plan.test_wall[0] - (0.5 * 3.0 + 2.0)).abs() < 1e-12);
        assert!((plan.program_wall - 32.0).abs() < 1e-12);
        let longer = Job { tests: vec![call(None); 5], ..job.clone() };
        assert!(limits.plan(&longer).job_wall > plan.job_wall);
        assert!(plan.job_wall >= plan.program_wall + plan.test_wall.iter().sum::<f64>());
    }

    #[test]
    fn a_jobs_own_limit_replaces_the_default_below_it_and_a_tests_own_still_wins() {
        let limits = Limits::default();
        let assert = TestCase::Assert { code: "assert True".into() };
        let call = TestCase::Call {
            entry_point: "f".into(),
            arguments: String::new(),
            expected: String::new(),
            expected_key: None,
            atol: 0.0,
            oracle: None,
            cpu_seconds: Some(2.5),
        };
        let job = Job {
            program: String::new(),
            tests: vec![assert.clone(), call],
            seed: 0,
            fail_fast: false,
            test_cpu_seconds: Some(0.25),
        };
        let plan = limits.plan(&job);
        assert_eq!(plan.test_cpu, vec![0.25, 2.5]);
        assert!((plan.test_wall[0] - (0.25 * 3.0 + 2.0)).abs() < 1e-12);
        let above = Job { tests: vec![assert], test_cpu_seconds: Some(60.0), ..job.clone() };
        assert_eq!(limits.plan(&above).test_cpu, vec![4.0], "a job's limit never exceeds the engine's");
    }
}
