use burn::tensor::Device;

use crate::error::TrainError;

/// The device names this build accepts, for messages.
fn accepted() -> String {
    let mut names = vec!["`flex`"];
    if cfg!(feature = "cuda") {
        names.push("`cuda[:N]`");
    }
    if cfg!(feature = "vulkan") {
        names.push("`vulkan[:N]`");
    }
    names.join(", ")
}

/// Turns `--device` into a burn device: `flex` (the CPU backend, default), `cuda` / `cuda:N`
/// with the `cuda` feature, `vulkan` / `vulkan:N` (the N-th discrete GPU; plain `vulkan` lets
/// wgpu pick the adapter) with the `vulkan` feature.
///
/// A GPU device is tried at once with a one-element tensor, so a machine without the driver, the
/// library or the adapter gets [`TrainError::Device`] here, naming what is missing, instead of a
/// panic at the first batch. A GPU name in a build without its feature is the same error, saying
/// which feature to build with.
pub fn parse_device(name: &str) -> Result<Device, TrainError> {
    let (kind, given) = match name.split_once(':') {
        Some((kind, index)) => (kind, Some(index)),
        None => (name, None),
    };
    let bad = |reason: String| TrainError::Device {
        name: name.to_string(),
        reason,
    };
    let index = || -> Result<usize, TrainError> {
        given.map_or(Ok(0), |i| {
            i.parse::<usize>()
                .map_err(|_| bad(format!("`{i}` is not a GPU index (0, 1, ...)")))
        })
    };
    match kind {
        "flex" | "cpu" if given.is_none() => Ok(Device::flex()),
        "cuda" => {
            let i = index()?;
            #[cfg(feature = "cuda")]
            {
                probe(name, Device::cuda(i))
            }
            #[cfg(not(feature = "cuda"))]
            {
                let _ = i;
                Err(bad(
                    "this build has no CUDA support; build with `--features cuda` (README, \"GPU builds\")"
                        .into(),
                ))
            }
        }
        "vulkan" => {
            let i = index()?;
            #[cfg(feature = "vulkan")]
            {
                use burn::tensor::DeviceKind;
                let kind = match given {
                    Some(_) => DeviceKind::DiscreteGpu(i),
                    None => DeviceKind::DefaultDevice,
                };
                probe(name, Device::vulkan(kind))
            }
            #[cfg(not(feature = "vulkan"))]
            {
                let _ = i;
                Err(bad(
                    "this build has no Vulkan support; build with `--features vulkan` (README, \"GPU builds\")"
                        .into(),
                ))
            }
        }
        _ => Err(bad(format!(
            "unknown device; this build accepts {}",
            accepted()
        ))),
    }
}

/// Runs one small operation on `device` and turns a failure to bring it up into an error.
///
/// burn creates a GPU device lazily and panics when it cannot (cudarc when libcuda cannot be
/// loaded, wgpu when no adapter answers); the panic is caught here, its message kept for the
/// error, and the default hook's output silenced while the probe runs.
#[cfg(any(feature = "cuda", feature = "vulkan"))]
fn probe(name: &str, device: Device) -> Result<Device, TrainError> {
    use burn::tensor::Tensor;
    use std::panic::{AssertUnwindSafe, catch_unwind, set_hook, take_hook};

    // The backend may fail in a thread of its own, the caller then seeing only a closed
    // channel: every thread's panic message is kept, and the first one is the cause.
    let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let hook = take_hook();
    let kept = messages.clone();
    set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or("a panic without a message");
        if let Ok(mut all) = kept.lock() {
            all.push(message.to_string());
        }
    }));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let t = Tensor::<1>::ones([1], &device);
        t.into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))
    }));
    set_hook(hook);
    let reason = match outcome {
        Ok(Ok(v)) if v == [1.0] => return Ok(device),
        Ok(Ok(v)) => format!("a one-element tensor of 1 read back as {v:?}"),
        Ok(Err(e)) => format!("reading a tensor back failed: {e}"),
        Err(_) => messages
            .lock()
            .ok()
            .and_then(|all| all.first().cloned())
            .unwrap_or_else(|| "the backend failed without a message".into()),
    };
    // cudarc's message goes on to list every library name it tried.
    let reason = reason
        .split(" - searched for library names")
        .next()
        .unwrap_or(&reason)
        .to_string();
    let hint = if name.starts_with("cuda") {
        "is an NVIDIA GPU with its driver (libcuda) installed?"
    } else {
        "is a GPU with a Vulkan driver (libvulkan and an ICD) installed?"
    };
    Err(TrainError::Device {
        name: name.to_string(),
        reason: format!("cannot use the device: {}; {hint}", reason.trim()),
    })
}
