//! The `tandem` binary as a child process: started on a fixed port, SIGKILLed, started
//! again. Its stdout and stderr are read line by line while it runs (a full pipe would
//! block it) into one log file, where the checks at the end look for panics and errors.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout_at, Instant};

/// What the binary prints once it accepts connections (`server/src/main.rs`).
const READY_LINE: &str = "Tandem is listening on";

/// The `tandem` binary on a fixed port; SIGKILLed on drop, so none outlives the test.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    database_url: String,
    pub log: PathBuf,
    pub starts: usize,
    /// How long each start took until the server said it was listening.
    pub start_times: Vec<Duration>,
    /// The threads copying the current child's stdout and stderr into the log.
    readers: Vec<JoinHandle<()>>,
}

impl Server {
    pub async fn start(port: u16, database_url: &str, log: PathBuf) -> Server {
        let mut server = Server {
            child: None,
            port,
            database_url: database_url.to_string(),
            log,
            starts: 0,
            start_times: Vec::new(),
            readers: Vec::new(),
        };
        server.spawn().await;
        server
    }

    /// Starts the binary and waits for its "listening" line (it is bound and migrated by
    /// then); starts it again if it exits first (the port not yet free after a kill, say).
    pub async fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let began = Instant::now();
        let deadline = began + Duration::from_secs(30);
        loop {
            self.starts += 1;
            let mut command = Command::new(env!("CARGO_BIN_EXE_tandem"));
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("TANDEM_") {
                    command.env_remove(&key);
                }
            }
            let mut child = command
                .args(["--listen", &format!("127.0.0.1:{}", self.port)])
                .args(["--database-url", &self.database_url])
                .args(["--attempts-per-minute", "100000"])
                .args(["--ws-messages-per-second", "100000"])
                .env("RUST_LOG", "warn,sqlx=error")
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                // The server logs to stdout; panics go to stderr.
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn the tandem binary");
            let (lines, mut ready) = mpsc::unbounded_channel();
            let out = child.stdout.take().expect("stdout");
            let err = child.stderr.take().expect("stderr");
            let start = self.starts;
            self.readers
                .push(copy_lines(out, &self.log, format!("[{start} out]"), lines.clone()));
            self.readers
                .push(copy_lines(err, &self.log, format!("[{start} err]"), lines));
            self.child = Some(child);
            let listening = loop {
                match timeout_at(deadline, ready.recv()).await {
                    Ok(Some(line)) if line.starts_with(READY_LINE) => break true,
                    Ok(Some(_)) => continue,
                    // Both pipes closed: the process is gone.
                    Ok(None) => break false,
                    Err(_) => panic!("the server did not start within 30 s; log:\n{}", tail(&self.log)),
                }
            };
            if listening {
                self.start_times.push(began.elapsed());
                return;
            }
            let status = self.child.take().unwrap().wait().expect("wait");
            self.join_readers();
            assert!(
                Instant::now() < deadline,
                "the server keeps exiting ({status}); log:\n{}",
                tail(&self.log)
            );
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, open transactions die mid-flight.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The pipes close with the process: the log holds all it wrote.
        self.join_readers();
    }

    /// Whether the current child is still running (it has not exited by itself).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().expect("try_wait").is_none())
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("server log ({}):\n{}", self.log.display(), tail(&self.log));
        }
    }
}

/// Copies a pipe into the log, line by line, each line tagged (`[start out]`), and hands
/// each line to `lines` (for the ready line). Ends when the pipe closes.
fn copy_lines(
    pipe: impl Read + Send + 'static,
    log: &Path,
    tag: String,
    lines: mpsc::UnboundedSender<String>,
) -> JoinHandle<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("server log");
    std::thread::spawn(move || {
        let mut pipe = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match pipe.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf);
            let line = strip_ansi(line.trim_end());
            // One write per line: the two pipes' lines never interleave mid-line.
            let _ = file.write_all(format!("{tag} {line}\n").as_bytes());
            let _ = lines.send(line);
        }
    })
}

/// The last few KiB of a log file.
pub fn tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(6144)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

/// What the server's log says went wrong.
#[derive(Debug, Default)]
pub struct LogReport {
    /// Lines of panic messages (`thread '…' panicked at …`).
    pub panics: Vec<String>,
    /// `ERROR` lines.
    pub errors: Vec<String>,
    /// `WARN` lines without their timestamps, counted.
    pub warnings: HashMap<String, usize>,
}

pub fn read_log(path: &Path) -> LogReport {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut report = LogReport::default();
    for line in text.lines() {
        if line.contains("panicked at") || line.contains("RUST_BACKTRACE") {
            report.panics.push(line.to_string());
        } else if line.contains(" ERROR ") {
            report.errors.push(line.to_string());
        } else if let Some(at) = line.find(" WARN ") {
            *report.warnings.entry(line[at..].trim().to_string()).or_insert(0) += 1;
        }
    }
    report
}

impl LogReport {
    /// The error lines without their tags and timestamps, counted.
    pub fn errors_counted(&self) -> std::collections::BTreeMap<&str, usize> {
        let mut counted = std::collections::BTreeMap::new();
        for line in &self.errors {
            let at = line.find(" ERROR ").map_or(0, |at| at + 7);
            *counted.entry(&line[at..]).or_insert(0) += 1;
        }
        counted
    }
}

/// When a log line was written: the RFC 3339 time after its tag (`[1 out] 2026-…Z ERROR …`).
pub fn line_time(line: &str) -> Option<std::time::SystemTime> {
    let stamp = line.split_whitespace().nth(2)?;
    let t = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.into())
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A free port below the ephemeral range, so that no outgoing connection (ours or
/// another test's) takes it while the server is down, and a client can never connect
/// to itself on it.
pub fn free_port(rng: &mut StdRng) -> u16 {
    for _ in 0..1000 {
        let port = rng.gen_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}

/// SQLite's own check of the file, through a connection of our own (read-only: it
/// neither checkpoints nor changes what the next server start finds).
pub async fn integrity_check(path: &Path, when: &str) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{when}: cannot open the SQLite file: {e}"));
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{when}: integrity_check failed to run: {e}"));
    assert_eq!(rows, ["ok"], "{when}: PRAGMA integrity_check");
    let broken = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{when}: foreign_key_check failed to run: {e}"));
    assert!(broken.is_empty(), "{when}: {} foreign key violations", broken.len());
    let _ = conn.close().await;
}
