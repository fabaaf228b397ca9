//! One shape for a workload. Each workload is one module that owns its parameters (defaults,
//! limits, validation messages), its run, its typed result, its human summary and its metrics,
//! behind the [`Workload`] trait; the registry at the bottom of this file lists them once, and
//! everything that dispatches on the workload (parsing, running, the typed result every reader
//! deserializes, the JSON Schemas) is generated from that list.
//!
//! A workload never knows about Lambda and never reads a clock or rusage by hand: typed
//! parameters and a deadline in (through [`Context`]), a typed result out, measured with
//! `crate::measure`.

// What the memory workloads share; every workload's own module is declared by the registry.
pub mod memory;

use crate::budget::{Budget, Facts, Need};
use crate::error::ProbeError;
use crate::measure::Deadline;
use crate::response::{Summary, TruncatedReason};
use crate::telemetry::Metric;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::future::Future;

/// What the sandbox looks like to the parser: defaults that depend on the machine come from here.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    /// The cores a workload may spread over (the affinity set, as Lambda shows them).
    pub cores: usize,
}

/// What a run is given besides its parameters.
#[derive(Clone, Debug)]
pub struct Context {
    pub deadline: Deadline,
    /// The process's sandbox id and this invocation's index in it: io keys its items by them.
    pub sandbox_id: String,
    pub invocation_index: u64,
}

/// What a run hands back: its figures, its per-iteration rows, and whether it stopped early.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome<F, S> {
    pub figures: F,
    pub samples: Vec<S>,
    pub truncated: Option<TruncatedReason>,
}

/// One point a workload contributes to the report's plots against memory size: the plot it
/// belongs to, and a series within it (e.g. "2 threads", "concurrency 10").
#[derive(Clone, Debug, PartialEq)]
pub struct Plotted {
    /// Names the plot within the workload's section (and its SVG file).
    pub plot: &'static str,
    pub title: &'static str,
    pub y_label: &'static str,
    /// Digits after the point in the report's tables.
    pub decimals: usize,
    /// The series within the plot; `None` when the plot has one series per run source.
    pub series: Option<String>,
    pub value: f64,
    /// A sentence under the plot.
    pub note: Option<&'static str>,
    /// Draw Lambda's CPU model beside it (min(M ÷ 1,769, cores) and the visible-core steps):
    /// for figures that measure how much CPU the run could use.
    pub cpu_model_guide: bool,
}

/// The best parallel speedup of a run, where the workload measures one (pbkdf2's threads, io's
/// concurrency).
#[derive(Clone, Debug, PartialEq)]
pub struct Speedup {
    /// "2 threads", "concurrency 10".
    pub at: String,
    pub value: f64,
}

