//! The dashboard's login and sessions under attack (issue 15): where a login may send the
//! browser next, simultaneous password guesses, session age by the service's clock, and
//! a rules edit that would run out of business hours.

use chrono::Duration;
use reqwest::StatusCode;

use crate::dashboard::{DASHBOARD, PASSWORD, Visitor, csrf_in};
use crate::helpers::*;

fn with_server_keys(keys: &str) -> String {
    BASE_CONFIG.replacen("[server]\n", &format!("[server]\n{keys}\n"), 1) + DASHBOARD
}

async fn login_then(v: &Visitor, next: &str) -> (StatusCode, String) {
    let csrf = v.csrf("/login").await;
    let (status, _, headers) = v
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("name", "asha"),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await;
    let location = headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location)
}

#[tokio::test]
async fn a_login_next_that_is_not_a_plain_same_site_path_goes_home() {
    let app = spawn_app_with(DASHBOARD).await;
    let v = Visitor::new(&app);
    // A tab is dropped by browsers: `/\t/evil.example` would be `//evil.example`.
    for next in [
        "/\t/evil.example",
        "/\r\n/evil.example",
        "/\u{b}/x",
        "//evil.example",
    ] {
        let (status, location) = login_then(&v, next).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location, "/", "{next:?}");
    }
    let (status, location) = login_then(&v, "/summary").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/summary", "a plain path is kept");

    // The login form carries the cleaned value too.
    let (status, html, _) = Visitor::new(&app)
        .get("/login?next=%2F%09%2Fevil.example")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"name="next" value="&#x2f;""#), "{html}");
}

