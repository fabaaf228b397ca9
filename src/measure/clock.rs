//! Wall clock, per-thread CPU clock and process rusage (CPU time and page faults).

use serde::Serialize;
use std::time::Instant;

/// Monotonic wall clock anchored at the start of a measured run; offsets are in µs.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    start: Instant,
}

impl Stopwatch {
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    pub fn elapsed_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    pub fn offset_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_micros() as u64
    }
}

/// CPU time consumed by the calling thread, in µs (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_us() -> u64 {
    thread_cpu_ns() / 1_000
}

/// CPU time consumed by the calling thread, in ns: exact at the time of the call (the kernel
/// brings the running thread's account up to date before it answers).
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What `getrusage(RUSAGE_SELF)` says about the whole process at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessUsage {
    pub user_us: u64,
    pub sys_us: u64,
    /// Minor page faults: pages mapped without I/O, i.e. first touches of anonymous memory.
    pub new_pages: u64,
    pub major_faults: u64,
}

impl ProcessUsage {
    pub fn cpu_us(&self) -> u64 {
        self.user_us + self.sys_us
    }
}

pub fn process_usage() -> ProcessUsage {
    rusage(libc::RUSAGE_SELF)
}

fn rusage(who: libc::c_int) -> ProcessUsage {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; getrusage only writes into it.
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    if rc != 0 {
        return ProcessUsage::default();
    }
    let tv_us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    ProcessUsage {
        user_us: tv_us(ru.ru_utime),
        sys_us: tv_us(ru.ru_stime),
        new_pages: ru.ru_minflt as u64,
        major_faults: ru.ru_majflt as u64,
    }
}

/// Shortest span whose CPU ÷ wall ratio is reported.
pub const MIN_RATIO_WALL_US: u64 = 1_000;

/// Wall time, process CPU time and page faults over one measured stretch of work.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Span {
    pub wall_us: u64,
    pub cpu_us: u64,
    pub new_pages: u64,
    pub major_faults: u64,
}

impl Span {
    /// Runs `f`, measuring wall time, process CPU time and page faults around it.
    pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Span) {
        let open = SpanStart::now();
        let out = f();
        (out, open.close())
    }

    pub fn wall_ms(&self) -> f64 {
        self.wall_us as f64 / 1000.0
    }

    /// This span and a later one as one stretch of work: their times and counts added, the gap
    /// between them left out.
    pub fn then(&self, later: &Span) -> Span {
        Span {
            wall_us: self.wall_us + later.wall_us,
            cpu_us: self.cpu_us + later.cpu_us,
            new_pages: self.new_pages + later.new_pages,
            major_faults: self.major_faults + later.major_faults,
        }
    }

    pub fn cpu_ms(&self) -> f64 {
        self.cpu_us as f64 / 1000.0
    }

    /// CPU time over wall time: how many vCPUs the work kept busy on average. `None` for spans
    /// under 1 ms, where the kernel's CPU accounting granularity would dominate the ratio.
    pub fn effective_vcpu(&self) -> Option<f64> {
        (self.wall_us >= MIN_RATIO_WALL_US).then(|| self.cpu_us as f64 / self.wall_us as f64)
    }
}

/// A span's figures as every response reports them: wall and CPU time in ms, effective vCPU,
/// rounded to µs and thousandths. Written once, for the run (`summary`) and for every level
/// of a workload (pbkdf2's thread counts, io's concurrency levels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpanFigures {
    pub wall_ms: f64,
    pub cpu_ms: f64,
    pub effective_vcpu: Option<f64>,
}

impl Span {
    pub fn figures(&self) -> SpanFigures {
        use super::stats::round;
        SpanFigures {
            wall_ms: round(self.wall_ms(), 3),
            cpu_ms: round(self.cpu_ms(), 3),
            effective_vcpu: self.effective_vcpu().map(|v| round(v, 3)),
        }
    }
}

/// How many times faster a level ran than its baseline (`baseline_ms ÷ ms`), as responses
/// report it; `None` without a positive time.
pub fn speedup(baseline_ms: f64, ms: f64) -> Option<f64> {
    (ms > 0.0 && baseline_ms > 0.0).then(|| super::stats::round(baseline_ms / ms, 3))
}

/// The opening reading of a [`Span`], for work that cannot be wrapped in a closure (async).
#[derive(Clone, Copy, Debug)]
pub struct SpanStart {
    wall: Instant,
    usage: ProcessUsage,
}

impl SpanStart {
    pub fn now() -> Self {
        Self {
            usage: process_usage(),
            wall: Instant::now(),
        }
    }

    pub fn close(&self) -> Span {
        let wall_us = self.wall.elapsed().as_micros() as u64;
        let end = process_usage();
        Span {
            wall_us,
            cpu_us: end.cpu_us().saturating_sub(self.usage.cpu_us()),
            new_pages: end.new_pages.saturating_sub(self.usage.new_pages),
            major_faults: end.major_faults.saturating_sub(self.usage.major_faults),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_clock_advances_with_work_not_with_sleep() {
        let before = thread_cpu_us();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let slept = thread_cpu_us() - before;
        // Spin until this thread has burnt 20 ms of CPU (bounded in wall time): on a busy
        // machine that takes longer than 20 ms of wall time, never less.
        let before = thread_cpu_us();
        let wall = Instant::now();
        let mut x = 0u64;
        while thread_cpu_us() - before < 20_000 && wall.elapsed().as_secs() < 10 {
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let busy = thread_cpu_us() - before;
        let elapsed_us = wall.elapsed().as_micros() as u64;
        assert!(slept < 10_000, "sleeping cost {slept} µs of CPU");
        assert!(
            busy >= 20_000,
            "10 s of spinning showed only {busy} µs of CPU"
        );
        assert!(
            busy <= elapsed_us + 1_000,
            "one thread used {busy} µs of CPU in {elapsed_us} µs"
        );
        // The ns clock is the same clock.
        let (us, ns) = (thread_cpu_us(), thread_cpu_ns());
        assert!(
            ns / 1_000 >= us && ns / 1_000 - us < 10_000,
            "{us} µs, {ns} ns"
        );
    }

    #[test]
    fn span_counts_first_touch_faults() {
        let pages = 256;
        let page = 4096;
        let (_, span) = Span::measure(|| {
            let mut v: Vec<u8> = Vec::with_capacity(pages * page * 4);
            v.resize(pages * page * 4, 1);
            std::hint::black_box(&v);
        });
        assert!(
            span.new_pages >= pages as u64,
            "only {} faults",
            span.new_pages
        );
        assert!(span.wall_us > 0);
        assert_eq!(
            span.effective_vcpu().is_some(),
            span.wall_us >= MIN_RATIO_WALL_US
        );
    }
}
