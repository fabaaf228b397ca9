//! Measurement primitives shared by every workload: clocks, rusage, deadlines, statistics.
//! A workload never reads a clock or rusage by hand, so every figure is taken the same way.

pub mod clock;
pub mod deadline;
pub mod laps;
pub mod stats;

pub use clock::{
    process_usage, speedup, thread_cpu_us, ProcessUsage, Span, SpanFigures, Stopwatch,
};
pub use deadline::Deadline;
pub use laps::Laps;
