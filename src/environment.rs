//! What this sandbox is: architecture, cores, CPU, cgroup limits, memory, pages, kernel, and
//! where this invocation falls in the life of the process (cold start, invocation index).
//! Anything unreadable is `null` with a `…_unavailable` reason, never a made-up value.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

struct Process {
    started: Instant,
    sandbox_id: String,
}

static PROCESS: OnceLock<Process> = OnceLock::new();
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);
static INIT_MS: OnceLock<f64> = OnceLock::new();

fn process() -> &'static Process {
    PROCESS.get_or_init(|| Process {
        started: Instant::now(),
        sandbox_id: random_id(),
    })
}

/// Called first thing in `main`, so `init_ms` spans process start → first invocation.
pub fn mark_process_start() {
    process();
}

/// 16 hex digits from the kernel's RNG: tells sandboxes apart in merged results.
fn random_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        // Fall back on the process id and the clock: still unique enough to tell runs apart.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        bytes = (t ^ ((std::process::id() as u64) << 32)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where this invocation falls in the life of the process.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Invocation {
    /// 1 for the first invocation this process serves.
    pub invocation_index: u64,
    pub cold_start: bool,
    /// Process start → first invocation, in ms (the same value on every invocation).
    pub init_ms: f64,
}

/// Counts this invocation; call once at the top of every invocation.
pub fn begin_invocation() -> Invocation {
    let p = process();
    let index = INVOCATIONS.fetch_add(1, Ordering::SeqCst) + 1;
    let init_ms = *INIT_MS.get_or_init(|| p.started.elapsed().as_secs_f64() * 1000.0);
    Invocation {
        invocation_index: index,
        cold_start: index == 1,
        init_ms: crate::measure::stats::round(init_ms, 3),
    }
}

/// This process's sandbox id (as in `environment.sandbox_id`).
pub fn sandbox_id() -> &'static str {
    &process().sandbox_id
}

/// The index of the invocation in progress (the count [`begin_invocation`] has reached).
pub fn invocation_index() -> u64 {
    INVOCATIONS.load(Ordering::SeqCst)
}

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub arch: &'static str,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; null outside Lambda.
    pub memory_mb: Option<u64>,
    /// What `std::thread::available_parallelism` says (it honours affinity and cgroup quota).
    pub visible_cores: usize,
    /// Cores online in the kernel (`_SC_NPROCESSORS_ONLN`).
    pub online_cores: Option<usize>,
    /// Cores this process may run on (`sched_getaffinity`).
    pub affinity_cores: Option<usize>,
    pub cpu_model: Option<String>,
    /// The CPU features that matter to these workloads, as detected at run time.
    pub cpu_features: Vec<&'static str>,
    #[serde(flatten)]
    pub cgroup: CgroupLimits,
    pub page_size_bytes: u64,
    pub thp_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thp_mode_unavailable: Option<String>,
    pub kernel_release: Option<String>,
    pub function_name: Option<String>,
    pub function_version: Option<String>,
    pub sandbox_id: String,
    #[serde(flatten)]
    pub invocation: Invocation,
    /// Steal and throttling over this invocation's run.
    pub during_run: RunCounters,
}

/// Takes the environment snapshot for one invocation.
pub fn snapshot(invocation: Invocation, during_run: RunCounters) -> Environment {
    let thp = read_thp_mode();
    Environment {
        arch: std::env::consts::ARCH,
        memory_mb: lambda_memory_mb(),
        visible_cores: visible_cores(),
        online_cores: sysconf(libc::_SC_NPROCESSORS_ONLN).map(|n| n as usize),
        affinity_cores: affinity_cores(),
        cpu_model: cpu_model().clone(),
        cpu_features: cpu_features(),
        cgroup: CgroupLimits::read(),
        page_size_bytes: page_size_bytes(),
        thp_mode: thp.as_ref().ok().cloned(),
        thp_mode_unavailable: thp.err(),
        kernel_release: read_trimmed("/proc/sys/kernel/osrelease"),
        function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        function_version: std::env::var("AWS_LAMBDA_FUNCTION_VERSION").ok(),
        sandbox_id: process().sandbox_id.clone(),
        invocation,
        during_run,
    }
}

