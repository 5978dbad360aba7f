//! Everything a run needs before its first step: the pretrained encoder with the task's head
//! (re-initialised layers and LoRA adapters as the strategy says), and the featurized data.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use encoder::{EncoderConfig, Kernels, Tokenizer, load_pretrained_with};

use super::run_dir::{check_positions, fit_max_len};
use super::settings::{IntervalStrategy, TrainingArgs};
use crate::task::Task;

/// The model to train and what came with it.
pub struct Setup<T: Task> {
    /// The task model, every initial value drawn, adapters attached.
    pub model: T::Model,
    pub config: EncoderConfig,
    pub tokenizer: Tokenizer,
    pub num_layers: usize,
    /// The input length in tokens: `max_seq_length` capped at the model's positions.
    pub max_len: usize,
    /// LoRA's `alpha / rank`, when the strategy trains adapters.
    pub lora_scale: Option<f64>,
}

impl<T: Task> Setup<T> {
    /// Loads the pretrained encoder from `model_dir` (dropout as the settings say), applies
    /// the strategy's re-initialisation, builds the task's head and attaches LoRA adapters.
    /// Every random initial value is drawn here, from the seed, on the CPU whatever `device`
    /// is, and the model then moves to `device`: a run's start depends on the seed alone, and
    /// a run on a GPU starts from the same weights as on the CPU (LoRA adapters excepted:
    /// they are drawn on `device`).
    pub fn load(
        task: &T,
        args: &TrainingArgs,
        model_dir: &Path,
        kernels: Kernels,
        device: &Device,
    ) -> Result<Self> {
        let host = host_device(device);
        host.seed(args.seed);
        let pretrained = load_pretrained_with(model_dir, &host, |config| {
            if let Some(p) = args.hidden_dropout_prob {
                config.hidden_dropout_prob = p;
            }
            if let Some(p) = args.attention_probs_dropout_prob {
                config.attention_probs_dropout_prob = p;
            }
        })?;
        for warning in pretrained.report.warnings() {
            eprintln!("{}: {warning}", task.name());
        }
        let mut config = pretrained.config.clone();
        require_family(task, &config, model_dir)?;
        let mut tokenizer = pretrained.tokenizer.clone();
        let mut encoder = pretrained.model.with_kernels(kernels);
        let added = task.added_tokens();
        if !added.is_empty() {
            encoder = grow_vocabulary(task.name(), &added, &mut tokenizer, &mut config, encoder);
        }
        let num_layers = encoder.num_layers();
        let strategy = &args.strategy;
        strategy
            .validate(num_layers)
            .map_err(|e| anyhow!("strategy: {e}"))?;
        for i in num_layers - strategy.reinit_top_layers..num_layers {
            encoder.encoder.layer[i] = encoder::bert::BertLayer::new(&config, &host);
        }
        let classifier_dropout = head_dropout(args.classifier_dropout, &mut config);
        // The random initial values (new head, re-initialised layers) come from the seed.
        host.seed(args.seed);
        let mut model = task
            .build_model(encoder, &config, classifier_dropout, &host)
            .materialize();
        if host != *device {
            // Burn draws initial values lazily, at a parameter's first read: a CPU run draws
            // them when the trainer first reads the parameters, in module order. Drawn here
            // in that order, on the host, they are the CPU run's; then the model moves.
            model.visit(&mut DrawInitialValues);
            model = model.fork(device);
        }
        device.seed(args.seed);
        // After materialize(), which would drop the adapters again.
        if let Some(settings) = &strategy.lora {
            model = crate::strategy::lora::apply(model, settings)
                .map_err(|e| anyhow!("strategy: {e}"))?;
        }
        let max_len = fit_max_len(args.max_seq_length, &config)?;
        Ok(Self {
            model,
            config,
            tokenizer,
            num_layers,
            max_len,
            lora_scale: strategy.lora.as_ref().map(|l| l.alpha / l.rank as f64),
        })
    }
}

/// The dropout before a task head, as transformers chooses it: `--classifier-dropout`, else
/// the checkpoint's `classifier_dropout`, else `hidden_dropout_prob`. DistilBERT's heads read
/// their own fields instead (`seq_classif_dropout`, `qa_dropout`): the flag sets those, so
/// that it takes effect there too and the export records it.
fn head_dropout(flag: Option<f64>, config: &mut EncoderConfig) -> f64 {
    match flag {
        Some(p) => {
            if config.family() == encoder::ModelFamily::DistilBert {
                for field in ["seq_classif_dropout", "qa_dropout"] {
                    config.extra.insert(field.into(), serde_json::json!(p));
                }
            }
            p
        }
        None => config
            .extra
            .get("classifier_dropout")
            .and_then(|v| v.as_f64())
            .unwrap_or(config.hidden_dropout_prob),
    }
}

