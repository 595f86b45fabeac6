//! Integration tests (filled in next commit).
