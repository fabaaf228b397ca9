//! The cgroups an emulation runs in: finding this process's place in the hierarchy (v1: one
//! hierarchy per controller; v2: one tree whose controllers are handed down through
//! `cgroup.subtree_control`), creating one session cgroup and one cgroup per run under it,
//! setting Lambda's limits, reading back what the kernel counted, and removing all of it.
//!
//! Everything created is named `lambda-probe-emulate.<pid>`, so a session killed with SIGKILL
//! (which no handler sees) is found and removed by the next session.

use super::lambda::Plan;
use lambda_probe::host::cgroup::{keyed, read, swap_on, CgroupVersion, Layout};
use lambda_probe::host::cpu::{affinity_cpus, format_cpu_list, parse_cpu_list};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The prefix of every cgroup this tool creates.
pub const NAME_PREFIX: &str = "lambda-probe-emulate.";

/// How long to wait for a cgroup's processes to go away and for rmdir to succeed.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------- small file helpers

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value)
        .map_err(|e| format!("cannot write {value:?} to {}: {e}", path.display()))
}

/// Drops repeated entries, keeping the first of each (co-mounted v1 controllers share a path).
fn unique<T: PartialEq + Clone>(items: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::new();
    items.retain(|i| {
        let new = !seen.contains(i);
        if new {
            seen.push(i.clone());
        }
        new
    });
}

fn is_permission(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EACCES | libc::EPERM | libc::EROFS)
    )
}

/// The process ids in a cgroup (`cgroup.procs`).
fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// rmdir, retrying while the kernel still sees the cgroup busy (tasks just exited).
fn rmdir(dir: &Path) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < DRAIN_LIMIT => {
                std::thread::sleep(POLL)
            }
            Err(e) => return Err(format!("cannot remove cgroup {}: {e}", dir.display())),
        }
    }
}

fn rmdir_now(dir: &Path) -> Result<(), String> {
    std::fs::remove_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// SIGKILLs whatever is left in the cgroups (a run's own processes and their children) and waits
/// until they are gone.
fn drain(dirs: &[PathBuf]) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let left: Vec<i32> = dirs.iter().flat_map(|d| procs(d)).collect();
        if left.is_empty() {
            return Ok(());
        }
        if start.elapsed() > DRAIN_LIMIT {
            return Err(format!(
                "processes {left:?} did not leave their cgroup within {DRAIN_LIMIT:?}"
            ));
        }
        for pid in left {
            // SAFETY: kill only sends a signal; these processes sit in a cgroup this tool made
            // for a run, so they are the run's child and its descendants.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------- the session

/// Why emulation cannot start; `needs_permission` adds what to do about it.
#[derive(Debug)]
pub struct SetupError {
    pub message: String,
    pub needs_permission: bool,
}

impl SetupError {
    fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            needs_permission: false,
        }
    }

    fn permission(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            needs_permission: true,
        }
    }
}

/// How the visible cores are limited.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CoresVia {
    /// `cpuset.cpus` of the run's cgroup.
    Cpuset,
    /// `sched_setaffinity` in the child (no cpuset controller available).
    Affinity,
}

#[derive(Debug)]
enum Undo {
    /// v2: a controller this session enabled in a parent's `cgroup.subtree_control`.
    SubtreeControl {
        dir: PathBuf,
        controller: &'static str,
    },
    /// v2: this process moved into `leaf` so that `back` could delegate controllers.
    MoveBack { leaf: PathBuf, back: PathBuf },
}

/// One emulation session: the cgroups every run is created under, removed on drop.
#[derive(Debug)]
pub struct Session {
    pub version: CgroupVersion,
    cpu: PathBuf,
    memory: PathBuf,
    cpuset: Option<PathBuf>,
    /// The CPUs runs may be given.
    pub host_cpus: Vec<u32>,
    pub cores_via: CoresVia,
    /// v1: `cpuset.mems` for each run's cpuset.
    mems: Option<String>,
    /// v1: `memory.memsw.limit_in_bytes` exists (memory + swap limited together).
    memsw: bool,
    /// Notes on this host that apply to every run (e.g. swap not limited).
    pub notes: Vec<String>,
    created: Vec<PathBuf>,
    undo: Vec<Undo>,
}