/// Adds `tokens` to the tokenizer (those it lacks) and grows the word embeddings and
/// `config.vocab_size` to cover them ([`Task::added_tokens`]); says what it did on stderr.
fn grow_vocabulary(
    task: &str,
    tokens: &[String],
    tokenizer: &mut Tokenizer,
    config: &mut EncoderConfig,
    encoder: encoder::BertModel,
) -> encoder::BertModel {
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let new = tokenizer.add_tokens(&tokens);
    let rows = encoder.vocab_size().max(tokenizer.vocab_size());
    let ids: Vec<String> = tokens
        .iter()
        .map(|t| format!("{t} = {}", tokenizer.token_to_id(t).expect("just added")))
        .collect();
    eprintln!(
        "{task}: {new} token(s) added to the vocabulary ({}); word embeddings {} -> {rows} \
         rows, the new ones at the mean of the others",
        ids.join(", "),
        encoder.vocab_size()
    );
    config.vocab_size = rows;
    encoder.resize_token_embeddings(rows)
}

/// Reads every float parameter, which draws the lazily initialised ones.
struct DrawInitialValues;

impl ModuleVisitor for DrawInitialValues {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Where a run's initial values are drawn: the CPU (burn-flex), with autodiff when `device`
/// has it; `device` itself when it is the CPU.
fn host_device(device: &Device) -> Device {
    match (kernels::on_cpu(device), device.is_autodiff()) {
        (true, _) => device.clone(),
        (false, true) => Device::flex().autodiff(),
        (false, false) => Device::flex(),
    }
}

/// Validation examples and their features.
pub type Validation<'a, T> = (&'a [<T as Task>::Example], Vec<<T as Task>::Feature>);

/// The data of a run, featurized once.
pub struct Features<'a, T: Task> {
    pub train: Vec<T::Feature>,
    /// Tokens per training feature (for length grouping).
    pub lengths: Vec<usize>,
    /// The validation examples and their features, when the run evaluates.
    pub validation: Option<Validation<'a, T>>,
}

impl<'a, T: Task> Features<'a, T> {
    /// Featurizes the training examples (the first `max_train_samples`) and, when the run
    /// evaluates at all, the validation examples (the first `max_eval_samples`): a validation
    /// set that is never evaluated is never featurized either (run_qa's is ~10,800 windows).
    pub fn new(
        task: &T,
        args: &TrainingArgs,
        tokenizer: &Tokenizer,
        max_len: usize,
        train: &'a [T::Example],
        validation: Option<&'a [T::Example]>,
    ) -> Result<Self> {
        let train = limit(train, args.max_train_samples);
        let validation = validation
            .filter(|_| args.eval_strategy != IntervalStrategy::No)
            .map(|e| limit(e, args.max_eval_samples));
        let train_features = task.featurize(train, tokenizer, max_len)?;
        if train_features.is_empty() {
            bail!("no training features: the training set is empty");
        }
        check_positions(task, &train_features, max_len)?;
        let validation = match validation {
            Some(e) => {
                let features = task.featurize(e, tokenizer, max_len)?;
                check_positions(task, &features, max_len)?;
                Some((e, features))
            }
            None => None,
        };
        let lengths = train_features.iter().map(|f| task.feature_len(f)).collect();
        Ok(Self {
            train: train_features,
            lengths,
            validation,
        })
    }
}

fn limit<E>(examples: &[E], max: Option<usize>) -> &[E] {
    match max {
        Some(n) if n < examples.len() => &examples[..n],
        _ => examples,
    }
}

/// Refuses, by name, a checkpoint of a family whose `*For*` classes the task does not follow
/// yet ([`Task::supports_family`]), instead of training or predicting with the wrong head.
pub fn require_family<T: Task>(task: &T, config: &EncoderConfig, model_dir: &Path) -> Result<()> {
    let family = config.family();
    if !task.supports_family(family) {
        bail!(
            "{}: model_type `{family}`: the {} task supports BERT checkpoints only so far \
             (`encode` runs this family)",
            model_dir.display(),
            task.name()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> EncoderConfig {
        EncoderConfig::from_json_str(json).unwrap()
    }

    #[test]
    fn the_head_dropout_comes_from_the_flag_then_the_checkpoint_then_the_hidden_dropout() {
        let bert = r#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,
            "num_attention_heads":2,"intermediate_size":16,"hidden_dropout_prob":0.1"#;
        let mut plain = config(&format!("{bert}}}"));
        assert_eq!(head_dropout(None, &mut plain), 0.1);
        let mut unset = config(&format!(r#"{bert},"classifier_dropout":null}}"#));
        assert_eq!(head_dropout(None, &mut unset), 0.1);
        let mut set = config(&format!(r#"{bert},"classifier_dropout":0.25}}"#));
        assert_eq!(head_dropout(None, &mut set), 0.25);
        assert_eq!(head_dropout(Some(0.4), &mut set), 0.4);
        assert!(!set.extra.contains_key("seq_classif_dropout"));

        let mut distilbert = config(
            r#"{"model_type":"distilbert","vocab_size":10,"dim":8,"n_layers":1,"n_heads":2,
            "hidden_dim":16,"dropout":0.1,"seq_classif_dropout":0.2,"qa_dropout":0.1}"#,
        );
        assert_eq!(head_dropout(None, &mut distilbert), 0.1);
        assert_eq!(distilbert.extra["seq_classif_dropout"], 0.2);
        assert_eq!(head_dropout(Some(0.3), &mut distilbert), 0.3);
        assert_eq!(distilbert.extra["seq_classif_dropout"], 0.3);
        assert_eq!(distilbert.extra["qa_dropout"], 0.3);
    }
}
