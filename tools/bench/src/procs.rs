//! CPU time and memory of the processes under test, read from `/proc`.
//!
//! The processes are found through the data folder of `deploy/local/run`:
//! every `run/*.pid` (the product's processes, one file each), PostgreSQL's
//! `postgres/postmaster.pid` (the postmaster and all its children: every
//! backend's CPU counts, and exited ones through the postmaster's
//! `cutime`/`cstime`) and Redis's `redis/redis.pid`. The bench's own CPU is
//! reported beside them, so a reader can tell how much of the machine the
//! load itself took.

use std::{collections::BTreeMap, fs, path::Path};

/// Clock ticks per second of `/proc/*/stat` (`CLK_TCK`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// One named group of processes (e.g. `gateway`, `postgres`).
#[derive(Debug, Clone)]
struct Group {
    name: String,
    /// A process whose children count too (PostgreSQL's postmaster).
    with_children: bool,
    pid: u32,
}

/// CPU seconds and resident memory of each group at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    pub cpu: BTreeMap<String, f64>,
    pub rss_kib: BTreeMap<String, u64>,
}

/// The processes to account for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Processes {
    groups: Vec<Group>,
}

impl Processes {
    /// Finds the processes of the run whose data folder is `data`; an
    /// absent folder gives none (only the bench itself is measured).
    pub(crate) fn discover(data: &Path) -> Self {
        let mut groups = Vec::new();
        if let Ok(entries) = fs::read_dir(data.join("run")) {
            let mut found: Vec<(String, u32)> = entries
                .flatten()
                .filter_map(|e| {
                    let path = e.path();
                    let name = path.file_stem()?.to_str()?.to_owned();
                    (path.extension()? == "pid").then_some(())?;
                    Some((name, read_pid(&path)?))
                })
                .collect();
            found.sort();
            groups.extend(found.into_iter().map(|(name, pid)| Group {
                name,
                with_children: false,
                pid,
            }));
        }
        if let Some(pid) = read_pid(&data.join("postgres/postmaster.pid")) {
            groups.push(Group {
                name: "postgres".into(),
                with_children: true,
                pid,
            });
        }
        if let Some(pid) = read_pid(&data.join("redis/redis.pid")) {
            groups.push(Group {
                name: "redis".into(),
                with_children: false,
                pid,
            });
        }
        Self { groups }
    }

    pub(crate) fn names(&self) -> Vec<&str> {
        self.groups.iter().map(|g| g.name.as_str()).collect()
    }

    /// CPU and RSS of every group now, plus `bench` (this process and the
    /// children it started, e.g. socket holders).
    pub(crate) fn sample(&self) -> Sample {
        let mut sample = Sample::default();
        let children = children_of();
        for g in &self.groups {
            let Some(stat) = Stat::read(g.pid) else {
                continue;
            };
            let mut cpu = stat.cpu;
            let mut rss = rss_kib(g.pid);
            if g.with_children {
                cpu += stat.children_cpu;
                for child in children.get(&g.pid).into_iter().flatten() {
                    if let Some(s) = Stat::read(*child) {
                        cpu += s.cpu;
                        rss += rss_kib(*child);
                    }
                }
            }
            sample.cpu.insert(g.name.clone(), cpu);
            sample.rss_kib.insert(g.name.clone(), rss);
        }
        let me = std::process::id();
        if let Some(stat) = Stat::read(me) {
            let mut cpu = stat.cpu + stat.children_cpu;
            for child in children.get(&me).into_iter().flatten() {
                cpu += Stat::read(*child).map_or(0.0, |s| s.cpu);
            }
            sample.cpu.insert("bench".into(), cpu);
            sample.rss_kib.insert("bench".into(), rss_kib(me));
        }
        sample
    }
}

/// CPU seconds spent by each group between two samples.
pub(crate) fn cpu_between(before: &Sample, after: &Sample) -> BTreeMap<String, f64> {
    after
        .cpu
        .iter()
        .map(|(name, end)| {
            let start = before.cpu.get(name).copied().unwrap_or(0.0);
            (name.clone(), (end - start).max(0.0))
        })
        .collect()
}

fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

struct Stat {
    ppid: u32,
    cpu: f64,
    children_cpu: f64,
}

impl Stat {
    fn read(pid: u32) -> Option<Self> {
        let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces: split after it.
        let rest = &text[text.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // Fields from 3 (state): ppid is 4, utime 14, stime 15, cutime 16, cstime 17.
        let at = |n: usize| -> f64 { f.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
        Some(Self {
            ppid: at(4) as u32,
            cpu: (at(14) + at(15)) / TICKS_PER_SEC,
            children_cpu: (at(16) + at(17)) / TICKS_PER_SEC,
        })
    }
}

/// Proportional set size: shared pages (PostgreSQL's shared buffers) are
/// divided among the processes sharing them, so a group's sum is honest.
fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Every live process's children, by parent pid.
fn children_of() -> BTreeMap<u32, Vec<u32>> {
    let mut map: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return map;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(stat) = Stat::read(pid) {
            map.entry(stat.ppid).or_default().push(pid);
        }
    }
    map
}