pub fn lambda_memory_mb() -> Option<u64> {
    std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

pub fn visible_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

pub fn page_size_bytes() -> u64 {
    sysconf(libc::_SC_PAGESIZE).unwrap_or(4096)
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf takes a constant name and has no memory side effects.
    let v = unsafe { libc::sysconf(name) };
    (v > 0).then_some(v as u64)
}

/// The cores a workload may spread over, as Lambda shows them: the affinity set. Unlike
/// `available_parallelism` it does not round a CFS quota down (under a 1-vCPU quota on 2 cores,
/// Lambda at 1,769 MB, threads still land on 2 cores).
pub fn sandbox_cores() -> usize {
    affinity_cores().unwrap_or_else(visible_cores)
}

fn affinity_cores() -> Option<usize> {
    // SAFETY: an all-zero cpu_set_t is an empty set, a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; the kernel only writes into it.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    // SAFETY: `set` was filled in by sched_getaffinity above.
    Some(unsafe { libc::CPU_COUNT(&set) } as usize)
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The bracketed word of `/sys/kernel/mm/transparent_hugepage/enabled`.
fn read_thp_mode() -> Result<String, String> {
    let path = "/sys/kernel/mm/transparent_hugepage/enabled";
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    parse_bracketed(&text).ok_or_else(|| format!("{path}: no [selected] mode in {text:?}"))
}

fn parse_bracketed(text: &str) -> Option<String> {
    let start = text.find('[')?;
    let end = text[start..].find(']')? + start;
    Some(text[start + 1..end].to_string())
}

fn cpu_model() -> &'static Option<String> {
    static MODEL: OnceLock<Option<String>> = OnceLock::new();
    MODEL.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        parse_cpu_model(&info)
    })
}

/// x86 names its model; Arm cores only give implementer and part numbers, so name the ones
/// Lambda runs on (Graviton2 = Neoverse N1, Graviton3 = V1, Graviton4 = V2).
fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    if let Some(m) = field("model name") {
        return Some(m);
    }
    let part = field("CPU part")?;
    let implementer = field("CPU implementer").unwrap_or_default();
    let known = match (implementer.as_str(), part.as_str()) {
        ("0x41", "0xd0c") => Some("Neoverse-N1 (Graviton2)"),
        ("0x41", "0xd40") => Some("Neoverse-V1 (Graviton3)"),
        ("0x41", "0xd4f") => Some("Neoverse-V2 (Graviton4)"),
        _ => None,
    };
    Some(match known {
        Some(k) => k.to_string(),
        None => format!("Arm implementer {implementer} part {part}"),
    })
}

#[cfg(target_arch = "x86_64")]
fn cpu_features() -> Vec<&'static str> {
    let mut f = Vec::new();
    if std::arch::is_x86_feature_detected!("sha") {
        f.push("sha_ni");
    }
    if std::arch::is_x86_feature_detected!("avx2") {
        f.push("avx2");
    }
    if std::arch::is_x86_feature_detected!("avx512f") {
        f.push("avx512f");
    }
    if std::arch::is_x86_feature_detected!("aes") {
        f.push("aes");
    }
    f
}

#[cfg(target_arch = "aarch64")]
fn cpu_features() -> Vec<&'static str> {
    let mut f = Vec::new();
    if std::arch::is_aarch64_feature_detected!("neon") {
        f.push("neon");
    }
    if std::arch::is_aarch64_feature_detected!("sha2") {
        f.push("sha2");
    }
    if std::arch::is_aarch64_feature_detected!("sha3") {
        f.push("sha512");
    }
    if std::arch::is_aarch64_feature_detected!("sve") {
        f.push("sve");
    }
    if std::arch::is_aarch64_feature_detected!("aes") {
        f.push("aes");
    }
    f
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_features() -> Vec<&'static str> {
    Vec::new()
}

// ---------------------------------------------------------------- cgroups

/// Which cgroup hierarchy a controller was read from.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    V1,
    V2,
}

/// The directory of this process's cgroup for one controller, and which hierarchy it is in.
#[derive(Clone, Debug, PartialEq)]
pub struct CgroupDir {
    pub version: CgroupVersion,
    pub path: std::path::PathBuf,
}

