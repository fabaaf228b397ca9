//! cgroups, read once for both users: the probe (what limits this sandbox: the CPU quota, the
//! memory limit, throttling) and `emulate` (where to create the cgroups that impose Lambda's
//! limits). v1 has one hierarchy per controller; v2 one tree whose controllers are handed down
//! through `cgroup.subtree_control`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which cgroup hierarchy a controller was read from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    V1,
    V2,
}

impl CgroupVersion {
    pub fn name(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        }
    }
}

impl std::fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// v1 reports "no limit" as a huge page-rounded number.
pub const V1_UNLIMITED_BYTES: u64 = 1 << 60;

// ---------------------------------------------------------------- where this process is

/// One line of `/proc/self/mountinfo`, the parts that locate a cgroup hierarchy.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    /// The path inside the hierarchy that is mounted (a container sees its own cgroup as `/`).
    pub root: String,
    pub point: String,
    pub fstype: String,
    pub superopts: String,
}

pub fn parse_mounts(mountinfo: &str) -> Vec<Mount> {
    // id parent major:minor root mountpoint opts [optional…] - fstype source superopts
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            Some(Mount {
                root: pre.get(3)?.to_string(),
                point: pre.get(4)?.to_string(),
                fstype: post.first()?.to_string(),
                superopts: post.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// `cg_path` (from /proc/self/cgroup) under a mount; `None` when the path is outside what the
/// mount shows.
fn under(m: &Mount, cg_path: &str) -> Option<PathBuf> {
    let rel = if m.root == "/" {
        cg_path
    } else {
        let rest = cg_path.strip_prefix(m.root.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    };
    Some(Path::new(&m.point).join(rel.trim_start_matches('/')))
}

/// This process's directory in the v1 hierarchy of `controller`, if that controller is on v1.
fn v1_dir(mounts: &[Mount], proc_cgroup: &str, controller: &str) -> Option<PathBuf> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if !ctrls.split(',').any(|c| c == controller) {
            return None;
        }
        mounts
            .iter()
            .filter(|m| m.fstype == "cgroup" && m.superopts.split(',').any(|o| o == controller))
            .find_map(|m| under(m, path))
    })
}

/// This process's own cgroup directories, as the hierarchy is mounted here.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// Own directory in each v1 hierarchy (the same path twice when co-mounted).
    V1 {
        cpu: PathBuf,
        memory: PathBuf,
        cpuset: Option<PathBuf>,
    },
    /// The v2 mount (the root of this namespace's tree) and the own directory under it.
    V2 { root: PathBuf, own: PathBuf },
}

/// Reads `/proc/self/mountinfo` and `/proc/self/cgroup`.
fn proc_self() -> Result<(String, String), String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let membership = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    Ok((mountinfo, membership))
}

/// Where this process sits, for creating cgroups under it (both cpu and memory on v1, or v2).
pub fn layout() -> Result<Layout, String> {
    let (mountinfo, membership) = proc_self()?;
    parse_layout(&mountinfo, &membership)
}

pub fn parse_layout(mountinfo: &str, proc_cgroup: &str) -> Result<Layout, String> {
    let mounts = parse_mounts(mountinfo);
    let v1 = |c: &str| v1_dir(&mounts, proc_cgroup, c);
    match (v1("cpu"), v1("memory")) {
        (Some(cpu), Some(memory)) => {
            return Ok(Layout::V1 {
                cpu,
                memory,
                cpuset: v1("cpuset"),
            })
        }
        (None, None) => {}
        (cpu, _) => {
            return Err(format!(
                "the {} controller is on cgroup v1 but the {} controller is not: mixed hierarchies are not supported",
                if cpu.is_some() { "cpu" } else { "memory" },
                if cpu.is_some() { "memory" } else { "cpu" },
            ))
        }
    }
    let (root, own) = v2_dirs(&mounts, proc_cgroup)?;
    Ok(Layout::V2 { root, own })
}

/// The v2 mount point and this process's directory under it.
fn v2_dirs(mounts: &[Mount], proc_cgroup: &str) -> Result<(PathBuf, PathBuf), String> {
    let path = proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("no cgroup v1 controller and no cgroup v2 membership in /proc/self/cgroup")?;
    let mount = mounts
        .iter()
        .find(|m| m.fstype == "cgroup2")
        .ok_or("no cgroup v1 controller, and cgroup v2 is not mounted")?;
    let own = under(mount, path)
        .ok_or_else(|| format!("this process's cgroup {path} is outside the cgroup2 mount"))?;
    Ok((PathBuf::from(&mount.point), own))
}

/// The directory of this process's cgroup for one controller, and which hierarchy it is in.
#[derive(Clone, Debug, PartialEq)]
pub struct CgroupDir {
    pub version: CgroupVersion,
    pub path: PathBuf,
}

