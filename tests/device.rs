//! `--device`: GPU devices this build or this machine lacks end in a clear error, exit code 2,
//! before any work and with nothing written or lost.
//!
//! Built without a GPU feature, the error names the feature to build with. Built with it (CI
//! builds `--features cuda,vulkan` and runs these), a machine without the hardware gets the
//! backend's own reason. On a machine that has the GPU, set `ARDENT_HAS_GPU=cuda` (or
//! `vulkan`, or both, comma-separated) and the same runs must train instead.

use crate::{ardent, assert_bad_input, stderr, zoo};

fn train_on(device: &str, out: &std::path::Path, test: &str) -> std::process::Output {
    ardent([
        "train",
        &zoo("lenet-300-100.toml").display().to_string(),
        "--data",
        "digits",
        "--max-samples",
        "200",
        "--batch-size",
        "50",
        "--epochs",
        "1",
        "--device",
        device,
        "--out",
        &out.display().to_string(),
        "--metrics",
        &out.with_extension(format!("{test}.jsonl"))
            .display()
            .to_string(),
    ])
}

fn gpu_present(kind: &str) -> bool {
    std::env::var("ARDENT_HAS_GPU").is_ok_and(|v| v.split(',').any(|k| k.trim() == kind))
}

/// Runs `device` twice: once over an existing checkpoint, which must stay as it was, and once
/// where none exists, which must stay absent.
fn refused(device: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().expect("tmp");
    let kept = dir.path().join("kept.safetensors");
    let before = b"an earlier run's checkpoint".to_vec();
    std::fs::write(&kept, &before).expect("write");
    let o = train_on(device, &kept, "a");
    let named = format!("--device {device}");
    let mut all = vec![named.as_str()];
    all.extend(needles);
    assert_bad_input(&o, &all);
    assert_eq!(
        std::fs::read(&kept).expect("read"),
        before,
        "kept as it was"
    );
    let fresh = dir.path().join("fresh.safetensors");
    assert_bad_input(&train_on(device, &fresh, "b"), &all);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("kept.safetensors")]);
}

fn check(kind: &str, built: bool) {
    for device in [kind.to_string(), format!("{kind}:0")] {
        if built && gpu_present(kind) {
            let dir = tempfile::tempdir().expect("tmp");
            let out = dir.path().join("gpu.safetensors");
            let o = train_on(&device, &out, "gpu");
            assert!(o.status.success(), "{device}: {}", stderr(&o));
            assert!(out.exists());
        } else if built {
            refused(&device, &["cannot use the device"]);
        } else {
            refused(
                &device,
                &["this build has no", &format!("--features {kind}")],
            );
        }
    }
    // An index that is not a number is refused in every build.
    refused(&format!("{kind}:first"), &["`first` is not a GPU index"]);
}

#[test]
fn cuda_without_the_build_or_the_hardware_is_refused() {
    check("cuda", cfg!(feature = "cuda"));
}

#[test]
fn vulkan_without_the_build_or_the_hardware_is_refused() {
    check("vulkan", cfg!(feature = "vulkan"));
}

#[test]
fn unknown_devices_list_what_this_build_accepts() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("x.safetensors");
    for device in ["tpu", "flex:1", "cuda1"] {
        let o = train_on(device, &out, "u");
        let mut needles = vec!["unknown device", "`flex`"];
        if cfg!(feature = "cuda") {
            needles.push("`cuda[:N]`");
        }
        if cfg!(feature = "vulkan") {
            needles.push("`vulkan[:N]`");
        }
        assert_bad_input(&o, &needles);
    }
    assert!(!out.exists(), "nothing written on bad input");
}
