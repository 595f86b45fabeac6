//! Issue 17: the callback service level counted in business time, holidays, and outcome
//! codes — through the API, with the clock moved by the test.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use crate::helpers::*;

/// The base configuration with `extra` lines added to its `[reminders]` table.
fn with_reminders(extra: &str, tables: &str) -> String {
    BASE_CONFIG.replace(
        "repeat_every = \"15m\"\n",
        &format!("repeat_every = \"15m\"\n{extra}\n"),
    ) + tables
}

const SLA: &str = "\n[sla]\ncallback_within = \"30m\"\ndepartments = { Sales = \"15m\" }\n";

/// Moves the clock to `hh:mm` IST on day `d` of May 2026.
fn set_ist(app: &TestApp, d: u32, h: u32, m: u32) {
    let target = chrono_tz::Asia::Kolkata
        .with_ymd_and_hms(2026, 5, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc);
    app.clock.advance(target - app.clock_now());
}

/// A missed call received now, missed by Meera; returns the callback id.
async fn missed(app: &TestApp, customer: &str, call_id: &str) -> String {
    let stamp = app
        .clock_now()
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let body = missed_call(customer, call_id, &stamp);
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    reply["callback_id"]
        .as_str()
        .expect("a callback")
        .to_string()
}

#[tokio::test]
async fn a_call_missed_at_18_50_is_due_at_09_20_the_next_business_day_and_breached_after() {
    let app = spawn_app_with(SLA).await;
    set_ist(&app, 28, 18, 50);
    let id = missed(&app, "9876501701", "1780170001.1").await;

    let cb = app.callback(&id).await;
    assert_eq!(cb["sla_due_at"], "2026-05-29T09:20:00+05:30");
    assert_eq!(cb["breached"], false);

    set_ist(&app, 29, 9, 21);
    let cb = app.callback(&id).await;
    assert_eq!(cb["breached"], true, "pending past its due time: {cb}");

    // The CSV carries both, in the last two columns.
    let (_, csv) = app.api_get("/api/v1/callbacks.csv").await;
    let csv = csv.as_str().unwrap().to_string();
    let mut lines = csv.lines();
    assert!(
        lines.next().unwrap().ends_with(",sla_due_at,breached"),
        "{csv}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",2026-05-29T09:20:00+05:30,true"),
        "{csv}"
    );
}

#[tokio::test]
async fn a_callback_called_back_in_time_is_not_breached_and_without_sla_there_is_no_due_time() {
    let app = spawn_app_with(SLA).await;
    let id = missed(&app, "9876501702", "1780170002.1").await;
    app.clock.advance(Duration::minutes(10));
    let (status, _) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/resolve"),
            json!({"reason": "called back"}),
        )
        .await;
    assert_eq!(status, 200);
    app.clock.advance(Duration::hours(5));
    let cb = app.callback(&id).await;
    assert_eq!(cb["sla_due_at"], "2026-05-28T12:00:00+05:30");
    assert_eq!(cb["breached"], false);

    let plain = spawn_app().await;
    let id = missed(&plain, "9876501703", "1780170003.1").await;
    let cb = plain.callback(&id).await;
    assert_eq!(cb["sla_due_at"], serde_json::Value::Null);
    assert_eq!(cb["breached"], false);
}

#[tokio::test]
async fn a_holiday_pauses_the_sla_clock_and_holds_reminders_until_the_next_business_day() {
    // Friday 29 May 2026 is a holiday.
    let app = spawn_app_with_config(&with_reminders("holidays = [\"2026-05-29\"]", SLA)).await;
    set_ist(&app, 28, 18, 58);
    let id = missed(&app, "9876501704", "1780170004.1").await;
    let cb = app.callback(&id).await;
    // Two minutes on Thursday, none on the holiday, 28 on Saturday.
    assert_eq!(cb["sla_due_at"], "2026-05-30T09:28:00+05:30");
    // The first reminder (due 19:00, after hours) waits past the holiday, to Saturday's
    // opening.
    assert_eq!(cb["next_reminder_at"], "2026-05-30T09:00:00+05:30");

    set_ist(&app, 29, 11, 0);
    let report = app.tick().await;
    assert_eq!(
        report.claimed, 0,
        "nothing goes out on a holiday: {report:?}"
    );
    assert_eq!(app.callback(&id).await["breached"], false);

    set_ist(&app, 30, 9, 0);
    let report = app.tick().await;
    assert!(report.claimed > 0, "Saturday's opening reminds: {report:?}");
}

