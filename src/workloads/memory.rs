//! What the memory workloads share: painting memory for real, raw anonymous mappings, and
//! jemalloc's control interface (purge, effective settings, statistics).

use super::Outcome;
use crate::budget::{Budget, Need};
use crate::error::ProbeError;
use crate::host::since_start_us;
use crate::measure::stats::round;
use crate::measure::Deadline;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::ffi::c_void;
use std::time::Instant;
use tikv_jemalloc_ctl::raw;

/// Writes `byte` over `len` bytes at `ptr` with libc's `memset` (what `write_bytes` lowers to).
/// `black_box` hands the pointer to an opaque consumer, so the optimiser cannot drop the stores
/// as dead even when the buffer is freed right after.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes.
pub unsafe fn paint(ptr: *mut u8, len: usize, byte: u8) {
    // SAFETY: the caller guarantees `ptr` is writable for `len` bytes.
    unsafe { std::ptr::write_bytes(ptr, byte, len) };
    std::hint::black_box(ptr);
}

/// A private anonymous mapping straight from the kernel (no allocator), unmapped on drop.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; nothing ties it to a thread.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes; their pages are not touched (no page is faulted in yet).
    pub fn new(len: usize) -> Result<Mapping, String> {
        // SAFETY: a fresh private anonymous mapping at an address the kernel picks; no existing
        // memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!(
                "mmap of {len} bytes failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Mapping {
            ptr: ptr as *mut u8,
            len,
        })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Paints the whole mapping with `byte`.
    pub fn paint(&mut self, byte: u8) {
        // SAFETY: the mapping is readable and writable for `len` bytes while `self` lives.
        unsafe { paint(self.ptr, self.len, byte) }
    }

    /// The byte at `offset` (for checks: reading an untouched page would fault it in).
    pub fn byte_at(&self, offset: usize) -> Option<u8> {
        // SAFETY: in bounds of the live mapping, checked just before.
        (offset < self.len).then(|| unsafe { self.ptr.add(offset).read_volatile() })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping this value made and owns.
        unsafe {
            libc::munmap(self.ptr as *mut c_void, self.len);
        }
    }
}

// ---------------------------------------------------------------- the memory guard

/// One memory workload at a time per process. alloc and memset purge jemalloc's arenas and
/// count the page faults of the whole process, and the guard compares a request with the
/// memory the process has now: two of them at once (Lambda Managed Instances serves several
/// invocations in one process) would purge each other's pages, count each other's faults and
/// both pass a guard that only one fits. They wait for each other instead, and say so.
static MEMORY_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How a memory workload shared the process with the others: `summary.memory_lock`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct MemoryLock {
    /// True when another memory workload of this process was running when this one asked to
    /// run: it waited for it to finish.
    pub waited: bool,
    /// Time spent waiting (part of `summary.wall_ms`).
    pub wait_ms: f64,
    /// When this run held the process's memory workloads to itself, in µs since the process
    /// started (the clock of `overlap`): no other memory workload ran in between. Null when
    /// the deadline came while it waited (nothing ran: `truncated_reason` is `deadline`).
    pub held_from_us: Option<f64>,
    pub held_until_us: Option<f64>,
}

