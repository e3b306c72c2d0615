pub mod check;
pub mod data;
pub mod export;
pub mod pipeline;
pub mod report;
pub mod sweep;
pub mod train;
pub mod viz;

/// Writes a file the CLI produces (CSV, pictures, summaries) atomically; the error names it.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    ardent_models::write_atomic(path, bytes)
        .with_context(|| format!("{}: cannot write", path.display()))
}