impl Speedup {
    /// The best of a run's parallel levels: each `(parallelism, speedup)` with parallelism above
    /// 1 and a speedup (complete levels have one), labelled by `at`.
    pub fn best(
        levels: impl IntoIterator<Item = (u32, Option<f64>)>,
        at: impl Fn(u32) -> String,
    ) -> Option<Speedup> {
        levels
            .into_iter()
            .filter(|&(n, _)| n > 1)
            .filter_map(|(n, s)| s.map(|s| (n, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(n, value)| Speedup { at: at(n), value })
    }
}

/// One measured phase of a run, in the terms that decide its duration at another memory size:
/// the CPU it used, how many threads it kept busy, whether it also waited on something other
/// than CPU, and the page faults it took. `predict` scales these with Lambda's rules; the phases
/// of a run need not cover all of it (what they leave out, `predict` treats as one more phase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// "1 thread", "concurrency 10", "pass 2".
    pub name: String,
    pub wall_ms: f64,
    /// Process CPU time (all threads, user + system, page faults included) over the phase.
    pub cpu_ms: f64,
    /// The threads the phase can keep busy at once when CPU is plentiful (its parallelism).
    pub threads: f64,
    /// True when the phase also waits on something no CPU share changes (the network, a
    /// server, a timer). False: every ms of its wall is CPU work or waiting for CPU, so a
    /// wall above `cpu_ms ÷ threads` was the CPU share holding it back.
    pub waits: bool,
    /// Pages mapped for the first time during the phase (minor faults), when the workload
    /// counts them per phase.
    pub new_pages: Option<u64>,
    /// The part of `wall_ms` those page faults cost, when the workload can tell it from a
    /// fault-free reference in the same run (memset's repaint, alloc's reuse pass); part of
    /// `cpu_ms` (the kernel's time on the faulting thread), not added to it.
    pub fault_ms: Option<f64>,
    /// How far the CPU time of the phase's equal work items (pbkdf2's passwords) strayed from
    /// their median in this run, as a fraction of it: how much the same work's CPU time moves
    /// on this machine, when the workload has equal items to tell.
    pub cpu_spread: Option<f64>,
    /// The same for the wait of its equal items (io's calls, p10–p90 of their latency): how
    /// much the wait moved within the run.
    pub wait_spread: Option<f64>,
}

/// How far equal items of work strayed (in CPU time, or in wait): half the width of their
/// middle 80% (p10 to p90) over their median; `None` for fewer than two items.
pub fn item_spread(values: &[f64]) -> Option<f64> {
    use crate::measure::stats::{median, percentile};
    let m = median(values).filter(|m| *m > 0.0 && values.len() > 1)?;
    Some((percentile(values, 90.0)? - percentile(values, 10.0)?) / 2.0 / m)
}

impl Phase {
    /// A phase that is all CPU work on `threads` threads, with no page-fault account.
    pub fn cpu(name: impl Into<String>, wall_ms: f64, cpu_ms: f64, threads: f64) -> Phase {
        Phase {
            name: name.into(),
            wall_ms,
            cpu_ms,
            threads,
            waits: false,
            new_pages: None,
            fault_ms: None,
            cpu_spread: None,
            wait_spread: None,
        }
    }
}

/// A workload: see the module documentation.
pub trait Workload: Sized + Send + Sync + 'static {
    /// As spelled in the event's `"workload"`.
    const NAME: &'static str;
    /// One line for `--help`, the README table and the schema.
    const ABOUT: &'static str;
    /// The workload's figures measured for the whole process rather than for this invocation
    /// (process CPU time, page faults, jemalloc's statistics), as paths into the response
    /// (`[]` = every element). With other invocations running in the same process (Lambda
    /// Managed Instances) they include their work: the response lists them in
    /// `overlap.shared_figures` (with `response::COMMON_PROCESS_WIDE`).
    const PROCESS_WIDE: &'static [&'static str] = &[];
    /// The event's fields as sent (unknown fields refused; every field has a default).
    type Input: DeserializeOwned + JsonSchema;
    /// The parameters as they run, every default filled in (echoed as `params`).
    type Params: Serialize
        + DeserializeOwned
        + JsonSchema
        + Clone
        + Debug
        + PartialEq
        + Send
        + Sync
        + 'static;
    /// The workload's own figures, flattened into `summary`.
    type Figures: Serialize + DeserializeOwned + JsonSchema + Clone + Debug + PartialEq + Send;
    /// One per-iteration row of `samples`.
    type Sample: Serialize + DeserializeOwned + JsonSchema + Clone + Debug + PartialEq + Send;

    /// Checks the input against its limits and fills in the defaults.
    fn resolve(input: Self::Input, host: &Host) -> Result<Self::Params, ProbeError>;

    /// The same experiment made quick (fewer iterations, buffers, repeats or items; the same
    /// modes and shapes): `run --quick`, smoke tests, and the test suite.
    fn quick(params: Self::Params) -> Self::Params {
        params
    }

    /// What the run needs in memory at its peak, for the memory guard (memory workloads only).
    fn need(_params: &Self::Params, _page_bytes: u64) -> Option<Need> {
        None
    }

    /// Runs the workload. CPU-bound work goes to the blocking pool ([`blocking`]) so it never
    /// stalls the runtime's poll loop; waiting work (io) runs as tasks on the runtime.
    fn run(
        params: Self::Params,
        ctx: Context,
    ) -> impl Future<Output = Result<Outcome<Self::Figures, Self::Sample>, ProbeError>> + Send;

    /// What makes this run a different experiment from another of the same workload, as a short
    /// label (the EMF record's `Experiment` dimension, so runs that measure different things
    /// never share a metric series). Built from the parameters only, so the number of series
    /// is the number of distinct payloads sent.
    fn experiment(_params: &Self::Params) -> String {
        Self::NAME.to_string()
    }

    /// Headline figures for the EMF record (CloudWatch metrics).
    fn metrics(_run: &Run<Self>) -> Vec<Metric> {
        Vec::new()
    }

    /// The lines of the human summary after the common first line (`run --summary`).
    fn summary_text(_run: &Run<Self>) -> String {
        String::new()
    }

    /// The points this run adds to the report's plots against memory size.
    fn plotted(_run: &Run<Self>) -> Vec<Plotted> {
        Vec::new()
    }

    /// The CPU time this run's own threads used, in ms, where the workload reads each thread's
    /// CPU clock (pbkdf2: its passwords'); `None` otherwise. Unlike `summary.cpu_ms` it stays
    /// this invocation's own when others share the process.
    fn thread_cpu_ms(_run: &Run<Self>) -> Option<f64> {
        None
    }

    /// The best parallel speedup the run measured, if the workload measures one.
    fn speedup(_run: &Run<Self>) -> Option<Speedup> {
        None
    }

    /// The run's phases, for `predict` (empty: the workload cannot be projected).
    fn phases(_run: &Run<Self>) -> Vec<Phase> {
        Vec::new()
    }

    /// The memory budget the run was checked against (memory workloads): its `own_bytes` is
    /// the probe's footprint, which the guard needs to say whether the run fits elsewhere.
    fn budget(_run: &Run<Self>) -> Option<&Budget> {
        None
    }

    /// What this run adds to the report's timeline plot (the stretches of time it ran and
    /// the gaps in them), if the workload records one.
    fn timeline(_run: &Run<Self>) -> Option<Timeline> {
        None
    }
}

