//! Where a program computes: the `--device` flag of every binary, opened once at the top.
//!
//! `cpu` is burn-flex, with the fused kernels of the `kernels` crate. `cuda[:N]` (the `cuda`
//! feature) and `wgpu` (the `wgpu` feature: Vulkan, Metal or DX12 through CubeCL's WGSL) run
//! Burn's own operations: [`DeviceChoice::kernels`] turns the CPU kernels off there, once,
//! where the device is opened, so that nothing below asks which device it is on.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use kernels::{Kernels, Precision};

/// A `--device` value: `cpu` (the default), `cuda`, `cuda:N` or `wgpu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    /// The CUDA device of that index (`cuda` is `cuda:0`).
    Cuda(usize),
    /// wgpu's default adapter (a GPU where there is one; `CUBECL_WGPU_DEFAULT_DEVICE` picks
    /// another, e.g. `Cpu` for a software driver such as lavapipe).
    Wgpu,
}

/// Why a device cannot be used: the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceError(pub String);

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeviceError {}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text {
            "cpu" => return Ok(Self::Cpu),
            "cuda" => return Ok(Self::Cuda(0)),
            "wgpu" => return Ok(Self::Wgpu),
            _ => {}
        }
        if let Some(index) = text.strip_prefix("cuda:") {
            return index
                .parse()
                .map(Self::Cuda)
                .map_err(|_| format!("`{text}`: the CUDA device index must be a whole number"));
        }
        Err(format!(
            "`{text}` is not a device: use cpu, cuda, cuda:N or wgpu"
        ))
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(index) => write!(f, "cuda:{index}"),
            Self::Wgpu => f.write_str("wgpu"),
        }
    }
}

impl DeviceChoice {
    /// The device named by the `FINETUNE_DEVICE` variable (what `--device` defaults to in
    /// every binary), the CPU when it is unset. For `main` functions and tests only: code
    /// below them takes the value it is given.
    pub fn from_env() -> Result<Self, DeviceError> {
        match std::env::var("FINETUNE_DEVICE") {
            Ok(text) => text
                .parse()
                .map_err(|e| DeviceError(format!("FINETUNE_DEVICE: {e}"))),
            Err(_) => Ok(Self::Cpu),
        }
    }

    /// Whether this is the CPU (where the fused kernels run).
    pub fn is_cpu(&self) -> bool {
        *self == Self::Cpu
    }

    /// The device, checked to exist on this machine and in this build: an error saying why
    /// not (the feature not compiled in, no driver, no such index), never a panic later.
    pub fn open(&self) -> Result<Device, DeviceError> {
        match *self {
            Self::Cpu => Ok(Device::flex()),
            Self::Cuda(index) => open_cuda(index),
            Self::Wgpu => open_wgpu(),
        }
    }

    /// `requested` as it applies on this device: the CPU kernels stay on the CPU (f16
    /// products only where the CPU has them); elsewhere Burn's operations in f32, and an
    /// error for `--precision f16`, a CPU-only path.
    pub fn kernels(&self, requested: Kernels) -> Result<Kernels, DeviceError> {
        if self.is_cpu() {
            return requested
                .with_precision(requested.precision)
                .map_err(|e| DeviceError(e.to_string()));
        }
        if requested.precision == Precision::F16 {
            return Err(DeviceError(format!(
                "--precision f16 is the CPU's (AVX512-FP16 products); on {self} use f32"
            )));
        }
        Ok(Kernels::BURN)
    }
}

#[cfg(not(all(feature = "cuda", feature = "wgpu")))]
fn not_built(feature: &str, device: &str) -> DeviceError {
    DeviceError(format!(
        "--device {device}: this binary was built without the `{feature}` feature \
         (build with `cargo build --release --features {feature}`{})",
        if feature == "cuda" {
            " after scripts/setup-cuda-build"
        } else {
            ""
        }
    ))
}

#[cfg(feature = "cuda")]
fn open_cuda(index: usize) -> Result<Device, DeviceError> {
    use burn::tensor::DeviceType;
    // Enumerating asks the driver first (no driver: no devices), where creating a device
    // would panic inside cudarc.
    let count = Device::enumerate(DeviceType::Cuda).into_vec().len();
    if count == 0 {
        return Err(DeviceError(format!(
            "--device cuda:{index}: no CUDA device found (no NVIDIA driver, libcuda.so, on this \
             machine, or no GPU visible to it)"
        )));
    }
    if index >= count {
        return Err(DeviceError(format!(
            "--device cuda:{index}: this machine has {count} CUDA device(s), cuda:0 to cuda:{}",
            count - 1
        )));
    }
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(index: usize) -> Result<Device, DeviceError> {
    Err(not_built("cuda", &format!("cuda:{index}")))
}

#[cfg(feature = "wgpu")]
fn open_wgpu() -> Result<Device, DeviceError> {
    use burn::tensor::{DeviceKind, DeviceType};
    if Device::enumerate(DeviceType::Wgpu).into_vec().is_empty() {
        return Err(DeviceError(
            "--device wgpu: no graphics adapter found (no Vulkan, Metal or DX12 driver; on Linux \
             without a GPU, Mesa's lavapipe: apt install mesa-vulkan-drivers)"
                .into(),
        ));
    }
    Ok(Device::wgpu(DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn open_wgpu() -> Result<Device, DeviceError> {
    Err(not_built("wgpu", "wgpu"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_and_refuses_the_rest() {
        assert_eq!("cpu".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceChoice::Cuda(3)));
        assert_eq!("wgpu".parse(), Ok(DeviceChoice::Wgpu));
        for bad in ["gpu", "cuda:", "cuda:x", "CUDA", "cuda:-1", ""] {
            assert!(bad.parse::<DeviceChoice>().is_err(), "{bad}");
        }
        for choice in [DeviceChoice::Cpu, DeviceChoice::Cuda(2), DeviceChoice::Wgpu] {
            assert_eq!(choice.to_string().parse(), Ok(choice));
        }
    }

    #[test]
    fn the_cpu_kernels_stay_on_the_cpu() {
        let cpu = DeviceChoice::Cpu.kernels(Kernels::default()).unwrap();
        assert!(cpu.fused);
        let gpu = DeviceChoice::Cuda(0).kernels(Kernels::default()).unwrap();
        assert_eq!(gpu, Kernels::BURN);
        let f16 = Kernels {
            precision: Precision::F16,
            ..Kernels::default()
        };
        let err = DeviceChoice::Wgpu.kernels(f16).unwrap_err();
        assert!(err.0.contains("f16"), "{err}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_build_it() {
        let err = DeviceChoice::Cuda(0).open().unwrap_err();
        assert!(err.0.contains("--features cuda"), "{err}");
        assert!(err.0.contains("setup-cuda-build"), "{err}");
    }
}
