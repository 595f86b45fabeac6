//! The documentation in docs/ against what ships: every key of the shipped config.toml is in
//! the configuration reference and every key there is in config.toml; the OpenAPI document
//! is served as written and describes what the service answers; the README points into
//! docs/ and at nothing outside the repository.

use std::collections::BTreeSet;
use std::path::Path;

use crate::helpers::*;

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `section.key` for every key in config.toml, array tables as `agents.name`, keys shown
/// commented out (`# channels = …`) included.
fn config_keys() -> BTreeSet<String> {
    let text = repo("config.toml");
    let mut keys = BTreeSet::new();
    let table: toml::Table = text.parse().expect("config.toml is TOML");
    for (section, value) in &table {
        let items = match value {
            toml::Value::Table(t) => vec![t.clone()],
            toml::Value::Array(a) => a.iter().filter_map(|v| v.as_table().cloned()).collect(),
            _ => panic!("{section} is not a table"),
        };
        for item in items {
            for key in item.keys() {
                keys.insert(format!("{section}.{key}"));
            }
        }
    }
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[') {
            section = name.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if let Some(commented) = line.strip_prefix("# ")
            && let Some((key, _)) = commented.split_once(" = ")
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}

/// The keys the configuration reference documents: each in a table row's first cell,
/// written `` `section.key` ``.
fn documented_keys() -> BTreeSet<String> {
    repo("docs/configuration.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(key, _)| key.to_string()))
        .collect()
}

#[test]
fn the_configuration_reference_and_the_shipped_config_name_the_same_keys() {
    let shipped = config_keys();
    let documented = documented_keys();
    let undocumented: Vec<_> = shipped.difference(&documented).collect();
    let unshipped: Vec<_> = documented.difference(&shipped).collect();
    assert!(
        undocumented.is_empty(),
        "in config.toml but not in docs/configuration.md: {undocumented:?}"
    );
    assert!(
        unshipped.is_empty(),
        "in docs/configuration.md but not in config.toml: {unshipped:?}"
    );
    assert!(shipped.len() > 30, "{shipped:?}");
}

#[tokio::test]
async fn the_openapi_document_is_served_as_written_without_a_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json",);
    let served: serde_json::Value = response.json().await.unwrap();
    let written: serde_json::Value = serde_json::from_str(&repo("docs/openapi.json")).unwrap();
    assert_eq!(served, written);
    assert_eq!(served["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_documented_operation_is_answered_and_a_callback_has_every_documented_field() {
    let app = spawn_app().await;
    let doc: serde_json::Value = serde_json::from_str(&repo("docs/openapi.json")).unwrap();
    let body = missed_call("9876501601", "1780160001.1", "2026-05-28 11:29:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    let id = reply["callback_id"].as_str().unwrap();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let url = format!("{}{}", app.address, path.replace("{id}", id));
            let request = match method.as_str() {
                "get" => app.client.get(&url),
                "post" => app.client.post(&url).json(&serde_json::json!({})),
                other => panic!("{other}"),
            };
            let status = request
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .unwrap()
                .status();
            assert!(
                operation["responses"].get(status.as_str()).is_some(),
                "{method} {path} answered {status}, which it does not document"
            );
        }
    }
    let schema = &doc["components"]["schemas"]["Callback"];
    let callback = app.callback(id).await;
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for key in &required {
        assert!(
            callback.get(*key).is_some(),
            "{key} missing from {callback}"
        );
    }
    for key in callback.as_object().unwrap().keys() {
        assert!(
            key == "events" || required.contains(&key.as_str()),
            "{key} is not documented"
        );
    }
}

#[test]
fn the_readme_links_into_docs_and_nothing_outside_the_repository() {
    let readme = repo("README.md");
    assert!(!readme.contains("../shared"), "the README cites ../shared");
    assert!(!readme.contains("SPEC.md"), "the README cites SPEC.md");
    let linked: Vec<&str> = readme
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|target| !target.starts_with("http"))
        .collect();
    assert!(linked.iter().any(|t| t.starts_with("docs/")), "{linked:?}");
    for target in linked {
        let file = target.split('#').next().unwrap();
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(file).exists(),
            "the README links to {target}, which is not in the repository"
        );
    }
}
