//! The dashboard's pending list when there is more pending than one page shows (issue 15):
//! the agent and department filters search every pending callback, not only the rows that
//! fit, and a cut page says so.

use futures_util::StreamExt;
use reqwest::StatusCode;

use crate::dashboard::{PASSWORD, Visitor};
use crate::helpers::*;

/// What the pending page shows at most.
const SHOWN: usize = 2000;

/// A missed call from customer `n`, `n` seconds after 10:00, missed by `agent`
/// (Meera's or Arjun's Smartflo id), in `department` if given.
fn missed(n: usize, agent: (&str, &str), department: Option<&str>) -> String {
    let stamp = format!("2026-05-28 10:{:02}:{:02}", n / 60 % 60, n % 60);
    let mut body = missed_call(&format!("98765{n:05}"), &format!("1780200{n:05}.1"), &stamp);
    body["missed_agent"] = serde_json::json!([{"id": agent.0, "name": agent.1}]);
    if let Some(d) = department {
        body["dept_name"] = d.into();
    }
    body.to_string()
}

const MEERA: (&str, &str) = ("0507000000011", "Meera");
const ARJUN: (&str, &str) = ("0507000000012", "Arjun");

/// Sends the missed calls eight at a time; each must open a callback.
async fn post_all(app: &TestApp, bodies: Vec<String>) {
    futures_util::stream::iter(bodies)
        .map(|body| async move { app.post_json(Some("call_hangup_missed"), &body).await })
        .buffer_unordered(8)
        .for_each(|(status, reply)| async move {
            assert_eq!(status, 200, "{reply}");
            assert_eq!(reply["effect"], "opened", "{reply}");
        })
        .await;
}

fn rows(html: &str) -> usize {
    html.matches(r#"<a class="customer""#).count()
}

#[tokio::test]
async fn a_filter_finds_callbacks_past_the_first_two_thousand_and_a_cut_page_says_so() {
    let app = spawn_app_with(DASHBOARD).await;
    // 2 005 of Meera's, the oldest; then three of Arjun's, one of them in Sales.
    let mut bodies: Vec<String> = (0..SHOWN + 5).map(|n| missed(n, MEERA, None)).collect();
    bodies.push(missed(3000, ARJUN, None));
    bodies.push(missed(3001, ARJUN, Some("Sales")));
    bodies.push(missed(3002, ARJUN, None));
    post_all(&app, bodies).await;
    let total = SHOWN + 8;

    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (status, everyone, _) = v.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&everyone), SHOWN);
    assert!(
        everyone.contains(&format!(
            "Showing the oldest {SHOWN} of {total} pending; narrow the filter or download the CSV."
        )),
        "the cut page says it is cut"
    );
    assert!(
        !everyone.contains("tel:+919876503000"),
        "Arjun's are past the cut"
    );
    // Sales is offered although nothing in Sales is among the rows shown.
    assert!(everyone.contains(r#"<option value="Sales">Sales</option>"#));

    let (_, arjuns, _) = v.get("/?agent=Arjun").await;
    assert_eq!(rows(&arjuns), 3, "Arjun's three, all past the cut");
    for n in ["03000", "03001", "03002"] {
        assert!(
            arjuns.contains(&format!("tel:+9198765{n}")),
            "{n} is listed"
        );
    }
    assert!(arjuns.contains(&format!("Counts for this filter: 3 of {total} pending.")));
    assert!(!arjuns.contains("Showing the oldest"), "nothing is cut");

    let (_, sales, _) = v.get("/?department=Sales").await;
    assert_eq!(rows(&sales), 1);
    assert!(sales.contains("tel:+919876503001"));

    let (_, meeras, _) = v.get("/?agent=Meera").await;
    assert_eq!(rows(&meeras), SHOWN);
    assert!(meeras.contains(&format!(
        "Showing the oldest {SHOWN} of {} pending for this filter; narrow the filter or download the CSV.",
        SHOWN + 5
    )));

    let (_, summary, _) = v.get("/summary").await;
    assert!(
        summary.contains(&format!(r#"<span class="big">{total}</span> pending now"#)),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(r#"<td data-label="Pending">{}</td>"#, SHOWN + 5)),
        "Meera's pending counted over all of them"
    );
}
