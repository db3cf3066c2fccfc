//! Latency samples and throughput, reported as one line per measurement.

use std::time::Duration;

#[derive(Default)]
pub struct Samples {
    micros: Vec<u64>,
    pub errors: u64,
}

impl Samples {
    pub fn record(&mut self, d: Duration) {
        self.micros.push(d.as_micros() as u64);
    }

    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
    }

    fn quantile(sorted: &[u64], q: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[i] as f64 / 1000.0
    }

    /// `name: N ok, E errors, R/s; p50 X ms, p99 Y ms, max Z ms`
    pub fn report(mut self, name: &str, elapsed: Duration) {
        self.micros.sort_unstable();
        let s = &self.micros;
        println!(
            "{name}: {} ok, {} errors, {:.0}/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            s.len(),
            self.errors,
            s.len() as f64 / elapsed.as_secs_f64(),
            Self::quantile(s, 0.50),
            Self::quantile(s, 0.90),
            Self::quantile(s, 0.99),
            Self::quantile(s, 1.0),
        );
    }
}
