//! How many threads tract's matrix products use.

use tract_linalg::multithread::{Executor, set_default_executor};

/// Sets the process-wide thread count of tract's matrix products: 1 runs single-threaded
/// (tract's default), more uses a private rayon pool of that size. Other ops stay on the
/// calling thread.
pub fn set_threads(n: usize) {
    set_default_executor(if n <= 1 {
        Executor::SingleThread
    } else {
        Executor::multithread(n)
    });
}
