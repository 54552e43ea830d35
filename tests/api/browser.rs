//! The web app in a real browser: two headless Chromium sessions (two partners, two
//! phones) drive the real server through the UI only — sign-up, pairing by the invite
//! link and code, writing, the consent preview, live delivery, answering a request,
//! withdrawing, and a write made while the server is unreachable.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`).
//! Without them the test prints "skipped" and passes, unless CI is set. Set
//! TANDEM_SCREENSHOTS=docs/screenshots to save phone-size screenshots of the main screens.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::browser_support::{browser_available, eventually, settled, take_turn, tap, Driver, Screen, WAIT};
use crate::helpers::{fresh_database, spawn_on_listener, Backend, HeldPort};

/// The app backs off up to 10 s between reconnection attempts; allow one full round.
const RECONNECT_WAIT: Duration = Duration::from_secs(25);

/// One partner's phone.
struct Phone {
    name: &'static str,
    c: Client,
    shots: Option<PathBuf>,
}

impl Phone {
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.c.execute(script, args).await.expect("script runs")
    }

    /// Waits for an element matching `css`.
    async fn find(&self, css: &str) -> Element {
        self.find_by(Locator::Css(css), css).await
    }

    async fn find_by(&self, locator: Locator<'_>, what: &str) -> Element {
        let found = eventually(WAIT, || async { self.c.find(locator).await.ok() }).await;
        match found {
            Some(el) => el,
            None => self.fail(WAIT, what).await,
        }
    }

    /// Fails the test with what the screen shows, to make the failure readable.
    async fn fail(&self, limit: Duration, what: &str) -> ! {
        let screen = self
            .c
            .execute(
                "return (document.querySelector('header') || {}).innerText + '\\n' + document.querySelector('main').innerText;",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        panic!(
            "timed out after {limit:?} waiting for {} to show {what}; the screen shows:\n{screen}",
            self.name
        );
    }

    /// Waits for a button whose text is exactly `text`, optionally inside `within` (XPath).
    async fn button(&self, text: &str) -> Element {
        let xpath = format!("//button[normalize-space(.)=\"{text}\"]");
        self.find_by(Locator::XPath(&xpath), &format!("button {text:?}")).await
    }

    /// Clicks like a thumb (see `browser_support::tap`).
    async fn tap(&self, el: &Element) {
        if let Err(e) = tap(&self.c, el).await {
            panic!("{} could not tap {el:?}: {e}", self.name);
        }
    }

    async fn tap_css(&self, css: &str) {
        let el = self.find(css).await;
        self.tap(&el).await;
    }

    async fn tap_button(&self, text: &str) {
        let el = self.button(text).await;
        self.tap(&el).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.tap(&el).await;
        el.send_keys(text).await.expect("typing");
    }

    /// The visible text of the first element matching `css` ("" if none).
    async fn text_of(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            vec![json!(css)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until some element matching `css` contains `text`.
    async fn see(&self, css: &str, text: &str) {
        self.see_within(WAIT, css, text).await
    }

    async fn see_within(&self, limit: Duration, css: &str, text: &str) {
        let seen = eventually(limit, || async {
            self.js(
                "return [...document.querySelectorAll(arguments[0])].some(e => e.innerText.includes(arguments[1]));",
                vec![json!(css), json!(text)],
            )
            .await
            .as_bool()
            .unwrap_or(false)
            .then_some(())
        })
        .await;
        if seen.is_none() {
            self.fail(limit, &format!("{text:?} in {css}")).await;
        }
    }

    /// Waits until no element matching `css` contains `text`.
    async fn no_longer_see(&self, css: &str, text: &str) {
        let gone = eventually(WAIT, || async {
            (!self
                .js(
                    "return [...document.querySelectorAll(arguments[0])].some(e => e.innerText.includes(arguments[1]));",
                    vec![json!(css), json!(text)],
                )
                .await
                .as_bool()
                .unwrap_or(true))
            .then_some(())
        })
        .await;
        if gone.is_none() {
            self.fail(WAIT, &format!("no more {text:?} in {css}")).await;
        }
    }

    async fn count(&self, css: &str) -> usize {
        self.js(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
        .as_u64()
        .unwrap_or(0) as usize
    }

    /// The page fits the phone's width: nothing sticks out sideways (which would make a
    /// phone zoom the whole page out).
    async fn fits_width(&self, screen: &str) {
        let widths = self
            .js("return [document.documentElement.scrollWidth, screen.width];", vec![])
            .await;
        assert!(
            widths[0].as_u64() <= widths[1].as_u64(),
            "{}'s {screen} screen is wider than the phone: {widths}",
            self.name
        );
    }

    async fn title(&self) -> String {
        self.c.title().await.expect("title")
    }

    /// Saves a screenshot scrolled to the top of the page.
    async fn shot(&self, name: &str) {
        self.shot_at(name, None).await
    }

    /// Saves a screenshot with the element matching `focus` in the middle of the screen.
    async fn shot_at(&self, name: &str, focus: Option<&str>) {
        self.fits_width(name).await;
        let Some(dir) = &self.shots else { return };
        self.js(
            "const e = arguments[0] && document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center'}); else window.scrollTo(0, 0);",
            vec![json!(focus)],
        )
        .await;
        // Let the entry fade-in finish so the picture shows the settled screen.
        settled(&self.c).await;
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    async fn sign_up(&self, email: &str) {
        self.find("input[name=display_name]").await;
        self.type_into("input[name=display_name]", self.name).await;
        self.type_into("input[name=email]", email).await;
        self.type_into("input[name=password]", "a long enough password").await;
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_partners_on_their_phones() {
        super::two_partners_on_their_phones(crate::helpers::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_partners_on_their_phones() {
        super::two_partners_on_their_phones(crate::helpers::Backend::Postgres).await
    }
}

async fn two_partners_on_their_phones(backend: Backend) {
    if !browser_available() {
        return;
    }
    let Some((database_url, dir)) = fresh_database(backend).await else {
        return;
    };
    let _turn = take_turn().await;
    // The test keeps the listening socket, so the server can go away and come back at
    // the same address (the pages keep their origin) without the port being given up.
    let port = HeldPort::new();
    let app = spawn_on_listener(&database_url, dir, &[], port.share()).await;
    assert_eq!(app.addr, port.addr());
    let base = app.base.clone();
    let shots = std::env::var_os("TANDEM_SCREENSHOTS").map(PathBuf::from);

    let driver = Driver::start().await;
    let profile_a = tempfile::tempdir().expect("profile");
    let profile_b = tempfile::tempdir().expect("profile");
    let ana = Phone {
        name: "Ana",
        c: driver.browser(profile_a.path(), Screen::Phone).await,
        shots: shots.clone(),
    };
    let ben = Phone {
        name: "Ben",
        c: driver.browser(profile_b.path(), Screen::Phone).await,
        shots: None,
    };
    let tag = uuid::Uuid::new_v4().simple().to_string();

    // --- Ana signs up and makes an invite code.
    ana.c.goto(&base).await.expect("open the app");
    ana.sign_up(&format!("ana-{tag}@example.org")).await;
    ana.shot("01-sign-up").await;
    ana.tap_button("Create my account").await;
    ana.see("h1", "Pair with your partner").await;
    assert_eq!(ana.title().await, "Pair up · Tandem");
    ana.tap_button("Make an invite code").await;
    let code = ana.find("#invite-code").await.text().await.expect("code");
    assert_eq!(code.len(), 9, "a code like ABCD-EFGH: {code}");
    ana.find("svg.qr").await;
    ana.see(".invite-link", &format!("/join#{code}")).await;
    ana.shot("02-invite").await;

    // --- Ben opens the invite link, signs up, finds the code filled in, and joins.
    ben.c
        .goto(&format!("{base}/join#{code}"))
        .await
        .expect("open the invite link");
    ben.see(".notice", &code).await;
    ben.sign_up(&format!("ben-{tag}@example.org")).await;
    ben.tap_button("Create my account").await;
    let filled = ben.find("input[name=code]").await;
    assert_eq!(filled.prop("value").await.unwrap().as_deref(), Some(&*code));
    ben.tap_button("Join").await;
    ben.see("#partner-line", "with Ana").await;
    ben.see("#conn", "Live").await;
    // Ana's screen follows by itself: no reload.
    ana.see("#partner-line", "with Ben").await;
    ana.see(".empty", "Nothing shared yet").await;

    // --- Ana writes a check-in, reviews exactly what Ben will see, and shares it.
    ana.tap_button("Write").await;
    ana.shot("03-write").await;
    ana.tap_css("button.kind[data-kind=check_in]").await;
    ana.tap_css("input[name=mood][value='4']").await;
    ana.tap_css("input[name=emotions][value=hopeful]").await;
    ana.tap_css("input[name=emotions][value=anxious]").await;
    ana.tap_css("input[name=closeness][value='-1']").await;
    ana.tap_css("input[name=felt_appreciated][value=somewhat]").await;
    ana.tap_css("input[name=ready_to_talk][value=later]").await;
    ana.type_into("textarea[name=note]", "Long day, glad you're here").await;
    ana.shot("04-check-in").await;
    ana.tap_button("Review before sharing").await;
    ana.see("h1", "This is exactly what Ben will see").await;
    ana.see(".preview article", "Long day, glad you're here").await;
    ana.see(".preview article", "A little more closeness").await;
    ana.shot("05-consent").await;
    ana.tap_button("Share with Ben").await;
    ana.see("#timeline article", "Long day").await;

    // Ben sees it arrive live; the title never carries entry text.
    ben.see("#timeline article[data-kind=check_in]", "Long day, glad you're here")
        .await;
    assert!(!ben.title().await.contains("Long day"));

    // --- A request with options; Ben picks one; Ana sees the answer.
    ana.tap_button("Write").await;
    ana.tap_css("button.kind[data-kind=request]").await;
    ana.type_into("input[name=about]", "Saturday evening").await;
    let options = ["Walk by the river", "Cook together", "A quiet night in"];
    ana.tap_button("Add an option").await;
    for (i, option) in options.iter().enumerate() {
        ana.type_into(&format!(".option-inputs li:nth-child({}) input", i + 1), option)
            .await;
    }
    ana.tap_button("Review before sharing").await;
    ana.see(".preview article", "A quiet night in").await;
    ana.tap_button("Share with Ben").await;

    ben.see("#timeline article[data-kind=request]", "Saturday evening")
        .await;
    ben.see(
        "#timeline article[data-kind=request] fieldset",
        "None of these, let's talk",
    )
    .await;
    let ben_shots = Phone {
        name: "Ben",
        c: ben.c.clone(),
        shots: shots.clone(),
    };
    ben_shots.shot("06-partner-timeline").await;
    // At 200% text the same screen still fits the phone's width.
    ben.js("document.documentElement.style.fontSize = '200%';", vec![])
        .await;
    ben_shots.shot("10-text-200-percent").await;
    ben.js("document.documentElement.style.fontSize = '';", vec![]).await;
    ben.tap_css("#timeline article[data-kind=request] input[value='1']")
        .await;
    ben.tap_button("Send my answer").await;
    ben.see("#timeline article[data-kind=request] .replies", "Chose: Cook together")
        .await;
    ana.tap_button("Together").await;
    ana.see("#timeline article[data-kind=request] .replies", "Chose: Cook together")
        .await;
    ana.see("#timeline article[data-kind=request] .replies", "Ben replied")
        .await;
    ana.shot("07-together").await;

    // --- Ana stops sharing the check-in; it leaves Ben's screen at once.
    let stop = ana
        .find_by(
            Locator::XPath("//article[@data-kind='check_in']//button[normalize-space(.)='Stop sharing…']"),
            "the check-in's Stop sharing button",
        )
        .await;
    ana.tap(&stop).await;
    ana.see(".confirm", "may be remembered").await;
    ana.shot_at("08-withdraw", Some(".confirm")).await;
    ana.tap_button("Stop sharing").await;
    ben.no_longer_see("#timeline", "Long day").await;
    // For Ana it is a private draft again.
    ana.tap_button("Mine").await;
    ana.see("#drafts article[data-kind=check_in]", "Long day").await;
    ana.see("#drafts article", "Private draft").await;

    // --- The server goes away: Ana writes anyway; it waits on her phone, and is saved
    // exactly once when the server is back.
    let dir = app.stop().await;
    let refusing = port.refuse();
    ana.see_within(RECONNECT_WAIT, "#conn", "Offline").await;
    ana.tap_button("Write").await;
    ana.tap_css("button.kind[data-kind=appreciation]").await;
    ana.type_into("textarea[name=text]", "Thank you for the tea").await;
    ana.tap_css("input[name=shown_by][value=help]").await;
    ana.tap_button("Review before sharing").await;
    ana.see("h1", "Mine").await;
    ana.see("#pending article", "Kept on this phone").await;
    let stored: Value = ana
        .js(
            "return Object.keys(localStorage).filter(k => k.startsWith('tandem:outbox:')).map(k => JSON.parse(localStorage.getItem(k)));",
            vec![],
        )
        .await;
    assert_eq!(
        stored[0][0]["message"]["body"]["text"], "Thank you for the tea",
        "the write waits in localStorage: {stored}"
    );
    assert!(
        stored[0][0]["request_id"].as_str().is_some_and(|r| r.len() == 36),
        "a request_id travels with the pending write: {stored}"
    );
    ana.shot("09-offline").await;

    refusing.stop().await;
    let server = spawn_on_listener(&database_url, None, &[], port.share()).await;
    assert_eq!(server.addr, port.addr(), "back at the same address");
    ana.see_within(RECONNECT_WAIT, "#conn", "Live").await;
    ana.see("#drafts article[data-kind=appreciation]", "Thank you for the tea")
        .await;
    assert_eq!(ana.count("#pending article").await, 0);
    // A reload resends nothing twice: still exactly one.
    ana.c.refresh().await.expect("reload");
    ana.tap_button("Mine").await;
    ana.see("#drafts article[data-kind=appreciation]", "Thank you for the tea")
        .await;
    assert_eq!(ana.count("#drafts article[data-kind=appreciation]").await, 1);
    assert!(ana.text_of("#conn").await.contains("Live"));

    ana.c.close().await.expect("close Ana's browser");
    ben.c.close().await.expect("close Ben's browser");
    server.stop().await;
    drop(dir);
}
