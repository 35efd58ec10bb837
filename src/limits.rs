//! The memory limit of this process: what the system reports available
//! (MemAvailable in /proc/meminfo), or `--max-memory`. It is process-wide
//! because it is a property of the machine the command runs on, set once by
//! the binary. A leaf module: data readers and the run's estimate
//! (`guard`) both check against it.

use std::sync::OnceLock;

/// `--max-memory`, when given.
static LIMIT: OnceLock<u64> = OnceLock::new();

/// Sets the memory limit for this process (the binary calls it once).
pub fn set_memory_limit(bytes: Option<u64>) {
    if let Some(b) = bytes {
        let _ = LIMIT.set(b);
    }
}

/// The limit in bytes and where it came from; None when nothing is known.
pub fn memory_limit() -> Option<(u64, &'static str)> {
    if let Some(&b) = LIMIT.get() {
        return Some((b, "--max-memory"));
    }
    available_memory().map(|b| (b, "memory available (MemAvailable in /proc/meminfo)"))
}

/// MemAvailable from /proc/meminfo, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// "627.2 GB": decimal units, as `free -h` and `df -H` print them.
pub fn bytes(b: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_read_in_kib() {
        let text = "MemTotal: 100 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(parse_meminfo(text), Some(2048 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn byte_counts_read_like_df() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(627_200_000_000.0), "627.2 GB");
    }
}