impl Session {
    /// Where runs are created, for the header line.
    pub fn describe(&self) -> String {
        let mut dirs = vec![self.cpu.clone(), self.memory.clone()];
        dirs.extend(self.cpuset.clone());
        unique(&mut dirs);
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        format!(
            "cgroup {} ({}), cores via {}",
            self.version.name(),
            dirs.join(", "),
            match self.cores_via {
                CoresVia::Cpuset => "cpuset",
                CoresVia::Affinity => "CPU affinity",
            }
        )
    }

    pub fn create(layout: &Layout) -> Result<Session, SetupError> {
        let name = format!("{NAME_PREFIX}{}", std::process::id());
        match layout {
            Layout::V1 {
                cpu,
                memory,
                cpuset,
            } => Self::create_v1(&name, cpu, memory, cpuset.as_deref()),
            Layout::V2 { root, own } => Self::create_v2(&name, root, own),
        }
    }

    fn create_v1(
        name: &str,
        cpu: &Path,
        memory: &Path,
        cpuset: Option<&Path>,
    ) -> Result<Session, SetupError> {
        let mut s = Session {
            version: CgroupVersion::V1,
            cpu: cpu.join(name),
            memory: memory.join(name),
            cpuset: cpuset.map(|c| c.join(name)),
            host_cpus: Vec::new(),
            cores_via: if cpuset.is_some() {
                CoresVia::Cpuset
            } else {
                CoresVia::Affinity
            },
            mems: None,
            memsw: false,
            notes: Vec::new(),
            created: Vec::new(),
            undo: Vec::new(),
        };
        let mut parents = vec![cpu, memory];
        parents.extend(cpuset);
        unique(&mut parents);
        for parent in &parents {
            remove_stale(parent);
            let dir = parent.join(name);
            mkdir(&dir)?;
            s.created.push(dir);
        }
        if let (Some(parent), Some(dir)) = (cpuset, s.cpuset.clone()) {
            // A new v1 cpuset is empty: it takes no task until it has CPUs and memory nodes.
            let cpus = read(&parent.join("cpuset.cpus")).map_err(SetupError::plain)?;
            let mems = read(&parent.join("cpuset.mems")).map_err(SetupError::plain)?;
            write(&dir.join("cpuset.cpus"), cpus.trim()).map_err(SetupError::plain)?;
            write(&dir.join("cpuset.mems"), mems.trim()).map_err(SetupError::plain)?;
            let effective = read(&dir.join("cpuset.effective_cpus")).unwrap_or(cpus);
            s.host_cpus = parse_cpu_list(&effective).map_err(SetupError::plain)?;
            s.mems = Some(mems.trim().to_string());
        } else {
            s.host_cpus = affinity_cpus();
        }
        prioritize(&s.cpu, "cpu.shares", "262144", &mut s.notes);
        s.memsw = s.memory.join("memory.memsw.limit_in_bytes").exists();
        if !s.memsw && swap_on() {
            s.notes.push("swap is on and this kernel has no memory.memsw: runs get memory.swappiness 0 so they are not swapped instead of limited".into());
        }
        Ok(s)
    }

