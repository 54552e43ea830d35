//! Process plumbing: /proc counters, file limits, child processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Resident memory of a process in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds a process has used (all its threads).
pub fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the comm field: state is index 0, utime is field 14 overall = index 11 here.
    let ticks: u64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / clk_tck()
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf is always safe to call.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

pub fn self_pid() -> u32 {
    std::process::id()
}

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            return r.rlim_cur;
        }
    }
    0
}

/// A CPU/time snapshot of the server and of this load generator.
#[derive(Clone, Copy)]
pub struct Meter {
    pub at: Instant,
    pub server: f64,
    pub client: f64,
}

impl Meter {
    pub fn take(server_pid: u32) -> Meter {
        Meter {
            at: Instant::now(),
            server: cpu_secs(server_pid),
            client: cpu_secs(self_pid()),
        }
    }
}

/// A child process that printed a line with the given prefix when ready.
pub struct Spawned {
    pub child: Child,
    pub pid: u32,
    pub ready_line: String,
    pub stdout: Option<BufReader<ChildStdout>>,
}

impl Spawned {
    pub fn start(mut cmd: Command, ready_contains: &str, wait: Duration) -> Result<Spawned, String> {
        cmd.stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let ready_contains = ready_contains.to_string();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Err(()));
                        return;
                    }
                    Ok(_) if line.contains(&ready_contains) => {
                        let _ = tx.send(Ok((line.trim().to_string(), r)));
                        return;
                    }
                    Ok(_) => {}
                }
            }
        });
        match rx.recv_timeout(wait) {
            Ok(Ok((ready_line, r))) => Ok(Spawned {
                child,
                pid,
                ready_line,
                stdout: Some(r),
            }),
            _ => {
                let _ = child.kill();
                Err(format!("{cmd:?} did not become ready"))
            }
        }
    }

    /// Keeps reading stdout in the background so the child never blocks on a full pipe.
    pub fn drain_stdout(&mut self) {
        if let Some(mut r) = self.stdout.take() {
            std::thread::spawn(move || {
                let mut line = String::new();
                while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    line.clear();
                }
            });
        }
    }

    pub fn stop(mut self) {
        // SIGTERM first so the server closes cleanly; then make sure.
        // SAFETY: kill on our own child's pid.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(8);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the process's RSS stops moving (after connections settle).
pub fn settled_rss(pid: u32) -> u64 {
    let mut last = rss_kib(pid);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        let now = rss_kib(pid);
        if now.abs_diff(last) < 64 {
            return now;
        }
        last = now;
    }
    last
}

pub fn machine() -> String {
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{nproc} cores ({cpu}), {:.1} GiB RAM, kernel {}, load average at start {}",
        mem as f64 / 1048576.0,
        kernel.trim(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    )
}

pub fn git_describe() -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = out(&["rev-parse", "--short", "HEAD"]);
    let dirty = out(&["status", "--porcelain", "server", "migrations"]);
    if dirty.is_empty() {
        commit
    } else {
        format!("{commit} (server/ or migrations/ had uncommitted changes)")
    }
}
