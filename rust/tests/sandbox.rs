//! Hostile programs against each sandbox layer, through real workers: seccomp (no processes, no network, no
//! signals to others, no kernel interfaces, no new rlimits), rlimits (memory, file size, descriptors, CPU),
//! Landlock (writes only in scratch, reads only what Python needs), the privilege drop (root jobs run as
//! `nobody`), and hygiene (an environment empty of the host's variables, stdin empty).
//!
//! Each program reports what happened as a plain value ('refused', a count) and the tests assert the intended
//! answer, so a failure names the layer that let something through.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use _engine::{JobResult, Limits, Pool, PoolConfig, Status};
use common::{assert_job, config, fast_limits};

fn is_root() -> bool {
    // SAFETY: geteuid has no memory effects.
    unsafe { libc::geteuid() == 0 }
}

/// Whether an unprivileged user can reach the interpreter `python3` runs from.
fn interpreter_traversable() -> bool {
    let output = std::process::Command::new(common::python())
        .args(["-c", "import os, sys\np = os.path.realpath(sys.executable).split(os.sep)\nprint(all(os.stat(os.sep.join(p[:i]) or os.sep).st_mode & 1 for i in range(1, len(p))))"])
        .output();
    output.is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "True")
}

fn landlock_available() -> bool {
    _engine::sandbox::landlock::kernel_abi() > 0
}

/// Strips the common indentation of `source`, so programs can be written indented inside the tests.
fn dedent(source: &str) -> String {
    let indent = source
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    source.lines().map(|line| if line.len() >= indent { &line[indent..] } else { line.trim_start() }).fold(
        String::new(),
        |mut text, line| {
            text.push_str(line);
            text.push('\n');
            text
        },
    )
}

fn run_with(config: &PoolConfig, program: &str, tests: &[&str]) -> JobResult {
    let pool = _engine::Pool::new(config).expect("pool starts");
    let mut results =
        pool.submit(vec![assert_job(&dedent(program), tests)]).expect("submit").collect_ordered().expect("results");
    pool.close();
    results.remove(0)
}

fn run(program: &str, tests: &[&str]) -> JobResult {
    run_with(&config(1, fast_limits()), program, tests)
}

fn statuses(result: &JobResult) -> Vec<Status> {
    result.tests.iter().map(|test| test.status).collect()
}

/// Every test of `result` passed; on failure, prints each test's verdict.
fn assert_all_passed(result: &JobResult) {
    assert_eq!(result.passed, result.total, "{:#?}", result.tests);
    assert!(result.total > 0);
}

/// A directory under the system temporary directory, outside every worker's scratch, removed on drop.
/// World-writable, so that only the sandbox (not file permissions) keeps a job from writing into it.
struct OutsideDirectory(PathBuf);

