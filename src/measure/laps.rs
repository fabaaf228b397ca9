//! Back-to-back timed steps with one page-fault count over all of them: the per-buffer reading
//! of the memory workloads (allocate, then paint). Two `getrusage` calls per reading, both
//! outside the timed steps, and nanosecond resolution: a 1 MiB allocation takes well under 1 µs.

use super::clock::{process_usage, thread_cpu_us, ProcessUsage};
use std::time::Instant;

/// An open reading: usage is taken first and the clock last, so the syscall is not timed.
#[derive(Clone, Copy, Debug)]
pub struct Laps {
    usage: ProcessUsage,
    cpu_us: u64,
    last: Instant,
}

impl Laps {
    pub fn start() -> Self {
        let usage = process_usage();
        let cpu_us = thread_cpu_us();
        Self {
            usage,
            cpu_us,
            last: Instant::now(),
        }
    }

    /// CPU time of the calling thread since [`Laps::start`], in µs (read after the last lap).
    pub fn cpu_us(&self) -> u64 {
        thread_cpu_us().saturating_sub(self.cpu_us)
    }

    /// Wall time since the previous lap (or the start), in µs with ns resolution.
    pub fn lap_us(&mut self) -> f64 {
        let now = Instant::now();
        let us = now.saturating_duration_since(self.last).as_nanos() as f64 / 1000.0;
        self.last = now;
        us
    }

    /// Minor page faults of the whole process since [`Laps::start`] (read after the last lap).
    pub fn new_pages(&self) -> u64 {
        process_usage()
            .new_pages
            .saturating_sub(self.usage.new_pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_split_time_and_count_first_touches() {
        let mut laps = Laps::start();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let slept = laps.lap_us();
        let pages = 64;
        let bytes = pages * 4096;
        // SAFETY: a fresh private anonymous mapping; only this test uses it, then unmaps it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        // SAFETY: `p` is a writable mapping of `bytes` bytes.
        unsafe { std::ptr::write_bytes(p as *mut u8, 7, bytes) };
        std::hint::black_box(p);
        let touched = laps.lap_us();
        let faults = laps.new_pages();
        let cpu = laps.cpu_us();
        // SAFETY: unmaps exactly the mapping made above.
        unsafe { libc::munmap(p, bytes) };
        assert!(slept >= 5000.0, "{slept}");
        // Sleeping costs no CPU; painting does, never more than the wall it took.
        assert!(
            cpu as f64 <= touched + 5000.0 * 0.5 + 1000.0,
            "{cpu} µs of CPU"
        );
        assert!(touched > 0.0 && touched < slept * 100.0, "{touched}");
        // Other test threads may fault too: at least one fault per page, not an exact count.
        assert!(
            faults >= pages as u64,
            "only {faults} faults for {pages} pages"
        );
    }
}
