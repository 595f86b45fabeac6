//! The data directory: sled's files and generated tokens. Only Ringback reads it.

use std::fs;
use std::path::Path;

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
