//! Latency samples: quantiles of what was recorded.

use std::time::Duration;

#[derive(Default, Clone)]
pub(crate) struct Samples {
    micros: Vec<u64>,
    pub errors: u64,
}

impl Samples {
    pub(crate) fn record(&mut self, d: Duration) {
        self.micros.push(d.as_micros() as u64);
    }

    pub(crate) fn record_micros(&mut self, micros: u64) {
        self.micros.push(micros);
    }

    pub(crate) fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
    }

    pub(crate) fn len(&self) -> usize {
        self.micros.len()
    }

    /// `p50 X ms, p99 Y ms, p999 Z ms, max W ms`
    pub(crate) fn quantiles(&self) -> String {
        let mut s = self.micros.clone();
        s.sort_unstable();
        let q = |q: f64| -> f64 {
            if s.is_empty() {
                return 0.0;
            }
            let i = ((s.len() as f64 - 1.0) * q).round() as usize;
            s[i] as f64 / 1000.0
        };
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms",
            q(0.50),
            q(0.99),
            q(0.999),
            q(1.0)
        )
    }
}
