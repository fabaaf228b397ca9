//! The CPUs: which ones this process may run on, what they are, and the kernel's CPU lists.

use std::sync::OnceLock;

pub fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf takes a constant name and has no memory side effects.
    let v = unsafe { libc::sysconf(name) };
    (v > 0).then_some(v as u64)
}

pub fn page_size_bytes() -> u64 {
    sysconf(libc::_SC_PAGESIZE).unwrap_or(4096)
}

pub fn online_cores() -> Option<usize> {
    sysconf(libc::_SC_NPROCESSORS_ONLN).map(|n| n as usize)
}

/// What `std::thread::available_parallelism` says (it honours affinity and rounds a CFS quota
/// down).
pub fn visible_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The CPUs this process may run on (`sched_getaffinity`); empty when it cannot be read.
pub fn affinity_cpus() -> Vec<u32> {
    // SAFETY: an all-zero cpu_set_t is an empty set, a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; the kernel only writes into it.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `set` was filled in by sched_getaffinity; the index is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .map(|c| c as u32)
        .collect()
}

/// How many CPUs this process may run on; `None` when the affinity cannot be read.
pub fn affinity_cores() -> Option<usize> {
    let n = affinity_cpus().len();
    (n > 0).then_some(n)
}

/// The cores a workload may spread over, as Lambda shows them: the affinity set. Unlike
/// `available_parallelism` it does not round a CFS quota down (under a 1-vCPU quota on 2 cores,
/// Lambda at 1,769 MB, threads still land on 2 cores).
pub fn sandbox_cores() -> usize {
    affinity_cores().unwrap_or_else(visible_cores)
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let bad = || format!("not a CPU list: {text:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if b < a || b - a > 65_536 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

/// Writes CPUs as the kernel does, with ranges: `[0,1,2,5]` → `0-2,5`.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", cpus[i], cpus[j])
        } else {
            cpus[i].to_string()
        });
        i = j + 1;
    }
    out.join(",")
}

pub fn cpu_model() -> Option<String> {
    static MODEL: OnceLock<Option<String>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
            parse_cpu_model(&info)
        })
        .clone()
}

/// x86 names its model; Arm cores only give implementer and part numbers, so name the ones
/// Lambda runs on (Graviton2 = Neoverse N1, Graviton3 = V1, Graviton4 = V2).
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
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

/// The CPU features that matter to these workloads, as detected at run time.
#[cfg(target_arch = "x86_64")]
pub fn cpu_features() -> Vec<String> {
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
    f.into_iter().map(String::from).collect()
}

#[cfg(target_arch = "aarch64")]
pub fn cpu_features() -> Vec<String> {
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
    f.into_iter().map(String::from).collect()
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn cpu_features() -> Vec<String> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n").unwrap(),
            vec![0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("a-b").is_err());
        assert!(parse_cpu_list("3-1").is_err());
        assert_eq!(format_cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_cpu_list(&[4]), "4");
        assert_eq!(format_cpu_list(&[]), "");
    }

    #[test]
    fn cpu_models() {
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
    fn this_machine() {
        assert!(!affinity_cpus().is_empty());
        assert_eq!(affinity_cores(), Some(affinity_cpus().len()));
        assert!(page_size_bytes() >= 4096);
    }
}