/// Finds this process's cgroup directory for `controller` ("cpu", "memory"): v1 first (its
/// hierarchy holds the limits where both exist), then v2 if it has that controller enabled.
pub fn cgroup_dir(controller: &str) -> Result<CgroupDir, String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let membership = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    find_cgroup_dir(&mounts, &membership, controller, |p| p.exists())
}

fn find_cgroup_dir(
    mountinfo: &str,
    proc_cgroup: &str,
    controller: &str,
    exists: impl Fn(&std::path::Path) -> bool,
) -> Result<CgroupDir, String> {
    // mountinfo: id parent major:minor root mountpoint opts [optional…] - fstype source superopts
    let mounts: Vec<(String, String, String, String)> = mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            Some((
                pre.get(3)?.to_string(),
                pre.get(4)?.to_string(),
                post.first()?.to_string(),
                post.get(2).unwrap_or(&"").to_string(),
            ))
        })
        .collect();
    let under = |mount_root: &str, mount_point: &str, cg_path: &str| {
        let rel = cg_path.strip_prefix(mount_root).unwrap_or(cg_path);
        std::path::Path::new(mount_point).join(rel.trim_start_matches('/'))
    };
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.split(',').any(|c| c == controller) {
            let mount = mounts.iter().find(|(_, _, fs, opts)| {
                fs == "cgroup" && opts.split(',').any(|o| o == controller)
            });
            if let Some((root, point, _, _)) = mount {
                let dir = under(root, point, path);
                if exists(&dir) {
                    return Ok(CgroupDir {
                        version: CgroupVersion::V1,
                        path: dir,
                    });
                }
            }
        }
    }
    let v2_path = proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| {
            format!("no cgroup v1 `{controller}` controller and no cgroup v2 membership")
        })?;
    let (root, point, _, _) = mounts
        .iter()
        .find(|(_, _, fs, _)| fs == "cgroup2")
        .ok_or_else(|| "cgroup v2 is not mounted".to_string())?;
    let dir = under(root, point, v2_path);
    let probe = match controller {
        "cpu" => "cpu.max",
        "memory" => "memory.max",
        other => other,
    };
    if exists(&dir.join(probe)) {
        Ok(CgroupDir {
            version: CgroupVersion::V2,
            path: dir,
        })
    } else {
        Err(format!(
            "no cgroup v1 `{controller}` controller, and the cgroup v2 `{controller}` controller is not enabled for {}",
            dir.display()
        ))
    }
}

/// The CPU quota and memory limit of this process's cgroup.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CgroupLimits {
    pub cpu_cgroup: Option<CgroupVersion>,
    /// Quota ÷ period: the vCPUs' worth of time the cgroup may use per second.
    pub cpu_quota_vcpu: Option<f64>,
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota_unavailable: Option<String>,
    pub memory_cgroup: Option<CgroupVersion>,
    pub memory_limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit_unavailable: Option<String>,
}

/// v1 reports "no limit" as a huge page-rounded number.
const V1_UNLIMITED_BYTES: u64 = 1 << 60;

impl CgroupLimits {
    pub fn read() -> Self {
        let mut out = CgroupLimits {
            cpu_cgroup: None,
            cpu_quota_vcpu: None,
            cpu_quota_us: None,
            cpu_period_us: None,
            cpu_quota_unavailable: None,
            memory_cgroup: None,
            memory_limit_bytes: None,
            memory_limit_unavailable: None,
        };
        match cgroup_dir("cpu").and_then(|d| read_cpu_quota(&d).map(|q| (d.version, q))) {
            Ok((version, (quota, period))) => {
                out.cpu_cgroup = Some(version);
                out.cpu_period_us = Some(period);
                match quota {
                    Some(q) => {
                        out.cpu_quota_us = Some(q);
                        out.cpu_quota_vcpu =
                            Some(crate::measure::stats::round(q as f64 / period as f64, 4));
                    }
                    None => out.cpu_quota_unavailable = Some("no quota set (unlimited)".into()),
                }
            }
            Err(e) => out.cpu_quota_unavailable = Some(e),
        }
        match cgroup_dir("memory").and_then(|d| read_memory_limit(&d).map(|m| (d.version, m))) {
            Ok((version, limit)) => {
                out.memory_cgroup = Some(version);
                match limit {
                    Some(b) => out.memory_limit_bytes = Some(b),
                    None => out.memory_limit_unavailable = Some("no limit set (unlimited)".into()),
                }
            }
            Err(e) => out.memory_limit_unavailable = Some(e),
        }
        out
    }
}

