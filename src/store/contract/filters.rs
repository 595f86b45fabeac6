//! What every backend promises about filtered lists and the pending breakdown: the filter
//! is applied before the page is cut, so a match is found however deep in the list it is.

use super::Fixture;
use super::values::*;
use crate::domain::agent::AgentRef;
use crate::domain::callback::CallbackId;
use crate::store::{AgentFilter, CallbackFilter, ListQuery, Plan, StatusFilter};

fn assigned(n: u32, minute: i64, agent: Option<&str>, department: Option<&str>) -> Plan {
    let mut cb = pending(n, minute);
    cb.assigned_agent = agent.map(|name| AgentRef {
        name: name.into(),
        number: None,
    });
    cb.department = department.map(Into::into);
    opening(cb)
}

/// Every callback `filter` keeps, `limit` a page, following the cursors to the end.
async fn all_pages(
    store: &dyn crate::store::Store,
    status: StatusFilter,
    filter: CallbackFilter,
    limit: usize,
) -> Vec<CallbackId> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_callbacks(ListQuery {
                status,
                limit,
                after,
                filter: filter.clone(),
            })
            .await
            .unwrap();
        seen.extend(page.callbacks.iter().map(|c| c.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

pub async fn a_filter_finds_matches_beyond_the_first_page_and_pages_through_them(f: &impl Fixture) {
    let store = f.store();
    // Forty pending callbacks nobody is assigned, oldest first; Asha's two are the newest,
    // one of them in Sales; one more in Sales with nobody assigned; one of Asha's resolved.
    for n in 1..=40 {
        store
            .apply(assigned(n, i64::from(n), None, None))
            .await
            .unwrap();
    }
    store
        .apply(assigned(41, 41, Some("Asha"), None))
        .await
        .unwrap();
    store
        .apply(assigned(42, 42, Some("Asha"), Some("Sales")))
        .await
        .unwrap();
    store
        .apply(assigned(43, 43, None, Some("Sales")))
        .await
        .unwrap();
    store
        .apply(assigned(44, 0, Some("Asha"), None))
        .await
        .unwrap();
    let before = stored(store.as_ref(), 44).await;
    let after = resolved(before.value.clone(), 50);
    store
        .apply(changing(before, after, "resolved"))
        .await
        .unwrap();

    let asha = CallbackFilter {
        agent: Some(AgentFilter::Named("Asha".into())),
        department: None,
    };
    // A first page of one finds Asha's oldest pending callback, past forty that are not hers.
    let first = store
        .list_callbacks(ListQuery {
            status: StatusFilter::Pending,
            limit: 1,
            after: None,
            filter: asha.clone(),
        })
        .await
        .unwrap();
    assert_eq!(first.callbacks.len(), 1);
    assert_eq!(first.callbacks[0].id, id(41));
    assert!(first.next.is_some(), "another of Asha's is pending");

    let s = store.as_ref();
    assert_eq!(
        all_pages(s, StatusFilter::Pending, asha.clone(), 1).await,
        [id(41), id(42)]
    );
    assert_eq!(
        all_pages(s, StatusFilter::All, asha.clone(), 2).await,
        [id(41), id(42), id(44)]
    );
    assert_eq!(
        all_pages(s, StatusFilter::Resolved, asha, 5).await,
        [id(44)]
    );
    let sales = CallbackFilter {
        agent: None,
        department: Some("Sales".into()),
    };
    assert_eq!(
        all_pages(s, StatusFilter::Pending, sales, 1).await,
        [id(42), id(43)]
    );
    let nobody_in_sales = CallbackFilter {
        agent: Some(AgentFilter::Nobody),
        department: Some("Sales".into()),
    };
    assert_eq!(
        all_pages(s, StatusFilter::Pending, nobody_in_sales, 10).await,
        [id(43)]
    );
    let nobody = CallbackFilter {
        agent: Some(AgentFilter::Nobody),
        department: None,
    };
    assert_eq!(
        all_pages(s, StatusFilter::Pending, nobody, 7).await.len(),
        41
    );
    let stranger = CallbackFilter {
        agent: Some(AgentFilter::Named("Nobody Known".into())),
        department: None,
    };
    assert!(
        all_pages(s, StatusFilter::All, stranger, 10)
            .await
            .is_empty()
    );
}

pub async fn the_pending_breakdown_counts_every_pending_callback_by_agent_and_department(
    f: &impl Fixture,
) {
    let store = f.store();
    for n in 1..=30 {
        store
            .apply(assigned(n, i64::from(n), None, Some("Support")))
            .await
            .unwrap();
    }
    store
        .apply(assigned(31, 31, Some("Asha"), Some("Sales")))
        .await
        .unwrap();
    store
        .apply(assigned(32, 32, Some("Asha"), None))
        .await
        .unwrap();
    store
        .apply(assigned(33, 33, Some("Ravi"), Some("Sales")))
        .await
        .unwrap();
    // A resolved callback is not pending: it is not counted.
    let before = stored(store.as_ref(), 33).await;
    let after = resolved(before.value.clone(), 40);
    store
        .apply(changing(before, after, "resolved"))
        .await
        .unwrap();

    let breakdown = store.pending_breakdown().await.unwrap();
    let agents: Vec<(Option<&str>, u64)> = breakdown
        .agents
        .iter()
        .map(|(k, n)| (k.as_deref(), *n))
        .collect();
    assert_eq!(agents, [(None, 30), (Some("Asha"), 2)]);
    let departments: Vec<(Option<&str>, u64)> = breakdown
        .departments
        .iter()
        .map(|(k, n)| (k.as_deref(), *n))
        .collect();
    assert_eq!(
        departments,
        [(None, 1), (Some("Sales"), 1), (Some("Support"), 30)]
    );
    assert_eq!(breakdown.total(), 32);
    assert_eq!(
        breakdown.total(),
        store.pending_stats().await.unwrap().count
    );
}
