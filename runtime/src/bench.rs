//! Timing a model: warm-up, then repeated runs of one fixed batch; latency percentiles,
//! throughput and the process's peak memory.

use std::time::{Duration, Instant};

use crate::error::RuntimeError;
use crate::model::Model;

/// How long to time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchOptions {
    /// Untimed runs first.
    pub warmup: usize,
    /// At least this many timed runs...
    pub min_runs: usize,
    /// ...and at least this much timed time.
    pub min_time: Duration,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            warmup: 10,
            min_runs: 30,
            min_time: Duration::from_millis(500),
        }
    }
}

/// Latency of one batch size.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchResult {
    pub batch: usize,
    pub threads: usize,
    pub runs: usize,
    /// Latency percentiles of one run, microseconds.
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
    /// Samples per second at the median latency.
    pub samples_per_second: f64,
    /// The process's peak resident memory so far, bytes (Linux; `None` elsewhere).
    pub peak_rss_bytes: Option<u64>,
}

/// The `q`-quantile (0..=1) of sorted values, by the nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Times `model` on batches of `input` (one sample, repeated to fill the batch when needed).
pub fn bench(
    model: &Model,
    input: &[f32],
    threads: usize,
    options: BenchOptions,
) -> Result<BenchResult, RuntimeError> {
    let per = model.input_size();
    let batch = input.len() / per.max(1);
    for _ in 0..options.warmup {
        model.run(input)?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < options.min_runs || start.elapsed() < options.min_time {
        let t = Instant::now();
        let out = model.run(input)?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(out);
    }
    times.sort_by(f64::total_cmp);
    let p50 = quantile(&times, 0.5);
    Ok(BenchResult {
        batch,
        threads,
        runs: times.len(),
        p50_us: p50,
        p90_us: quantile(&times, 0.9),
        p99_us: quantile(&times, 0.99),
        mean_us: times.iter().sum::<f64>() / times.len() as f64,
        samples_per_second: batch as f64 / (p50 * 1e-6),
        peak_rss_bytes: peak_rss_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.9), 90.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
    }
}
