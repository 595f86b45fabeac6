//! The dashboard in a real browser (issue 4): headless Debian Chromium driven through
//! chromedriver (WebDriver, via fantoccini). A supervisor logs in, sees a callback a webhook
//! just created, resolves it with the form, and sees it leave the list.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install chromium
//! chromium-driver`; `.ci/run` installs them and sets `CI_STRICT=1`, which
//! turns a missing browser into a failure instead of a skip). Screenshots are written to
//! `target/test-artifacts/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::dashboard::{DASHBOARD, PASSWORD};
use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

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

/// Starts chromedriver on a free port; `None` when the browser is not installed.
async fn chromedriver() -> Option<Driver> {
    if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        assert!(
            std::env::var_os("CI_STRICT").is_none(),
            "CI_STRICT is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!(
            "SKIPPED: the browser test needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver {
        child: Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
        port,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not start listening");
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_supervisor_resolves_a_webhook_created_callback_in_a_real_browser() {
    let Some(driver) = chromedriver().await else {
        return;
    };
    let app = spawn_app_with(DASHBOARD).await;
    let body = missed_call("9876501101", "1780110001.1", "2026-05-28 11:29:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened");

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1200,900"]
        }),
    );
    let browser = ClientBuilder::rustls()
        .expect("a WebDriver client")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session");

    let outcome = async {
        // Not logged in: the dashboard sends the browser to the login form.
        browser.goto(&format!("{}/", app.address)).await?;
        assert!(browser.current_url().await?.path().starts_with("/login"));
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

        // The pending list shows the callback the webhook created.
        browser
            .wait()
            .for_element(Locator::Css("table.list"))
            .await?;
        assert_eq!(browser.current_url().await?.path(), "/");
        let link = browser.find(Locator::LinkText("+919876501101")).await?;
        std::fs::write(
            artifacts().join("dashboard-pending.png"),
            browser.screenshot().await?,
        )
        .unwrap();
        link.click().await?;

        // Resolve it through the form on its page.
        browser
            .wait()
            .for_element(Locator::Css("input[name=reason]"))
            .await?;
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
        assert_eq!(flash, "Resolved.");

        // Back on the list, it is gone.
        browser.goto(&format!("{}/", app.address)).await?;
        let empty = browser.find(Locator::Css("p.empty")).await?.text().await?;
        assert!(empty.starts_with("Nothing pending"), "{empty}");
        assert!(
            browser
                .find(Locator::LinkText("+919876501101"))
                .await
                .is_err()
        );
        std::fs::write(
            artifacts().join("dashboard-resolved.png"),
            browser.screenshot().await?,
        )
        .unwrap();
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    outcome.expect("the browser walk-through");
    let cb = app.callbacks("resolved").await;
    assert_eq!(cb.len(), 1);
    assert_eq!(
        cb[0]["resolution"]["reason"],
        "Called back from the browser test"
    );
    assert_eq!(cb[0]["resolution"]["agent"], "asha");
}
