//! The pool end to end: real zygote workers on the system `python3`, real forks, real verdicts.

mod common;

use std::time::Duration;

use _engine::{EngineError, Job, Pool, Status, TestCase};
use common::{assert_job, config, fast_limits, pool};

#[test]
fn results_arrive_in_input_order_with_exact_counts() {
    let pool = pool(2);
    let jobs: Vec<Job> = (0..20)
        .map(|value| assert_job(&format!("def f():\n    return {value}\n"), &["assert f() == 3", "assert f() >= 0"]))
        .collect();
    let results = pool.submit(jobs).unwrap().collect_ordered().unwrap();
    assert_eq!(results.len(), 20);
    for (value, result) in results.iter().enumerate() {
        let expected = if value == 3 { 2 } else { 1 };
        assert_eq!(result.passed, expected, "job {value}: {result:?}");
        assert_eq!(result.total, 2);
    }
    assert_eq!(results[3].status, Status::Passed);
    assert_eq!(results[4].status, Status::Failed);
    assert_eq!(results[4].tests[0].exception_type.as_deref(), Some("AssertionError"));
}

#[test]
fn program_errors_leave_tests_not_run() {
    let pool = pool(1);
    let results = pool
        .submit(vec![
            assert_job("def f(:\n", &["assert f() == 1"]),
            assert_job("raise ValueError('boom')", &["assert 1"]),
        ])
        .unwrap()
        .collect_ordered()
        .unwrap();
    assert_eq!(results[0].status, Status::Error);
    assert_eq!(results[0].exception_type.as_deref(), Some("SyntaxError"));
    assert_eq!(results[0].tests[0].status, Status::NotRun);
    assert_eq!(results[1].exception_type.as_deref(), Some("ValueError"));
}

#[test]
fn a_test_that_hangs_or_exits_costs_only_itself() {
    let pool = pool(1);
    let program = "import os\ndef f(x):\n    if x == 1:\n        while True: pass\n    if x == 2:\n        os._exit(0)\n    return x\n";
    let job = assert_job(program, &["assert f(0) == 0", "assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3"]);
    let result = pool.submit(vec![job]).unwrap().collect_ordered().unwrap().remove(0);
    let statuses: Vec<Status> = result.tests.iter().map(|test| test.status).collect();
    assert_eq!(statuses, [Status::Passed, Status::Timeout, Status::Killed, Status::Passed]);
    assert_eq!(result.passed, 2);
}

#[test]
fn a_jobs_own_test_limit_times_out_its_loops_sooner_and_a_bad_one_is_refused() {
    let pool = pool(1);
    let program = "def f(x):\n    while x: pass\n    return x\n";
    let tests = ["assert f(0) == 0", "assert f(1) == 1"];
    let tight = Job { test_cpu_seconds: Some(0.2), ..assert_job(program, &tests) };
    let wide = Job { test_cpu_seconds: Some(30.0), ..assert_job(program, &tests) };
    let results = pool.submit(vec![tight, wide]).unwrap().collect_ordered().unwrap();
    for result in &results {
        let statuses: Vec<Status> = result.tests.iter().map(|test| test.status).collect();
        assert_eq!(statuses, [Status::Passed, Status::Timeout], "{result:?}");
    }
    // 0.2 s against the engine's 1.0 s (fast_limits); 30 s is capped at the engine's 1.0 s, so the loop ends at
    // 1 s of CPU or at that limit's 3 s wall backstop on a loaded machine, never at 30 s (61 s of wall backstop).
    assert!(results[0].tests[1].cpu_time < 0.6, "{:?}", results[0].tests[1]);
    assert!(results[1].tests[1].cpu_time < 1.6 && results[1].wall_time < 20.0, "{:?}", results[1]);
    let bad = Job { test_cpu_seconds: Some(f64::NAN), ..assert_job(program, &tests) };
    assert!(
        matches!(pool.submit(vec![bad]), Err(EngineError::InvalidJob { index: 0, reason }) if reason.contains("test_cpu_seconds"))
    );
}

#[test]
fn uncatchable_busy_loop_is_killed_from_outside() {
    // A C-level loop never returns to the interpreter, so the CPU-time signal cannot interrupt it: the zygote's
    // wall-clock backstop or RLIMIT_CPU must.
    let pool = pool(1);
    let job = assert_job("def f():\n    return sum(range(10**13))\n", &["assert f() == 0", "assert 1 == 1"]);
    let result = pool.submit(vec![job]).unwrap().collect_ordered().unwrap().remove(0);
    assert_eq!(result.tests[0].status, Status::Timeout, "{result:?}");
    assert_eq!(result.tests[1].status, Status::Passed);
}

#[test]
fn memory_and_output_limits() {
    let pool = pool(1);
    let jobs = vec![
        assert_job("def f():\n    return bytearray(1 << 40)\n", &["assert f()"]),
        assert_job("def f():\n    while True: print('x' * 65536)\n", &["assert f()"]),
    ];
    let results = pool.submit(jobs).unwrap().collect_ordered().unwrap();
    assert_eq!(results[0].tests[0].status, Status::MemoryExceeded);
    assert_eq!(results[1].tests[0].status, Status::OutputExceeded);
}

