//! The server's CPU time and memory, read from `/proc/<pid>` (Linux).
//!
//! CPU is `utime + stime` of `/proc/<pid>/stat` (all threads of the process), memory is `VmRSS`
//! of `/proc/<pid>/status`. Measuring the server from outside like this keeps the load
//! generator's own CPU out of the figures; nchan is measured as its master plus workers (the
//! children of the given pid). Read-only; nothing here signals a process.

use std::fs;
use std::io;

/// Clock ticks per second of the `stat` times: `USER_HZ`, which Linux fixes at 100 for
/// userspace on every architecture we run on (what `sysconf(_SC_CLK_TCK)` returns).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// One reading of one or several processes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User plus system CPU time so far, seconds.
    pub cpu_seconds: f64,
    /// Resident memory now, bytes.
    pub rss_bytes: u64,
}

impl Usage {
    /// Adds another process's reading.
    pub fn add(&mut self, other: Usage) {
        self.cpu_seconds += other.cpu_seconds;
        self.rss_bytes += other.rss_bytes;
    }
}

/// Reads the usage of process `pid`.
pub fn usage(pid: u32) -> io::Result<Usage> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let fields = stat_fields(&stat).ok_or_else(|| malformed("stat"))?;
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // Fields after the command name, 0-based from `state` (field 3 of proc(5)):
    // utime is field 14, stime field 15.
    let (utime, stime) = ticks(11)
        .zip(ticks(12))
        .ok_or_else(|| malformed("stat times"))?;
    Ok(Usage {
        cpu_seconds: (utime + stime) as f64 / CLOCK_TICKS_PER_SECOND,
        rss_bytes: status_kib(&status, "VmRSS:").unwrap_or(0) * 1024,
    })
}

/// The parent pid of `pid`.
pub fn parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat)?.get(1)?.parse().ok()
}

/// The pids whose parent is `pid` (nginx workers of a master).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&candidate| parent(candidate) == Some(pid))
        .collect();
    out.sort_unstable();
    out
}

/// A set of processes measured together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processes {
    pids: Vec<u32>,
}

impl Processes {
    /// The given pids, plus their children when `with_children` (found once, now).
    pub fn new(pids: &[u32], with_children: bool) -> Self {
        let mut all = pids.to_vec();
        if with_children {
            for &pid in pids {
                all.extend(children(pid));
            }
        }
        all.sort_unstable();
        all.dedup();
        Self { pids: all }
    }

    /// The measured pids.
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Whether there is nothing to measure.
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }

    /// The summed usage of every process still running (gone ones count 0).
    pub fn usage(&self) -> Option<Usage> {
        if self.pids.is_empty() {
            return None;
        }
        let mut total = Usage::default();
        for &pid in &self.pids {
            if let Ok(usage) = usage(pid) {
                total.add(usage);
            }
        }
        Some(total)
    }
}

/// The space-separated fields after `(comm)`; the command name may itself contain spaces and
/// parentheses, so split after the *last* `)`.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let close = stat.rfind(')')?;
    Some(stat[close + 1..].split_ascii_whitespace().collect())
}

/// A `Name:   N kB` line of `/proc/<pid>/status`.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed /proc {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = "1234 (tick cast) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 \
                    3 0 100 1000000 500 18446744073709551615";
        let fields = stat_fields(stat).unwrap();
        assert_eq!(fields[0], "S");
        assert_eq!(fields[1], "1");
        assert_eq!((fields[11], fields[12]), ("250", "50"));
        assert_eq!(
            status_kib("Name:\tx\nVmHWM:\t  900 kB\nVmRSS:\t  812 kB\n", "VmRSS:"),
            Some(812)
        );
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        // Burn a little CPU so the reading is not trivially zero on a fast machine.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let mine = usage(me).unwrap();
        assert!(mine.rss_bytes > 1024 * 1024, "{mine:?}");
        assert!(mine.cpu_seconds >= 0.0);
        assert!(parent(me).is_some());
        assert!(usage(u32::MAX).is_err());
        let processes = Processes::new(&[me], false);
        assert_eq!(processes.pids(), &[me]);
        assert!(processes.usage().unwrap().rss_bytes > 0);
        assert!(Processes::new(&[], true).usage().is_none());
    }
}
