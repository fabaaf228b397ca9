//! Measurement primitives shared by every workload: clocks, rusage, deadlines, statistics, and
//! a thread's own record of when it did not run (gaps).
//! A workload never reads a clock or rusage by hand, so every figure is taken the same way.

pub mod clock;
pub mod deadline;
pub mod gaps;
pub mod laps;
pub mod stats;

pub use clock::{
    process_usage, speedup, thread_cpu_ns, thread_cpu_us, ProcessUsage, Span, SpanFigures,
    Stopwatch,
};
pub use deadline::Deadline;
pub use laps::Laps;
