//! The dashboard over HTTP (SPEC §8, issue 4): login, sessions, CSRF, escaping, pages,
//! actions from forms, and the rules page. (The real-browser test is `tests/system/browser.rs`.)

use chrono::Duration;
use reqwest::StatusCode;
use reqwest::redirect::Policy;

use crate::helpers::*;

pub use crate::helpers::{DASHBOARD, PASSWORD};

/// A browser-like client: keeps cookies, does not follow redirects (tests look at them).
pub struct Visitor {
    pub http: reqwest::Client,
    pub base: String,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self::at(app.address.clone())
    }

    /// A visitor of the service at `base` (e.g. a `Daemon`'s URL).
    pub fn at(base: String) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base,
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String, reqwest::header::HeaderMap) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, r.text().await.unwrap(), headers)
    }

    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, reqwest::header::HeaderMap) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, r.text().await.unwrap(), headers)
    }

    /// The CSRF token in the page at `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let (_, html, _) = self.get(path).await;
        csrf_in(&html).unwrap_or_else(|| panic!("no csrf field in {path}: {html}"))
    }

    pub async fn login(
        &self,
        name: &str,
        password: &str,
    ) -> (StatusCode, String, reqwest::header::HeaderMap) {
        let csrf = self.csrf("/login").await;
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("name", name),
                ("password", password),
                ("next", "/"),
            ],
        )
        .await
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(html[at..at + html[at..].find('"')?].to_string())
}

fn location(headers: &reqwest::header::HeaderMap) -> String {
    headers["location"].to_str().unwrap().to_string()
}

async fn dashboard_app() -> TestApp {
    spawn_app_with(DASHBOARD).await
}

