//! Moving weights between any Burn module and an HF-layout checkpoint.
//!
//! Both directions walk the module's parameters with their paths and translate each path through
//! [`crate::key_map`], so they work unchanged for the bare encoder and for any task model that
//! embeds it (with the encoder under a `bert` field, as transformers' task classes do).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

use crate::error::LoadError;
use crate::key_map::{self, ENCODER_PREFIX};
use crate::weights::{Checkpoint, HostTensor};

/// What a load did, for the caller to judge and the user to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Parameters set from the checkpoint.
    pub loaded: usize,
    /// HF keys the module wanted and the checkpoint lacks; those parameters keep their init.
    pub missing: Vec<String>,
    /// Checkpoint float tensors no parameter asked for (e.g. a pretraining head).
    pub unexpected: Vec<String>,
}

impl LoadReport {
    /// One line per problem, the way transformers warns about them.
    pub fn warnings(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.missing.is_empty() {
            lines.push(format!(
                "newly initialised (not in the checkpoint): {}",
                self.missing.join(", ")
            ));
        }
        if !self.unexpected.is_empty() {
            lines.push(format!(
                "unused checkpoint weights: {}",
                self.unexpected.join(", ")
            ));
        }
        lines
    }
}

/// Finds a checkpoint tensor for an HF key, tolerating the `bert.` prefix on either side and
/// legacy LayerNorm names; remembers what it handed out.
struct KeyResolver<'a> {
    checkpoint: &'a Checkpoint,
    /// modern spelling -> key as stored in the file
    by_modern_key: HashMap<String, &'a str>,
    used: BTreeSet<&'a str>,
}

impl<'a> KeyResolver<'a> {
    fn new(checkpoint: &'a Checkpoint) -> Self {
        let by_modern_key = checkpoint
            .floats
            .keys()
            .map(|k| (key_map::modern_key(k), k.as_str()))
            .collect();
        Self {
            checkpoint,
            by_modern_key,
            used: BTreeSet::new(),
        }
    }

    fn take(&mut self, hf_name: &str) -> Option<&'a HostTensor> {
        let candidates = [
            Some(hf_name.to_string()),
            Some(format!("{ENCODER_PREFIX}{hf_name}")),
            hf_name.strip_prefix(ENCODER_PREFIX).map(String::from),
        ];
        for candidate in candidates.into_iter().flatten() {
            if let Some(&stored) = self.by_modern_key.get(&candidate) {
                self.used.insert(stored);
                return self.checkpoint.floats.get(stored);
            }
        }
        None
    }

    fn unused(&self) -> Vec<String> {
        self.checkpoint
            .floats
            .keys()
            .filter(|k| !self.used.contains(k.as_str()))
            .cloned()
            .collect()
    }
}

/// Tracks the path of the parameter being visited and the type of the module that owns it.
#[derive(Default)]
struct PathTracker {
    names: Vec<String>,
    owners: Vec<String>,
}

impl PathTracker {
    fn enter(&mut self, name: &str, container_type: &str) {
        self.names.push(name.to_string());
        self.owners.push(container_type.to_string());
    }

    fn exit(&mut self) {
        self.names.pop();
        self.owners.pop();
    }

    /// The HF key of the parameter at the current path.
    fn hf_key(&self) -> key_map::HfKey {
        let owner = self.owners.last().map(String::as_str).unwrap_or("");
        key_map::hf_key(&self.names, owner)
    }
}

struct Loader<'a> {
    path: PathTracker,
    keys: KeyResolver<'a>,
    loaded: usize,
    missing: Vec<String>,
    error: Option<LoadError>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let key = self.path.hf_key();
        let Some(stored) = self.keys.take(&key.name) else {
            self.missing.push(key.name);
            return param;
        };
        let host = if key.transposed && stored.shape.len() == 2 {
            stored.transposed()
        } else {
            stored.clone()
        };
        let expected = param.lazy_shape().to_vec();
        if host.shape != expected {
            // Report in the file's own orientation, which is what the user can inspect.
            let mut expected_in_file = expected;
            if key.transposed {
                expected_in_file.reverse();
            }
            self.error = Some(LoadError::ShapeMismatch {
                path: self.keys.checkpoint.path.clone(),
                name: key.name,
                expected: expected_in_file,
                found: stored.shape.clone(),
            });
            return param;
        }
        let tensor =
            Tensor::<D>::from_data(TensorData::new(host.data, host.shape), &param.lazy_device());
        self.loaded += 1;
        let id = param.id;
        param.transform_for_load(tensor, id)
    }
}

