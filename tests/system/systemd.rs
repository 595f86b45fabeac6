//! The shipped systemd unit (`deploy/ringback.service`) passes `systemd-analyze verify`:
//! no unknown keys, no misplaced options, a command that exists.

use std::path::Path;
use std::process::Command;

use libtest_mimic::{Failed, Trial};

const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";
const SHIPPED_EXEC: &str =
    "ExecStart=/usr/local/bin/ringback serve --config /etc/ringback/config.toml";

pub fn trial() -> Trial {
    crate::needing(
        "systemd::the_shipped_unit_passes_systemd_analyze_verify",
        &[SYSTEMD_ANALYZE],
        "apt-get install systemd",
        verify,
    )
}

fn verify() -> Result<(), Failed> {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ringback.service"),
    )?;
    // verify insists the command exists; the installed path is /usr/local/bin, here it is
    // the binary cargo built. Everything else is checked as shipped.
    if !unit.lines().any(|l| l == SHIPPED_EXEC) {
        return Err(format!("the unit no longer says {SHIPPED_EXEC:?}").into());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ringback.service");
    std::fs::write(
        &path,
        unit.replace(
            "ExecStart=/usr/local/bin/ringback",
            &format!("ExecStart={}", env!("CARGO_BIN_EXE_ringback")),
        ),
    )?;
    let out = Command::new(SYSTEMD_ANALYZE)
        .arg("verify")
        .arg(&path)
        .output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !said.trim().is_empty() {
        return Err(format!("systemd-analyze verify ({}):\n{said}", out.status).into());
    }
    for needed in [
        "DynamicUser=yes",
        "StateDirectory=ringback",
        "EnvironmentFile=-/etc/ringback/ringback.env",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        if !unit.lines().any(|l| l == needed) {
            return Err(format!("the unit lacks {needed}").into());
        }
    }
    Ok(())
}