/// Runs a memory workload on the blocking pool, alone among the memory workloads of this
/// process (waiting at most until `deadline`): first hands freed memory back (so the guard
/// sees the probe's true footprint, and pass 1 is a first touch even in a warm sandbox), then
/// checks the request's need against the function's memory (`OverBudget` when it does not
/// fit), then runs `work` with the budget it was checked against. `None` when the deadline
/// came before the other memory workloads were done: nothing ran.
pub async fn guarded<T: Send + 'static>(
    need: Option<Need>,
    deadline: Deadline,
    work: impl FnOnce(Budget) -> Result<T, ProbeError> + Send + 'static,
) -> Result<(Option<T>, MemoryLock), ProbeError> {
    let asked = Instant::now();
    let (held, waited) = match MEMORY_LOCK.try_lock() {
        Ok(held) => (held, false),
        Err(_) => {
            let wait = MEMORY_LOCK.lock();
            let held = match deadline.remaining() {
                None => Some(wait.await),
                Some(left) => tokio::time::timeout(left, wait).await.ok(),
            };
            match held {
                Some(held) => (held, true),
                None => {
                    let lock = MemoryLock {
                        waited: true,
                        wait_ms: elapsed_ms(asked),
                        held_from_us: None,
                        held_until_us: None,
                    };
                    return Ok((None, lock));
                }
            }
        }
    };
    let wait_ms = elapsed_ms(asked);
    let (out, from, until) = super::blocking(move || {
        let from = Instant::now();
        let out = release().and_then(|()| {
            let budget = Budget::read()?;
            if let Some(need) = &need {
                budget.check(need)?;
            }
            work(budget)
        });
        let until = Instant::now();
        // Let the next memory workload in only now, after the end was read.
        drop(held);
        (out, from, until)
    })
    .await?;
    let lock = MemoryLock {
        waited,
        wait_ms,
        held_from_us: Some(round(since_start_us(from), 3)),
        held_until_us: Some(round(since_start_us(until), 3)),
    };
    out.map(|t| (Some(t), lock))
}

/// The figures of a memory workload that record what [`guarded`] did: the budget the request
/// was checked against, and how the lock went.
pub trait GuardFigures {
    fn memory_budget(&mut self) -> &mut Budget;
    fn memory_lock(&mut self) -> &mut MemoryLock;
}

/// A memory workload's whole run: `work` under [`guarded`], its figures given the budget and
/// the lock; `not_run`'s outcome when the deadline came before the lock did.
pub async fn run_guarded<F, S>(
    need: Option<Need>,
    deadline: Deadline,
    work: impl FnOnce() -> Result<Outcome<F, S>, ProbeError> + Send + 'static,
    not_run: impl FnOnce() -> Outcome<F, S>,
) -> Result<Outcome<F, S>, ProbeError>
where
    F: GuardFigures + Send + 'static,
    S: Send + 'static,
{
    let (out, lock) = guarded(need, deadline, move |budget| {
        let mut out = work()?;
        *out.figures.memory_budget() = budget;
        Ok(out)
    })
    .await?;
    let mut out = out.unwrap_or_else(not_run);
    *out.figures.memory_lock() = lock;
    Ok(out)
}

fn elapsed_ms(since: Instant) -> f64 {
    round(since.elapsed().as_secs_f64() * 1000.0, 3)
}

/// Gives freed memory back before a run. The thread's cache of freed small objects goes first:
/// left there, jemalloc returns them during pass 1 (its cache garbage collection runs every 64
/// KiB allocated), their emptied slabs become free extents next to the buffers, and pass 2's
/// first buffer lands partly on their never-touched pages.
pub fn release() -> Result<(), ProbeError> {
    flush_thread_cache().map_err(ProbeError::internal)?;
    purge_all_arenas().map_err(ProbeError::internal)
}

// ---------------------------------------------------------------- jemalloc

/// `MALLCTL_ARENAS_ALL` in jemalloc.h: `arena.<i>.*` with this index means every arena.
const ARENAS_ALL: u32 = 4096;

/// Gives every arena's freed pages back to the kernel (`arena.<ALL>.purge`: `MADV_DONTNEED`
/// on Linux; the address space stays reserved, so the next allocation reuses the same virtual
/// pages and faults them in again).
pub fn purge_all_arenas() -> Result<(), String> {
    let name = format!("arena.{ARENAS_ALL}.purge\0");
    command(&name)
}

/// Returns the calling thread's cached freed small objects to their arenas
/// (`thread.tcache.flush`).
pub fn flush_thread_cache() -> Result<(), String> {
    command("thread.tcache.flush\0")
}

/// A mallctl that is an action: no value read, none written.
fn command(name: &str) -> Result<(), String> {
    debug_assert!(name.ends_with('\0'));
    // SAFETY: `name` is NUL-terminated; these controls read and write nothing, as the all-null
    // arguments say (any non-null pointer makes jemalloc refuse with EPERM).
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr() as *const libc::c_char,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "mallctl {} failed: {}",
            name.trim_end_matches('\0'),
            std::io::Error::from_raw_os_error(rc)
        ))
    }
}

