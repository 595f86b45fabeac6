use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: profiles of the ingest path (BENCHMARKS.md) spent
/// a fifth of the writer's time in glibc malloc/free and `malloc_consolidate` (sled
/// clones and splits nodes of a few KiB per write).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    ringback::cli::run().await
}