/// Sets every parameter of `module` that the checkpoint holds. A wrong shape is an error;
/// missing and unexpected weights are reported for the caller to judge.
pub fn load_into<M: Module>(
    module: M,
    checkpoint: &Checkpoint,
) -> Result<(M, LoadReport), LoadError> {
    let mut loader = Loader {
        path: PathTracker::default(),
        keys: KeyResolver::new(checkpoint),
        loaded: 0,
        missing: Vec::new(),
        error: None,
    };
    let module = module.map(&mut loader);
    if let Some(err) = loader.error {
        return Err(err);
    }
    let report = LoadReport {
        loaded: loader.loaded,
        missing: loader.missing,
        unexpected: loader.keys.unused(),
    };
    Ok((module, report))
}

/// The module's weights as an HF state dict: key -> tensor in PyTorch layout.
pub fn hf_state_dict<M: Module>(module: &M) -> BTreeMap<String, HostTensor> {
    collect(module, true)
        .into_iter()
        .map(|(param, values)| (param.name, values.expect("collected with values")))
        .collect()
}

/// Writes a state dict as `model.safetensors` the way transformers does (f32, `format: pt`
/// metadata), atomically: to a temporary file in the same directory, then renamed.
pub fn write_safetensors(
    tensors: &BTreeMap<String, HostTensor>,
    path: &Path,
) -> std::io::Result<()> {
    let bytes: Vec<(&String, Vec<u8>, &Vec<usize>)> = tensors
        .iter()
        .map(|(name, t)| {
            let raw = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, raw, &t.shape)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, raw, shape)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.to_vec(), raw)
                    .expect("shape and byte count agree by construction");
            (name.as_str(), view)
        })
        .collect::<Vec<_>>();
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let serialized = safetensors::serialize(views, Some(metadata))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    crate::fsutil::write_atomic(path, &serialized)
}

/// One float parameter of a module, under its HF key.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedParam {
    /// The HF key.
    pub name: String,
    /// The Burn module path (field names joined by dots), as Burn's `ParamGroup` matches it.
    pub path: String,
    pub id: burn::module::ParamId,
    pub shape: Vec<usize>,
    /// Whether the parameter currently takes part in backpropagation.
    pub require_grad: bool,
}

impl NamedParam {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Walks a module's float parameters with their HF keys; optionally reads their values
/// (in PyTorch orientation), which costs a copy of every weight.
struct Collector {
    path: PathTracker,
    with_values: bool,
    params: Vec<(NamedParam, Option<HostTensor>)>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let key = self.path.hf_key();
        let values = self.with_values.then(|| {
            let tensor = param.val();
            let shape = tensor.dims().to_vec();
            let data = tensor
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("float tensors convert to f32");
            let host = HostTensor { shape, data };
            if key.transposed {
                host.transposed()
            } else {
                host
            }
        });
        let named = NamedParam {
            name: key.name,
            path: self.path.names.join("."),
            id: param.id,
            shape: param.lazy_shape().to_vec(),
            require_grad: param.is_require_grad(),
        };
        self.params.push((named, values));
    }
}

fn collect<M: Module>(module: &M, with_values: bool) -> Vec<(NamedParam, Option<HostTensor>)> {
    let mut collector = Collector {
        path: PathTracker::default(),
        with_values,
        params: Vec::new(),
    };
    module.visit(&mut collector);
    collector.params
}

/// Every float parameter of `module` with its HF key, in module order.
pub fn named_params<M: Module>(module: &M) -> Vec<NamedParam> {
    collect(module, false)
        .into_iter()
        .map(|(param, _)| param)
        .collect()
}
