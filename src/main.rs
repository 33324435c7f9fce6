use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    keep_large_blocks_out_of_the_heap();
    if let Err(error) = casebridge::telemetry::init_logging() {
        eprintln!("error: {error:#}");
        return std::process::ExitCode::FAILURE;
    }
    match casebridge::cli::run(casebridge::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc raises its mmap threshold to the size of the largest block it has freed (up to
/// 32 MiB), so after the first password hash (Argon2 works in 19 MiB) every later one is
/// carved out of a heap that keeps the memory: the server held about twice the memory it
/// uses under load (docs/benchmarks.md). A fixed threshold (glibc's default, 128 KiB) maps
/// and returns each large block.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_large_blocks_out_of_the_heap() {
    // SAFETY: mallopt changes an allocator setting; glibc takes its own lock to do so.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_blocks_out_of_the_heap() {}
