//! The dashboard in a real browser: headless Debian Chromium driven through chromedriver
//! (WebDriver, via fantoccini). A supervisor logs in and finds, on the pending list, the
//! escalated callback and the one past its service level marked as such, numbers grouped
//! and callable, and when the list was updated; reads a callback; edits business hours as
//! weekdays and times; resolves a callback and sees it among the resolved. An agent opens
//! the signed view a reminder links to, without a login.
//!
//! Every page is photographed at a desktop and a phone width into `target/test-artifacts/`
//! (`<page>-desktop.png`, `<page>-phone.png`; not committed), and on the phone no page is
//! wider than the screen.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install chromium
//! chromium-driver`; `.ci/run` installs them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Duration as Age;
use fantoccini::{Client, ClientBuilder, Locator};
use libtest_mimic::{Failed, Trial};
use ringback::links::{LinkSigner, ViewLink};
use serde_json::json;

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

pub fn trial() -> Trial {
    crate::needing(
        "browser::a_supervisor_works_the_dashboard_in_a_real_browser",
        &[CHROMIUM, CHROMEDRIVER],
        "apt-get install chromium chromium-driver",
        || crate::block_on(walk_through()),
    )
}

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Result<Driver, Failed> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let driver = Driver {
        child: Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
        port,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(driver);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("chromedriver did not start listening".into())
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("target/test-artifacts");
    dir
}

/// What a failed check says, with the page it was on.
fn check(ok: bool, what: impl Into<String>) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

/// Photographs the current page at both widths; on the phone, nothing may stick out sideways.
async fn photograph(browser: &Client, name: &str) -> Result<(), Failed> {
    for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        browser.set_window_size(width, height).await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        std::fs::write(
            artifacts().join(format!("{name}-{label}.png")),
            browser.screenshot().await?,
        )?;
        if label == "phone" {
            let fits = browser
                .execute(
                    "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
                    vec![],
                )
                .await?;
            check(
                fits == json!(true),
                format!("{name}: wider than a {width} px phone screen"),
            )?;
        }
    }
    browser.set_window_size(DESKTOP.0, DESKTOP.1).await?;
    Ok(())
}

/// The pending list's row for `customer` (as shown, grouped).
async fn row_class(browser: &Client, customer: &str) -> Result<(String, String), Failed> {
    let row = browser
        .find(Locator::XPath(&format!(
            "//table[contains(@class,'pending')]//tr[.//a[normalize-space()='{customer}']]"
        )))
        .await?;
    Ok((
        row.attr("class").await?.unwrap_or_default(),
        row.text().await?,
    ))
}

async fn walk_through() -> Result<(), Failed> {
    let driver = chromedriver().await?;
    let app = spawn_app_with(DASHBOARD).await;
    // Three customers at 11:30: Meera missed A and B; B is snoozed for an hour.
    let mut ids = Vec::new();
    for (n, customer) in ["9876501101", "9876501102"].iter().enumerate() {
        let body = missed_call(customer, &format!("178011000{n}.1"), "2026-05-28 11:29:00");
        let (_, reply) = app
            .post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
        check(reply["effect"] == "opened", format!("{reply}"))?;
        ids.push(
            reply["callback_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let (status, _) = app
        .api_post(
            &format!("/api/v1/callbacks/{}/snooze", ids[1]),
            json!({"minutes": 60}),
        )
        .await;
    check(status == 200, "snoozing B")?;
    // 31 minutes on, past the 30-minute step: A escalates; B, snoozed, waits past its SLA.
    app.advance(Age::minutes(31)).await;
    let body = missed_call("9876501103", "1780110009.1", "2026-05-28 12:00:30");
    app.post_json(Some("call_hangup_missed"), &body.to_string())
        .await;

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                     "--window-size=1280,900"]
        }),
    );
    let browser = ClientBuilder::rustls()?
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await?;
    let outcome = pages(&browser, &app, &ids[0]).await;
    let _ = browser.close().await;
    outcome?;

    let resolved = app.callbacks("resolved").await;
    check(resolved.len() == 1, "one resolved callback")?;
    check(
        resolved[0]["resolution"]["reason"] == "Called back from the browser test"
            && resolved[0]["resolution"]["agent"] == "asha",
        format!("{}", resolved[0]),
    )
}