#[tokio::test]
async fn a_hundred_simultaneous_guesses_from_one_address_are_not_all_checked() {
    let app = spawn_app_with_config(&with_server_keys("auth_failures_per_minute = 3")).await;
    let v = Visitor::new(&app);
    let (_, page, _) = v.get("/login").await;
    let csrf = csrf_in(&page).unwrap();
    let guesses: Vec<_> = (0..100)
        .map(|i| {
            let http = v.http.clone();
            let url = format!("{}/login", app.address);
            let csrf = csrf.clone();
            tokio::spawn(async move {
                let guess = format!("guess {i}");
                let form = [
                    ("csrf", csrf.as_str()),
                    ("name", "asha"),
                    ("password", guess.as_str()),
                ];
                http.post(url).form(&form).send().await.unwrap().status()
            })
        })
        .collect();
    let mut checked = 0;
    let mut refused = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(checked, 3, "only the allowance is checked");
    assert_eq!(refused, 97);

    // The right password is refused too while the address is throttled.
    let (status, _, _) = v.login("asha", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_right_password_does_not_use_up_the_allowance() {
    let app = spawn_app_with_config(&with_server_keys("auth_failures_per_minute = 2")).await;
    let v = Visitor::new(&app);
    for _ in 0..3 {
        let (status, _, _) = v.login("asha", PASSWORD).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn a_login_ends_after_twelve_hours_by_the_services_clock() {
    let app = spawn_app_with(DASHBOARD).await;
    let v = Visitor::new(&app);
    let (status, _, _) = v.login("asha", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = v.get("/").await;
    assert_eq!(status, StatusCode::OK);

    app.clock
        .advance(Duration::hours(11) + Duration::minutes(59));
    let (status, _, _) = v.get("/summary").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still logged in just before 12 hours"
    );

    app.clock.advance(Duration::minutes(1));
    let (status, _, headers) = v.get("/summary").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "logged out at 12 hours");
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );
}

#[tokio::test]
async fn the_rules_page_refuses_business_hours_with_a_year_field() {
    let app = spawn_app_with(DASHBOARD).await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let csrf = v.csrf("/rules").await;
    let (status, html, _) = v
        .post(
            "/rules",
            &[
                ("csrf", csrf.as_str()),
                ("first_after", "2m"),
                ("repeat_every", "15m"),
                ("business_hours", "* * 9-18 * * Mon-Sat 2026-2099"),
                ("step_after", "30m"),
                ("step_notify", "Asha"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Nothing was saved"), "{html}");
    assert!(html.contains("year"), "{html}");
    let (_, html, _) = v.get("/rules").await;
    assert!(html.contains("No changes made here yet."), "{html}");
}

/// The session cookie a response set, as a `Cookie` header's `name=value`.
fn session_cookie(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ringback_session="))
        .and_then(|v| v.split(';').next())
        .expect("the response sets the session cookie")
        .to_string()
}

/// A client that sends a saved cookie as it is (what an attacker with a copy would do).
struct Replay {
    http: reqwest::Client,
    cookie: String,
}

impl Replay {
    fn new(cookie: String) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie,
        }
    }

    async fn get(&self, url: String) -> (StatusCode, String, String) {
        let r = self
            .http
            .get(url)
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status(), location, r.text().await.unwrap())
    }

    async fn post(&self, url: String, form: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .http
            .post(url)
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status(), location)
    }
}

async fn open_callback(app: &TestApp) -> String {
    let body = missed_call("9876501501", "1780101501.1", "2026-05-28 11:29:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    reply["callback_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_cookie_saved_before_logout_opens_nothing_after_it() {
    let app = spawn_app_with(DASHBOARD).await;
    let id = open_callback(&app).await;
    let v = Visitor::new(&app);
    let (_, _, headers) = v.login("asha", PASSWORD).await;
    let saved = Replay::new(session_cookie(&headers));
    // Someone else logged in as the same user in another browser.
    let other = Visitor::new(&app);
    other.login("asha", PASSWORD).await;

    // Before logout the copy works like the original: it opens the callback page.
    let page = format!("{}/callbacks/{id}", app.address);
    let (status, _, html) = saved.get(page.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_in(&html).expect("the callback page carries a form");

    let logout_csrf = v.csrf("/").await;
    let (status, _, headers) = v.post("/logout", &[("csrf", &logout_csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/login");

    // The copy now opens nothing and its forms do nothing.
    let (status, location, _) = saved.get(format!("{}/", app.address)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/login"), "{location}");
    let (status, location, _) = saved.get(page).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/login"), "{location}");
    let (status, location) = saved
        .post(
            format!("{}/callbacks/{id}/resolve", app.address),
            &[("csrf", &csrf), ("reason", "replayed")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/login"), "{location}");
    assert_eq!(
        app.callback(&id).await["status"],
        "pending",
        "nothing resolved"
    );

    // Only that session ended: the other browser is still logged in.
    let (status, _, _) = other.get("/").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_ends_the_sessions_issued_under_the_old_one() {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};

    let app = spawn_app_with(DASHBOARD).await;
    let v = Visitor::new(&app);
    let (_, _, headers) = v.login("asha", PASSWORD).await;
    let saved = Replay::new(session_cookie(&headers));

    // A restart alone keeps the login.
    let app = app.restart().await;
    let (status, _, _) = saved.get(format!("{}/", app.address)).await;
    assert_eq!(status, StatusCode::OK, "a restart keeps sessions");

    // The admin sets a new password and restarts.
    let new_password = "a brand new passphrase";
    let new_hash = argon2::Argon2::default()
        .hash_password(new_password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    let app = app
        .restart_after(|dir| {
            let path = dir.join("config.toml");
            let config = std::fs::read_to_string(&path).unwrap();
            let old_hash = config
                .split("password_hash = \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap()
                .to_string();
            std::fs::write(&path, config.replace(&old_hash, &new_hash)).unwrap();
        })
        .await;

    let (status, location, _) = saved.get(format!("{}/", app.address)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old session is over");
    assert!(location.starts_with("/login"), "{location}");
    let v = Visitor::new(&app);
    let (status, _, _) = v.login("asha", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old password is refused"
    );
    let (status, _, _) = v.login("asha", new_password).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = v.get("/").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new password opens the dashboard"
    );
}
