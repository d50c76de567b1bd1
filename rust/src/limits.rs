//! Resource limits: what a job may use, and the rlimits that enforce part of it inside the job's child.
//!
//! CPU time is the verdict, wall-clock time only a backstop: on a loaded machine an honest test gets less of a
//! core, so its wall time grows while its CPU time does not. The harness times each test on the child's own CPU
//! clock (`ITIMER_PROF`, the same signal-based clock evalplus uses per test) and its zygote kills the child from
//! outside when the generous wall-clock backstop passes. `RLIMIT_CPU` bounds the whole job even if a program
//! blocks signals.
//!
//! The address-space limit is relative to the zygote's own footprint, so that interpreters with numpy or
//! OpenBLAS pre-imported still start and the limit means "this much more than an idle worker".
//!
//! See: <https://man7.org/linux/man-pages/man2/setrlimit.2.html>

use std::io;

use serde::{Deserialize, Serialize};

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
    /// Address space a job may add on top of its worker's own.
    pub memory_bytes: u64,
    /// Bytes each of stdout and stderr may hold; also the largest file a job may write.
    pub output_bytes: u64,
    /// Bytes of the tail of stdout/stderr kept in the result.
    pub capture_bytes: u64,
    /// Open file descriptors.
    pub open_files: u64,
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
        }
    }
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
        Ok(())
    }

    /// Wall-clock backstop for something allowed `cpu_seconds` of CPU.
    #[must_use]
    pub fn wall_seconds(&self, cpu_seconds: f64) -> f64 {
        cpu_seconds * self.wall_multiplier + self.wall_slack_seconds
    }

    /// The longest a zygote can legitimately take for a job of `test_count` tests: the program may be re-run
    /// after every test that kills its child. The host uses this (plus slack) to detect a hung worker.
    #[must_use]
    pub fn job_wall_bound_seconds(&self, test_count: usize) -> f64 {
        self.job_wall_bound_for(std::iter::repeat_n(self.test_cpu_seconds, test_count))
    }

    /// [`Limits::job_wall_bound_seconds`] for tests with their own CPU-time limits.
    #[must_use]
    pub fn job_wall_bound_for(&self, test_cpu_seconds: impl Iterator<Item = f64>) -> f64 {
        let program = self.wall_seconds(self.program_cpu_seconds);
        test_cpu_seconds.map(|seconds| program + self.wall_seconds(seconds)).sum::<f64>() + program
    }
}

/// The rlimits a job's child sets on itself, computed by the harness for one job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RlimitPlan {
    /// Extra address space over the footprint (0: no limit).
    pub memory_bytes: u64,
    /// The footprint `memory_bytes` adds to; measured at [`RlimitPlan::apply`] when 0. The zygote measures it
    /// once (a child's footprint at fork is its zygote's) so that no job reads `/proc` for it.
    #[serde(default)]
    pub address_space_base: u64,
    /// Whole-job CPU seconds: soft limit (SIGXCPU), the hard limit one second later (SIGKILL).
    pub cpu_seconds: u64,
    pub file_size_bytes: u64,
    pub open_files: u64,
}

fn set(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit reads a fully initialised struct and touches no memory of ours.
    if unsafe { libc::setrlimit(resource, &raw const limit) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Virtual memory size of the calling process, from `/proc/self/statm`.
pub fn current_address_space() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/self/statm"))?;
    // SAFETY: sysconf has no memory effects.
    let page_size = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    Ok(pages * page_size)
}

impl RlimitPlan {
    /// Applies the plan to the calling process. Core dumps are always off.
    pub fn apply(&self) -> io::Result<()> {
        set(libc::RLIMIT_CORE, 0, 0)?;
        if self.memory_bytes > 0 {
            let base = if self.address_space_base > 0 { self.address_space_base } else { current_address_space()? };
            let limit = base + self.memory_bytes;
            set(libc::RLIMIT_AS, limit, limit)?;
        }
        if self.cpu_seconds > 0 {
            set(libc::RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 1)?;
        }
        if self.file_size_bytes > 0 {
            set(libc::RLIMIT_FSIZE, self.file_size_bytes, self.file_size_bytes)?;
        }
        if self.open_files > 0 {
            set(libc::RLIMIT_NOFILE, self.open_files, self.open_files)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn wall_backstop_grows_with_tests() {
        let limits = Limits::default();
        assert!(limits.wall_seconds(1.0) >= 1.0);
        assert!(limits.job_wall_bound_seconds(10) > limits.job_wall_bound_seconds(1));
    }

    #[test]
    fn address_space_is_readable() {
        assert!(current_address_space().unwrap() > 1 << 20);
    }
}
