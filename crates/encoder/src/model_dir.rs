//! Hugging Face model directories: finding their files, loading a pretrained encoder from one,
//! and writing one back (`save_pretrained`).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;

use crate::bert::BertModel;
use crate::checkpoint::{self, LoadReport};
use crate::config::EncoderConfig;
use crate::error::LoadError;
use crate::key_map::FamilyKeys;
use crate::tokenizer::Tokenizer;
use crate::weights::Checkpoint;

/// Where `scripts/fetch-model` puts all-MiniLM-L6-v2, relative to the workspace root.
pub const DEFAULT_MODEL_SUBDIR: &str = "data/models/all-MiniLM-L6-v2";

/// The default model directory: `FINETUNE_MODEL` if set, else `data/models/all-MiniLM-L6-v2`
/// under the current directory if it is there, else under the workspace this binary was built
/// from (so the binaries find it from any directory on the machine that built them).
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FINETUNE_MODEL") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from(DEFAULT_MODEL_SUBDIR);
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DEFAULT_MODEL_SUBDIR)
}

/// Checkpoint file names in the order transformers prefers them.
const CHECKPOINT_FILES: &[&str] = &["model.safetensors", "pytorch_model.bin"];

/// Tokenizer side files that `save_pretrained` carries over so transformers' `AutoTokenizer`
/// reads the export exactly as it read the source.
pub const TOKENIZER_SIDE_FILES: &[&str] = &[
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

/// A model directory on disk.
#[derive(Debug, Clone)]
pub struct ModelDir {
    path: PathBuf,
}

impl ModelDir {
    /// Checks the directory exists; the error says how to fetch the default model.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        if !path.is_dir() {
            let is_default = path.ends_with(DEFAULT_MODEL_SUBDIR);
            return Err(LoadError::MissingModelDir {
                dir: path.to_path_buf(),
                is_default,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn config(&self) -> Result<EncoderConfig, LoadError> {
        let file = self.path.join("config.json");
        if !file.is_file() {
            return Err(LoadError::MissingFile {
                dir: self.path.clone(),
                what: "config",
                expected: "config.json",
            });
        }
        EncoderConfig::from_file(&file)
    }

    pub fn checkpoint_file(&self) -> Result<PathBuf, LoadError> {
        CHECKPOINT_FILES
            .iter()
            .map(|name| self.path.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| LoadError::MissingFile {
                dir: self.path.clone(),
                what: "weights",
                expected: "model.safetensors or pytorch_model.bin",
            })
    }

    pub fn checkpoint(&self) -> Result<Checkpoint, LoadError> {
        Checkpoint::read(&self.checkpoint_file()?)
    }

    pub fn tokenizer(&self) -> Result<Tokenizer, LoadError> {
        Tokenizer::from_model_dir(&self.path)
    }

    /// Loads the directory's weights into the model `build` makes around an encoder skeleton
    /// of `config` (the bare encoder, or a task model holding it in a `bert` field, as
    /// transformers' `*For*` classes do), and its tokenizer. The pooler is built only when the
    /// checkpoint has one. Missing and unused weights are reported, for the caller to judge;
    /// a wrong shape is an error.
    pub fn load<M: Module>(
        &self,
        config: &EncoderConfig,
        device: &Device,
        build: impl FnOnce(BertModel) -> M,
    ) -> Result<Loaded<M>, LoadError> {
        let tokenizer = self.tokenizer()?;
        let checkpoint = self
            .checkpoint()?
            .into_canonical(&FamilyKeys::of(config.family()));
        let skeleton = BertModel::new(config, has_pooler(&checkpoint), device);
        let (model, report) = checkpoint::load_into(build(skeleton), &checkpoint)?;
        Ok(Loaded {
            model,
            tokenizer,
            report,
            checkpoint: checkpoint.path.clone(),
        })
    }
}

/// A pretrained encoder with everything that came with it.
#[derive(Debug)]
pub struct Pretrained {
    pub config: EncoderConfig,
    pub model: BertModel,
    pub tokenizer: Tokenizer,
    /// What the load found; `missing` is always empty here (missing weights are an error).
    pub report: LoadReport,
    pub dir: ModelDir,
}

/// Whether a checkpoint carries a trained pooler (`pooler.dense.*`, prefixed or not).
pub fn has_pooler(checkpoint: &Checkpoint) -> bool {
    ["pooler.dense.weight", "bert.pooler.dense.weight"]
        .iter()
        .any(|k| checkpoint.floats.contains_key(*k))
}

/// Loads config, weights and tokenizer of an HF model directory (transformers'
/// `AutoModel.from_pretrained`). The pooler is built only when the checkpoint has one.
/// Every encoder weight must be present; unused weights (a pretraining or task head) are
/// listed in the report.
pub fn load_pretrained(dir: &Path, device: &Device) -> Result<Pretrained, LoadError> {
    load_pretrained_with(dir, device, |_| {})
}

/// [`load_pretrained`], with the config adjusted before the model is built (e.g. dropout
/// probabilities overridden for fine-tuning, as transformers' `from_pretrained(**kwargs)`).
pub fn load_pretrained_with(
    dir: &Path,
    device: &Device,
    adjust: impl FnOnce(&mut EncoderConfig),
) -> Result<Pretrained, LoadError> {
    let dir = ModelDir::open(dir)?;
    let mut config = dir.config()?;
    adjust(&mut config);
    let loaded = dir.load(&config, device, |encoder| encoder)?;
    if !loaded.report.missing.is_empty() {
        return Err(LoadError::MissingWeights {
            path: loaded.checkpoint,
            names: loaded.report.missing,
        });
    }
    Ok(Pretrained {
        config,
        model: loaded.model,
        tokenizer: loaded.tokenizer,
        report: loaded.report,
        dir,
    })
}

/// A model loaded from a directory by [`ModelDir::load`], with what the load found.
#[derive(Debug)]
pub struct Loaded<M> {
    pub model: M,
    pub tokenizer: Tokenizer,
    /// Weights set, missing (left at their initial values) and unused.
    pub report: LoadReport,
    /// The weights file that was read.
    pub checkpoint: PathBuf,
}

/// Writes `module` as an HF model directory (transformers' `save_pretrained`): `config.json`,
/// `model.safetensors`, `tokenizer.json` and the tokenizer's side files. `module` may be the
/// bare encoder or a task model holding it in a `bert` field.
pub fn save_pretrained<M: Module>(
    out_dir: &Path,
    module: &M,
    config: &EncoderConfig,
    tokenizer: &Tokenizer,
) -> std::io::Result<()> {
    save_state_dict(
        out_dir,
        &checkpoint::hf_state_dict(module),
        config,
        tokenizer,
    )
}

/// [`save_pretrained`] from a state dict already in HF layout (e.g. with LoRA merged).
pub fn save_state_dict(
    out_dir: &Path,
    state: &std::collections::BTreeMap<String, crate::HostTensor>,
    config: &EncoderConfig,
    tokenizer: &Tokenizer,
) -> std::io::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    // In the family's own key names (a copy only for the families whose names differ).
    let keys = FamilyKeys::of(config.family());
    let state = if state.keys().all(|name| keys.to_file(name) == *name) {
        std::borrow::Cow::Borrowed(state)
    } else {
        std::borrow::Cow::Owned(
            state
                .iter()
                .map(|(name, tensor)| (keys.to_file(name), tensor.clone()))
                .collect(),
        )
    };
    checkpoint::write_safetensors(&state, &out_dir.join("model.safetensors"))?;
    crate::fsutil::write_atomic(
        &out_dir.join("config.json"),
        config.to_json_string().as_bytes(),
    )?;
    tokenizer.save(&out_dir.join("tokenizer.json"))?;
    if let Some(source_dir) = tokenizer.source().parent() {
        for name in TOKENIZER_SIDE_FILES {
            let from = source_dir.join(name);
            let to = out_dir.join(name);
            if from.is_file() && from != to {
                crate::fsutil::write_atomic(&to, &std::fs::read(&from)?)?;
            }
        }
    }
    Ok(())
}