/// Finds this process's cgroup directory for `controller` ("cpu", "memory"): v1 first (its
/// hierarchy holds the limits where both exist), then v2 if it has that controller enabled.
pub fn controller_dir(controller: &str) -> Result<CgroupDir, String> {
    let (mountinfo, membership) = proc_self()?;
    find_controller_dir(&mountinfo, &membership, controller, |p| p.exists())
}

pub fn find_controller_dir(
    mountinfo: &str,
    proc_cgroup: &str,
    controller: &str,
    exists: impl Fn(&Path) -> bool,
) -> Result<CgroupDir, String> {
    let mounts = parse_mounts(mountinfo);
    if let Some(dir) = v1_dir(&mounts, proc_cgroup, controller).filter(|d| exists(d)) {
        return Ok(CgroupDir {
            version: CgroupVersion::V1,
            path: dir,
        });
    }
    let (_, dir) = v2_dirs(&mounts, proc_cgroup)
        .map_err(|e| format!("no cgroup v1 `{controller}` controller; {e}"))?;
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

// ---------------------------------------------------------------- reading the files

pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The number after `key` on a `key value` line (cpu.stat, memory.events, memory.oom_control,
/// /proc/meminfo without its unit).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once([' ', ':'])?;
        (k == key).then(|| v.trim().trim_end_matches("kB").trim().parse().ok())?
    })
}

/// The CPU quota: (quota µs, or `None` when unlimited; period µs).
pub fn read_cpu_max(dir: &CgroupDir) -> Result<(Option<u64>, u64), String> {
    match dir.version {
        CgroupVersion::V1 => {
            let quota = read(&dir.path.join("cpu.cfs_quota_us"))?;
            let period = read(&dir.path.join("cpu.cfs_period_us"))?;
            let period: u64 = period
                .trim()
                .parse()
                .map_err(|e| format!("cpu.cfs_period_us {period:?}: {e}"))?;
            let quota: i64 = quota
                .trim()
                .parse()
                .map_err(|e| format!("cpu.cfs_quota_us {quota:?}: {e}"))?;
            Ok(((quota > 0).then_some(quota as u64), period))
        }
        CgroupVersion::V2 => parse_cpu_max(&read(&dir.path.join("cpu.max"))?),
    }
}

/// v2's `cpu.max`: `max 100000` or `50000 100000`.
pub fn parse_cpu_max(text: &str) -> Result<(Option<u64>, u64), String> {
    let mut it = text.split_whitespace();
    let quota = it.next().unwrap_or("max");
    let period: u64 = it
        .next()
        .unwrap_or("100000")
        .parse()
        .map_err(|e| format!("cpu.max {text:?}: period: {e}"))?;
    let quota = match quota {
        "max" => None,
        q => Some(
            q.parse()
                .map_err(|e| format!("cpu.max {text:?}: quota: {e}"))?,
        ),
    };
    Ok((quota, period))
}

/// The memory limit in bytes, `None` when unlimited.
pub fn read_memory_limit(dir: &CgroupDir) -> Result<Option<u64>, String> {
    let file = match dir.version {
        CgroupVersion::V1 => "memory.limit_in_bytes",
        CgroupVersion::V2 => "memory.max",
    };
    let text = read(&dir.path.join(file))?;
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    let bytes: u64 = text.parse().map_err(|e| format!("{file} {text:?}: {e}"))?;
    Ok((bytes < V1_UNLIMITED_BYTES).then_some(bytes))
}

/// CFS periods, throttled periods and time spent throttled (ms), from a cgroup's `cpu.stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Throttling {
    pub nr_periods: u64,
    pub nr_throttled: u64,
    pub throttled_ms: f64,
}

pub fn read_throttling(dir: &CgroupDir) -> Result<Throttling, String> {
    parse_throttling(dir.version, &read(&dir.path.join("cpu.stat"))?)
}

pub fn parse_throttling(version: CgroupVersion, cpu_stat: &str) -> Result<Throttling, String> {
    let nr_throttled = keyed(cpu_stat, "nr_throttled").ok_or("cpu.stat has no nr_throttled")?;
    let nr_periods = keyed(cpu_stat, "nr_periods").ok_or("cpu.stat has no nr_periods")?;
    let throttled_ms = match version {
        CgroupVersion::V1 => keyed(cpu_stat, "throttled_time").map(|ns| ns as f64 / 1e6),
        CgroupVersion::V2 => keyed(cpu_stat, "throttled_usec").map(|us| us as f64 / 1e3),
    }
    .ok_or("cpu.stat has no throttled time")?;
    Ok(Throttling {
        nr_periods,
        nr_throttled,
        throttled_ms,
    })
}

/// The CPU quota and memory limit of this process's cgroup.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct CgroupLimits {
    pub cpu_cgroup: Option<CgroupVersion>,
    /// Quota ÷ period: the vCPUs' worth of time the cgroup may use per second.
    pub cpu_quota_vcpu: Option<f64>,
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota_unavailable: Option<String>,
    pub memory_cgroup: Option<CgroupVersion>,
    pub memory_limit_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_unavailable: Option<String>,
}

