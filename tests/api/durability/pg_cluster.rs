//! A PostgreSQL cluster of the test's own, in a temporary directory on a free port, that
//! it can crash (`pg_ctl stop -m immediate`: every backend dies at once, nothing is
//! flushed or checkpointed, recovery replays the WAL at the next start). Stopped and
//! removed on drop, also when the test fails.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A cluster made by `initdb` and run by `pg_ctl`.
pub struct PgCluster {
    /// Removed (with the data directory in it) when the cluster is dropped.
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// As root, PostgreSQL runs as this user (it refuses to run as root).
    run_as: Option<String>,
    running: bool,
}

/// The directory of PostgreSQL's server programs: `TANDEM_TEST_PG_BIN`, or the newest
/// `/usr/lib/postgresql/*/bin` holding `pg_ctl`.
fn pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TANDEM_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|d| {
            let version = d.file_name().to_string_lossy().parse().ok()?;
            let bin = d.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

impl PgCluster {
    /// Creates the cluster (not started); `Err` says why that is impossible here.
    pub fn create(port: u16) -> Result<PgCluster, String> {
        let bin = pg_bin().ok_or("no PostgreSQL server programs (initdb, pg_ctl) found")?;
        let dir = tempfile::Builder::new()
            .prefix("tandem-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        // SAFETY: geteuid has no preconditions.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            let (uid, gid) = user_ids("postgres").ok_or("running as root and there is no postgres user")?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
            Some("postgres".to_string())
        } else {
            None
        };
        let cluster = PgCluster {
            dir,
            bin,
            port,
            run_as,
            running: false,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            [
                OsStr::new("-D"),
                data.as_os_str(),
                OsStr::new("-U"),
                OsStr::new("postgres"),
                OsStr::new("-A"),
                OsStr::new("trust"),
                OsStr::new("--no-sync"),
            ],
        )?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one of the server programs (as the postgres user when root); `Err` carries
    /// its output.
    fn run<I, S>(&self, program: &str, args: I) -> Result<(), String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let path = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let out = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Starts the cluster and waits until it accepts connections (`pg_ctl -w`: after
    /// crash recovery, when there was a crash).
    pub fn start(&mut self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=50 -c shared_buffers=16MB",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let log = self.dir.path().join("postgres.log");
        self.running = true;
        self.run(
            "pg_ctl",
            [
                OsStr::new("start"),
                OsStr::new("-w"),
                OsStr::new("-t"),
                OsStr::new("60"),
                OsStr::new("-D"),
                data.as_os_str(),
                OsStr::new("-l"),
                log.as_os_str(),
                OsStr::new("-o"),
                OsStr::new(&options),
            ],
        )
        .map_err(|e| format!("{e}\nPostgreSQL log:\n{}", self.log_tail()))
    }

    /// The crash: `pg_ctl stop -m immediate` (SIGQUIT to the postmaster and every backend;
    /// no shutdown checkpoint), waiting until the processes are gone.
    pub fn crash(&mut self) -> Result<(), String> {
        let data = self.data();
        let result = self.run(
            "pg_ctl",
            [
                OsStr::new("stop"),
                OsStr::new("-w"),
                OsStr::new("-m"),
                OsStr::new("immediate"),
                OsStr::new("-D"),
                data.as_os_str(),
            ],
        );
        self.running = result.is_err();
        result
    }

    /// The end of the cluster's own log (for failure messages).
    pub fn log_tail(&self) -> String {
        super::server::tail(&self.dir.path().join("postgres.log"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running && self.crash().is_err() {
            // pg_ctl could not stop it: kill the postmaster named in its pid file (its
            // backends exit when it is gone).
            let pid = std::fs::read_to_string(self.data().join("postmaster.pid"))
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
            if let Some(pid) = pid {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if std::thread::panicking() {
            eprintln!("PostgreSQL log:\n{}", self.log_tail());
        }
        // `dir` is removed when it drops, after this.
    }
}

/// A user's uid and gid.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam takes a valid C string; the record it returns is read at once,
    // before any other call could overwrite it.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            None
        } else {
            Some(((*pw).pw_uid, (*pw).pw_gid))
        }
    }
}
