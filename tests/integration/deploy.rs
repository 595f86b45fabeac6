//! What deploy/ ships: the production and container configurations are valid and need no
//! warning about their public URL; the container recipe builds with the toolchain Cargo.toml
//! names, runs as a non-root user, and keeps the data directory its config names on a
//! volume that the compose file mounts. (The unit is verified by `tests/system`; the image
//! itself is not built in CI: no container engine there.)

use std::path::Path;
use std::process::Command;

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_deploy_configurations_are_valid_and_need_no_public_url_warning() {
    for config in ["deploy/config.toml", "deploy/container.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
            .args(["check-config", "--config"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(config))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{config}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("storage           /var/lib/ringback"),
            "{stdout}"
        );
        assert!(!stdout.contains("server.public_url"), "{config}: {stdout}");
    }
}

#[test]
fn the_container_builds_with_the_projects_rust_runs_as_non_root_and_keeps_data_on_a_volume() {
    let dockerfile = repo("Dockerfile");
    let cargo = repo("Cargo.toml");
    let rust = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap();
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust}-")),
        "the build stage uses Rust {rust}"
    );
    assert!(dockerfile.contains("cargo build --release --locked"));
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage names its user");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
    assert!(runtime.contains("VOLUME [\"/var/lib/ringback\"]"));
    assert!(runtime.contains("COPY deploy/container.toml /etc/ringback/config.toml"));
    assert!(repo("deploy/container.toml").contains("path = \"/var/lib/ringback\""));
    let compose = repo("deploy/compose.yaml");
    assert!(compose.contains(":/var/lib/ringback"), "{compose}");
    assert!(compose.contains("dockerfile: Dockerfile"));
}