impl CgroupLimits {
    pub fn read() -> Self {
        let mut out = CgroupLimits::default();
        match controller_dir("cpu").and_then(|d| read_cpu_max(&d).map(|q| (d.version, q))) {
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
        match controller_dir("memory").and_then(|d| read_memory_limit(&d).map(|m| (d.version, m))) {
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

// ---------------------------------------------------------------- the machine's memory

/// `MemTotal` from /proc/meminfo.
pub fn memory_total_bytes() -> Option<u64> {
    meminfo("MemTotal")
}

/// `MemAvailable` from /proc/meminfo.
pub fn memory_available_bytes() -> Option<u64> {
    meminfo("MemAvailable")
}

fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    keyed(&text, key).map(|kib| kib * 1024)
}

/// True when some swap device is active (/proc/swaps has more than its header).
pub fn swap_on() -> bool {
    std::fs::read_to_string("/proc/swaps")
        .map(|t| t.lines().skip(1).any(|l| !l.trim().is_empty()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_layout_per_controller() {
        let membership = "4:memory:/box/a\n3:cpuset:/\n2:cpu,cpuacct:/box\n0::/\n";
        let l = parse_layout(V1_MOUNTS, membership).unwrap();
        assert_eq!(
            l,
            Layout::V1 {
                cpu: "/sys/fs/cgroup/cpu,cpuacct/box".into(),
                memory: "/sys/fs/cgroup/memory/box/a".into(),
                cpuset: Some("/sys/fs/cgroup/cpuset/".into()),
            }
        );
        let d = find_controller_dir(V1_MOUNTS, membership, "cpu", |_| true).unwrap();
        assert_eq!(d.version, CgroupVersion::V1);
        assert_eq!(d.path, Path::new("/sys/fs/cgroup/cpu,cpuacct/box"));
    }

    #[test]
    fn v1_without_cpuset_and_under_a_container_root() {
        // A container sees its own cgroup as the root of the mount.
        let mounts = "\
1 0 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
2 0 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let membership = "2:memory:/docker/abc\n1:cpu:/docker/abc/x\n";
        let l = parse_layout(mounts, membership).unwrap();
        assert_eq!(
            l,
            Layout::V1 {
                cpu: "/sys/fs/cgroup/cpu/x".into(),
                memory: "/sys/fs/cgroup/memory/".into(),
                cpuset: None,
            }
        );
    }

    #[test]
    fn v2_layout_controllers_and_mixed_refusal() {
        let mounts = "32 25 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let l = parse_layout(mounts, "0::/user.slice/session-2.scope\n").unwrap();
        assert_eq!(
            l,
            Layout::V2 {
                root: "/sys/fs/cgroup".into(),
                own: "/sys/fs/cgroup/user.slice/session-2.scope".into(),
            }
        );
        let d = find_controller_dir(mounts, "0::/user.slice/probe\n", "cpu", |_| true).unwrap();
        assert_eq!(d.version, CgroupVersion::V2);
        assert_eq!(d.path, Path::new("/sys/fs/cgroup/user.slice/probe"));
        let e =
            find_controller_dir(mounts, "0::/user.slice/probe\n", "cpu", |_| false).unwrap_err();
        assert!(e.contains("not enabled"), "{e}");
        let e = parse_layout(V1_MOUNTS, "2:cpu,cpuacct:/\n0::/\n").unwrap_err();
        assert!(e.contains("mixed"), "{e}");
        assert!(parse_layout("", "").is_err());
    }

    #[test]
    fn stat_files() {
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed(oom, "oom_kill"), Some(2));
        assert_eq!(keyed(oom, "oom"), None);
        assert_eq!(
            keyed(
                "MemTotal:       24600000 kB\nMemAvailable:   2048 kB\n",
                "MemAvailable"
            ),
            Some(2048)
        );
        let v1 = "nr_periods 40\nnr_throttled 10\nthrottled_time 5000000\n";
        assert_eq!(
            parse_throttling(CgroupVersion::V1, v1).unwrap(),
            Throttling {
                nr_periods: 40,
                nr_throttled: 10,
                throttled_ms: 5.0
            }
        );
        let v2 = "usage_usec 9\nnr_periods 4\nnr_throttled 1\nthrottled_usec 2500\n";
        assert_eq!(
            parse_throttling(CgroupVersion::V2, v2)
                .unwrap()
                .throttled_ms,
            2.5
        );
        assert!(parse_throttling(CgroupVersion::V2, "usage_usec 9\n").is_err());
        assert_eq!(parse_cpu_max("max 100000\n").unwrap(), (None, 100_000));
        assert_eq!(
            parse_cpu_max("50000 20000\n").unwrap(),
            (Some(50_000), 20_000)
        );
        assert!(parse_cpu_max("x 1").is_err());
    }
}