/// Whether the memory guard would let `run` run again with `memory_mb` of memory (and the same
/// footprint): the guard's own rule, with its `OverBudget` message when it would refuse.
/// Workloads without a memory need always fit.
pub fn guard_at<W: Workload>(
    run: &Run<W>,
    memory_mb: u32,
    page_bytes: u64,
) -> Result<(), ProbeError> {
    let Some(need) = W::need(&run.params, page_bytes) else {
        return Ok(());
    };
    let own_bytes = W::budget(run)
        .filter(|b| b.own_bytes_unavailable.is_none() && b.own_bytes > 0)
        .map(|b| b.own_bytes)
        .ok_or_else(|| "the run does not say how much memory the probe held".to_string());
    Budget::from_facts(&Facts {
        lambda_memory_mib: Some(u64::from(memory_mb)),
        cgroup_limit_bytes: None,
        mem_available_bytes: None,
        own_bytes,
    })?
    .check(&need)
}

/// A run on a time axis, for the report's timeline plot: one lane per thread (or whatever ran),
/// each a stretch of time with the gaps in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub title: &'static str,
    /// What a lane's filled stretches, its gaps and its marked gaps mean ("running", "paused",
    /// "throttled").
    pub filled: &'static str,
    pub gap: &'static str,
    pub marked: &'static str,
    pub lanes: Vec<Lane>,
    /// A sentence under the plot.
    pub note: Option<&'static str>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    /// "thread 0".
    pub label: String,
    /// The stretch the lane covers, in ms on the run's time axis.
    pub from_ms: f64,
    pub to_ms: f64,
    /// In order, inside the stretch.
    pub gaps: Vec<LaneGap>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LaneGap {
    pub start_ms: f64,
    pub length_ms: f64,
    /// Drawn as `marked` (e.g. a throttling pause) rather than a plain gap.
    pub marked: bool,
}

/// One workload's result as the response carries it: `params`, `summary` (the common figures
/// with the workload's own flattened in) and `samples`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(bound = "")]
#[schemars(rename = "{W}Run")]
pub struct Run<W: Workload> {
    pub params: W::Params,
    pub summary: Summary<W::Figures>,
    pub samples: Vec<W::Sample>,
}

#[cfg(test)]
impl<W: Workload> Run<W> {
    /// A run of `params` with `out`'s figures and samples and placeholder common figures (1 ms of
    /// wall and CPU): for tests of what a workload makes of its own figures.
    pub fn for_test(params: W::Params, out: Outcome<W::Figures, W::Sample>) -> Run<W> {
        Run {
            params,
            summary: Summary {
                common: crate::response::Common {
                    wall_ms: 1.0,
                    cpu_ms: 1.0,
                    effective_vcpu: None,
                    new_pages: 0,
                    major_faults: 0,
                },
                figures: out.figures,
            },
            samples: out.samples,
        }
    }
}

