//! What the browser tests share: finding Chromium and chromedriver, a chromedriver
//! process per test, a headless session at phone or desktop size, and polling.

use std::future::Future;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use tokio::time::{sleep, Instant};

/// Longest wait for anything the UI should show.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn chromium_path() -> PathBuf {
    std::env::var_os("TANDEM_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into())
}

pub fn chromedriver_path() -> PathBuf {
    std::env::var_os("TANDEM_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromedriver".into())
}

pub fn browser_available() -> bool {
    let missing: Vec<_> = [chromium_path(), chromedriver_path()]
        .into_iter()
        .filter(|p| !p.exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{missing:?} not found; install them with `apt-get install chromium chromium-driver`");
    if std::env::var_os("CI").is_some() {
        panic!("browser tests need a browser under CI: {msg}");
    }
    eprintln!("skipped: {msg}");
    false
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A chromedriver process on a free port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

pub enum Screen {
    /// A phone: 390×844, mobile emulation.
    Phone,
    /// A desktop window, as a therapist at their desk.
    Desktop,
}

impl Driver {
    pub async fn start() -> Driver {
        let port = free_port();
        let child = Command::new(chromedriver_path())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen within 10 s");
            sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    pub async fn browser(&self, profile: &Path, screen: Screen) -> Client {
        let size = match screen {
            Screen::Phone => "--window-size=390,844",
            Screen::Desktop => "--window-size=1280,900",
        };
        let mut options = json!({
            "binary": chromium_path(),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                size, "--force-device-scale-factor=1", "--lang=en-GB",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if let Screen::Phone = screen {
            options["mobileEmulation"] =
                json!({ "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 1.0, "touch": false } });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it yields a value; `None` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(100)).await;
    }
}
