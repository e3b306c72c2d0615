use burn::tensor::Device;

use crate::error::TrainError;

/// Turns `--device` into a burn device: `flex` (the CPU backend, default) or, with the `cuda`
/// feature, `cuda` / `cuda:N`.
pub fn parse_device(name: &str) -> Result<Device, TrainError> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        cuda if cuda == "cuda" || cuda.starts_with("cuda:") => {
            let index = cuda
                .strip_prefix("cuda:")
                .map(|i| i.parse::<usize>())
                .transpose()
                .map_err(|_| TrainError::Config(format!("--device {cuda}: bad GPU index")))?
                .unwrap_or(0);
            Ok(Device::cuda(index))
        }
        other => Err(TrainError::Config(format!(
            "--device {other}: unknown device; this build has `flex`{}",
            if cfg!(feature = "cuda") {
                " and `cuda[:N]`"
            } else {
                " (build with --features cuda for `cuda`)"
            }
        ))),
    }
}
