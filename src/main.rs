mod cli;

/// mimalloc: convert's threads (reading, mapping, building parts) allocate
/// and free millions of small strings, and with glibc's allocator a third of
/// convert's time went to malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    return_freed_memory_soon();
    std::process::exit(cli::run());
}

// An option of mimalloc v3 (libmimalloc-sys 0.1.49, pinned in Cargo.lock), by
// its place in `mi_option_e` of its mimalloc.h; a test holds it to its
// documented default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// By default mimalloc keeps freed memory for a second, and commits its
/// arenas whole (which `.cargo/config.toml` builds it not to, as the arena
/// is made before `main`): a convert that frees batch after batch then holds
/// 60% more memory than it uses (180 MB against 111 MB for 100,000 export
/// lines). Returned at once, though, memory freed is faulted in again
/// moments later: a split convert of 100,000 lines took 166,000 page faults
/// (0.4 s of CPU). Kept a tenth of a second, it takes 50,000, for a few MB
/// more at peak.
const KEEP_FREED_MS: std::ffi::c_long = 100;

#[allow(unsafe_code)]
fn return_freed_memory_soon() {
    // SAFETY: sets one of the allocator's parameters, by the number its
    // header gives it, before any other thread exists.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, KEEP_FREED_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

    #[test]
    #[allow(unsafe_code)]
    fn the_allocator_options_set_are_those_meant() {
        // Their defaults: arena_eager_commit 0, as `.cargo/config.toml`
        // builds mimalloc (options.c says 2 otherwise), and purge_delay 1000
        // ms, as options.c says. Another option at either number would have
        // another default.
        // SAFETY: reads two of the allocator's parameters.
        let (eager, delay) = unsafe {
            (
                libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT),
                libmimalloc_sys::mi_option_get(PURGE_DELAY),
            )
        };
        assert_eq!((eager, delay), (0, 1000));
    }
}