fn read_file(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// (quota µs or None when unlimited, period µs).
fn read_cpu_quota(dir: &CgroupDir) -> Result<(Option<u64>, u64), String> {
    match dir.version {
        CgroupVersion::V1 => {
            let quota = read_file(&dir.path.join("cpu.cfs_quota_us"))?;
            let period = read_file(&dir.path.join("cpu.cfs_period_us"))?;
            let period: u64 = period
                .trim()
                .parse()
                .map_err(|e| format!("cpu.cfs_period_us: {e}"))?;
            let quota: i64 = quota
                .trim()
                .parse()
                .map_err(|e| format!("cpu.cfs_quota_us: {e}"))?;
            Ok(((quota > 0).then_some(quota as u64), period))
        }
        CgroupVersion::V2 => {
            let text = read_file(&dir.path.join("cpu.max"))?;
            let mut it = text.split_whitespace();
            let quota = it.next().unwrap_or("max");
            let period: u64 = it
                .next()
                .unwrap_or("100000")
                .parse()
                .map_err(|e| format!("cpu.max period: {e}"))?;
            let quota = match quota {
                "max" => None,
                q => Some(q.parse().map_err(|e| format!("cpu.max quota: {e}"))?),
            };
            Ok((quota, period))
        }
    }
}

fn read_memory_limit(dir: &CgroupDir) -> Result<Option<u64>, String> {
    let file = match dir.version {
        CgroupVersion::V1 => "memory.limit_in_bytes",
        CgroupVersion::V2 => "memory.max",
    };
    let text = read_file(&dir.path.join(file))?;
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    let bytes: u64 = text.parse().map_err(|e| format!("{file}: {e}"))?;
    Ok((bytes < V1_UNLIMITED_BYTES).then_some(bytes))
}

// ---------------------------------------------------------------- counters over a run

/// Steal time and cgroup throttling over one invocation's run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunCounters {
    /// Time the hypervisor ran something else while this VM wanted the CPU (all CPUs).
    pub steal_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steal_unavailable: Option<String>,
    /// CFS periods in which the cgroup hit its quota, and the time it spent throttled.
    pub nr_throttled: Option<u64>,
    pub throttled_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttling_unavailable: Option<String>,
}

/// Readings taken before the run, closed by [`RunCountersStart::finish`].
pub struct RunCountersStart {
    steal: Result<u64, String>,
    throttle: Result<(u64, f64), String>,
}

impl RunCountersStart {
    pub fn now() -> Self {
        Self {
            steal: read_steal_ticks(),
            throttle: read_throttling(),
        }
    }

    pub fn finish(self) -> RunCounters {
        let ticks_per_s = sysconf(libc::_SC_CLK_TCK).unwrap_or(100) as f64;
        let (steal_ms, steal_unavailable) = match (self.steal, read_steal_ticks()) {
            (Ok(a), Ok(b)) => (
                Some(b.saturating_sub(a) as f64 * 1000.0 / ticks_per_s),
                None,
            ),
            (Err(e), _) | (_, Err(e)) => (None, Some(e)),
        };
        let (nr_throttled, throttled_ms, throttling_unavailable) =
            match (self.throttle, read_throttling()) {
                (Ok((n0, t0)), Ok((n1, t1))) => (
                    Some(n1.saturating_sub(n0)),
                    Some(crate::measure::stats::round((t1 - t0).max(0.0), 3)),
                    None,
                ),
                (Err(e), _) | (_, Err(e)) => (None, None, Some(e)),
            };
        RunCounters {
            steal_ms,
            steal_unavailable,
            nr_throttled,
            throttled_ms,
            throttling_unavailable,
        }
    }
}