impl OutsideDirectory {
    fn new(mode: u32) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "acecoder-sandbox-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create the outside directory");
        set_mode(&path, mode);
        OutsideDirectory(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temporary path")
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("list the outside directory")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for OutsideDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

// ---------------------------------------------------------------------------------------------------------- seccomp

#[test]
fn seccomp_refuses_new_processes_but_not_threads() {
    let result = run(
        r"
        import ctypes, os, subprocess, sys, threading
        def attempt(kind):
            try:
                if kind == 'fork':
                    if os.fork() == 0:
                        os._exit(0)
                elif kind == 'subprocess':
                    subprocess.run(['/bin/true'], timeout=2)
                elif kind == 'execv':
                    os.execv(sys.executable, [sys.executable, '-c', 'pass'])
                elif kind == 'posix_spawn':
                    os.posix_spawn('/bin/true', ['true'], {})
                elif kind == 'raw_clone':
                    # clone(SIGCHLD) without CLONE_THREAD is a new process; a child that appears exits at once.
                    libc = ctypes.CDLL(None, use_errno=True)
                    pid = libc.syscall(56, 17, 0, 0, 0, 0)
                    if pid == 0:
                        libc.syscall(60, 0)
                    return 'refused' if pid == -1 else 'created'
            except OSError:
                return 'refused'
            return 'created'
        def threads():
            results = []
            workers = [threading.Thread(target=results.append, args=(index,)) for index in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            return sorted(results)
        ",
        &[
            "assert attempt('fork') == 'refused'",
            "assert attempt('subprocess') == 'refused'",
            "assert attempt('execv') == 'refused'",
            "assert attempt('posix_spawn') == 'refused'",
            "import platform\nassert platform.machine() != 'x86_64' or attempt('raw_clone') == 'refused'",
            "assert threads() == [0, 1, 2, 3]",
        ],
    );
    assert_all_passed(&result);
}

#[test]
fn seccomp_refuses_network_sockets_but_not_local_ones() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("address").port();
    let program = format!(
        r"
        import socket
        def connect():
            try:
                socket.create_connection(('127.0.0.1', {port}), timeout=1).close()
            except OSError:
                return 'refused'
            return 'connected'
        def opens(family, kind):
            try:
                socket.socket(family, kind).close()
            except OSError:
                return False
            return True
        def local_pair():
            left, right = socket.socketpair()
            left.sendall(b'ping')
            answer = right.recv(4)
            left.close()
            right.close()
            return answer
        "
    );
    let result = run(
        &program,
        &[
            "assert connect() == 'refused'",
            "assert not opens(socket.AF_INET, socket.SOCK_DGRAM)",
            "assert not opens(socket.AF_INET6, socket.SOCK_STREAM)",
            "assert not opens(socket.AF_PACKET, socket.SOCK_RAW)",
            "assert not opens(socket.AF_NETLINK, socket.SOCK_RAW)",
            "assert local_pair() == b'ping'",
        ],
    );
    assert_all_passed(&result);
    assert!(listener.accept().is_err(), "a job reached the listener");
}

#[test]
fn seccomp_refuses_signals_to_other_processes() {
    let result = run(
        r"
        import ctypes, os
        def refused(pid):
            try:
                os.kill(pid, 0)
            except PermissionError:
                return True
            return False
        def tgkill_refused(pid):
            libc = ctypes.CDLL(None, use_errno=True)
            return libc.syscall(234, pid, pid, 0) == -1 and ctypes.get_errno() == 1
        def own():
            return os.getpid()
        def parent():
            return os.getppid()
        ",
        &[
            "assert refused(1)",
            "assert refused(-1)",
            "assert refused(parent())",
            "import platform\nassert platform.machine() != 'x86_64' or tgkill_refused(parent())",
            "assert not refused(own())",
        ],
    );
    assert_all_passed(&result);
}

#[test]
fn seccomp_refuses_kernel_interfaces() {
    // Syscall numbers below are x86_64's.
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    // Arguments are harmless even if a call got through: a mount target that does not exist, null pointers.
    let result = run(
        r"
        import ctypes, os
        LIBC = ctypes.CDLL(None, use_errno=True)
        CALLS = {
            'ptrace_attach': (101, 16, os.getppid(), 0, 0),
            'ptrace_traceme': (101, 0, 0, 0, 0),
            'process_vm_readv': (310, os.getppid(), 0, 0, 0, 0, 0),
            'unshare': (272, 0x10000000 | 0x00020000),
            'setns': (308, 0, 0),
            'mount': (165, b'none', b'/nonexistent-acecoder-target', b'tmpfs', 0, 0),
            'bpf': (321, 0, 0, 0),
            'perf_event_open': (298, 0, 0, -1, -1, 0),
            'keyctl': (250, 0, -3, 0),
            'io_uring_setup': (425, 1, 0),
        }
        def refused(name):
            number, *arguments = CALLS[name]
            return LIBC.syscall(number, *arguments) == -1 and ctypes.get_errno() == 1
        ",
        &[
            "assert refused('ptrace_attach')",
            "assert refused('ptrace_traceme')",
            "assert refused('process_vm_readv')",
            "assert refused('unshare')",
            "assert refused('setns')",
            "assert refused('mount')",
            "assert refused('bpf')",
            "assert refused('perf_event_open')",
            "assert refused('keyctl')",
            "assert refused('io_uring_setup')",
        ],
    );
    assert_all_passed(&result);
}

#[test]
fn seccomp_refuses_setting_rlimits() {
    let result = run(
        r"
        import resource
        def attempt(kind):
            try:
                if kind == 'raise':
                    resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                elif kind == 'lower':
                    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                    resource.setrlimit(resource.RLIMIT_NOFILE, (soft - 1, hard))
                else:
                    resource.prlimit(0, resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            except (OSError, ValueError):
                return 'refused'
            return 'changed'
        def descriptors():
            return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        ",
        &[
            "assert attempt('raise') == 'refused'",
            "assert attempt('lower') == 'refused'",
            "assert attempt('prlimit') == 'refused'",
            "assert descriptors() > 0",
        ],
    );
    assert_all_passed(&result);
}

// ---------------------------------------------------------------------------------------------------------- rlimits

#[test]
fn memory_limit_fails_only_the_greedy_test() {
    let limits = Limits { memory_bytes: 256 << 20, ..fast_limits() };
    let result = run_with(
        &config(1, limits),
        r"
        HOARD = []
        def grab(kind):
            if kind == 'reserve':
                return len(bytearray(1 << 40))
            while True:
                HOARD.append([0] * 10 ** 7)
        ",
        &["assert grab('reserve') > 0", "assert grab('touch') > 0", "assert 1 + 1 == 2"],
    );
    assert_eq!(statuses(&result)[..2], [Status::MemoryExceeded, Status::MemoryExceeded], "{:#?}", result.tests);
    assert_eq!(result.tests[2].status, Status::Passed);
}

#[test]
fn file_size_limit_stops_large_files_in_scratch() {
    let limits = Limits { output_bytes: 1 << 20, ..fast_limits() };
    let result = run_with(
        &config(1, limits),
        r"
        def write(size):
            with open('big.bin', 'wb') as sink:
                for _ in range(size // 65536):
                    sink.write(b'z' * 65536)
            return size
        ",
        &["assert write(1 << 19) == 1 << 19", "assert write(4 << 20) == 4 << 20", "assert write(1024) == 1024"],
    );
    assert_eq!(statuses(&result), [Status::Passed, Status::OutputExceeded, Status::Passed], "{:#?}", result.tests);
}

#[test]
fn open_files_limit_caps_descriptors() {
    let limits = fast_limits();
    let open_files = limits.open_files;
    let result = run(
        r"
        import os, resource
        HELD = []
        def exhaust():
            try:
                while True:
                    HELD.extend(os.pipe())
            except OSError:
                pass
            count = len(HELD)
            for fd in HELD:
                os.close(fd)
            HELD.clear()
            return count
        def limit():
            return resource.getrlimit(resource.RLIMIT_NOFILE)
        ",
        &[&format!("assert exhaust() < {open_files}"), &format!("assert limit() == ({open_files}, {open_files})")],
    );
    assert_all_passed(&result);
}

#[test]
fn cpu_limit_holds_when_the_program_disarms_its_timer() {
    let result = run(
        r"
        import resource, signal
        def spin():
            signal.signal(signal.SIGPROF, signal.SIG_IGN)
            signal.signal(signal.SIGXCPU, signal.SIG_IGN)
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
            while True:
                pass
        def cpu_limited():
            return resource.getrlimit(resource.RLIMIT_CPU)[1] != resource.RLIM_INFINITY
        ",
        &["assert spin()", "assert cpu_limited()"],
    );
    assert_eq!(statuses(&result), [Status::Timeout, Status::Passed], "{:#?}", result.tests);
}

// --------------------------------------------------------------------------------------------------------- landlock

#[test]
fn landlock_refuses_writes_outside_scratch() {
    if !landlock_available() {
        return;
    }
    let outside = OutsideDirectory::new(0o777);
    std::fs::write(outside.0.join("existing.txt"), "keep\n").expect("write the existing file");
    set_mode(&outside.0.join("existing.txt"), 0o666);
    let program = format!(
        r"
        import os
        OUTSIDE = '{}'
        def attempt(kind):
            try:
                if kind == 'create':
                    open(OUTSIDE + '/created.txt', 'w').close()
                elif kind == 'append':
                    with open(OUTSIDE + '/existing.txt', 'a') as handle:
                        handle.write('changed')
                elif kind == 'unlink':
                    os.unlink(OUTSIDE + '/existing.txt')
                elif kind == 'mkdir':
                    os.mkdir(OUTSIDE + '/made')
                elif kind == 'symlink':
                    os.symlink(OUTSIDE, 'way-out')
                    open('way-out/through-link.txt', 'w').close()
                else:
                    open('/tmp/acecoder-sandbox-escape.txt', 'w').close()
            except OSError:
                return 'refused'
            return 'written'
        ",
        outside.path()
    );
    let result = run(
        &program,
        &[
            "assert attempt('create') == 'refused'",
            "assert attempt('append') == 'refused'",
            "assert attempt('unlink') == 'refused'",
            "assert attempt('mkdir') == 'refused'",
            "assert attempt('symlink') == 'refused'",
            "assert attempt('tmp') == 'refused'",
        ],
    );
    let _ = std::fs::remove_file("/tmp/acecoder-sandbox-escape.txt");
    assert_all_passed(&result);
    assert_eq!(outside.entries(), ["existing.txt"]);
    assert_eq!(std::fs::read_to_string(outside.0.join("existing.txt")).expect("read back"), "keep\n");
}

#[test]
fn landlock_allows_work_inside_scratch() {
    let result = run(
        r"
        import os, tempfile
        def roundtrip():
            os.makedirs('a/b', exist_ok=True)
            with open('a/b/data.txt', 'w') as handle:
                handle.write('hello')
            os.rename('a/b/data.txt', 'a/data.txt')
            with open('a/data.txt') as handle:
                text = handle.read()
            os.remove('a/data.txt')
            return text
        def temporary():
            with tempfile.TemporaryFile() as handle:
                handle.write(b'ok')
                handle.seek(0)
                return handle.read()
        def listing():
            return os.listdir('a')
        ",
        &["assert roundtrip() == 'hello'", "assert temporary() == b'ok'", "assert listing() == ['b']"],
    );
    assert_all_passed(&result);
}

#[test]
fn landlock_limits_reads_to_what_python_needs() {
    if !landlock_available() {
        return;
    }
    let outside = OutsideDirectory::new(0o755);
    std::fs::write(outside.0.join("data.txt"), "data\n").expect("write");
    set_mode(&outside.0.join("data.txt"), 0o644);
    let readable = OutsideDirectory::new(0o755);
    std::fs::write(readable.0.join("data.txt"), "shared\n").expect("write");
    set_mode(&readable.0.join("data.txt"), 0o644);
    let mut config = config(1, fast_limits());
    config.extra_read_paths = vec![readable.path().to_owned()];
    let program = format!(
        r"
        import os
        def read(path):
            try:
                with open(path) as handle:
                    return handle.read()
            except OSError:
                return 'refused'
        def stdlib():
            import decimal, json, zipfile
            return json.loads('[1]')
        def random_bytes():
            return len(os.urandom(8))
        OUTSIDE = '{}'
        READABLE = '{}'
        ",
        outside.path(),
        readable.path()
    );
    let result = run_with(
        &config,
        &program,
        &[
            "assert read('/etc/hostname') == 'refused'",
            "assert read(OUTSIDE + '/data.txt') == 'refused'",
            "assert read(READABLE + '/data.txt') == 'shared\\n'",
            "assert stdlib() == [1]",
            "assert random_bytes() == 8",
            "assert read('/proc/self/status') == 'refused'",
            "assert read('/proc/1/status') == 'refused'",
        ],
    );
    assert_all_passed(&result);
}

// -------------------------------------------------------------------------------------------------------- privilege

#[test]
fn programs_of_a_root_engine_run_as_unprivileged_uids_no_two_workers_share() {
    if !is_root() {
        return;
    }
    // Each job prints its identity; the uids of one pool's two workers and of a second pool's worker must differ.
    let program = "import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups())\n";
    let identities = |pool: &Pool, jobs: usize| -> std::collections::BTreeSet<String> {
        let batch = (0..jobs).map(|_| assert_job(program, &[])).collect();
        let results = pool.submit(batch).expect("submit").collect_ordered().expect("results");
        results.iter().map(|result| result.stdout.trim().to_owned()).collect()
    };
    let first = Pool::new(&config(2, fast_limits())).expect("pool starts");
    let second = Pool::new(&config(1, fast_limits())).expect("second pool starts");
    let mine = identities(&first, 12);
    let theirs = identities(&second, 4);
    for identity in mine.iter().chain(&theirs) {
        let fields: Vec<&str> = identity.split_whitespace().collect();
        let uid: u32 = fields[0].parse().expect("a uid");
        assert!(uid >= 1_990_000_000, "{identity}");
        assert!(fields[..4].iter().all(|field| *field == fields[0]) && fields[4] == "[]", "{identity}");
    }
    assert_eq!(mine.len(), 2, "one uid per worker: {mine:?}");
    assert!(mine.is_disjoint(&theirs), "{mine:?} and {theirs:?} share a uid");
}

#[test]
fn root_only_files_are_unreadable_even_where_reads_are_allowed() {
    if !is_root() || !interpreter_traversable() {
        // Below a directory only root may traverse (pyenv in /root), runners keep CAP_DAC_READ_SEARCH to import
        // the standard library, and Landlock is then the only guard of an allowed tree (SECURITY.md).
        return;
    }
    // Landlock allows reading this tree, so only the privilege drop stands between the job and the file.
    let directory = OutsideDirectory::new(0o755);
    let secret = directory.0.join("secret");
    std::fs::write(&secret, "root-only\n").expect("write");
    set_mode(&secret, 0o600);
    let mut config = config(1, fast_limits());
    config.extra_read_paths = vec![directory.path().to_owned()];
    let program = format!(
        r"
        def steal():
            try:
                with open('{}') as handle:
                    return handle.read()
            except OSError:
                return 'refused'
        ",
        secret.display()
    );
    let result = run_with(&config, &program, &["assert steal() == 'refused'"]);
    assert_all_passed(&result);
    assert!(
        !result.stdout.contains("root-only") && !result.tests[0].message.as_deref().unwrap_or("").contains("root-only")
    );
}

// ---------------------------------------------------------------------------------------------------------- hygiene

#[test]
fn environment_is_empty_of_the_hosts_variables() {
    // The test binary runs with CARGO_* variables (and whatever the developer exported); none may reach a job,
    // neither through its own environment nor through an ancestor's /proc/<pid>/environ.
    let result = run(
        r"
        import os
        def host_variables():
            return sorted(name for name in os.environ if name.startswith(('CARGO', 'RUST')))
        def ancestor_environments():
            found, pid = [], os.getppid()
            for _ in range(3):
                try:
                    with open('/proc/%d/environ' % pid, 'rb') as handle:
                        found.extend(entry[:40] for entry in handle.read().split(b'\0') if entry.startswith(b'CARGO'))
                    with open('/proc/%d/stat' % pid) as handle:
                        pid = int(handle.read().rsplit(')', 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    break
            return found
        def own_initial_environment():
            try:
                with open('/proc/self/environ', 'rb') as handle:
                    data = handle.read()
            except OSError:
                return []
            return [entry[:40] for entry in data.split(b'\0') if entry.startswith(b'CARGO')]
        def home():
            return os.environ.get('HOME')
        ",
        &[
            "assert host_variables() == []",
            "assert ancestor_environments() == []",
            "assert own_initial_environment() == []",
            "assert home() != '/root'",
        ],
    );
    assert_all_passed(&result);
}

#[test]
fn stdin_is_empty_and_output_is_captured() {
    let result = run(
        r"
        import sys
        print('to stdout')
        print('to stderr', file=sys.stderr)
        def standard_input():
            return sys.stdin.read()
        ",
        &["assert standard_input() == ''"],
    );
    assert_all_passed(&result);
    assert_eq!(result.stdout, "to stdout\n");
    assert_eq!(result.stderr, "to stderr\n");
}