async fn open(app: &TestApp, customer: &str) -> String {
    let body = missed_call(
        customer,
        &format!("17801000{}.1", &customer[customer.len() - 2..]),
        "2026-05-28 11:29:00",
    );
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    reply["callback_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn visitors_who_are_not_logged_in_are_sent_to_the_login_form() {
    let app = dashboard_app().await;
    let id = open(&app, "9876501001").await;
    let v = Visitor::new(&app);
    for path in [
        "/",
        "/resolved",
        "/summary",
        "/rules",
        "/export.csv?status=all",
        &format!("/callbacks/{id}"),
    ] {
        let (status, _, headers) = v.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        let to = location(&headers);
        assert!(to.starts_with("/login?next="), "{path} -> {to}");
    }
    let (status, html, _) = v.get("/login?next=%2Fsummary").await;
    assert_eq!(status, StatusCode::OK);
    // (minijinja escapes "/" in attribute values; browsers read it back as "/".)
    assert!(
        html.contains(r#"<input type="hidden" name="next" value="&#x2f;summary">"#),
        "{html}"
    );
    // A POST without a session (one that expired while the form was open) does nothing,
    // and the login leads back to the page the form was on, not to the form's address.
    let (status, _, headers) = v
        .post(&format!("/callbacks/{id}/resolve"), &[("reason", "x")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&headers),
        format!("/login?next=%2Fcallbacks%2F{id}")
    );
    assert_eq!(app.pending().await.len(), 1);
    let (_, _, headers) = v.post("/rules/reset", &[]).await;
    assert_eq!(location(&headers), "/login?next=%2Frules");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_right_one_opens_the_pending_list() {
    let app = dashboard_app().await;
    open(&app, "9876501002").await;
    let v = Visitor::new(&app);
    let (status, html, _) = v.login("asha", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("Wrong name or password."));
    let (status, html, _) = v.login("nobody", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("Wrong name or password."));
    let (_, _, headers) = v.get("/").await;
    assert!(location(&headers).starts_with("/login"), "still logged out");

    let (status, _, headers) = v.login("Asha", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/");
    let cookie = headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "public_url is http: no Secure flag"
    );
    let (status, html, headers) = v.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("+919876501002"), "{html}");
    assert!(html.contains(r#"http-equiv="refresh""#), "auto-refresh");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");

    let csrf = csrf_in(&html).unwrap();
    let (status, _, headers) = v.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/login");
    let (_, _, headers) = v.get("/").await;
    assert!(location(&headers).starts_with("/login"), "logged out");
}

#[tokio::test]
async fn a_form_post_without_the_csrf_token_is_refused() {
    let app = dashboard_app().await;
    let id = open(&app, "9876501003").await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let page = format!("/callbacks/{id}");
    for form in [
        vec![("reason", "done")],
        vec![("reason", "done"), ("csrf", "forged-token")],
    ] {
        let (status, _, _) = v.post(&format!("{page}/resolve"), &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.pending().await.len(), 1, "nothing changed");
    // The login form is protected too.
    let other = Visitor::new(&app);
    let (status, _, _) = other
        .post("/login", &[("name", "asha"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn html_in_caller_controlled_fields_is_rendered_inert() {
    let app = dashboard_app().await;
    let mut body = missed_call("9876501004", "1780100004.1", "2026-05-28 11:29:00");
    body["missed_agent"] =
        serde_json::json!([{"name": "<script>alert('agent')</script>", "id": "0509999999999"}]);
    body["dept_name"] = "<img src=x onerror=alert('dept')>".into();
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    let id = reply["callback_id"].as_str().unwrap().to_string();
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    for path in ["/".to_string(), format!("/callbacks/{id}")] {
        let (status, html, _) = v.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains("<img src=x"), "{path}: {html}");
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert("),
            "{path}: {html}"
        );
    }
    let (_, html, _) = v.get(&format!("/callbacks/{id}")).await;
    assert!(html.contains("&lt;script&gt;alert("), "{html}");
}

#[tokio::test]
async fn resolve_snooze_and_assign_work_from_the_callback_page() {
    let app = dashboard_app().await;
    let id = open(&app, "9876501005").await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let page = format!("/callbacks/{id}");
    let csrf = v.csrf(&page).await;

    let (status, _, headers) = v
        .post(
            &format!("{page}/snooze"),
            &[("csrf", &csrf), ("minutes", "60")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), format!("{page}?done=snoozed"));
    let cb = app.callback(&id).await;
    assert_eq!(cb["snoozed_until"], "2026-05-28T12:30:00+05:30");
    assert_eq!(
        cb["events"].as_array().unwrap().last().unwrap()["who"],
        "asha"
    );

    v.post(
        &format!("{page}/assign"),
        &[("csrf", &csrf), ("agent", "Arjun")],
    )
    .await;
    assert_eq!(app.callback(&id).await["assigned_agent"]["name"], "Arjun");

    let (_, html, _) = v.get(&format!("{page}?done=assigned")).await;
    assert!(html.contains("Reassigned."), "the flash");
    let (_, _, headers) = v
        .post(
            &format!("{page}/assign"),
            &[("csrf", &csrf), ("agent", "arjun")],
        )
        .await;
    assert_eq!(
        location(&headers),
        format!("{page}?done=unchanged_assigned"),
        "Arjun has it already"
    );
    assert!(html.contains("Snoozed"), "timeline shows the snooze");

    let (status, _, _) = v
        .post(
            &format!("{page}/resolve"),
            &[("csrf", &csrf), ("reason", "  ")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.pending().await.len(), 1, "a reason is required");
    v.post(
        &format!("{page}/resolve"),
        &[("csrf", &csrf), ("reason", "Spoke on WhatsApp")],
    )
    .await;
    assert!(app.pending().await.is_empty());
    let cb = app.callback(&id).await;
    assert_eq!(cb["resolution"]["kind"], "manual");
    assert_eq!(cb["resolution"]["agent"], "asha");

    let (_, html, _) = v.get("/resolved").await;
    assert!(
        html.contains("+919876501005") && html.contains("Spoke on WhatsApp"),
        "{html}"
    );
}

#[tokio::test]
async fn an_outcome_recorded_on_the_callback_page_is_on_its_timeline_and_counts_an_attempt() {
    let app = dashboard_app().await;
    let id = open(&app, "9876501012").await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let page = format!("/callbacks/{id}");
    let csrf = v.csrf(&page).await;
    let record = |outcome: &'static str| {
        let (v, page, csrf) = (&v, &page, &csrf);
        async move {
            v.post(
                &format!("{page}/outcome"),
                &[
                    ("csrf", csrf),
                    ("outcome", outcome),
                    ("later_minutes", "120"),
                ],
            )
            .await
        }
    };

    let (status, _, headers) = record("switched_off").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), format!("{page}?done=outcome"));
    let (_, html, _) = v.get(&format!("{page}?done=outcome")).await;
    assert!(html.contains("Outcome recorded as an attempt."), "{html}");
    assert!(
        html.contains("<dt>Call-back attempts</dt><dd>1</dd>"),
        "{html}"
    );
    assert!(
        html.contains("Call-back attempt: outcome") && html.contains("switched_off: switched off"),
        "on the timeline: {html}"
    );

    // "Asked to be called later" with the form's 2 hours snoozes it until then.
    record("call_later").await;
    let (_, html, _) = v.get(&page).await;
    assert!(
        html.contains("<dt>Call-back attempts</dt><dd>2</dd>"),
        "{html}"
    );
    assert!(
        html.contains("<dt>Snoozed until</dt><dd>28 May 2026, 13:30</dd>"),
        "{html}"
    );

    // Something that is not an outcome changes nothing; a wrong number closes it.
    let (status, _, headers) = record("maybe").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), format!("{page}?done=invalid"));
    assert_eq!(app.callback(&id).await["attempts"], 2);
    let (_, html, _) = v.get(&format!("{page}?done=invalid")).await;
    assert!(
        html.contains(r#"<p class="flash problem" role="alert">Nothing done"#),
        "a refusal does not look like a success: {html}"
    );
    let (_, _, headers) = record("wrong_number").await;
    assert_eq!(location(&headers), format!("{page}?done=outcome_resolved"));
    let (_, html, _) = v.get(&format!("{page}?done=outcome_resolved")).await;
    assert!(
        html.contains("Wrong number recorded: the callback is resolved."),
        "{html}"
    );
    assert!(
        html.contains("<dt>Call-back attempts</dt><dd>3</dd>"),
        "{html}"
    );
    assert!(app.pending().await.is_empty(), "a wrong number closes it");
}

#[tokio::test]
async fn the_pending_heading_counts_only_what_the_filter_shows() {
    let app = dashboard_app().await;
    open(&app, "9876501013").await;
    let mut arjuns = missed_call("9876501014", "1780100014.1", "2026-05-28 11:29:00");
    arjuns["missed_agent"] = serde_json::json!([{"id": "0507000000012", "name": "Arjun"}]);
    arjuns["dept_name"] = "Sales".into();
    app.post_json(Some("call_hangup_missed"), &arjuns.to_string())
        .await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;

    let (_, html, _) = v.get("/").await;
    assert!(
        html.contains(r#"<h1>Pending callbacks <span class="count">2</span></h1>"#),
        "{html}"
    );
    for filter in [
        "/?agent=Arjun",
        "/?department=Sales",
        "/?agent=Arjun&department=Sales",
    ] {
        let (_, html, _) = v.get(filter).await;
        assert!(
            html.contains(
                r#"<h1>Pending callbacks <span class="count">1</span> <span class="of">of 2</span></h1>"#
            ),
            "{filter}: {html}"
        );
        assert!(html.contains("<title>Pending (1)"), "{filter}: {html}");
    }
    let (_, html, _) = v.get("/?agent=-").await;
    assert!(
        html.contains(r#"<span class="count">0</span> <span class="of">of 2</span>"#),
        "nobody unassigned: {html}"
    );
}

#[tokio::test]
async fn the_summary_counts_pending_and_time_to_callback() {
    let app = dashboard_app().await;
    open(&app, "9876501006").await;
    open(&app, "9876501007").await;
    // 9876501007 is called back 30 minutes after the missed call.
    let answered = answered_call("9876501007", "1780100099.1", "2026-05-28 11:59:00", "40");
    app.post_json(Some("call_hangup_answered"), &answered.to_string())
        .await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (status, html, _) = v.get("/summary").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<span class="big">1</span> pending now"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="big">1</span> resolved today"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="big">30 min</span> median time to callback today"#),
        "{html}"
    );
    assert!(html.contains("Meera"));
}

#[tokio::test]
async fn without_users_the_dashboard_is_off() {
    let app = spawn_app().await;
    let v = Visitor::new(&app);
    let (status, html, _) = v.get("/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("The dashboard is off"));
}

fn rules_form<'a>(
    csrf: &'a str,
    first_after: &'a str,
    steps: &'a [(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", csrf),
        ("first_after", first_after),
        ("repeat_every", "15m"),
        ("business_hours", "* * 9-18 * * Mon-Sat"),
    ];
    for (after, notify) in steps {
        form.push(("step_after", after));
        form.push(("step_notify", notify));
    }
    form
}

#[tokio::test]
async fn a_valid_rules_edit_changes_the_next_escalation_of_a_pending_callback() {
    let app = dashboard_app().await;
    let id = open(&app, "9876501008").await;
    assert_eq!(app.callback(&id).await["escalation_level"], 0);
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let csrf = v.csrf("/rules").await;
    let (status, _, headers) = v
        .post(
            "/rules",
            &rules_form(&csrf, "2m", &[("10m", "Asha"), ("1h", "Asha, Arjun")]),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/rules?done=rules");
    // The callback opened under the old rules (30 min) now escalates at 10 min.
    let report = app.advance(Duration::minutes(10)).await;
    assert!(report.claimed >= 1, "{report:?}");
    assert_eq!(app.callback(&id).await["escalation_level"], 1);

    let (_, html, _) = v.get("/rules?done=rules").await;
    assert!(html.contains("Rules saved"), "{html}");
    assert!(
        html.contains("edited here and override <code>config.toml</code>"),
        "{html}"
    );
    assert!(
        html.contains("first 2m, every 15m, hours * * 9-18 * * Mon-Sat; escalation: 30m → Asha"),
        "before, in the audit: {html}"
    );
    assert!(
        html.contains("escalation: 10m → Asha; 1h → Asha, Arjun"),
        "after, in the audit: {html}"
    );
    assert!(html.contains("<td data-label=\"Who\">asha</td>"), "{html}");

    // The edit survives a restart.
    let app = app.restart().await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/rules").await;
    assert!(html.contains(r#"name="step_after" value="1h""#), "{html}");
}

#[tokio::test]
async fn using_the_files_rules_lets_later_edits_of_the_file_take_effect_after_a_restart() {
    let app = dashboard_app().await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let csrf = v.csrf("/rules").await;
    v.post("/rules", &rules_form(&csrf, "5m", &[("10m", "Asha")]))
        .await;
    let (status, _, headers) = v.post("/rules/reset", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/rules?done=reset");
    let (_, html, _) = v.get("/rules?done=reset").await;
    assert!(
        html.contains("The file&#x27;s rules are in force again"),
        "{html}"
    );
    assert!(
        html.contains("These are the rules from <code>config.toml</code>"),
        "{html}"
    );
    assert!(
        html.contains("the file&#x27;s rules: first 2m, every 15m"),
        "the reset is in the audit: {html}"
    );

    // The admin then changes config.toml's rules and restarts Ringback.
    let app = app
        .restart_after(|dir| {
            let path = dir.join("config.toml");
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text
                .replace("first_after = \"2m\"", "first_after = \"7m\"")
                .replace("after = \"30m\"", "after = \"45m\"");
            std::fs::write(path, text).unwrap();
        })
        .await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/rules").await;
    assert!(
        html.contains("These are the rules from <code>config.toml</code>"),
        "{html}"
    );
    assert!(html.contains(r#"name="first_after" value="7m""#), "{html}");
    assert!(html.contains(r#"name="step_after" value="45m""#), "{html}");
    // And the new file rules are the ones in force: the first reminder comes 7 min on.
    let id = open(&app, "9876501011").await;
    assert_eq!(
        app.callback(&id).await["next_reminder_at"],
        "2026-05-28T11:37:00+05:30"
    );
}

#[tokio::test]
async fn an_invalid_rules_edit_is_refused_with_the_field_named_and_changes_nothing() {
    let app = dashboard_app().await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let csrf = v.csrf("/rules").await;
    let (status, html, _) = v
        .post(
            "/rules",
            &rules_form(&csrf, "two minutes", &[("1h", "Asha"), ("30m", "Nobody")]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Nothing was saved"), "{html}");
    assert!(
        html.contains(r#"name="first_after" value="two minutes" aria-invalid="true""#),
        "{html}"
    );
    assert!(html.contains("is not a duration"), "{html}");
    assert!(html.contains("increasing order"), "{html}");
    assert!(
        html.contains("&quot;Nobody&quot; is not a configured supervisor or agent"),
        "{html}"
    );
    let (_, html, _) = v.get("/rules").await;
    assert!(
        html.contains("These are the rules from <code>config.toml</code>"),
        "{html}"
    );
    assert!(html.contains("No changes made here yet."));
}

#[tokio::test]
async fn a_rules_edit_with_a_duration_past_a_year_is_refused_with_the_field_named() {
    let app = dashboard_app().await;
    let id = open(&app, "9876501009").await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let csrf = v.csrf("/rules").await;
    let (status, html, _) = v
        .post("/rules", &rules_form(&csrf, "1000000y", &[("30m", "Asha")]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains(r#"name="first_after" value="1000000y" aria-invalid="true""#),
        "{html}"
    );
    assert!(
        html.contains("is too long: at most 366d (a year)"),
        "{html}"
    );
    // Nothing changed: the callback still reminds on the file's timing, and later webhooks
    // are still stored.
    assert_eq!(app.advance(Duration::minutes(2)).await.claimed, 1);
    open(&app, "9876501010").await;
    assert_eq!(app.callback(&id).await["status"], "pending");
}

#[tokio::test]
async fn a_signed_in_supervisor_downloads_the_callbacks_as_csv() {
    let app = dashboard_app().await;
    let id = open(&app, "9876501007").await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/").await;
    assert!(
        html.contains(r#"href="/export.csv?status=pending""#),
        "{html}"
    );
    let (status, csv, headers) = v.get("/export.csv?status=pending").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with(&format!("{id},pending,+919876501007,1,")),
        "{csv}"
    );
    let (status, body, _) = v.get("/export.csv?status=everything").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn business_hours_are_edited_as_weekdays_and_times_or_as_cron_on_request() {
    let app = dashboard_app().await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/rules").await;
    assert!(
        html.contains(r#"<input type="checkbox" name="day" value="Sat" checked>"#)
            && html.contains(r#"<input type="checkbox" name="day" value="Sun">"#),
        "{html}"
    );
    assert!(html.contains(r#"name="opens" value="09:00""#), "{html}");
    assert!(html.contains(r#"name="closes" value="19:00""#), "{html}");
    let csrf = csrf_in(&html).unwrap();
    let week = |days: &[&'static str], opens: &'static str, closes: &'static str| {
        let mut form = vec![
            ("csrf", csrf.clone()),
            ("first_after", "2m".to_string()),
            ("repeat_every", "15m".to_string()),
            ("hours_mode", "week".to_string()),
            ("opens", opens.to_string()),
            ("closes", closes.to_string()),
            ("step_after", "30m".to_string()),
            ("step_notify", "Asha".to_string()),
        ];
        form.extend(days.iter().map(|d| ("day", d.to_string())));
        form
    };
    let post = |form: Vec<(&'static str, String)>| {
        let v = &v;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, x)| (*k, x.as_str())).collect();
            v.post("/rules", &pairs).await
        }
    };
    // No day, then closing before opening: refused next to the hours, nothing saved.
    let (status, html, _) = post(week(&[], "09:00", "18:00")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("choose at least one day"), "{html}");
    let (status, html, _) = post(week(&["Mon"], "18:00", "09:00")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("closing time must be after the opening time"),
        "{html}"
    );
    // Weekdays 09:30 to 18:00 are saved as the cron expressions that mean it.
    let (status, _, _) = post(week(&["Mon", "Tue", "Wed", "Thu", "Fri"], "09:30", "18:00")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html, _) = v.get("/rules").await;
    assert!(
        html.contains("hours * 30-59 9 * * Mon-Fri; * * 10-17 * * Mon-Fri;"),
        "the audit: {html}"
    );
    assert!(html.contains(r#"name="opens" value="09:30""#), "{html}");
    // The cron form on request, and for hours a week cannot show.
    let (_, html, _) = v.get("/rules?hours=cron").await;
    assert!(
        html.contains(
            r#"<input name="business_hours" value="* 30-59 9 * * Mon-Fri; * * 10-17 * * Mon-Fri""#
        ),
        "{html}"
    );
    let (status, _, _) = v
        .post(
            "/rules",
            &[
                ("csrf", csrf.as_str()),
                ("first_after", "2m"),
                ("repeat_every", "15m"),
                ("business_hours", "* * 9-12,14-18 * * Mon-Fri"),
                ("step_after", "30m"),
                ("step_notify", "Asha"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html, _) = v.get("/rules").await;
    assert!(
        !html.contains(r#"name="day""#),
        "a lunch break stays cron: {html}"
    );
}

#[tokio::test]
async fn short_timings_saved_on_the_rules_page_are_shown_with_a_warning() {
    let app = dashboard_app().await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let csrf = v.csrf("/rules").await;
    let mut form = rules_form(&csrf, "10s", &[("30m", "Asha")]);
    form[2] = ("repeat_every", "30s");
    let (status, _, _) = v.post("/rules", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html, _) = v.get("/rules").await;
    assert!(
        html.contains("reminders.repeat_every: 30s is under a minute"),
        "{html}"
    );
}
