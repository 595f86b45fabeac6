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
