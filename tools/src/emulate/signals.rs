//! Ctrl-C, SIGTERM and SIGHUP become a flag the run loop polls (signal-hook), so a signal never
//! leaves a child running or a cgroup behind: the loop kills the child, removes the cgroups,
//! then exits with 128 + the signal.

use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The last stop signal received (0: none).
static RECEIVED: AtomicUsize = AtomicUsize::new(0);

pub fn install() -> Result<(), String> {
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register_usize(signal, &RECEIVED, signal as usize)
            .map_err(|e| format!("cannot handle signal {}: {e}", name(signal)))?;
    }
    Ok(())
}

/// The signal that asked this process to stop, if one came.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s as i32),
    }
}

/// `SIGKILL`, or `signal 42` for one without a name.
pub fn name(signal: i32) -> String {
    signal_hook::low_level::signal_name(signal)
        .map(String::from)
        .unwrap_or_else(|| format!("signal {signal}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGKILL), "SIGKILL");
        assert_eq!(name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(name(1000), "signal 1000");
    }
}