    fn create_v2(name: &str, root: &Path, own: &Path) -> Result<Session, SetupError> {
        let mut s = Session {
            version: CgroupVersion::V2,
            cpu: PathBuf::new(),
            memory: PathBuf::new(),
            cpuset: None,
            host_cpus: Vec::new(),
            cores_via: CoresVia::Affinity,
            mems: None,
            memsw: false,
            notes: Vec::new(),
            created: Vec::new(),
            undo: Vec::new(),
        };
        let me = std::process::id() as i32;
        // SAFETY: geteuid has no side effects.
        let euid_root = unsafe { libc::geteuid() } == 0;
        let parent = match choose_v2_parent(own == root, &procs(own), me, euid_root) {
            V2Parent::Evacuate => {
                let leaf = own.join(format!("{name}.self"));
                remove_stale(own);
                mkdir(&leaf)?;
                write(&leaf.join("cgroup.procs"), &me.to_string()).map_err(|e| {
                    let _ = rmdir(&leaf);
                    SetupError::permission(e)
                })?;
                s.undo.push(Undo::MoveBack {
                    leaf,
                    back: own.to_path_buf(),
                });
                own.to_path_buf()
            }
            V2Parent::Root => root.to_path_buf(),
            V2Parent::Refuse => {
                return Err(SetupError::permission(format!(
                    "cgroup v2: this process's cgroup {} also holds other processes, so it cannot hand controllers to a child cgroup, and only root may use the tree's root",
                    own.display()
                )))
            }
        };
        let available = read(&parent.join("cgroup.controllers")).map_err(SetupError::plain)?;
        let enabled = read(&parent.join("cgroup.subtree_control")).map_err(SetupError::plain)?;
        let wanted = v2_controllers(&available, &enabled).map_err(|e| {
            SetupError::permission(format!("cgroup v2: {e} in {}", parent.display()))
        })?;
        let mut with_cpuset = false;
        for (c, already) in wanted {
            if !already {
                match write(&parent.join("cgroup.subtree_control"), &format!("+{c}")) {
                    Ok(()) => s.undo.push(Undo::SubtreeControl {
                        dir: parent.clone(),
                        controller: c,
                    }),
                    Err(_) if c == "cpuset" => continue,
                    Err(e) => {
                        return Err(SetupError::permission(format!(
                            "{e} (cgroup v2 hands controllers down only from a cgroup that holds no processes: run emulate in a cgroup of its own)"
                        )))
                    }
                }
            }
            with_cpuset |= c == "cpuset";
        }
        remove_stale(&parent);
        let dir = parent.join(name);
        mkdir(&dir)?;
        s.created.push(dir.clone());
        let delegate = if with_cpuset {
            "+cpu +memory +cpuset"
        } else {
            "+cpu +memory"
        };
        write(&dir.join("cgroup.subtree_control"), delegate).map_err(SetupError::plain)?;
        s.cpu = dir.clone();
        s.memory = dir.clone();
        prioritize(&dir, "cpu.weight", "10000", &mut s.notes);
        if with_cpuset {
            s.cpuset = Some(dir.clone());
            s.cores_via = CoresVia::Cpuset;
            let cpus = read(&dir.join("cpuset.cpus.effective")).map_err(SetupError::plain)?;
            s.host_cpus = parse_cpu_list(&cpus).map_err(SetupError::plain)?;
        } else {
            s.host_cpus = affinity_cpus();
        }
        // memory.swap.max exists in the runs' cgroups when swap accounting is on.
        s.memsw = dir.join("memory.swap.max").exists();
        if !s.memsw && swap_on() {
            s.notes.push("swap is on and this kernel has no memory.swap.max: a run may swap instead of hitting its memory limit".into());
        }
        Ok(s)
    }
}

/// The highest CPU weight for the session, so on a busy host a run still gets its whole quota
/// first, as a Lambda function gets its share whatever its neighbours do. The quota caps it.
fn prioritize(dir: &Path, file: &str, weight: &str, notes: &mut Vec<String>) {
    if let Err(e) = write(&dir.join(file), weight) {
        notes.push(format!(
            "runs compete with the host's other work at the default CPU weight ({e})"
        ));
    }
}

/// Where a v2 session goes. v2 lets a cgroup hand controllers to children only while it holds
/// no processes itself (the root excepted).
#[derive(Debug, PartialEq, Eq)]
enum V2Parent {
    /// We are alone in our cgroup: step into a leaf of it, then use it.
    Evacuate,
    /// The tree's root (as mounted here): ours already, or reachable as root.
    Root,
    Refuse,
}

fn choose_v2_parent(own_is_root: bool, own_procs: &[i32], me: i32, euid_root: bool) -> V2Parent {
    if own_procs == [me] {
        V2Parent::Evacuate
    } else if own_is_root || euid_root {
        V2Parent::Root
    } else {
        V2Parent::Refuse
    }
}

