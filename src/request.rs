//! The event contract: which workload, its parameters, their defaults and their limits.
//! Every limit lives here, next to its reason; the filled-in parameters are echoed as `params`.

use crate::error::ProbeError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The workloads an event can name, as spelled in `"workload"`.
pub const WORKLOADS: &[&str] = &["env", "pbkdf2", "alloc", "memset", "io"];

/// A parsed, validated request with every default filled in.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Environment only, no work: the cheapest look at what a memory size gives.
    Env,
    Pbkdf2(Pbkdf2Params),
    Alloc(AllocParams),
    Memset(MemsetParams),
    /// DynamoDB PutItem loop at several concurrency levels.
    Io(IoParams),
}

impl Request {
    pub fn workload(&self) -> &'static str {
        match self {
            Request::Env => "env",
            Request::Pbkdf2(_) => "pbkdf2",
            Request::Alloc(_) => "alloc",
            Request::Memset(_) => "memset",
            Request::Io(_) => "io",
        }
    }

    /// The parameters as they will run, defaults included.
    pub fn params_json(&self) -> Value {
        let params = match self {
            Request::Env => Ok(Value::Object(Map::new())),
            Request::Pbkdf2(p) => serde_json::to_value(p),
            Request::Alloc(p) => serde_json::to_value(p),
            Request::Memset(p) => serde_json::to_value(p),
            Request::Io(p) => serde_json::to_value(p),
        };
        params.unwrap_or(Value::Null)
    }
}

/// What the sandbox looks like to the parser: defaults that depend on the machine come from here.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    pub cores: usize,
}

/// Options that apply to any workload, given beside `workload` in the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Also log the full response as one line (see telemetry.rs). Default true; set false to
    /// keep logs small when a driver invokes thousands of times.
    pub log_result: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { log_result: true }
    }
}

/// Parses a raw event. `{}` is the env workload, so an empty Power Tuning payload is valid.
pub fn parse(event: Value, host: Host) -> Result<Request, ProbeError> {
    parse_event(event, host).map(|(request, _)| request)
}

/// Parses a raw event into the request and the options that apply to any workload.
pub fn parse_event(event: Value, host: Host) -> Result<(Request, Options), ProbeError> {
    let mut fields = match event {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(ProbeError::invalid(format!(
                "the event must be a JSON object such as {{\"workload\":\"env\"}}, got {}",
                json_kind(&other)
            )))
        }
    };
    let options = Options {
        log_result: match fields.remove("log_result") {
            None => true,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(ProbeError::invalid(format!(
                    "`log_result` must be true or false, got {}",
                    json_kind(&other)
                )))
            }
        },
    };
    let workload = match fields.remove("workload") {
        None => "env".to_string(),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(ProbeError::invalid(format!(
                "`workload` must be a string, one of {}; got {}",
                WORKLOADS.join(", "),
                json_kind(&other)
            )))
        }
    };
    let rest = Value::Object(fields);
    let request = match workload.as_str() {
        "env" => {
            let _: EnvParams = params_of("env", rest)?;
            Request::Env
        }
        "pbkdf2" => {
            let input: Pbkdf2Input = params_of("pbkdf2", rest)?;
            Request::Pbkdf2(input.resolve(host)?)
        }
        "alloc" => {
            let input: AllocInput = params_of("alloc", rest)?;
            Request::Alloc(input.resolve()?)
        }
        "memset" => {
            let input: MemsetInput = params_of("memset", rest)?;
            Request::Memset(input.resolve()?)
        }
        "io" => {
            let input: IoInput = params_of("io", rest)?;
            Request::Io(input.resolve()?)
        }
        other => {
            return Err(ProbeError::invalid(format!(
                "unknown workload {other:?}; `workload` must be one of {}",
                WORKLOADS.join(", ")
            )))
        }
    };
    Ok((request, options))
}

