//! Reading checkpoint files into plain host tensors, whatever their format and float width.
//!
//! Supports what transformers writes and reads: `model.safetensors` and the older
//! `pytorch_model.bin` (a zip of pickles, read without Python). Float tensors in f16, bf16 or f64
//! are widened/narrowed to f32 here, once, so the rest of the crate only ever sees f32.
//! Integer tensors are buffers (e.g. `embeddings.position_ids`), not weights; they are kept
//! apart so that they are neither loaded nor reported as unexpected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::error::LoadError;

/// A float tensor in row-major order, as it is stored in the file (PyTorch orientation).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    /// The transpose of a matrix: PyTorch's `Linear.weight` is `[out, in]`, Burn's is `[in, out]`.
    pub fn transposed(&self) -> HostTensor {
        assert_eq!(self.shape.len(), 2, "only matrices are transposed");
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let mut data = vec![0.0f32; self.data.len()];
        for r in 0..rows {
            for c in 0..cols {
                data[c * rows + r] = self.data[r * cols + c];
            }
        }
        HostTensor {
            shape: vec![cols, rows],
            data,
        }
    }
}

/// All tensors of one checkpoint file, by their names in the file.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub floats: BTreeMap<String, HostTensor>,
    /// Names of non-float tensors (buffers such as `position_ids`), never loaded.
    pub buffers: Vec<String>,
}

impl Checkpoint {
    /// The same weights under finetune's canonical (BERT) names, read from `keys`' family.
    pub fn into_canonical(mut self, keys: &crate::key_map::FamilyKeys) -> Self {
        self.floats = std::mem::take(&mut self.floats)
            .into_iter()
            .map(|(name, tensor)| (keys.to_canonical(&name), tensor))
            .collect();
        self
    }

    /// Reads a `.safetensors` file or a PyTorch `.bin`/`.pt`/`.pth` file, chosen by extension.
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => read_safetensors(path),
            Some("bin" | "pt" | "pth") => read_pytorch(path),
            _ => Err(LoadError::Checkpoint {
                path: path.to_path_buf(),
                message: "unknown checkpoint extension (expected .safetensors or .bin)".into(),
            }),
        }
    }
}

fn read_safetensors(path: &Path) -> Result<Checkpoint, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|err| LoadError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("invalid or truncated safetensors file ({err})"),
    })?;
    let mut floats = BTreeMap::new();
    let mut buffers = Vec::new();
    for (name, view) in file.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => FloatKind::F32,
            Dtype::F16 => FloatKind::F16,
            Dtype::BF16 => FloatKind::BF16,
            Dtype::F64 => FloatKind::F64,
            Dtype::I64 | Dtype::I32 | Dtype::I16 | Dtype::I8 | Dtype::U8 | Dtype::BOOL => {
                buffers.push(name);
                continue;
            }
            other => {
                return Err(LoadError::UnsupportedDtype {
                    path: path.to_path_buf(),
                    name,
                    dtype: format!("{other:?}"),
                });
            }
        };
        let values = kind.decode(view.data());
        floats.insert(
            name,
            HostTensor {
                shape: view.shape().to_vec(),
                data: values,
            },
        );
    }
    Ok(Checkpoint {
        path: path.to_path_buf(),
        floats,
        buffers,
    })
}

fn read_pytorch(path: &Path) -> Result<Checkpoint, LoadError> {
    use pytorch_reader::DType;
    let reader = pytorch_reader::PytorchReader::new(path).map_err(|err| LoadError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("cannot read PyTorch checkpoint ({err})"),
    })?;
    let mut floats = BTreeMap::new();
    let mut buffers = Vec::new();
    for (name, tensor) in reader.into_tensors() {
        let kind = match tensor.dtype() {
            DType::F32 => FloatKind::F32,
            DType::F16 => FloatKind::F16,
            DType::BF16 => FloatKind::BF16,
            DType::F64 => FloatKind::F64,
            _ => {
                buffers.push(name);
                continue;
            }
        };
        let shape = tensor.shape().to_vec();
        let bytes = tensor.read().map_err(|err| LoadError::Checkpoint {
            path: path.to_path_buf(),
            message: format!("cannot read tensor `{name}` ({err})"),
        })?;
        // PyTorch's zip format stores tensor data little-endian on every platform we target.
        let data = kind.decode(&bytes);
        if data.len() != shape.iter().product::<usize>() {
            return Err(LoadError::Checkpoint {
                path: path.to_path_buf(),
                message: format!(
                    "tensor `{name}` holds {} values for shape {shape:?}",
                    data.len()
                ),
            });
        }
        floats.insert(name, HostTensor { shape, data });
    }
    buffers.sort();
    Ok(Checkpoint {
        path: path.to_path_buf(),
        floats,
        buffers,
    })
}

/// The float encodings checkpoints use; every one is read into f32.
#[derive(Debug, Clone, Copy)]
enum FloatKind {
    F32,
    F16,
    BF16,
    F64,
}

impl FloatKind {
    /// Little-endian bytes -> f32 values.
    fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            Self::F32 => le_chunks::<4>(bytes).map(f32::from_le_bytes).collect(),
            Self::F16 => le_chunks::<2>(bytes)
                .map(|b| half::f16::from_le_bytes(b).to_f32())
                .collect(),
            Self::BF16 => le_chunks::<2>(bytes)
                .map(|b| half::bf16::from_le_bytes(b).to_f32())
                .collect(),
            Self::F64 => le_chunks::<8>(bytes)
                .map(|b| f64::from_le_bytes(b) as f32)
                .collect(),
        }
    }
}

fn le_chunks<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    bytes
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact yields N bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_rows_and_columns() {
        let t = HostTensor {
            shape: vec![2, 3],
            data: vec![1., 2., 3., 4., 5., 6.],
        };
        let tt = t.transposed();
        assert_eq!(tt.shape, vec![3, 2]);
        assert_eq!(tt.data, vec![1., 4., 2., 5., 3., 6.]);
        assert_eq!(tt.transposed(), t);
    }

    #[test]
    fn half_precision_is_widened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let values = [half::f16::from_f32(1.5), half::f16::from_f32(-0.25)];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(Dtype::F16, vec![2], &bytes).unwrap();
        safetensors::serialize_to_file([("w", view)], None, &path).unwrap();
        let ckpt = Checkpoint::read(&path).unwrap();
        assert_eq!(ckpt.floats["w"].data, vec![1.5, -0.25]);
    }

    #[test]
    fn truncated_safetensors_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let bytes: Vec<u8> = [1.0f32; 16].iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![16], &bytes).unwrap();
        safetensors::serialize_to_file([("w", view)], None, &path).unwrap();
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 10]).unwrap();
        let err = Checkpoint::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("truncated") && err.contains("m.safetensors"),
            "{err}"
        );
    }
}
