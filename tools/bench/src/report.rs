//! What a measured window cost: CPU of every process per unit of work, and
//! memory, printed after the scenario's own lines.

use std::time::Instant;

use crate::procs::{Processes, Sample, cpu_between};

/// CPU and time from its start to [`Window::finish`].
pub(crate) struct Window {
    procs: Processes,
    before: Sample,
    started: Instant,
}

/// What a window measured.
pub(crate) struct Cost {
    pub seconds: f64,
    procs: Processes,
    before: Sample,
    after: Sample,
}

impl Window {
    pub(crate) fn start(procs: &Processes) -> Self {
        Self {
            procs: procs.clone(),
            before: procs.sample(),
            started: Instant::now(),
        }
    }

    pub(crate) fn finish(self) -> Cost {
        Cost {
            seconds: self.started.elapsed().as_secs_f64(),
            after: self.procs.sample(),
            procs: self.procs,
            before: self.before,
        }
    }
}

impl Cost {
    /// `cpu per <unit> (ms): gateway 0.21, ..., product + stores 0.80; bench 0.12`
    /// and the resident memory of each process.
    pub(crate) fn print(&self, units: u64, unit: &str) {
        let cpu = cpu_between(&self.before, &self.after);
        let units = units.max(1) as f64;
        let mut parts = Vec::new();
        let mut system = 0.0;
        for name in self.procs.names() {
            let s = cpu.get(name).copied().unwrap_or(0.0);
            system += s;
            parts.push(format!("{name} {:.3}", s * 1000.0 / units));
        }
        let bench = cpu.get("bench").copied().unwrap_or(0.0);
        if parts.is_empty() {
            println!(
                "  cpu per {unit}: (no data folder found: only the bench) bench {:.3} ms",
                bench * 1000.0 / units
            );
        } else {
            println!(
                "  cpu per {unit} (ms): {}; product + stores {:.3} ({:.0} % of 2 cores); bench {:.3} ({:.0} %)",
                parts.join(", "),
                system * 1000.0 / units,
                system / self.seconds / 2.0 * 100.0,
                bench * 1000.0 / units,
                bench / self.seconds / 2.0 * 100.0,
            );
        }
        let rss: Vec<String> = self
            .after
            .rss_kib
            .iter()
            .map(|(name, kib)| format!("{name} {:.1}", *kib as f64 / 1024.0))
            .collect();
        println!("  memory (PSS, MiB): {}", rss.join(", "));
    }

    /// Resident memory of `name` now minus at the start (KiB).
    pub(crate) fn rss_growth_kib(&self, name: &str) -> i64 {
        let at = |s: &Sample| s.rss_kib.get(name).copied().unwrap_or(0) as i64;
        at(&self.after) - at(&self.before)
    }

    pub(crate) fn names(&self) -> Vec<&str> {
        self.procs.names()
    }
}
