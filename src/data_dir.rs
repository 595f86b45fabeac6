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
