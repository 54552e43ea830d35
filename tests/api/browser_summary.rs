//! The therapist summary in a real browser: a partner approves the therapist on their
//! phone, the therapist logs in on a desktop-size window, opens the couple's summary and
//! reads figures that match exactly the entries shared with them (and nothing else); a
//! new shared entry updates the open page; a revocation clears it at once, without a
//! reload.
//!
//! Needs `chromium` and `chromedriver`, like `browser.rs` (skipped without them unless CI
//! is set). Set TANDEM_SCREENSHOTS=docs/screenshots to save screenshots.

use std::path::PathBuf;

use fantoccini::elements::Element;
use fantoccini::wd::PrintConfigurationBuilder;
use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser_support::{browser_available, eventually, settled, take_turn, tap, Driver, Screen, WAIT};
use crate::helpers::{spawn_app, Backend, Partner};

/// One person's browser.
struct Person {
    name: &'static str,
    c: Client,
    shots: Option<PathBuf>,
}

impl Person {
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.c.execute(script, args).await.expect("script runs")
    }

    async fn find(&self, css: &str) -> Element {
        self.find_by(Locator::Css(css), css).await
    }

    async fn find_by(&self, locator: Locator<'_>, what: &str) -> Element {
        match eventually(WAIT, || async { self.c.find(locator).await.ok() }).await {
            Some(el) => el,
            None => self.fail(what).await,
        }
    }

    async fn fail(&self, what: &str) -> ! {
        let screen = self
            .c
            .execute("return document.querySelector('main').innerText;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        panic!(
            "timed out waiting for {}'s screen to show {what}; it shows:\n{screen}",
            self.name
        );
    }

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
        let xpath = format!("//button[normalize-space(.)=\"{text}\"]");
        let el = self.find_by(Locator::XPath(&xpath), &format!("button {text:?}")).await;
        self.tap(&el).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.tap(&el).await;
        el.send_keys(text).await.expect("typing");
    }

    async fn text_of(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : '';",
            vec![json!(css)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until some element matching `css` contains `text`.
    async fn see(&self, css: &str, text: &str) {
        let seen = eventually(WAIT, || async {
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
            self.fail(&format!("{text:?} in {css}")).await;
        }
    }

    /// Waits until the first element matching `css` reads exactly `text`.
    async fn see_exactly(&self, css: &str, text: &str) {
        let seen = eventually(WAIT, || async { (self.text_of(css).await == text).then_some(()) }).await;
        if seen.is_none() {
            let now = self.text_of(css).await;
            self.fail(&format!("exactly {text:?} in {css} (it reads {now:?})"))
                .await;
        }
    }

    async fn count(&self, css: &str) -> u64 {
        self.js(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
        .as_u64()
        .unwrap_or(0)
    }

    /// Everything the page holds as text, hidden parts and SVG included.
    async fn page_text(&self) -> String {
        self.js("return document.documentElement.textContent;", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn title(&self) -> String {
        self.c.title().await.expect("title")
    }

    async fn shot_at(&self, name: &str, focus: Option<&str>) {
        let Some(dir) = &self.shots else { return };
        self.js(
            "const e = arguments[0] && document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'start'}); else window.scrollTo(0, 0);",
            vec![json!(focus)],
        )
        .await;
        settled(&self.c).await;
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Logs in through the app's own form.
    async fn log_in(&self, base: &str, who: &Partner) {
        self.c.goto(base).await.expect("open the app");
        self.find("form.auth").await;
        self.tap_css(".segmented button:nth-child(2)").await;
        self.find("form.auth input[name=password][autocomplete=current-password]")
            .await;
        self.type_into("form.auth input[name=email]", &who.email).await;
        self.type_into("form.auth input[name=password]", &who.password).await;
        self.tap_css("form.auth button[type=submit]").await;
    }
}

fn check_in(mood: i64, closeness: i64, emotions: &[&str], felt: &str, note: &str) -> Value {
    json!({ "mood": mood, "closeness": closeness, "emotions": emotions, "felt_appreciated": felt, "ready_to_talk": "later", "note": note })
}

async fn entry(p: &Partner, kind: &str, body: Value, scopes: &[&str]) -> String {
    let id = p.create(kind, body).await["id"].as_str().unwrap().to_string();
    if !scopes.is_empty() {
        p.share(&id, scopes).await;
    }
    id
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_therapist_reads_the_summary_until_it_is_revoked() {
        super::a_therapist_reads_the_summary_until_it_is_revoked(crate::helpers::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_therapist_reads_the_summary_until_it_is_revoked() {
        super::a_therapist_reads_the_summary_until_it_is_revoked(crate::helpers::Backend::Postgres).await
    }
}

async fn a_therapist_reads_the_summary_until_it_is_revoked(backend: Backend) {
    if !browser_available() {
        return;
    }
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let _turn = take_turn().await;
    let base = app.base.clone();
    let shots = std::env::var_os("TANDEM_SCREENSHOTS").map(PathBuf::from);
    let (ana, ben) = app.couple().await;
    let dr = app.signup("Dr Lee", "therapist").await;
    let couple_id = ana.client.get("/api/me").await.1["couple"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let driver = Driver::start().await;
    let (profile_b, profile_t) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ben_phone = Person {
        name: "Ben",
        c: driver.browser(profile_b.path(), Screen::Phone).await,
        shots: shots.clone(),
    };
    let desk = Person {
        name: "Dr Lee",
        c: driver.browser(profile_t.path(), Screen::Desktop).await,
        shots: shots.clone(),
    };

    // --- Ana proposes Dr Lee; Ben approves on his phone.
    let (status, body) = ana
        .client
        .post("/api/couple/therapist", json!({ "email": dr.email }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    ben_phone.log_in(&base, &ben).await;
    ben_phone.see("#conn", "Live").await;
    ben_phone.tap_css("#nav button[data-view=therapist]").await;
    ben_phone.see("#care h2", "Approve Dr Lee?").await;
    ben_phone.see("#care", "Ana proposed Dr Lee as your therapist.").await;
    ben_phone.tap_button("Approve Dr Lee").await;
    ben_phone.see("#care", "Dr Lee can read the shared summary since").await;
    let (status, me) = ana.client.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["couple"]["therapist"]["status"], "active", "{me}");

    // --- Entries whose figures can be checked. Shared with the therapist: Ana's check-ins
    // with mood 2 and 4, Ben's with mood 5, Ana's appreciation, Ana's request answered by
    // Ben. Not shared with the therapist: Ana's mood-1 partner-only check-in, her draft.
    const PARTNER_ONLY: &str = "PARTNERONLY-7f3a";
    const DRAFT: &str = "DRAFTONLY-91c2";
    entry(
        &ana,
        "check_in",
        check_in(2, -2, &["anxious"], "not_really", "Counted one"),
        &["therapist"],
    )
    .await;
    entry(
        &ana,
        "check_in",
        check_in(4, 0, &["hopeful", "anxious"], "yes", "Counted two"),
        &["partner", "therapist"],
    )
    .await;
    entry(
        &ana,
        "check_in",
        check_in(1, 2, &["sad"], "yes", PARTNER_ONLY),
        &["partner"],
    )
    .await;
    entry(&ana, "check_in", check_in(1, 2, &["ashamed"], "yes", DRAFT), &[]).await;
    entry(
        &ben,
        "check_in",
        check_in(5, 1, &["calm"], "somewhat", "Counted three"),
        &["partner", "therapist"],
    )
    .await;
    entry(
        &ana,
        "appreciation",
        json!({ "text": "Thank you for the soup", "shown_by": "help" }),
        &["partner", "therapist"],
    )
    .await;
    let request = entry(
        &ana,
        "request",
        json!({ "about": "Sunday", "options": ["Walk by the river", "Cook together"] }),
        &["partner", "therapist"],
    )
    .await;
    let reply = ben
        .create("reply", json!({ "to": request, "choice": { "option": 1 } }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ben.share(&reply, &["therapist"]).await;

    // --- Dr Lee logs in on a desktop and finds the couple.
    desk.log_in(&base, &dr).await;
    desk.see("h1", "Hello, Dr Lee").await;
    desk.see(".couples-table", "Ana and Ben").await;
    let row = format!(".couples-table tr[data-couple-id='{couple_id}']");
    assert!(
        !desk.text_of(&row).await.contains("Nothing shared yet"),
        "the list says when the couple last shared"
    );
    assert_eq!(desk.title().await, "Your couples · Tandem");
    desk.shot_at("11-therapist-couples", None).await;
    desk.tap_css(&format!("{row} a")).await;

    // --- The summary: figures match the shared entries only.
    desk.see("#summary-period", "30 days").await;
    desk.find("#summary-figures").await;
    assert_eq!(desk.title().await, "Summary · Tandem");
    let cell = |who: &str, metric: &str| format!("#summary-figures td[data-who='{who}'][data-metric='{metric}']");
    desk.see_exactly(&cell(&ana.id, "mood_average"), "3.0").await;
    desk.see_exactly(&cell(&ana.id, "check_ins"), "2").await;
    desk.see_exactly(&cell(&ben.id, "mood_average"), "5.0").await;
    desk.see_exactly(&cell("couple", "check_ins"), "3").await;
    desk.see_exactly(&cell("couple", "mood_average"), "3.7").await;
    desk.see(&cell(&ana.id, "emotions"), "anxious 2").await;
    desk.see(&cell(&ana.id, "emotions"), "hopeful 1").await;
    desk.see_exactly(&cell(&ana.id, "appreciation_said"), "1").await;
    desk.see(&cell(&ana.id, "appreciation_felt"), "yes 1 · not really 1")
        .await;
    desk.see(&cell(&ana.id, "requests"), "1 · 1").await;
    // The mood chart plots the three shared check-ins: Ana's two (first colour), Ben's one.
    let mood_points = "#summary-charts [data-chart=mood] svg circle";
    assert_eq!(desk.count(mood_points).await, 3);
    assert_eq!(desk.count(&format!("{mood_points}[fill='#2f5f8f']")).await, 2);
    assert_eq!(desk.count("#summary-charts svg.chart").await, 5);
    // The shared entries are listed; nothing unshared is anywhere in the page.
    desk.see("#summary-entries", "Counted one").await;
    desk.see("#summary-entries [data-kind=request]", "Ben replied").await;
    desk.see("#summary-entries [data-kind=request]", "Chose: Cook together")
        .await;
    assert_eq!(desk.count("#summary-entries > article").await, 5);
    let text = desk.page_text().await;
    assert!(!text.contains(PARTNER_ONLY) && !text.contains(DRAFT), "{text}");
    assert!(!desk.title().await.contains("Counted"));
    // A taller window for the picture, so the whole table shows.
    desk.c.set_window_size(1280, 1500).await.expect("resize");
    desk.shot_at("12-summary", None).await;
    desk.c.set_window_size(1280, 900).await.expect("resize");
    desk.shot_at("13-summary-charts", Some("#charts-h")).await;

    // Periods: dates with nothing in them, then back.
    desk.tap_css(".period-picker input[value=custom]").await;
    desk.js(
        "const f = document.querySelector('form.dates'); f.elements.from.value = '2020-01-01'; f.elements.to.value = '2020-01-31';",
        vec![],
    )
    .await;
    desk.tap_button("Show these dates").await;
    desk.see("#summary-entries", "Nothing was shared").await;
    desk.see_exactly(&cell("couple", "check_ins"), "0").await;
    desk.tap_css(".period-picker input[value='30d']").await;
    desk.see_exactly(&cell("couple", "check_ins"), "3").await;
    // The export carries the same period and the same entries (a header, 5 entries, 1 reply).
    let href = desk
        .js(
            "return document.querySelector('.summary-actions a[download$=csv]').getAttribute('href');",
            vec![],
        )
        .await;
    assert_eq!(href, json!(format!("/api/summary/{couple_id}/export.csv?period=30d")));
    let csv = desk
        .js("return fetch(arguments[0]).then(r => r.text());", vec![href])
        .await;
    let csv = csv.as_str().unwrap();
    assert_eq!(csv.lines().count(), 1 + 6, "{csv}");
    assert!(!csv.contains(PARTNER_ONLY) && !csv.contains(DRAFT));

    // --- A new shared entry reaches the open page by itself.
    entry(
        &ben,
        "check_in",
        check_in(3, 0, &["calm"], "yes", "Counted four"),
        &["therapist"],
    )
    .await;
    desk.see_exactly(&cell(&ben.id, "check_ins"), "2").await;
    desk.see_exactly(&cell(&ben.id, "mood_average"), "4.0").await;

    // Printing gives a PDF (the print stylesheet hides the controls).
    let config = PrintConfigurationBuilder::default().build().expect("print config");
    let pdf = desk.c.print(config).await.expect("print");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    if let Some(dir) = &shots {
        std::fs::write(dir.join("summary-print.pdf"), &pdf).expect("write the PDF");
    }

    // --- Ben sees the summary minus what Ana shared with Dr Lee alone ("Counted one",
    // mood 2): Ana's average is her mood-4 check-in's, and the couple has one check-in
    // fewer. He also sees when Dr Lee looked at it.
    ben_phone.tap_css("#open-summary").await;
    ben_phone.see_exactly(&cell(&ana.id, "mood_average"), "4.0").await;
    ben_phone.see_exactly(&cell("couple", "check_ins"), "3").await;
    let page = ben_phone.js("return document.body.innerText;", vec![]).await;
    assert!(
        !page.as_str().unwrap_or_default().contains("Counted one"),
        "Ben's summary holds nothing Ana shared with the therapist alone"
    );
    let widths = ben_phone
        .js(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await;
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "the summary fits a phone: {widths}"
    );
    ben_phone.shot_at("17-partner-summary-phone", Some("#glance-h")).await;
    ben_phone.tap_css(".summary .back").await;
    ben_phone.see("#views-list", "Viewed the summary · Dr Lee").await;
    ben_phone.see("#views-list", "Exported it as CSV").await;
    ben_phone.shot_at("14-partner-therapist", None).await;
    ben_phone.shot_at("15-partner-view-log", Some("#views-h")).await;

    // --- Ben revokes (over HTTP): the therapist's open page clears at once, no reload.
    let (status, body) = ben.client.post("/api/couple/therapist/revoke", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    desk.see("#summary-ended", "revoked your access").await;
    desk.see("h1", "Access was revoked").await;
    assert_eq!(desk.count("#summary-figures").await, 0);
    assert_eq!(desk.count("svg.chart").await, 0);
    assert_eq!(desk.count("#summary-entries").await, 0);
    assert_eq!(desk.count("#summary-toolbar:not([hidden])").await, 0);
    let text = desk.page_text().await;
    for gone in ["Counted one", "anxious", "Cook together", "Ana and Ben"] {
        assert!(
            !text.contains(gone),
            "{gone:?} is still on the page after revocation: {text}"
        );
    }
    desk.shot_at("16-summary-revoked", None).await;
    // Ben's phone follows too: the therapist area offers to invite again.
    ben_phone.see("#care h2", "Invite a therapist").await;
    // And the list of couples is empty for Dr Lee.
    desk.tap_css(".summary .back").await;
    desk.see("#couples", "No couples yet").await;

    ben_phone.c.close().await.expect("close Ben's browser");
    desk.c.close().await.expect("close Dr Lee's browser");
}