fn params_of<T: DeserializeOwned>(workload: &str, rest: Value) -> Result<T, ProbeError> {
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

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EnvParams {}

// ---------------------------------------------------------------- pbkdf2

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Hash {
    Sha256,
    /// The 2019 experiment's hash.
    #[default]
    Sha512,
}

impl Hash {
    pub fn name(&self) -> &'static str {
        match self {
            Hash::Sha256 => "sha256",
            Hash::Sha512 => "sha512",
        }
    }
}

/// 1,000,000 iterations on 4 passwords: the 2019 "multiprocessing in Lambda" experiment.
pub const PBKDF2_DEFAULT_ITERATIONS: u32 = 1_000_000;
pub const PBKDF2_DEFAULT_PASSWORDS: u32 = 4;
/// 100 M iterations is minutes of CPU even at 10,240 MB; the deadline stops longer runs anyway.
pub const PBKDF2_MAX_ITERATIONS: u32 = 100_000_000;
/// Enough to keep 64 threads busy; each password is one sample row, so this bounds the response.
pub const PBKDF2_MAX_PASSWORDS: u32 = 64;
/// Lambda shows at most 6 cores; 64 threads is far past anything worth measuring.
pub const PBKDF2_MAX_THREADS: u32 = 64;
/// A sweep of 1..=16 thread counts is plenty; each entry re-derives every password.
pub const PBKDF2_MAX_THREAD_ENTRIES: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pbkdf2Input {
    #[serde(default)]
    hash: Hash,
    #[serde(default = "default_iterations")]
    iterations: u32,
    #[serde(default = "default_passwords")]
    passwords: u32,
    /// Default: [1, the cores the sandbox shows (affinity)].
    #[serde(default)]
    threads: Option<Vec<u32>>,
}

fn default_iterations() -> u32 {
    PBKDF2_DEFAULT_ITERATIONS
}

fn default_passwords() -> u32 {
    PBKDF2_DEFAULT_PASSWORDS
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Pbkdf2Params {
    pub hash: Hash,
    pub iterations: u32,
    pub passwords: u32,
    /// Thread counts to run, in order; every entry derives all passwords again.
    pub threads: Vec<u32>,
}

impl Pbkdf2Input {
    fn resolve(self, host: Host) -> Result<Pbkdf2Params, ProbeError> {
        const W: &str = "pbkdf2";
        check_range(W, "iterations", self.iterations, 1, PBKDF2_MAX_ITERATIONS)?;
        check_range(W, "passwords", self.passwords, 1, PBKDF2_MAX_PASSWORDS)?;
        let threads = match self.threads {
            Some(t) => t,
            None => {
                let mut t = vec![1, host.cores.max(1) as u32];
                t.dedup();
                t
            }
        };
        if threads.is_empty() || threads.len() > PBKDF2_MAX_THREAD_ENTRIES {
            return Err(ProbeError::invalid(format!(
                "{W}: `threads` must list 1..={PBKDF2_MAX_THREAD_ENTRIES} thread counts, got {}",
                threads.len()
            )));
        }
        for &t in &threads {
            check_range(W, "threads[]", t, 1, PBKDF2_MAX_THREADS)?;
        }
        Ok(Pbkdf2Params {
            hash: self.hash,
            iterations: self.iterations,
            passwords: self.passwords,
            threads,
        })
    }
}

// ---------------------------------------------------------------- alloc

/// How the alloc workload gets and gives back its buffers.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AllocMode {
    /// jemalloc (the global allocator) keeps freed buffers mapped: later passes reuse the pages.
    #[default]
    Reuse,
    /// jemalloc, with every arena purged between passes: each pass faults its pages in again.
    Fresh,
    /// Raw `mmap`/`munmap` per buffer, bypassing the allocator: the kernel's first-touch cost.
    Mmap,
}

impl AllocMode {
    pub fn name(&self) -> &'static str {
        match self {
            AllocMode::Reuse => "reuse",
            AllocMode::Fresh => "fresh",
            AllocMode::Mmap => "mmap",
        }
    }
}