#[tokio::test]
async fn outcomes_are_on_the_timeline_count_as_attempts_and_three_escalate() {
    let app = spawn_app_with_config(&with_reminders("escalate_after_attempts = 3", "")).await;
    let id = missed(&app, "9876501705", "1780170005.1").await;
    let outcome = |body: serde_json::Value| {
        let app = &app;
        let id = id.clone();
        async move {
            app.api_post(&format!("/api/v1/callbacks/{id}/outcome"), body)
                .await
        }
    };
    let (status, cb) = outcome(json!({"outcome": "no_answer", "who": "Meera"})).await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["attempts"], 1);
    app.clock.advance(Duration::minutes(1));
    let (_, cb) = outcome(json!({"outcome": "busy"})).await;
    assert_eq!(
        (cb["attempts"].as_u64(), cb["escalation_level"].as_u64()),
        (Some(2), Some(0))
    );

    // The third failed attempt sends it to the first escalation step at once (its age is
    // 2 minutes, far from the step's 30).
    app.clock.advance(Duration::minutes(1));
    let (_, cb) = outcome(json!({"outcome": "switched_off"})).await;
    assert_eq!(cb["attempts"], 3);
    app.tick().await;
    let cb = app.callback(&id).await;
    assert_eq!(cb["escalation_level"], 1, "{cb}");
    let details: Vec<String> = cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "outcome")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        details,
        [
            "no_answer: no answer",
            "busy: busy",
            "switched_off: switched off"
        ]
    );
}

#[tokio::test]
async fn call_later_snoozes_until_then_and_wrong_number_resolves_with_that_reason() {
    let app = spawn_app().await;
    let id = missed(&app, "9876501706", "1780170006.1").await;
    let path = format!("/api/v1/callbacks/{id}/outcome");

    let (status, body) = app.api_post(&path, json!({"outcome": "call_later"})).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("\"at\""), "{body}");
    let (status, body) = app.api_post(&path, json!({"outcome": "maybe"})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("no_answer"),
        "{body}"
    );
    let (status, _) = app
        .api_post(
            &path,
            json!({"outcome": "busy", "at": "2026-05-28T17:00:00+05:30"}),
        )
        .await;
    assert_eq!(status, 400, "at is only for call_later");

    let (status, cb) = app
        .api_post(
            &path,
            json!({"outcome": "call_later", "at": "2026-05-28T17:00:00+05:30"}),
        )
        .await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["snoozed_until"], "2026-05-28T17:00:00+05:30");
    assert_eq!(cb["attempts"], 1);

    let (status, cb) = app
        .api_post(&path, json!({"outcome": "wrong_number"}))
        .await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["status"], "resolved");
    assert_eq!(cb["resolution"]["reason"], "wrong_number");
    let (status, _) = app.api_post(&path, json!({"outcome": "busy"})).await;
    assert_eq!(status, 409, "already resolved");
    let (status, _) = app
        .api_post(
            "/api/v1/callbacks/01KSQ5M0Y1V6T3Q8D2Z7W9X4E5/outcome",
            json!({"outcome": "busy"}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn metrics_count_breaches_and_time_to_callback_per_agent() {
    let app = spawn_app_with(SLA).await;
    let id = missed(&app, "9876501707", "1780170007.1").await;
    app.clock.advance(Duration::minutes(45));
    let (status, _) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/resolve"),
            json!({"reason": "called back"}),
        )
        .await;
    assert_eq!(status, 200);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ringback_sla_breaches_total{agent=\"Meera\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringback_time_to_callback_seconds_count{agent=\"Meera\"} 1"),
        "{metrics}"
    );
}

