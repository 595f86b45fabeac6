//! Issue 16: a missed call whose customer number cannot be read opens no callback, so it is
//! shown to supervisors (a count on the pending list, its own page) and counted in /metrics.

use crate::dashboard::{DASHBOARD, PASSWORD, Visitor};
use crate::helpers::*;

async fn metric(app: &TestApp) -> String {
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("ringback_unreadable_numbers_total "))
        .unwrap_or_else(|| panic!("no ringback_unreadable_numbers_total in {text}"))
        .to_string()
}

#[tokio::test]
async fn a_missed_call_with_an_unreadable_number_is_listed_for_supervisors_and_counted() {
    let app = spawn_app_with(DASHBOARD).await;
    assert_eq!(metric(&app).await, "ringback_unreadable_numbers_total 0");
    let anonymous = missed_call("anonymous", "1780190001.1", "2026-05-28 11:29:00");
    let mut no_number = missed_call("9876501901", "1780190002.1", "2026-05-28 11:29:30");
    no_number
        .as_object_mut()
        .unwrap()
        .remove("caller_id_number");
    for body in [&anonymous, &no_number, &anonymous] {
        let (status, reply) = app
            .post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
        assert_eq!(status, 200, "{reply}");
        assert!(reply["callback_id"].is_null(), "{reply}");
    }
    // A readable number opens a callback as usual and is not listed.
    let readable = missed_call("9876501902", "1780190003.1", "2026-05-28 11:29:40");
    app.post_json(Some("call_hangup_missed"), &readable.to_string())
        .await;

    // Two customers (the third post was a redelivery of the first).
    assert_eq!(metric(&app).await, "ringback_unreadable_numbers_total 2");
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/").await;
    assert!(
        html.contains(r#"<a href="/unreadable">2 missed calls in the last 7 days</a>"#),
        "{html}"
    );
    let (status, html, _) = v.get("/unreadable").await;
    assert_eq!(status.as_u16(), 200);
    let rows: Vec<&str> = html.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{html}");
    // Newest first: the call without a number field, then "anonymous".
    assert!(rows[0].contains("no number field"), "{}", rows[0]);
    for (row, why) in [
        (rows[0], "no customer number field"),
        (rows[1], "not a phone number"),
    ] {
        assert!(row.contains("28 May 2026, 11:30"), "{row}");
        assert!(
            row.contains("<td data-label=\"Missed by\">Meera</td>"),
            "{row}"
        );
        assert!(row.contains(why), "{row}");
    }
    assert!(rows[1].contains("<code>anonymous</code>"), "{}", rows[1]);
    assert!(
        !html.contains("9876501902"),
        "a readable number is not listed"
    );
}

#[tokio::test]
async fn without_unreadable_numbers_the_pending_list_says_nothing_of_them() {
    let app = spawn_app_with(DASHBOARD).await;
    let readable = missed_call("9876501903", "1780190004.1", "2026-05-28 11:29:40");
    app.post_json(Some("call_hangup_missed"), &readable.to_string())
        .await;
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/").await;
    assert!(
        html.contains("+91 98765 01903"),
        "the list is shown: {html}"
    );
    assert!(!html.contains("could not read"), "{html}");
    let (_, html, _) = v.get("/unreadable").await;
    assert!(html.contains("None in the last 30 days."), "{html}");
}

#[tokio::test]
async fn an_unreadable_number_of_any_length_is_shown_cut_to_the_kept_length() {
    let app = spawn_app_with(DASHBOARD).await;
    let huge = "9".repeat(100_000);
    let body = missed_call(&huge, "1780190011.1", "2026-05-28 11:29:00");
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["callback_id"].is_null(), "{reply}");
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (status, html, _) = v.get("/unreadable").await;
    assert_eq!(status.as_u16(), 200);
    let shown = html
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap_or_else(|| panic!("no number shown: {html}"));
    assert!(shown.starts_with("999"), "{shown}");
    assert!(
        shown.chars().count() <= 121,
        "{} characters shown",
        shown.chars().count()
    );
    assert!(html.len() < 20_000, "the page is {} bytes", html.len());
}