/// 100 buffers of 1 MiB, 2 passes: the 2020 "memory allocation in cloud functions" experiment.
pub const ALLOC_DEFAULT_BUFFERS: u32 = 100;
pub const ALLOC_DEFAULT_BUFFER_BYTES: u64 = 1 << 20;
pub const ALLOC_DEFAULT_PASSES: u32 = 2;
/// Every buffer of a pass is held at once, so memory, not this, is the real bound (the memory
/// guard checks buffers × buffer_bytes); this keeps the per-buffer bookkeeping small.
pub const ALLOC_MAX_BUFFERS: u32 = 10_000;
/// One page up to 1 GiB: below a page "new pages per buffer" means little; above 1 GiB a
/// handful of buffers fill the largest Lambda.
pub const ALLOC_MIN_BUFFER_BYTES: u64 = 4096;
pub const ALLOC_MAX_BUFFER_BYTES: u64 = 1 << 30;
/// Pass 1 is first touch, pass 2 the reuse; a few more show whether it stays that way.
pub const ALLOC_MAX_PASSES: u32 = 10;
/// buffers × passes sample rows, ~90 bytes each: 20,000 keeps the response under 2 MB (Lambda
/// allows 6 MB).
pub const ALLOC_MAX_ROWS: u32 = 20_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocInput {
    #[serde(default = "default_alloc_buffers")]
    buffers: u32,
    #[serde(default = "default_alloc_buffer_bytes")]
    buffer_bytes: u64,
    #[serde(default = "default_alloc_passes")]
    passes: u32,
    #[serde(default)]
    mode: AllocMode,
}

fn default_alloc_buffers() -> u32 {
    ALLOC_DEFAULT_BUFFERS
}

fn default_alloc_buffer_bytes() -> u64 {
    ALLOC_DEFAULT_BUFFER_BYTES
}

