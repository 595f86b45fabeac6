//! The data directory: sled's files and generated tokens. Only Ringback reads it.

use std::fs;
use std::path::Path;

/// Whether `path` holds anything (a backup never writes into such a directory).
pub fn has_entries(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut d| d.next().is_some())
}

/// Creates `path` (and parents) readable only by its owner (0700 on Unix).
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Writes `contents` (and a newline) to `path`, readable only by its owner (0600), through
/// a temporary file renamed into place and fsync'd with its directory: a crash leaves the
/// old file or the new one, never half of one.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The trimmed contents of `path`; `None` when it does not exist or is empty.
pub fn read_private(path: &Path) -> std::io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