/// jemalloc's effective settings: the `opt.*` values that decide whether freed memory is
/// reused, kept or handed back, and where a large allocation lands in its pages.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct JemallocSettings {
    pub version: Option<String>,
    /// The options compiled in (`config.malloc_conf`): see `.cargo/config.toml`.
    pub malloc_conf: Option<String>,
    pub dirty_decay_ms: Option<i64>,
    pub muzzy_decay_ms: Option<i64>,
    /// Freed extents that coalesce to at least this size are purged at once (unless decay
    /// is off).
    pub oversize_threshold_bytes: Option<u64>,
    /// true: large allocations start at a random cache line within their first page, so they
    /// straddle one page more than their size.
    pub cache_oblivious: Option<bool>,
    pub narenas: Option<u32>,
    /// Purged memory stays reserved (mapped, not committed) for reuse.
    pub retain: Option<bool>,
    pub thp: Option<String>,
    pub background_thread: Option<bool>,
    /// jemalloc's compiled-in page size (`arenas.page`).
    pub page_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings_unavailable: Option<String>,
}

/// Reads one control value; records why it could not be read.
fn ctl<T: Copy>(name: &'static [u8], missing: &mut Vec<String>) -> Option<T> {
    // SAFETY: each caller pairs `name` with the C type jemalloc documents for it (ssize_t →
    // isize, size_t → usize, unsigned → u32, bool → bool).
    match unsafe { raw::read::<T>(name) } {
        Ok(v) => Some(v),
        Err(e) => {
            missing.push(format!("{}: {e}", ctl_name(name)));
            None
        }
    }
}

fn ctl_str(name: &'static [u8], missing: &mut Vec<String>) -> Option<String> {
    // SAFETY: these names are documented as `const char *` values that jemalloc keeps alive.
    match unsafe { raw::read_str(name) } {
        Ok(bytes) => Some(
            String::from_utf8_lossy(bytes)
                .trim_end_matches('\0')
                .to_string(),
        ),
        Err(e) => {
            missing.push(format!("{}: {e}", ctl_name(name)));
            None
        }
    }
}

fn ctl_name(name: &[u8]) -> String {
    String::from_utf8_lossy(name)
        .trim_end_matches('\0')
        .to_string()
}

pub fn jemalloc_settings() -> JemallocSettings {
    let mut missing = Vec::new();
    let m = &mut missing;
    let s = JemallocSettings {
        version: ctl_str(b"version\0", m),
        malloc_conf: ctl_str(b"config.malloc_conf\0", m),
        dirty_decay_ms: ctl::<isize>(b"opt.dirty_decay_ms\0", m).map(|v| v as i64),
        muzzy_decay_ms: ctl::<isize>(b"opt.muzzy_decay_ms\0", m).map(|v| v as i64),
        oversize_threshold_bytes: ctl::<usize>(b"opt.oversize_threshold\0", m).map(|v| v as u64),
        cache_oblivious: ctl::<bool>(b"opt.cache_oblivious\0", m),
        narenas: ctl::<u32>(b"opt.narenas\0", m),
        retain: ctl::<bool>(b"opt.retain\0", m),
        thp: ctl_str(b"opt.thp\0", m),
        background_thread: ctl::<bool>(b"opt.background_thread\0", m),
        page_bytes: ctl::<usize>(b"arenas.page\0", m).map(|v| v as u64),
        settings_unavailable: None,
    };
    JemallocSettings {
        settings_unavailable: (!missing.is_empty()).then(|| missing.join("; ")),
        ..s
    }
}

/// jemalloc's process-wide statistics after an epoch advance (which refreshes them).
/// Reading them allocates nothing, so it can sit between measured passes.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct JemallocStats {
    /// Bytes the application holds.
    pub allocated_bytes: Option<u64>,
    /// Bytes in active pages (allocated, rounded up to pages).
    pub active_bytes: Option<u64>,
    /// Bytes in physically resident data pages jemalloc maps (includes freed, unpurged pages).
    pub resident_bytes: Option<u64>,
    /// Bytes in extents mapped for active use.
    pub mapped_bytes: Option<u64>,
    /// Bytes of virtual memory kept reserved after purging, for reuse.
    pub retained_bytes: Option<u64>,
    /// false when the epoch could not be advanced or a counter could not be read; the
    /// counters are then null.
    pub stats_available: bool,
}

