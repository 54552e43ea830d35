//! What the browser tests share: finding Chromium and chromedriver, a chromedriver
//! process per test, a headless session at phone or desktop size, and polling.

use std::future::Future;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
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

/// One browser test at a time: each runs a chromedriver and two Chromiums, and two such
/// tests at once on a small machine make the UI's waits time out.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the other browser tests to finish; hold the guard for the whole test.
pub async fn take_turn() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
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
        // Port 0: chromedriver binds a free port itself and says which, so no port is
        // picked here, released and then taken by someone else before it binds.
        let mut child = Command::new(chromedriver_path())
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().expect("chromedriver's output");
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Read on a thread for as long as it writes (an unread pipe would block it).
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let port = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|p| p.trim().trim_end_matches('.').parse::<u16>().ok());
                if let Some(port) = port {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let mut driver = Driver {
            child,
            url: String::new(),
        };
        let port = match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(port)) => port,
            _ => panic!("chromedriver did not say its port within 10 s"),
        };
        driver.url = format!("http://127.0.0.1:{port}");
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

/// Clicks like a thumb: scrolled to the middle of the screen first, clear of the sticky
/// header and the tab bar. A click the page refuses for now (another element still over
/// it while an entry slides in, say) is tried again until `WAIT`; the last refusal is the
/// error.
pub async fn tap(c: &Client, el: &Element) -> Result<(), String> {
    let arg = serde_json::to_value(el).expect("element as JSON");
    let last = std::cell::RefCell::new(String::new());
    let clicked = eventually(WAIT, || {
        let (arg, last) = (arg.clone(), &last);
        async move {
            let tried = match c
                .execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg])
                .await
            {
                Ok(_) => el.click().await,
                Err(e) => Err(e),
            };
            tried.map_err(|e| *last.borrow_mut() = e.to_string()).ok()
        }
    })
    .await;
    clicked.ok_or_else(|| last.take())
}

/// Waits until the page's animations (the entries' fade-in) have finished, so a
/// screenshot shows the settled screen.
pub async fn settled(c: &Client) {
    let done = eventually(WAIT, || async {
        c.execute(
            "return document.getAnimations().every(a => a.playState === 'finished' || a.playState === 'idle');",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .filter(|done| *done)
    })
    .await;
    assert!(done.is_some(), "the page's animations did not finish within {WAIT:?}");
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
