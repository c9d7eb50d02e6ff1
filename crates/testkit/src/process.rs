//! Child processes for interop tests that can never outlive the test.
//!
//! [`spawn`] starts the command in a new process group (so helpers it starts
//! itself, such as a shell pipeline's members, are in the group too), with its
//! stdout and stderr appended to a log file in a temporary directory. The
//! returned [`ChildGuard`] sends `SIGKILL` to the whole group and reaps the
//! child when dropped, and if the test is panicking it prints the tail of the
//! log so a failure shows what the peer said.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How much of the log tail [`ChildGuard`] prints when dropped during a panic.
pub const LOG_TAIL_ON_PANIC: u64 = 16 * 1024;

/// How often [`ChildGuard::wait_timeout`] polls the child.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How stdin/stdout of a spawned child are wired. stderr always goes to the
/// guard's log file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpawnOptions {
    /// Give the test a pipe to the child's stdin ([`ChildGuard::take_stdin`]);
    /// otherwise stdin is `/dev/null` (ffmpeg would otherwise read keys from it).
    pub stdin_piped: bool,
    /// Give the test a pipe from the child's stdout
    /// ([`ChildGuard::take_stdout`]); otherwise stdout goes to the log file.
    pub stdout_piped: bool,
}

/// A running child process, killed with its whole process group on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
    log_path: PathBuf,
    status: Option<ExitStatus>,
    // Keeps the log's directory alive; removed on drop.
    _dir: tempfile::TempDir,
}

/// Starts `cmd` in its own process group, stdin from `/dev/null`, stdout and
/// stderr into the guard's log file.
///
/// # Panics
/// If the program cannot be started (names the program).
pub fn spawn(cmd: Command) -> ChildGuard {
    spawn_with(cmd, SpawnOptions::default())
}

/// Like [`spawn`], with stdin/stdout wiring from `opts`.
///
/// # Panics
/// If the log file cannot be created or the program cannot be started.
pub fn spawn_with(mut cmd: Command, opts: SpawnOptions) -> ChildGuard {
    let name = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or_else(|| OsStr::new("child"))
        .to_string_lossy()
        .into_owned();
    let dir = tempfile::Builder::new()
        .prefix("sluice-child-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir for the {name} log: {e}"));
    let log_path = dir.path().join(format!("{name}.log"));
    let log = File::create(&log_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
    let log_err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot duplicate the {name} log handle: {e}"));

    cmd.process_group(0);
    cmd.stderr(Stdio::from(log_err));
    if opts.stdin_piped {
        cmd.stdin(Stdio::piped());
    } else {
        cmd.stdin(Stdio::null());
    }
    if opts.stdout_piped {
        cmd.stdout(Stdio::piped());
    } else {
        cmd.stdout(Stdio::from(log));
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start peer tool {name} ({cmd:?}): {e}"));
    ChildGuard {
        child,
        name,
        log_path,
        status: None,
        _dir: dir,
    }
}

impl ChildGuard {
    /// The child's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The program's file name, used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the file that receives the child's stderr (and stdout unless
    /// piped). Removed when the guard drops.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the child has written to its log so far (lossy UTF-8).
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `max` bytes of the log (lossy UTF-8).
    pub fn log_tail(&self, max: u64) -> String {
        read_tail(&self.log_path, max).unwrap_or_default()
    }

    /// Takes the pipe to the child's stdin (only with
    /// [`SpawnOptions::stdin_piped`]). Dropping it closes the child's stdin.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Takes the pipe from the child's stdout (only with
    /// [`SpawnOptions::stdout_piped`]).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The exit status if the child has exited, without blocking.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            // An error here means the child was already reaped, which only
            // this guard does; treat it as still unknown.
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
            }
        }
        self.status
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Waits up to `timeout` for the child to exit. `None` means it is still
    /// running (it is not killed; drop the guard or call [`Self::kill`]).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits up to `timeout` for a successful exit.
    ///
    /// # Panics
    /// If the child is still running after `timeout` (it is killed first) or
    /// exits unsuccessfully; the message includes the tail of its log.
    pub fn wait_success(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_timeout(timeout) {
            Some(status) if status.success() => status,
            Some(status) => panic!(
                "{} failed with {status}; log tail:\n{}",
                self.name,
                self.log_tail(LOG_TAIL_ON_PANIC)
            ),
            None => {
                self.kill();
                panic!(
                    "{} still running after {timeout:?} (killed); log tail:\n{}",
                    self.name,
                    self.log_tail(LOG_TAIL_ON_PANIC)
                )
            }
        }
    }

    /// Sends `signal` to the child's whole process group. Errors (group already
    /// gone) are ignored.
    pub fn signal_group(&self, signal: Signal) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }

    /// Asks the group to stop with `SIGINT` (ffmpeg then finishes its outputs)
    /// and waits up to `timeout`; returns the exit status if it stopped.
    pub fn interrupt(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        self.signal_group(Signal::SIGINT);
        self.wait_timeout(timeout)
    }

    /// Kills the whole process group with `SIGKILL` and reaps the child.
    /// Returns its exit status (a signal status unless it had already exited).
    pub fn kill(&mut self) -> Option<ExitStatus> {
        // The group may outlive its leader, so signal it even if the leader
        // has exited.
        self.signal_group(Signal::SIGKILL);
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
        self.status
    }

    /// Whether the child was ended by `signal`.
    pub fn killed_by(&mut self, signal: Signal) -> bool {
        self.try_wait()
            .and_then(|s| s.signal())
            .is_some_and(|s| s == signal as i32)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let was_running = self.try_wait().is_none();
        self.kill();
        if thread::panicking() {
            eprintln!(
                "---- {} (pid {}, {}) log tail ----\n{}\n---- end of {} log ----",
                self.name,
                self.child.id(),
                if was_running {
                    "killed by guard".to_string()
                } else {
                    format!("exited: {:?}", self.status)
                },
                self.log_tail(LOG_TAIL_ON_PANIC),
                self.name
            );
        }
    }
}

/// What [`run`] collected from a finished child.
#[derive(Debug)]
pub struct RunOutput {
    /// How the child exited.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr (lossy UTF-8).
    pub log: String,
}

/// Runs `cmd` to completion (stdin `/dev/null`, stdout collected, stderr into
/// the log) and returns what it produced, whatever its exit status.
///
/// # Panics
/// If it does not exit within `timeout` (the group is killed and the log tail
/// is in the message), or cannot be started.
pub fn run(cmd: Command, timeout: Duration) -> RunOutput {
    let mut guard = spawn_with(
        cmd,
        SpawnOptions {
            stdin_piped: false,
            stdout_piped: true,
        },
    );
    let mut stdout = guard
        .take_stdout()
        .unwrap_or_else(|| panic!("{}: stdout pipe missing", guard.name));
    // Read on a thread so a chatty child cannot block on a full pipe while we
    // wait for it; killing the child closes the pipe and ends the thread.
    let reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let Some(status) = guard.wait_timeout(timeout) else {
        guard.kill();
        let _ = reader.join();
        panic!(
            "{} still running after {timeout:?} (killed); log tail:\n{}",
            guard.name,
            guard.log_tail(LOG_TAIL_ON_PANIC)
        );
    };
    // The group may hold the pipe open after the leader exits; end it.
    guard.kill();
    let stdout = reader.join().unwrap_or_default();
    RunOutput {
        status,
        stdout,
        log: guard.log(),
    }
}

fn read_tail(path: &Path, max: u64) -> io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