pub fn jemalloc_stats() -> JemallocStats {
    if tikv_jemalloc_ctl::epoch::advance().is_err() {
        return JemallocStats::default();
    }
    let read = |name: &'static [u8]| {
        // SAFETY: every stats.* counter read here is a size_t.
        unsafe { raw::read::<usize>(name) }.ok().map(|v| v as u64)
    };
    let s = JemallocStats {
        allocated_bytes: read(b"stats.allocated\0"),
        active_bytes: read(b"stats.active\0"),
        resident_bytes: read(b"stats.resident\0"),
        mapped_bytes: read(b"stats.mapped\0"),
        retained_bytes: read(b"stats.retained\0"),
        stats_available: true,
    };
    let all = [
        s.allocated_bytes,
        s.active_bytes,
        s.resident_bytes,
        s.mapped_bytes,
        s.retained_bytes,
    ]
    .iter()
    .all(Option::is_some);
    JemallocStats {
        stats_available: all,
        ..s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_painted_mapping_holds_the_byte_in_every_page() {
        let len = 16 * 4096 + 100;
        let mut m = Mapping::new(len).unwrap();
        m.paint(0x5a);
        for off in (0..len).step_by(4096).chain([len - 1]) {
            assert_eq!(m.byte_at(off), Some(0x5a), "offset {off}");
        }
        assert_eq!(m.byte_at(len), None);
        m.paint(0xa5);
        assert_eq!(m.byte_at(len / 2), Some(0xa5));
    }

    #[test]
    fn an_impossible_mapping_is_an_error_not_a_crash() {
        let e = Mapping::new(usize::MAX / 2).err().unwrap();
        assert!(e.contains("mmap"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_workloads_take_turns_and_stop_waiting_at_the_deadline() {
        use std::time::Duration;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let first = tokio::spawn(guarded(None, Deadline::none(), move |_| {
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            Ok("first")
        }));
        // The first holds the lock (other tests of this binary may have held it before).
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        let second = tokio::spawn(guarded(None, Deadline::none(), |_| Ok("second")));
        // 100 ms of usable time (the deadline keeps a 500 ms margin): it gives up waiting.
        let late = guarded(None, Deadline::after(Duration::from_millis(600)), |_| {
            Ok("late")
        })
        .await
        .unwrap();
        assert_eq!(late.0, None, "ran without the lock");
        assert!(
            late.1.waited && late.1.held_from_us.is_none(),
            "{:?}",
            late.1
        );
        assert!(late.1.wait_ms >= 50.0, "{:?}", late.1);

        let (first, a) = first.await.unwrap().unwrap();
        let (second, b) = second.await.unwrap().unwrap();
        assert_eq!((first, second), (Some("first"), Some("second")));
        assert!(b.waited && b.wait_ms > 100.0, "{b:?}");
        let (a_until, b_from) = (a.held_until_us.unwrap(), b.held_from_us.unwrap());
        assert!(a.held_from_us.unwrap() + 250_000.0 <= a_until, "{a:?}");
        assert!(a_until <= b_from, "ran at once: {a:?} {b:?}");
    }

    #[test]
    fn jemalloc_reports_its_settings_and_stats() {
        let s = jemalloc_settings();
        assert_eq!(s.settings_unavailable, None, "{s:?}");
        assert!(s.version.as_deref().unwrap().starts_with('5'), "{s:?}");
        assert!(s.page_bytes.unwrap() >= 4096);
        assert!(s.narenas.unwrap() >= 1);
        let held = vec![1u8; 4 << 20];
        let st = jemalloc_stats();
        assert!(st.stats_available);
        assert!(st.allocated_bytes.unwrap() >= held.len() as u64, "{st:?}");
        assert!(st.resident_bytes.unwrap() >= st.active_bytes.unwrap() / 2);
        assert!(flush_thread_cache().is_ok());
        assert!(purge_all_arenas().is_ok());
        drop(held);
    }
}
