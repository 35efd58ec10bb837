//! Ctrl-C and SIGTERM: the first signal asks the running command to stop at
//! the next step boundary (so the diagnoses of what was recorded still get
//! written), a second one exits at once with 130.
//!
//! The flag is process-wide because a signal is: training loops poll
//! [`requested`] between steps and nothing else needs to know about signals.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first SIGINT/SIGTERM (or by [`request`]).
static STOP: AtomicBool = AtomicBool::new(false);

/// The exit code of an interrupted command (128 + SIGINT, as shells use).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Installs the handlers: the first signal sets the flag, a second one (flag
/// already set) exits the process with 130 without cleaning up.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the shutdown check runs before the flag is set, so
        // only a signal arriving with the flag already set exits.
        flag::register_conditional_shutdown(sig, i32::from(EXIT_INTERRUPTED), &STOP)?;
        flag::register(sig, &STOP)?;
    }
    Ok(())
}

/// Whether a stop was requested; loops check it at step boundaries.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
