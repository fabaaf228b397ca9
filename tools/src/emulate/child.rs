//! One probe process: `<probe> run - --timeout-ms N --repeat R [--concurrency K]` (R
//! invocations per worker, K workers at once; the first invocation cold), the payload on its
//! standard input, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` set (and `AWS_LAMBDA_MAX_CONCURRENCY` for a
//! Lambda Managed Instances environment). The child joins its cgroups between
//! fork and exec, so everything it does, from its first instruction, is limited.

use super::signals;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Past the probe's own deadline, how long before the child is killed as hung.
pub const KILL_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(5);
/// What a failed run keeps of the child's standard error.
const STDERR_TAIL_BYTES: usize = 4096;

pub struct Spec<'a> {
    pub probe: &'a Path,
    pub payload: &'a [u8],
    pub memory_mb: u32,
    pub timeout_ms: u64,
    /// Invocations each worker serves, one JSON line each.
    pub repeat: u32,
    /// Workers serving invocations at once (`run --concurrency`); 1 on demand.
    pub concurrency: u32,
    /// `AWS_LAMBDA_MAX_CONCURRENCY`, as Lambda Managed Instances set it; removed when `None`.
    pub max_concurrency_env: Option<u32>,
    /// `cgroup.procs` files to join before exec (empty: unthrottled).
    pub procs_files: Vec<PathBuf>,
    /// CPUs to pin the child to when no cpuset controller limits them.
    pub affinity: Option<Vec<u32>>,
}

/// How the child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signaled(i32),
    /// Still running `KILL_GRACE` after its deadline; killed.
    TimedOut,
    /// This tool was asked to stop (the signal); the child was killed.
    Interrupted(i32),
}

pub struct Running {
    child: Child,
    started: Instant,
    stdout: mpsc::Receiver<Vec<u8>>,
    stderr: mpsc::Receiver<Vec<u8>>,
    waited: bool,
}

pub struct Output {
    pub stdout: String,
    pub stderr_tail: String,
}

pub fn spawn(spec: &Spec) -> Result<Running, String> {
    let mut cmd = Command::new(spec.probe);
    cmd.args([
        "run",
        "-",
        "--timeout-ms",
        &spec.timeout_ms.to_string(),
        "--repeat",
        &spec.repeat.to_string(),
    ])
    .env(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        spec.memory_mb.to_string(),
    )
    .env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // Its own process group: a terminal's Ctrl-C reaches this tool only, which then kills
    // the child and cleans up, instead of the child dying unrecorded.
    .process_group(0);

    if spec.concurrency > 1 {
        cmd.args(["--concurrency", &spec.concurrency.to_string()]);
    }
    if let Some(k) = spec.max_concurrency_env {
        cmd.env("AWS_LAMBDA_MAX_CONCURRENCY", k.to_string());
    }

    // Everything the child needs after fork is prepared here: between fork and exec only
    // async-signal-safe calls are allowed (no allocation).
    let files: Vec<CString> = spec
        .procs_files
        .iter()
        .map(|p| {
            CString::new(p.as_os_str().as_bytes()).map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect::<Result<_, _>>()?;
    let affinity = spec.affinity.as_ref().map(|cpus| {
        // SAFETY: an all-zero cpu_set_t is an empty set, a valid value.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in cpus {
            // SAFETY: CPU_SET writes inside `set`; CPU numbers come from the kernel's own list.
            unsafe { libc::CPU_SET(c as usize, &mut set) };
        }
        set
    });
    // SAFETY: getpid has no side effects.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure only makes async-signal-safe system calls (prctl, getppid, open,
    // write, close, sched_setaffinity) on memory prepared before fork.
    unsafe {
        cmd.pre_exec(move || {
            // If this tool dies without cleaning up (SIGKILL), the run dies with it.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != parent
            {
                return Err(std::io::Error::last_os_error());
            }
            for f in &files {
                let fd = libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // "0" is the writing process itself.
                let n = libc::write(fd, b"0".as_ptr().cast(), 1);
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if n != 1 {
                    return Err(err);
                }
            }
            if let Some(set) = &affinity {
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {} in its cgroup: {e}", spec.probe.display()))?;
    let stdin = child.stdin.take();
    let payload = spec.payload.to_vec();
    std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // A child that exits without reading is not an error here; its exit says why.
            let _ = stdin.write_all(&payload);
        }
    });
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    Ok(Running {
        child,
        started,
        stdout,
        stderr,
        waited: false,
    })
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

impl Running {
    /// Waits for the child, at most `limit`; kills it when time is up or this tool is told to
    /// stop. Returns how it ended and its wall time in ms (spawn to exit).
    pub fn wait(&mut self, limit: Duration) -> Result<(Ending, f64), String> {
        loop {
            if self.exited()? {
                // Its descendants go first, while its pid (their group's id) is not yet reaped
                // and so cannot name anyone else's group.
                self.kill_group();
                let status = self
                    .child
                    .wait()
                    .map_err(|e| format!("waiting for the probe: {e}"))?;
                self.waited = true;
                let ms = self.started.elapsed().as_secs_f64() * 1000.0;
                let ending = match (status.code(), status.signal()) {
                    (Some(code), _) => Ending::Exited(code),
                    (None, Some(sig)) => Ending::Signaled(sig),
                    (None, None) => Ending::Exited(-1),
                };
                return Ok((ending, ms));
            }
            let stop = if let Some(sig) = signals::received() {
                Some(Ending::Interrupted(sig))
            } else if self.started.elapsed() > limit {
                Some(Ending::TimedOut)
            } else {
                None
            };
            if let Some(ending) = stop {
                self.kill();
                return Ok((ending, self.started.elapsed().as_secs_f64() * 1000.0));
            }
            std::thread::sleep(POLL);
        }
    }

    /// True once the child has exited; it stays unreaped (a zombie) until `wait`.
    fn exited(&self) -> Result<bool, String> {
        // SAFETY: an all-zero siginfo_t is valid; waitid fills it in for our own child only.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above; WNOWAIT leaves the child to be reaped by Child::wait.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.child.id() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc != 0 {
            return Err(format!(
                "waiting for the probe: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: si_pid is set by waitid (0 when no child has changed state yet).
        Ok(unsafe { info.si_pid() } != 0)
    }

    /// SIGKILL to the child's process group: the child and what it started.
    fn kill_group(&self) {
        // SAFETY: kill only sends a signal, to the process group this tool created for the run.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
    }

    fn kill(&mut self) {
        if !self.waited {
            // Not reaped yet, so the group id is still ours.
            self.kill_group();
            let _ = self.child.wait();
            self.waited = true;
        }
    }

    /// The child's output; call after its cgroup is emptied so no descendant holds the pipes.
    pub fn output(self, limit: Duration) -> Output {
        let stdout = self.stdout.recv_timeout(limit).unwrap_or_default();
        let stderr = self.stderr.recv_timeout(limit).unwrap_or_default();
        let tail = &stderr[stderr.len().saturating_sub(STDERR_TAIL_BYTES)..];
        Output {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr_tail: String::from_utf8_lossy(tail).trim().to_string(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}