/// The steal column of the aggregate `cpu` line of /proc/stat, in clock ticks.
fn read_steal_ticks() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    parse_steal_ticks(&text).ok_or_else(|| "/proc/stat: no steal column on the cpu line".into())
}

fn parse_steal_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

/// (nr_throttled, throttled time in ms) from the cpu cgroup's cpu.stat.
fn read_throttling() -> Result<(u64, f64), String> {
    let dir = cgroup_dir("cpu")?;
    let text = read_file(&dir.path.join("cpu.stat"))?;
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse::<u64>().ok()).flatten()
        })
    };
    let nr = field("nr_throttled").ok_or("cpu.stat has no nr_throttled")?;
    let ms = match dir.version {
        CgroupVersion::V1 => field("throttled_time").map(|ns| ns as f64 / 1e6),
        CgroupVersion::V2 => field("throttled_usec").map(|us| us as f64 / 1e3),
    }
    .ok_or("cpu.stat has no throttled time")?;
    Ok((nr, ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn invocation_index_counts_and_only_the_first_is_cold() {
        // Other tests in this binary may invoke too: check relative order, not absolute values.
        let a = begin_invocation();
        let b = begin_invocation();
        assert_eq!(b.invocation_index, a.invocation_index + 1);
        assert!(!b.cold_start);
        assert_eq!(a.init_ms, b.init_ms);
    }

    #[test]
    fn finds_v1_controller_under_its_mount() {
        let mountinfo =
            "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:1 - cgroup cgroup rw,cpu\n\
                         31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                         32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let membership = "4:memory:/probe\n3:cpu:/probe/run1\n0::/\n";
        let d = find_cgroup_dir(mountinfo, membership, "cpu", |_| true).unwrap();
        assert_eq!(d.version, CgroupVersion::V1);
        assert_eq!(d.path, Path::new("/sys/fs/cgroup/cpu/probe/run1"));
        let m = find_cgroup_dir(mountinfo, membership, "memory", |_| true).unwrap();
        assert_eq!(m.path, Path::new("/sys/fs/cgroup/memory/probe"));
    }

    #[test]
    fn falls_back_to_v2_only_when_its_controller_is_enabled() {
        let mountinfo = "32 25 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let membership = "0::/user.slice/probe\n";
        let d = find_cgroup_dir(mountinfo, membership, "cpu", |_| true).unwrap();
        assert_eq!(d.version, CgroupVersion::V2);
        assert_eq!(d.path, Path::new("/sys/fs/cgroup/user.slice/probe"));
        let e = find_cgroup_dir(mountinfo, membership, "cpu", |_| false).unwrap_err();
        assert!(e.contains("not enabled"), "{e}");
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_bracketed("always [madvise] never\n").as_deref(),
            Some("madvise")
        );
        assert_eq!(
            parse_steal_ticks("cpu  10 0 20 300 4 0 1 77 0 0\ncpu0 1 2 3\n"),
            Some(77)
        );
        assert_eq!(
            parse_cpu_model("processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd40\n")
                .as_deref(),
            Some("Neoverse-V1 (Graviton3)")
        );
        assert_eq!(
            parse_cpu_model("model name\t: Some CPU @ 2GHz\n").as_deref(),
            Some("Some CPU @ 2GHz")
        );
    }

    #[test]
    fn snapshot_reads_this_machine() {
        let env = snapshot(begin_invocation(), RunCountersStart::now().finish());
        assert!(env.visible_cores >= 1);
        assert!(env.page_size_bytes >= 4096);
        assert_eq!(env.sandbox_id.len(), 16);
        assert!(env.affinity_cores.unwrap() >= 1);
        // A null figure always comes with its reason.
        assert_eq!(
            env.cgroup.cpu_quota_vcpu.is_none(),
            env.cgroup.cpu_quota_unavailable.is_some()
        );
        assert_eq!(
            env.cgroup.memory_limit_bytes.is_none(),
            env.cgroup.memory_limit_unavailable.is_some()
        );
        assert_eq!(
            env.during_run.steal_ms.is_none(),
            env.during_run.steal_unavailable.is_some()
        );
    }
}