async fn pages(browser: &Client, app: &TestApp, a_id: &str) -> Result<(), Failed> {
    let base = &app.address;

    // Not logged in: the dashboard sends the browser to the login form.
    browser.goto(&format!("{base}/")).await?;
    check(
        browser.current_url().await?.path().starts_with("/login"),
        "sent to the login form",
    )?;
    photograph(browser, "login").await?;
    browser
        .find(Locator::Css("input[name=name]"))
        .await?
        .send_keys("asha")
        .await?;
    browser
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    browser
        .find(Locator::Css("form button[type=submit]"))
        .await?
        .click()
        .await?;

    // The pending list: what needs attention stands out.
    browser
        .wait()
        .for_element(Locator::Css("table.pending"))
        .await?;
    check(browser.current_url().await?.path() == "/", "on the list")?;
    let (class, text) = row_class(browser, "+91 98765 01101").await?;
    check(
        class.contains("escalated") && text.contains("Escalated · level 1"),
        format!("A is escalated: {class:?} {text:?}"),
    )?;
    let (class, text) = row_class(browser, "+91 98765 01102").await?;
    check(
        class.contains("late") && text.contains("past SLA") && text.contains("snoozed"),
        format!("B is past its SLA: {class:?} {text:?}"),
    )?;
    let (class, text) = row_class(browser, "+91 98765 01103").await?;
    check(
        class.is_empty() && text.contains("Not escalated"),
        format!("C is on time: {class:?} {text:?}"),
    )?;
    let tel = browser
        .find(Locator::XPath(
            "//tr[.//a[normalize-space()='+91 98765 01101']]//a[contains(@class,'tel')]",
        ))
        .await?
        .attr("href")
        .await?;
    check(
        tel.as_deref() == Some("tel:+919876501101"),
        format!("{tel:?}"),
    )?;
    let updated = browser.find(Locator::Css(".updated")).await?.text().await?;
    check(
        updated.starts_with("Updated at 12:01:00"),
        format!("the list says when it was updated: {updated:?}"),
    )?;
    photograph(browser, "pending").await?;

    // A callback's page: one clock for age, the call's own time beside it.
    browser
        .find(Locator::LinkText("+91 98765 01101"))
        .await?
        .click()
        .await?;
    browser
        .wait()
        .for_element(Locator::Css("input[name=reason]"))
        .await?;
    let facts = browser.find(Locator::Css("dl.facts")).await?.text().await?;
    check(
        facts.contains("31 min") && facts.contains("call started 28 May 2026, 11:29"),
        format!("{facts:?}"),
    )?;
    photograph(browser, "callback").await?;

    // Business hours as weekdays and times: Monday to Saturday, 09:00 to 19:00 as shipped;
    // Saturday off and closing at 18:30 is saved as cron.
    browser.goto(&format!("{base}/rules")).await?;
    let day = |d: &str| format!("input[name=day][value={d}]");
    check(
        browser
            .find(Locator::Css(&day("Mon")))
            .await?
            .is_selected()
            .await?
            && !browser
                .find(Locator::Css(&day("Sun")))
                .await?
                .is_selected()
                .await?,
        "Monday on, Sunday off",
    )?;
    let value = |name: &'static str| async move {
        browser
            .find(Locator::Css(&format!("input[name={name}]")))
            .await?
            .prop("value")
            .await
    };
    check(
        value("opens").await?.as_deref() == Some("09:00")
            && value("closes").await?.as_deref() == Some("19:00"),
        "09:00 to 19:00",
    )?;
    photograph(browser, "rules").await?;
    browser
        .find(Locator::Css(&day("Sat")))
        .await?
        .click()
        .await?;
    browser
        .execute(
            "document.querySelector('input[name=closes]').value = '18:30';",
            vec![],
        )
        .await?;
    browser
        .find(Locator::XPath("//button[normalize-space()='Save rules']"))
        .await?
        .click()
        .await?;
    browser.wait().for_element(Locator::Css(".flash")).await?;
    check(
        value("closes").await?.as_deref() == Some("18:30")
            && !browser
                .find(Locator::Css(&day("Sat")))
                .await?
                .is_selected()
                .await?,
        "the saved hours read back",
    )?;
    let audit = browser
        .find(Locator::Css("table.list"))
        .await?
        .text()
        .await?;
    check(
        audit.contains("hours * * 9-17 * * Mon-Fri; * 0-29 18 * * Mon-Fri"),
        format!("the change in the audit: {audit:?}"),
    )?;

    browser.goto(&format!("{base}/summary")).await?;
    let tiles = browser.find(Locator::Css(".tiles")).await?.text().await?;
    check(tiles.contains("3\npending now"), format!("{tiles:?}"))?;
    photograph(browser, "summary").await?;

    browser.goto(&format!("{base}/telegram")).await?;
    photograph(browser, "telegram").await?;

    // The reminder's link, as Meera (who has no login) opens it: the callback and her
    // actions, but not "I'll take it" (it is hers).
    let key = std::fs::read_to_string(app.dir.path().join("data/links.token"))?;
    let token = LinkSigner::new(key.trim().as_bytes().to_vec()).sign_view(&ViewLink {
        callback: a_id.parse()?,
        who: "Meera".into(),
        expires: app.clock_now() + Age::days(7),
    });
    browser.goto(&format!("{base}/v/{token}")).await?;
    let buttons = browser
        .find(Locator::Css("section.actions"))
        .await?
        .text()
        .await?;
    check(
        buttons.contains("Snooze 30 min")
            && buttons.contains("Called back")
            && !buttons.contains("take it"),
        format!("{buttons:?}"),
    )?;
    photograph(browser, "agent-view").await?;

    // Resolve A through the form on its page; it leaves the list.
    browser.goto(&format!("{base}/callbacks/{a_id}")).await?;
    browser
        .find(Locator::Css("input[name=reason]"))
        .await?
        .send_keys("Called back from the browser test")
        .await?;
    browser
        .find(Locator::XPath(
            "//form[contains(@action,'/resolve')]//button",
        ))
        .await?
        .click()
        .await?;
    browser.wait().for_element(Locator::Css(".flash")).await?;
    let flash = browser.find(Locator::Css(".flash")).await?.text().await?;
    check(flash == "Resolved.", format!("{flash:?}"))?;
    browser.goto(&format!("{base}/")).await?;
    check(
        browser
            .find(Locator::LinkText("+91 98765 01101"))
            .await
            .is_err(),
        "A left the pending list",
    )?;

    browser.goto(&format!("{base}/resolved")).await?;
    browser.find(Locator::LinkText("+91 98765 01101")).await?;
    photograph(browser, "resolved").await?;
    Ok(())
}