/// The controllers a v2 session needs (cpu, memory) and wants (cpuset), each with whether
/// `cgroup.subtree_control` already enables it; an error names what is missing.
fn v2_controllers(available: &str, enabled: &str) -> Result<Vec<(&'static str, bool)>, String> {
    let available: Vec<&str> = available.split_whitespace().collect();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let mut out = Vec::new();
    for c in ["cpu", "memory", "cpuset"] {
        if available.contains(&c) {
            out.push((c, enabled.contains(&c)));
        } else if c != "cpuset" {
            return Err(format!(
                "the {c} controller is not delegated (cgroup.controllers: {:?})",
                available.join(" ")
            ));
        }
    }
    Ok(out)
}

fn mkdir(dir: &Path) -> Result<(), SetupError> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if is_permission(&e) => Err(SetupError::permission(format!(
            "cannot create cgroup {}: {e}",
            dir.display()
        ))),
        Err(e) => Err(SetupError::plain(format!(
            "cannot create cgroup {}: {e}",
            dir.display()
        ))),
    }
}

/// Removes what an earlier session left when it could not clean up (it was SIGKILLed): only
/// directories named after a process that no longer exists, and only by rmdir.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NAME_PREFIX) else {
            continue;
        };
        let pid = rest.split('.').next().unwrap_or("");
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        let children: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|es| {
                es.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        // rmdir only: a directory that still holds processes stays, with a warning.
        let mut result = Ok(());
        for child in children {
            result = result.and(rmdir_now(&child));
        }
        match result.and(rmdir_now(&dir)) {
            Ok(()) => say!(
                "emulate: removed {} left by an earlier session",
                dir.display()
            ),
            Err(e) => say!(
                "emulate: warning: could not remove {} left by an earlier session: {e}",
                dir.display()
            ),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for dir in self.created.iter().rev() {
            if let Err(e) = drain(std::slice::from_ref(dir)).and(rmdir(dir)) {
                say!("emulate: warning: {e}");
            }
        }
        while let Some(undo) = self.undo.pop() {
            let result = match &undo {
                Undo::SubtreeControl { dir, controller } => write(
                    &dir.join("cgroup.subtree_control"),
                    &format!("-{controller}"),
                ),
                Undo::MoveBack { leaf, back } => {
                    write(&back.join("cgroup.procs"), &std::process::id().to_string())
                        .and(rmdir(leaf))
                }
            };
            if let Err(e) = result {
                say!("emulate: warning: could not restore {undo:?}: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------- one run's cgroup

/// The limits as the kernel holds them after writing, read back.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Applied {
    /// `None`: no quota (a Lambda Managed Instances environment).
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: u64,
    pub cpus: Vec<u32>,
    pub cores_via: CoresVia,
    pub memory_limit_bytes: u64,
    /// Swap is limited with memory (`memsw` / `swap.max`), or kept out (swappiness 0), or "off".
    pub swap: &'static str,
}

/// What the kernel counted for one run's cgroup. A figure it could not read is null, with the
/// reason under `unavailable`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RunStats {
    pub peak_memory_bytes: Option<u64>,
    /// Processes of the run the OOM killer killed.
    pub oom_kills: Option<u64>,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
}

/// A cgroup (one directory per v1 hierarchy) holding one run; emptied and removed on drop.
#[derive(Debug)]
pub struct RunCgroup {
    version: CgroupVersion,
    cpu: PathBuf,
    memory: PathBuf,
    dirs: Vec<PathBuf>,
    pub applied: Applied,
    removed: bool,
}

impl RunCgroup {
    pub fn create(session: &Session, name: &str, plan: &Plan) -> Result<RunCgroup, String> {
        let cpu = session.cpu.join(name);
        let memory = session.memory.join(name);
        let cpuset = session.cpuset.as_ref().map(|d| d.join(name));
        let mut rc = RunCgroup {
            version: session.version,
            cpu: cpu.clone(),
            memory: memory.clone(),
            dirs: Vec::new(),
            applied: Applied {
                cpu_quota_us: None,
                cpu_period_us: 0,
                cpus: plan.cpus.clone(),
                cores_via: session.cores_via,
                memory_limit_bytes: 0,
                swap: "off",
            },
            removed: false,
        };
        let mut dirs = vec![cpu.clone(), memory.clone()];
        dirs.extend(cpuset.clone());
        unique(&mut dirs);
        for dir in dirs {
            std::fs::create_dir(&dir)
                .map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))?;
            // Owned from here: a failure below still removes it (drop).
            rc.dirs.push(dir);
        }
        let bytes = plan.memory_bytes();
        let number = |path: PathBuf| -> Result<u64, String> {
            let t = read(&path)?;
            t.trim()
                .parse()
                .map_err(|e| format!("{}: {t:?}: {e}", path.display()))
        };
        match session.version {
            CgroupVersion::V1 => {
                if let Some(p) = plan.period_us {
                    // The quota is still unlimited (-1) here, so any period is accepted.
                    write(&cpu.join("cpu.cfs_period_us"), &p.to_string())?;
                }
                let period = number(cpu.join("cpu.cfs_period_us"))?;
                // -1: no quota.
                let quota = plan.quota_us(period).map_or("-1".into(), |q| q.to_string());
                write(&cpu.join("cpu.cfs_quota_us"), &quota)?;
                rc.applied.cpu_period_us = number(cpu.join("cpu.cfs_period_us"))?;
                let back = read(&cpu.join("cpu.cfs_quota_us"))?;
                rc.applied.cpu_quota_us = match back.trim().parse::<i64>() {
                    Ok(q) if q < 0 => None,
                    Ok(q) => Some(q as u64),
                    Err(e) => return Err(format!("cpu.cfs_quota_us reads back {back:?}: {e}")),
                };
                write(&memory.join("memory.limit_in_bytes"), &bytes.to_string())?;
                if session.memsw {
                    // memsw may never be below the memory limit: set after it.
                    write(
                        &memory.join("memory.memsw.limit_in_bytes"),
                        &bytes.to_string(),
                    )?;
                    rc.applied.swap = "limited with memory (memory.memsw.limit_in_bytes)";
                } else if swap_on() {
                    write(&memory.join("memory.swappiness"), "0")?;
                    rc.applied.swap = "kept out (memory.swappiness 0)";
                }
                rc.applied.memory_limit_bytes = number(memory.join("memory.limit_in_bytes"))?;
                if let Some(dir) = &cpuset {
                    write(&dir.join("cpuset.cpus"), &format_cpu_list(&plan.cpus))?;
                    write(
                        &dir.join("cpuset.mems"),
                        session.mems.as_deref().unwrap_or("0"),
                    )?;
                    rc.applied.cpus = parse_cpu_list(&read(&dir.join("cpuset.cpus"))?)?;
                }
            }
            CgroupVersion::V2 => {
                let max = read(&cpu.join("cpu.max"))?;
                let period: u64 = match plan.period_us {
                    Some(p) => p,
                    None => max
                        .split_whitespace()
                        .nth(1)
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| {
                            format!("{}: {max:?} has no period", cpu.join("cpu.max").display())
                        })?,
                };
                let quota = plan
                    .quota_us(period)
                    .map_or("max".into(), |q| q.to_string());
                write(&cpu.join("cpu.max"), &format!("{quota} {period}"))?;
                let max = read(&cpu.join("cpu.max"))?;
                let (quota, period) = lambda_probe::host::cgroup::parse_cpu_max(&max)?;
                rc.applied.cpu_period_us = period;
                // "max": no quota, as asked for a Lambda Managed Instances environment only.
                if quota.is_none() && plan.quota_us(period).is_some() {
                    return Err(format!("cpu.max reads back {max:?}: no quota"));
                }
                rc.applied.cpu_quota_us = quota;
                write(&memory.join("memory.max"), &bytes.to_string())?;
                if session.memsw {
                    write(&memory.join("memory.swap.max"), "0")?;
                    rc.applied.swap = "none (memory.swap.max 0)";
                }
                rc.applied.memory_limit_bytes = number(memory.join("memory.max"))?;
                if let Some(dir) = &cpuset {
                    write(&dir.join("cpuset.cpus"), &format_cpu_list(&plan.cpus))?;
                    rc.applied.cpus = parse_cpu_list(&read(&dir.join("cpuset.cpus.effective"))?)?;
                }
            }
        }
        Ok(rc)
    }

    /// The `cgroup.procs` files a child writes itself into before it runs the probe.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    pub fn stats(&self) -> RunStats {
        let mut s = RunStats::default();
        let mut take = |field: &'static str, path: PathBuf, key: Option<&str>| -> Option<u64> {
            let text = match read(&path) {
                Ok(t) => t,
                Err(e) => {
                    s.unavailable.insert(field.to_string(), e);
                    return None;
                }
            };
            let v = match key {
                Some(k) => keyed(&text, k),
                None => text.trim().parse().ok(),
            };
            if v.is_none() {
                s.unavailable.insert(
                    field.to_string(),
                    format!(
                        "{}: no {} in {text:?}",
                        path.display(),
                        key.unwrap_or("number")
                    ),
                );
            }
            v
        };
        let (peak, oom, throttled) = match self.version {
            CgroupVersion::V1 => (
                take(
                    "peak_memory_bytes",
                    self.memory.join("memory.max_usage_in_bytes"),
                    None,
                ),
                take(
                    "oom_kills",
                    self.memory.join("memory.oom_control"),
                    Some("oom_kill"),
                ),
                take(
                    "throttled_ms",
                    self.cpu.join("cpu.stat"),
                    Some("throttled_time"),
                )
                .map(|ns| ns as f64 / 1e6),
            ),
            CgroupVersion::V2 => (
                take("peak_memory_bytes", self.memory.join("memory.peak"), None),
                take(
                    "oom_kills",
                    self.memory.join("memory.events"),
                    Some("oom_kill"),
                ),
                take(
                    "throttled_ms",
                    self.cpu.join("cpu.stat"),
                    Some("throttled_usec"),
                )
                .map(|us| us as f64 / 1e3),
            ),
        };
        let periods = take("nr_periods", self.cpu.join("cpu.stat"), Some("nr_periods"));
        let nr_throttled = take(
            "nr_throttled",
            self.cpu.join("cpu.stat"),
            Some("nr_throttled"),
        );
        s.peak_memory_bytes = peak;
        s.oom_kills = oom;
        s.nr_periods = periods;
        s.nr_throttled = nr_throttled;
        s.throttled_ms = throttled.map(|ms| lambda_probe::measure::stats::round(ms, 3));
        s
    }

    /// Kills what is left in the cgroup, then removes it.
    pub fn remove(&mut self) -> Result<(), String> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        let drained = drain(&self.dirs);
        let mut result = drained;
        for dir in &self.dirs {
            result = result.and(rmdir(dir));
        }
        result
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            say!("emulate: warning: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_mounted_hierarchies_count_once() {
        let mut v = vec!["cpu", "memory", "cpu"];
        unique(&mut v);
        assert_eq!(v, vec!["cpu", "memory"]);
    }

    #[test]
    fn v2_parent_and_controllers() {
        use V2Parent::*;
        assert_eq!(choose_v2_parent(false, &[42], 42, false), Evacuate);
        assert_eq!(choose_v2_parent(true, &[42], 42, true), Evacuate);
        assert_eq!(choose_v2_parent(false, &[1, 42], 42, true), Root);
        assert_eq!(choose_v2_parent(true, &[1, 42], 42, false), Root);
        assert_eq!(choose_v2_parent(false, &[1, 42], 42, false), Refuse);

        assert_eq!(
            v2_controllers("cpuset cpu io memory pids\n", "cpu memory\n").unwrap(),
            vec![("cpu", true), ("memory", true), ("cpuset", false)]
        );
        assert_eq!(
            v2_controllers("cpu memory", "").unwrap(),
            vec![("cpu", false), ("memory", false)]
        );
        let e = v2_controllers("memory pids", "").unwrap_err();
        assert!(e.contains("cpu controller"), "{e}");
    }
}
