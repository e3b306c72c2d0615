//! `ardent`: the command line over ardent's crates (its definitions are in the library,
//! `src/lib.rs`). Every error exits with code 2 after one `error:` line that names the file
//! and the place.

// burn allocates a fresh buffer for every tensor op; glibc's malloc returns that memory to the
// OS each time, which cost a fifth of a training step. mimalloc keeps it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (include/mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Stops mimalloc from handing freed pages back to the OS: a training step frees and
/// re-allocates the same few hundred buffers, and re-faulting their pages cost 11 % of it.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: sets a process-wide integer option; mimalloc reads options atomically and -1 is
    // the documented "never purge" value.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    ardent_runtime::cli::quiet_broken_pipe();
    match ardent::run(ardent::Cli::from_env()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