#[test]
fn seccomp_refuses_processes_and_network() {
    let pool = pool(1);
    let program = "import os, socket\n\
def fork():\n    try:\n        pid = os.fork()\n    except OSError:\n        return 'refused'\n    if pid == 0:\n        os._exit(0)\n    return 'forked'\n\
def connect():\n    try:\n        socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n    except OSError:\n        return 'refused'\n    return 'opened'\n";
    let job = assert_job(program, &["assert fork() == 'refused'", "assert connect() == 'refused'"]);
    let result = pool.submit(vec![job]).unwrap().collect_ordered().unwrap().remove(0);
    assert_eq!(result.passed, 2, "{result:?}");
}

#[test]
fn stdin_stdout_tests_are_judged_by_the_zygote() {
    let pool = pool(1);
    let io =
        |stdin: &str, stdout: &str| TestCase::Io { stdin: stdin.into(), stdout: stdout.into(), float_tolerance: None };
    let job = Job {
        program: "a, b = map(int, input().split())\nprint(a + b)\n".into(),
        tests: vec![io("1 2\n", "3\n"), io("2 2\n", "5"), io("oops", "0")],
        seed: 0,
        fail_fast: false,
        test_cpu_seconds: None,
    };
    let result = pool.submit(vec![job]).unwrap().collect_ordered().unwrap().remove(0);
    let statuses: Vec<Status> = result.tests.iter().map(|test| test.status).collect();
    assert_eq!(statuses, [Status::Passed, Status::Failed, Status::Error]);
}

#[test]
fn a_dead_worker_is_replaced_and_its_job_reports_sandbox_error() {
    let pool = pool(1);
    let first = pool.worker_pids();
    assert_eq!(first.len(), 1);
    // Kill the zygote itself while a job runs in it.
    let pid = i32::try_from(first[0]).unwrap();
    let mut batch = pool.submit(vec![assert_job("import time\ntime.sleep(1.5)\n", &["assert True"])]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling a worker process this test owns.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let (_, result) = batch.next_timeout(Some(Duration::from_secs(30))).unwrap().unwrap();
    assert_eq!(result.status, Status::SandboxError);
    let after = pool.submit(vec![assert_job("x = 1", &["assert x == 1"])]).unwrap().collect_ordered().unwrap();
    assert_eq!(after[0].status, Status::Passed);
    assert_ne!(pool.worker_pids(), first);
}

#[test]
fn close_leaves_no_worker_behind() {
    let pool = pool(2);
    let pids = pool.worker_pids();
    pool.close();
    for pid in pids {
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ");
        assert!(!alive, "worker {pid} survived close");
    }
    assert!(pool.submit(vec![assert_job("", &[])]).unwrap().next_timeout(None).is_err());
}

#[test]
fn invalid_configuration_is_an_error() {
    let mut bad = config(1, fast_limits());
    bad.workers = 0;
    assert!(Pool::new(&bad).is_err());
    let mut missing = config(1, fast_limits());
    missing.python = "/nonexistent/python".into();
    assert!(Pool::new(&missing).is_err());
    let mut unsandboxed = config(1, fast_limits());
    unsandboxed.sandbox_library = None;
    assert!(matches!(Pool::new(&unsandboxed), Err(EngineError::InvalidConfig(_))));
}

#[test]
fn close_interrupts_running_jobs_promptly() {
    let pool = pool(1);
    let mut batch = pool.submit(vec![assert_job("import time\ntime.sleep(60)\n", &["assert True"])]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    pool.close();
    assert!(started.elapsed() < Duration::from_secs(10), "close waited for the job");
    assert!(batch.next_timeout(Some(Duration::from_secs(5))).is_err());
}

#[test]
fn a_job_mixing_test_kinds_is_refused_with_the_batch() {
    // The judge runs a job's tests one way; a mixed job used to reach it and come back as a lost worker.
    let pool = pool(1);
    let mut mixed = assert_job("def f():\n    return 1\n", &["assert f() == 1"]);
    mixed.tests.push(TestCase::Io { stdin: String::new(), stdout: "1\n".to_owned(), float_tolerance: None });
    let honest = assert_job("def f():\n    return 1\n", &["assert f() == 1"]);
    match pool.submit(vec![honest.clone(), mixed]) {
        Err(EngineError::InvalidJob { index, reason }) => {
            assert_eq!(index, 1);
            assert!(reason.contains("assert and io"), "{reason}");
        }
        other => panic!("expected InvalidJob, got {:?}", other.map(|_| "a batch")),
    }
    let results = pool.submit(vec![honest]).unwrap().collect_ordered().unwrap();
    assert_eq!(results[0].status, Status::Passed);
}