fn default_alloc_passes() -> u32 {
    ALLOC_DEFAULT_PASSES
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AllocParams {
    pub buffers: u32,
    pub buffer_bytes: u64,
    pub passes: u32,
    pub mode: AllocMode,
}

impl AllocInput {
    fn resolve(self) -> Result<AllocParams, ProbeError> {
        const W: &str = "alloc";
        check_range(W, "buffers", self.buffers, 1, ALLOC_MAX_BUFFERS)?;
        check_range(
            W,
            "buffer_bytes",
            self.buffer_bytes,
            ALLOC_MIN_BUFFER_BYTES,
            ALLOC_MAX_BUFFER_BYTES,
        )?;
        check_range(W, "passes", self.passes, 1, ALLOC_MAX_PASSES)?;
        let rows = self.buffers as u64 * self.passes as u64;
        if rows > ALLOC_MAX_ROWS as u64 {
            return Err(ProbeError::invalid(format!(
                "{W}: `buffers` × `passes` = {} × {} = {rows} sample rows; allowed at most \
                 {ALLOC_MAX_ROWS} (with {} passes, `buffers` ≤ {})",
                self.buffers,
                self.passes,
                self.passes,
                ALLOC_MAX_ROWS / self.passes
            )));
        }
        Ok(AllocParams {
            buffers: self.buffers,
            buffer_bytes: self.buffer_bytes,
            passes: self.passes,
            mode: self.mode,
        })
    }
}

// ---------------------------------------------------------------- memset

/// 64 MiB: far past every cache, small enough for 128 MB functions.
pub const MEMSET_DEFAULT_BYTES: u64 = 64 << 20;
pub const MEMSET_DEFAULT_REPEATS: u32 = 20;
/// One page up to 16 GiB (more than the largest Lambda); the memory guard is the real bound.
pub const MEMSET_MIN_BYTES: u64 = 4096;
pub const MEMSET_MAX_BYTES: u64 = 16 << 30;
/// One sample row per repeat; the deadline stops long runs anyway.
pub const MEMSET_MAX_REPEATS: u32 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemsetInput {
    #[serde(default = "default_memset_bytes")]
    bytes: u64,
    #[serde(default = "default_memset_repeats")]
    repeats: u32,
    #[serde(default)]
    first_touch: bool,
}

fn default_memset_bytes() -> u64 {
    MEMSET_DEFAULT_BYTES
}

fn default_memset_repeats() -> u32 {
    MEMSET_DEFAULT_REPEATS
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MemsetParams {
    pub bytes: u64,
    pub repeats: u32,
    /// true: every repeat paints freshly mapped memory (first-touch bandwidth); false: every
    /// repeat repaints one buffer touched beforehand (memory bandwidth).
    pub first_touch: bool,
}

impl MemsetInput {
    fn resolve(self) -> Result<MemsetParams, ProbeError> {
        const W: &str = "memset";
        check_range(W, "bytes", self.bytes, MEMSET_MIN_BYTES, MEMSET_MAX_BYTES)?;
        check_range(W, "repeats", self.repeats, 1, MEMSET_MAX_REPEATS)?;
        Ok(MemsetParams {
            bytes: self.bytes,
            repeats: self.repeats,
            first_touch: self.first_touch,
        })
    }
}

// ---------------------------------------------------------------- io

/// 100 items one at a time, then 10 at a time: the 2019 experiment's table writes.
pub const IO_DEFAULT_ITEMS: u32 = 100;
pub const IO_DEFAULT_CONCURRENCY: [u32; 2] = [1, 10];
/// A small item, as in the 2019 experiment: the cost is the round trip, not the bytes.
pub const IO_DEFAULT_ITEM_BYTES: u32 = 256;
/// Every call is one sample row: 1,000 items × 8 levels keeps the response near 1 MB, well
/// under Lambda's 6 MB response limit.
pub const IO_MAX_ITEMS: u32 = 1_000;
/// A sweep of up to 8 concurrency levels (the io-sweep payload runs 6).
pub const IO_MAX_CONCURRENCY_ENTRIES: usize = 8;
/// 64 calls in flight is far past where a 2-vCPU sandbox stops gaining.
pub const IO_MAX_CONCURRENCY: u32 = 64;
/// DynamoDB's item limit is 400 KB (409,600 bytes, names and values together); the payload
/// attribute may take 400,000 of them, leaving room for the key, the TTL and the counters.
pub const IO_MAX_ITEM_BYTES: u32 = 400_000;
/// Bytes of payload in flight at once (concurrency × item_bytes). Each call holds its payload
/// about four times over (the item, its base64 JSON body, the signed request, socket buffers),
/// so 8 MiB keeps a run within a 128 MB function; larger requests are refused as OverBudget.
pub const IO_MAX_IN_FLIGHT_BYTES: u64 = 8 * 1024 * 1024;
/// Items expire a day after they are written: long enough to inspect a run, short enough that
/// the table (TTL on `expires_at`) cleans itself.
pub const IO_ITEM_TTL_S: u64 = 86_400;
/// Attempts per call, first try included (the SDK's standard mode). The retry token bucket of
/// the standard mode stops retrying when most calls fail (a dead endpoint), so a run that has
/// lost its server fails fast instead of backing off item after item.
pub const IO_MAX_ATTEMPTS: u32 = 3;
/// Backoff before retry n is random in 0..initial × 2^(n-1), capped: DynamoDB recommends
/// starting near 50 ms; the SDK's 1 s default would dwarf the calls being measured.
pub const IO_INITIAL_BACKOFF_MS: u64 = 50;
pub const IO_MAX_BACKOFF_MS: u64 = 1_000;
/// TCP (and TLS) connect. At 128 MB (≈ 0.07 vCPU) a TLS handshake takes tens of ms of wall.
pub const IO_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// One attempt; a PutItem normally answers in single-digit ms.
pub const IO_ATTEMPT_TIMEOUT_MS: u64 = 3_000;
/// One call, retries and backoff included. The invocation deadline bounds every call as well.
pub const IO_CALL_TIMEOUT_MS: u64 = 10_000;
/// The credential check on the first io invocation (the default chain may ask the network).
pub const IO_CREDENTIALS_TIMEOUT_MS: u64 = 5_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IoInput {
    #[serde(default = "default_io_items")]
    items: u32,
    #[serde(default = "default_io_concurrency")]
    concurrency: Vec<u32>,
    #[serde(default = "default_io_item_bytes")]
    item_bytes: u32,
}

fn default_io_items() -> u32 {
    IO_DEFAULT_ITEMS
}

fn default_io_concurrency() -> Vec<u32> {
    IO_DEFAULT_CONCURRENCY.to_vec()
}

fn default_io_item_bytes() -> u32 {
    IO_DEFAULT_ITEM_BYTES
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct IoParams {
    /// Items written per concurrency level.
    pub items: u32,
    /// Calls in flight at most, per level, in order; 1 = strictly one at a time.
    pub concurrency: Vec<u32>,
    /// Bytes of the `payload` attribute of each item.
    pub item_bytes: u32,
}

impl IoInput {
    fn resolve(self) -> Result<IoParams, ProbeError> {
        const W: &str = "io";
        check_range(W, "items", self.items, 1, IO_MAX_ITEMS)?;
        check_range(W, "item_bytes", self.item_bytes, 1, IO_MAX_ITEM_BYTES)?;
        if self.concurrency.is_empty() || self.concurrency.len() > IO_MAX_CONCURRENCY_ENTRIES {
            return Err(ProbeError::invalid(format!(
                "{W}: `concurrency` must list 1..={IO_MAX_CONCURRENCY_ENTRIES} levels, got {}",
                self.concurrency.len()
            )));
        }
        for &c in &self.concurrency {
            check_range(W, "concurrency[]", c, 1, IO_MAX_CONCURRENCY)?;
        }
        let widest = self.concurrency.iter().copied().max().unwrap_or(1);
        let in_flight = u64::from(widest) * u64::from(self.item_bytes);
        if in_flight > IO_MAX_IN_FLIGHT_BYTES {
            return Err(ProbeError::over_budget(format!(
                "{W}: concurrency {widest} × item_bytes {} = {in_flight} bytes in flight, over \
                 the {IO_MAX_IN_FLIGHT_BYTES}-byte budget that keeps a 128 MB function safe; \
                 lower `concurrency` or `item_bytes`",
                self.item_bytes
            )));
        }
        Ok(IoParams {
            items: self.items,
            concurrency: self.concurrency,
            item_bytes: self.item_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use serde_json::json;

    const HOST: Host = Host { cores: 2 };

    fn err(v: Value) -> ProbeError {
        parse(v, HOST).unwrap_err()
    }

    #[test]
    fn empty_event_is_env() {
        assert_eq!(parse(json!({}), HOST).unwrap(), Request::Env);
        assert_eq!(
            parse(json!({"workload": "env"}), HOST).unwrap(),
            Request::Env
        );
    }

    #[test]
    fn pbkdf2_defaults_follow_the_2019_experiment_and_the_cores() {
        let r = parse(json!({"workload": "pbkdf2"}), Host { cores: 6 }).unwrap();
        assert_eq!(
            r,
            Request::Pbkdf2(Pbkdf2Params {
                hash: Hash::Sha512,
                iterations: 1_000_000,
                passwords: 4,
                threads: vec![1, 6],
            })
        );
        let one_core = parse(json!({"workload": "pbkdf2"}), Host { cores: 1 }).unwrap();
        assert_eq!(one_core.params_json()["threads"], json!([1]));
    }

    #[test]
    fn a_sweep_past_the_cores_is_valid() {
        let r = parse(
            json!({"workload": "pbkdf2", "hash": "sha256", "threads": [1, 2, 3, 4, 5, 6]}),
            HOST,
        )
        .unwrap();
        assert_eq!(r.params_json()["threads"], json!([1, 2, 3, 4, 5, 6]));
        assert_eq!(r.params_json()["hash"], json!("sha256"));
    }

    #[test]
    fn log_result_is_an_option_of_any_workload() {
        let (r, o) = parse_event(json!({"workload": "env", "log_result": false}), HOST).unwrap();
        assert_eq!((r, o.log_result), (Request::Env, false));
        let (_, o) = parse_event(json!({"workload": "pbkdf2"}), HOST).unwrap();
        assert!(o.log_result);
        let e = err(json!({"log_result": "no"}));
        assert!(e.message.contains("`log_result`"), "{}", e.message);
    }

    #[test]
    fn bad_events_name_what_to_fix() {
        let e = err(json!({"workload": "nope"}));
        assert_eq!(e.error_type, ErrorType::InvalidPayload);
        assert!(e.message.contains("pbkdf2"), "{}", e.message);

        let e = err(json!({"workload": "pbkdf2", "iteration": 5}));
        assert!(
            e.message.contains("unknown field `iteration`"),
            "{}",
            e.message
        );

        let e = err(json!({"workload": "pbkdf2", "iterations": 0}));
        assert!(
            e.message.contains("`iterations` = 0") && e.message.contains("1..="),
            "{}",
            e.message
        );

        let e = err(json!({"workload": "pbkdf2", "iterations": -5}));
        assert!(
            e.message.contains("iterations") || e.message.contains("-5"),
            "{}",
            e.message
        );

        let e = err(json!({"workload": "pbkdf2", "hash": "md5"}));
        assert!(e.message.contains("sha256"), "{}", e.message);

        let e = err(json!({"workload": "pbkdf2", "threads": []}));
        assert!(e.message.contains("`threads`"), "{}", e.message);

        let e = err(json!({"workload": "pbkdf2", "threads": [0]}));
        assert!(e.message.contains("threads[]"), "{}", e.message);

        let e = err(json!({"workload": "env", "extra": 1}));
        assert!(e.message.contains("unknown field"), "{}", e.message);

        let e = err(json!([1, 2]));
        assert!(e.message.contains("JSON object"), "{}", e.message);

        let e = err(json!({"workload": 5}));
        assert!(e.message.contains("must be a string"), "{}", e.message);
    }

    // ---- memory workloads

    #[test]
    fn alloc_defaults_follow_the_2020_experiment() {
        let r = parse(json!({"workload": "alloc"}), HOST).unwrap();
        assert_eq!(
            r,
            Request::Alloc(AllocParams {
                buffers: 100,
                buffer_bytes: 1 << 20,
                passes: 2,
                mode: AllocMode::Reuse,
            })
        );
        assert_eq!(r.params_json()["mode"], "reuse");
        let r = parse(
            json!({"workload": "alloc", "mode": "mmap", "passes": 3}),
            HOST,
        )
        .unwrap();
        assert_eq!(r.params_json()["mode"], "mmap");
        assert_eq!(r.params_json()["passes"], 3);
        assert_eq!(r.workload(), "alloc");
    }

    #[test]
    fn memset_defaults_and_modes() {
        let r = parse(json!({"workload": "memset"}), HOST).unwrap();
        assert_eq!(
            r,
            Request::Memset(MemsetParams {
                bytes: 64 << 20,
                repeats: 20,
                first_touch: false,
            })
        );
        let r = parse(json!({"workload": "memset", "first_touch": true}), HOST).unwrap();
        assert_eq!(r.params_json()["first_touch"], true);
        assert_eq!(r.workload(), "memset");
    }

    #[test]
    fn bad_memory_events_name_what_to_fix() {
        for (event, needle) in [
            (json!({"workload": "alloc", "buffers": 0}), "`buffers` = 0"),
            (
                json!({"workload": "alloc", "buffer_bytes": 100}),
                "`buffer_bytes` = 100",
            ),
            (
                json!({"workload": "alloc", "buffer_bytes": -1}),
                "buffer_bytes",
            ),
            (json!({"workload": "alloc", "passes": 11}), "1..=10"),
            (json!({"workload": "alloc", "mode": "lazy"}), "reuse"),
            (
                json!({"workload": "alloc", "buffers": 10000, "passes": 10}),
                "`buffers` ≤ 2000",
            ),
            (
                json!({"workload": "alloc", "buffer": 1}),
                "unknown field `buffer`",
            ),
            (json!({"workload": "memset", "bytes": 1}), "`bytes` = 1"),
            (
                json!({"workload": "memset", "bytes": 1u64 << 40}),
                "4096..=",
            ),
            (json!({"workload": "memset", "repeats": 0}), "`repeats`"),
            (
                json!({"workload": "memset", "first_touch": "yes"}),
                "first_touch",
            ),
        ] {
            let e = err(event.clone());
            assert_eq!(e.error_type, ErrorType::InvalidPayload, "{event}");
            assert!(e.message.contains(needle), "{event}: {}", e.message);
        }
    }

    #[test]
    fn io_defaults_follow_the_2019_experiment() {
        let r = parse(json!({"workload": "io"}), HOST).unwrap();
        assert_eq!(
            r,
            Request::Io(IoParams {
                items: 100,
                concurrency: vec![1, 10],
                item_bytes: 256,
            })
        );
        assert_eq!(r.workload(), "io");
        assert_eq!(
            r.params_json(),
            json!({"items": 100, "concurrency": [1, 10], "item_bytes": 256})
        );
    }

    #[test]
    fn io_limits_name_the_field_and_the_range() {
        for (event, needle) in [
            (json!({"workload": "io", "items": 0}), "`items` = 0"),
            (json!({"workload": "io", "items": 1001}), "1..=1000"),
            (
                json!({"workload": "io", "concurrency": []}),
                "`concurrency`",
            ),
            (
                json!({"workload": "io", "concurrency": [1, 2, 3, 4, 5, 6, 7, 8, 9]}),
                "1..=8",
            ),
            (
                json!({"workload": "io", "concurrency": [1, 0]}),
                "concurrency[]",
            ),
            (json!({"workload": "io", "concurrency": [65]}), "1..=64"),
            (json!({"workload": "io", "item_bytes": 0}), "item_bytes"),
            (json!({"workload": "io", "item_bytes": 400_001}), "400000"),
            (
                json!({"workload": "io", "table": "other"}),
                "unknown field `table`",
            ),
            (
                json!({"workload": "io", "endpoint": "http://x"}),
                "unknown field",
            ),
            (json!({"workload": "io", "items": "many"}), "items"),
        ] {
            let e = err(event.clone());
            assert_eq!(e.error_type, ErrorType::InvalidPayload, "{event}");
            assert!(e.message.contains(needle), "{event}: {}", e.message);
        }
    }

    #[test]
    fn io_bytes_in_flight_are_budgeted() {
        // The largest item alone, and the widest concurrency with small items, both fit.
        let big =
            json!({"workload": "io", "concurrency": [1, 20], "item_bytes": IO_MAX_ITEM_BYTES});
        assert!(parse(big, HOST).is_ok());
        let wide =
            json!({"workload": "io", "concurrency": [IO_MAX_CONCURRENCY], "item_bytes": 1024});
        assert!(parse(wide, HOST).is_ok());
        let e = err(json!({"workload": "io", "concurrency": [1, 64], "item_bytes": 400_000}));
        assert_eq!(e.error_type, ErrorType::OverBudget);
        assert!(
            e.message.contains("concurrency 64") && e.message.contains("item_bytes 400000"),
            "{}",
            e.message
        );
    }
}