impl<W: Workload> Clone for Run<W> {
    fn clone(&self) -> Self {
        Run {
            params: self.params.clone(),
            summary: self.summary.clone(),
            samples: self.samples.clone(),
        }
    }
}

impl<W: Workload> Debug for Run<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("workload", &W::NAME)
            .field("params", &self.params)
            .field("summary", &self.summary)
            .field("samples", &self.samples.len())
            .finish()
    }
}

impl<W: Workload> PartialEq for Run<W> {
    fn eq(&self, other: &Self) -> bool {
        self.params == other.params
            && self.summary == other.summary
            && self.samples == other.samples
    }
}

/// Runs CPU-bound work on tokio's blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ProbeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ProbeError::internal(format!("workload thread failed: {e}")))
}

/// Deserializes one workload's fields, naming the field at fault.
fn input_of<T: DeserializeOwned>(workload: &str, rest: serde_json::Value) -> Result<T, ProbeError> {
    serde_path_to_error::deserialize(rest).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ProbeError::invalid(format!("{workload}: {inner}"))
        } else {
            ProbeError::invalid(format!("{workload}: `{path}`: {inner}"))
        }
    })
}

/// Checks `value` against an inclusive range, with a message that names the field and the range.
pub fn check_range<T>(
    workload: &str,
    field: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ProbeError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if value < min || value > max {
        return Err(ProbeError::invalid(format!(
            "{workload}: `{field}` = {value} is out of range; allowed {min}..={max}"
        )));
    }
    Ok(())
}