/// A call from `customer` answered now (the call-back that resolves its callback).
async fn answered(app: &TestApp, customer: &str, call_id: &str) {
    let stamp = app
        .clock_now()
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let body = answered_call(customer, call_id, &stamp, "40");
    let (status, reply) = app
        .post_json(Some("call_hangup_answered"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "resolved", "{status} {reply}");
}

/// A missed call received now for `agent` in `department`; returns nothing.
async fn missed_by(app: &TestApp, customer: &str, call_id: &str, agent: (&str, &str), dept: &str) {
    let stamp = app
        .clock_now()
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut body = missed_call(customer, call_id, &stamp);
    body["missed_agent"] = json!([{"id": agent.1, "name": agent.0}]);
    if !dept.is_empty() {
        body["dept_name"] = dept.into();
    }
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened", "{status} {reply}");
}

/// The table row of the summary page whose first cell is `name`.
fn row<'h>(html: &'h str, label: &str, name: &str) -> &'h str {
    let start = html
        .find(&format!("<td data-label=\"{label}\">{name}</td>"))
        .unwrap_or_else(|| panic!("no row {name}: {html}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

fn cells(row: &str) -> (String, String) {
    let cell = |label: &str| {
        let open = format!("<td data-label=\"{label}\">");
        let at = row
            .find(&open)
            .unwrap_or_else(|| panic!("{label} in {row}"))
            + open.len();
        row[at..at + row[at..].find("</td>").unwrap()].to_string()
    };
    (
        cell("Within service level today"),
        cell("Within service level, 7 days"),
    )
}

#[tokio::test]
async fn the_summary_shows_the_share_called_back_within_the_service_level_per_agent_and_department()
{
    use crate::dashboard::{DASHBOARD, PASSWORD, Visitor};
    const MEERA: (&str, &str) = ("Meera", "0507000000011");
    const ARJUN: (&str, &str) = ("Arjun", "0507000000012");
    let app = spawn_app_with(&format!("{SLA}\n{DASHBOARD}")).await;
    // Thursday: a Sales customer (15 min level) called back in 10 min, and a customer with
    // no department (30 min) called back in 40 min, too late. Both Meera's.
    set_ist(&app, 28, 11, 30);
    missed_by(&app, "9876501711", "1780171001.1", MEERA, "Sales").await;
    missed_by(&app, "9876501712", "1780171002.1", MEERA, "").await;
    set_ist(&app, 28, 11, 40);
    answered(&app, "9876501711", "1780171003.1").await;
    set_ist(&app, 28, 12, 10);
    answered(&app, "9876501712", "1780171004.1").await;
    // Friday: Arjun's Support customer called back in 20 min; another still waits.
    set_ist(&app, 29, 10, 0);
    missed_by(&app, "9876501713", "1780171005.1", ARJUN, "Support").await;
    missed_by(&app, "9876501714", "1780171006.1", ARJUN, "Support").await;
    set_ist(&app, 29, 10, 20);
    answered(&app, "9876501713", "1780171007.1").await;

    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/summary").await;
    assert!(
        html.contains(
            r#"<span class="big">100 % (1 of 1)</span> called back within the service level today"#
        ),
        "{html}"
    );
    assert!(
        html.contains(
            r#"<span class="big">66 % (2 of 3)</span> within the service level, last 7 days"#
        ),
        "{html}"
    );
    let agent = |name| cells(row(&html, "Agent", name));
    assert_eq!(agent("Meera"), ("—".into(), "50 % (1 of 2)".into()));
    assert_eq!(
        agent("Arjun"),
        ("100 % (1 of 1)".into(), "100 % (1 of 1)".into())
    );
    let department = |name| cells(row(&html, "Department", name));
    assert_eq!(department("Sales"), ("—".into(), "100 % (1 of 1)".into()));
    assert_eq!(
        department("Support"),
        ("100 % (1 of 1)".into(), "100 % (1 of 1)".into())
    );
    assert_eq!(
        department("no department"),
        ("—".into(), "0 % (0 of 1)".into())
    );
    assert!(
        row(&html, "Department", "Support").contains("<td data-label=\"Pending\">1</td>"),
        "{html}"
    );
}

#[tokio::test]
async fn the_rules_page_lists_the_next_holidays_and_not_past_ones() {
    use crate::dashboard::{DASHBOARD, PASSWORD, Visitor};
    let holidays = "holidays = [\"2026-01-26\", \"2026-08-15\", \"2026-05-29\"]";
    let app = spawn_app_with_config(&with_reminders(holidays, DASHBOARD)).await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/rules").await;
    let listed = html
        .split("<h2>Next holidays</h2>")
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .unwrap_or_else(|| panic!("a list of holidays: {html}"));
    let friday = listed
        .find("Fri 29 May 2026")
        .unwrap_or_else(|| panic!("{listed}"));
    let august = listed
        .find("Sat 15 Aug 2026")
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(friday < august, "soonest first: {listed}");
    assert!(!listed.contains("Jan 2026"), "January is past: {listed}");
}