/// The registry: one line per workload (`Variant = "name" => module::Type`): it declares the
/// module too. Everything that
/// dispatches on the workload is generated from it.
macro_rules! registry {
    ($($variant:ident = $name:literal => $module:ident :: $marker:ident),+ $(,)?) => {
        $(pub mod $module;)+
        registry!(@types $($variant = $name => $module::$marker),+);
    };
    (@types $($variant:ident = $name:literal => $ty:ty),+) => {
        /// The workloads an event can name, as spelled in `"workload"`.
        pub const WORKLOADS: &[&str] = &[$($name),+];

        /// A parsed, validated request with every default filled in.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Request {
            $($variant(<$ty as Workload>::Params)),+
        }

        /// A workload's typed result: what `params`, `summary` and `samples` hold, tagged by
        /// `workload`. Every reader of results deserializes this.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "workload")]
        pub enum Results {
            $(#[serde(rename = $name)] $variant(Run<$ty>)),+
        }

        impl Request {
            /// Parses one workload's fields (the envelope already removed).
            pub fn parse(
                workload: &str,
                fields: serde_json::Value,
                host: &Host,
            ) -> Result<Request, ProbeError> {
                match workload {
                    $($name => Ok(Request::$variant(<$ty as Workload>::resolve(
                        input_of::<<$ty as Workload>::Input>($name, fields)?,
                        host,
                    )?)),)+
                    other => Err(ProbeError::invalid(format!(
                        "unknown workload {other:?}; `workload` must be one of {}",
                        WORKLOADS.join(", ")
                    ))),
                }
            }

            pub fn workload(&self) -> &'static str {
                match self {
                    $(Request::$variant(_) => $name,)+
                }
            }

            /// The parameters as they will run, defaults included.
            pub fn params_json(&self) -> serde_json::Value {
                match self {
                    $(Request::$variant(p) => serde_json::to_value(p).unwrap_or_default(),)+
                }
            }

            /// The same experiment made quick (see [`Workload::quick`]).
            pub fn quick(self) -> Request {
                match self {
                    $(Request::$variant(p) => Request::$variant(<$ty as Workload>::quick(p)),)+
                }
            }

            /// The event that asks for exactly this request.
            pub fn event(&self) -> serde_json::Value {
                let mut event = serde_json::Map::new();
                event.insert("workload".into(), self.workload().into());
                if let serde_json::Value::Object(params) = self.params_json() {
                    event.extend(params);
                }
                serde_json::Value::Object(event)
            }

            /// The memory the request needs at its peak (memory workloads), for the guard.
            pub fn need(&self, page_bytes: u64) -> Option<Need> {
                match self {
                    $(Request::$variant(p) => <$ty as Workload>::need(p, page_bytes),)+
                }
            }

            /// Runs the request; `summary` comes from the caller's measurement of the run.
            pub async fn run(
                self,
                ctx: Context,
                measured: impl FnOnce() -> crate::measure::Span,
            ) -> Result<(Results, Option<TruncatedReason>), ProbeError> {
                match self {
                    $(Request::$variant(p) => {
                        let params = p.clone();
                        let out = <$ty as Workload>::run(p, ctx).await?;
                        let span = measured();
                        Ok((
                            Results::$variant(Run {
                                params,
                                summary: Summary::new(&span, out.figures),
                                samples: out.samples,
                            }),
                            out.truncated,
                        ))
                    })+
                }
            }
        }

        impl Results {
            pub fn workload(&self) -> &'static str {
                match self {
                    $(Results::$variant(_) => $name,)+
                }
            }

            /// The figures every workload has: wall, CPU, effective vCPU, page faults.
            pub fn common(&self) -> crate::response::Common {
                match self {
                    $(Results::$variant(r) => r.summary.common(),)+
                }
            }

            /// See [`Workload::experiment`].
            pub fn experiment(&self) -> String {
                match self {
                    $(Results::$variant(r) => <$ty as Workload>::experiment(&r.params),)+
                }
            }

            pub fn metrics(&self) -> Vec<Metric> {
                match self {
                    $(Results::$variant(r) => <$ty as Workload>::metrics(r),)+
                }
            }

            pub fn summary_text(&self) -> String {
                match self {
                    $(Results::$variant(r) => <$ty as Workload>::summary_text(r),)+
                }
            }

            pub fn plotted(&self) -> Vec<Plotted> {
                match self {
                    $(Results::$variant(r) => <$ty as Workload>::plotted(r),)+
                }
            }

            /// See [`Workload::thread_cpu_ms`].
            pub fn thread_cpu_ms(&self) -> Option<f64> {
                match self {
                    $(Results::$variant(r) => <$ty as Workload>::thread_cpu_ms(r),)+
                }
            }

            pub fn speedup(&self) -> Option<Speedup> {
                match self {
                    $(Results::$variant(r) => <$ty as Workload>::speedup(r),)+
                }
            }

            pub fn phases(&self) -> Vec<Phase> {
                match self {
                    $(Results::$variant(r) => <$ty as Workload>::phases(r),)+
                }
            }

            /// Whether the memory guard would let this run run at `memory_mb` (see
            /// [`guard_at`]).
            pub fn guard_at(&self, memory_mb: u32, page_bytes: u64) -> Result<(), ProbeError> {
                match self {
                    $(Results::$variant(r) => guard_at(r, memory_mb, page_bytes),)+
                }
            }

            /// The figures of this result measured for the whole process: the common ones, then
            /// the workload's own (see [`Workload::PROCESS_WIDE`]).
            pub fn process_wide_figures(&self) -> Vec<&'static str> {
                let own = match self {
                    $(Results::$variant(_) => <$ty as Workload>::PROCESS_WIDE,)+
                };
                crate::response::COMMON_PROCESS_WIDE
                    .iter()
                    .chain(own)
                    .copied()
                    .collect()
            }

            pub fn timeline(&self) -> Option<Timeline> {
                match self {
                    $(Results::$variant(r) => <$ty as Workload>::timeline(r),)+
                }
            }

            /// The per-iteration rows.
            pub fn samples_len(&self) -> usize {
                match self {
                    $(Results::$variant(r) => r.samples.len(),)+
                }
            }
        }

        /// The JSON Schema of each workload's event fields, with the workload's name and about.
        pub fn input_schemas(
            generator: &mut schemars::SchemaGenerator,
        ) -> Vec<(&'static str, &'static str, schemars::Schema)> {
            vec![$((
                $name,
                <$ty as Workload>::ABOUT,
                generator.subschema_for::<<$ty as Workload>::Input>(),
            )),+]
        }

        #[cfg(test)]
        mod registry_tests {
            use super::*;

            #[test]
            fn each_name_is_the_workloads_own() {
                $(assert_eq!($name, <$ty as Workload>::NAME);)+
            }
        }
    };
}

registry! {
    Env = "env" => env::Env,
    Pbkdf2 = "pbkdf2" => pbkdf2::Pbkdf2,
    Alloc = "alloc" => alloc::Alloc,
    Memset = "memset" => memset::Memset,
    Io = "io" => io::Io,
    CpuTimeline = "cpu-timeline" => cpu_timeline::CpuTimeline,
}
