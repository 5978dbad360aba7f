//! The example task of the README's "Adding a task", written from that guide alone:
//! sentence-pair similarity as regression (GLUE STS-B's task and columns). Its five rooms,
//! which a task crate keeps in five files, are the five sections below; `adding_a_task.rs`
//! trains it end to end through the task app.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use encoder::bert::{BertPooler, init_linear};
use encoder::{BertModel, EncodeOptions, EncoderConfig, TokenizedWindow, Tokenizer, Truncation};
use serde_json::{Value, json};
use tuning::app::{
    self, Evaluation, Inference, NoFlags, OutputFlag, Prepared, TaskApp, TrainFiles,
};
use tuning::task::labels;
use tuning::{Metrics, Task, TrainingArgs};

// data.rs — one JSON object per line: sentence1, sentence2 and (to train or score) label.
#[derive(Debug, Clone)]
pub struct Pair {
    text: String,
    other: String,
    score: Option<f32>,
    source: String,
}

fn load(path: &Path) -> Result<Vec<Pair>> {
    let text = app::cli::read_utf8(path)?;
    let mut pairs = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = format!("{}:{}", path.display(), i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| anyhow!("{at}: {e}"))?;
        let field = |name: &str| v[name].as_str().map(String::from);
        let missing = |name: &str| anyhow!("{at}: missing field `{name}`");
        pairs.push(Pair {
            text: field("sentence1").ok_or_else(|| missing("sentence1"))?,
            other: field("sentence2").ok_or_else(|| missing("sentence2"))?,
            score: v["label"].as_f64().map(|s| s as f32),
            source: at,
        });
    }
    Ok(pairs)
}

// head.rs — transformers' BertForSequenceClassification: pooler, dropout, classifier.
#[derive(Module, Debug)]
pub struct Regressor {
    bert: BertModel,
    dropout: Dropout,
    classifier: Linear,
}

impl Regressor {
    fn forward(&self, windows: &[&TokenizedWindow], device: &Device) -> Tensor<2> {
        let input = encoder::input::pad_batch(windows, 0, device);
        let pooled = self.bert.forward(input).pooler_output.expect("a pooler");
        let ops = self.bert.ops();
        ops.linear(&self.classifier, ops.dropout(&self.dropout, pooled))
    }
}

// metrics.rs — mean squared error, Pearson's r, Spearman's rho (Pearson's r of the ranks).
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sx = x.iter().map(|a| (a - mx).powi(2)).sum::<f64>().sqrt();
    let sy = y.iter().map(|b| (b - my).powi(2)).sum::<f64>().sqrt();
    cov / (sx * sy).max(f64::MIN_POSITIVE) // 0 when either side is constant
}

fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut rank = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i; // ties share their mean rank
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        (i..=j).for_each(|k| rank[order[k]] = (i + j) as f64 / 2.0);
        i = j + 1;
    }
    rank
}

pub fn scores(gold: &[f64], predicted: &[f64]) -> Metrics {
    let squares = gold.iter().zip(predicted).map(|(g, p)| (g - p).powi(2));
    Metrics::from([
        (
            "mse".into(),
            squares.sum::<f64>() / gold.len().max(1) as f64,
        ),
        ("pearson".into(), pearson(gold, predicted)),
        ("spearman".into(), pearson(&ranks(gold), &ranks(predicted))),
    ])
}

// task.rs — the Task: features, loss, outputs, metrics, export and back.
#[derive(Clone)]
pub struct Feature {
    window: TokenizedWindow,
    score: Option<f32>,
}

pub struct Similarity;

impl Task for Similarity {
    type Example = Pair;
    type Feature = Feature;
    type Model = Regressor;
    type Output = f32;

    fn name(&self) -> &str {
        "similarity"
    }

    fn build_model(&self, mut bert: BertModel, c: &EncoderConfig, p: f64, d: &Device) -> Regressor {
        bert.pooler.get_or_insert_with(|| BertPooler::new(c, d));
        let classifier = init_linear(c.hidden_size, 1, c.initializer_range, d);
        let dropout = DropoutConfig::new(p).init();
        Regressor {
            bert,
            dropout,
            classifier,
        }
    }

    fn featurize(&self, pairs: &[Pair], tokenizer: &Tokenizer, max: usize) -> Result<Vec<Feature>> {
        let options = EncodeOptions {
            truncation: Truncation::LongestFirst,
            ..EncodeOptions::truncate_to(max)
        };
        let encode = |p: &Pair| tokenizer.encode(&p.text, Some(&p.other), &options);
        let window = |p: &Pair| encode(p).map_err(|e| anyhow!("{}: {e}", p.source));
        let feature = |p: &Pair| {
            Ok(Feature {
                window: window(p)?.remove(0),
                score: p.score,
            })
        };
        pairs.iter().map(feature).collect()
    }

    fn feature_len(&self, feature: &Feature) -> usize {
        feature.window.len()
    }

    /// Mean squared error, as transformers' regression loss (`MSELoss` on the one logit).
    fn loss(&self, model: &Regressor, batch: &[&Feature], device: &Device) -> Tensor<1> {
        let windows: Vec<&TokenizedWindow> = batch.iter().map(|f| &f.window).collect();
        let scores: Vec<f32> = batch.iter().map(|f| f.score.expect("labelled")).collect();
        let targets = Tensor::<2>::from_data(TensorData::new(scores, [batch.len(), 1]), device);
        let diff = model.forward(&windows, device) - targets;
        (diff.clone() * diff).mean()
    }

    fn predict(&self, model: &Regressor, batch: &[&Feature], device: &Device) -> Vec<f32> {
        let windows: Vec<&TokenizedWindow> = batch.iter().map(|f| &f.window).collect();
        let logits = model.forward(&windows, device).into_data().convert::<f32>();
        logits.try_into_vec::<f32>().expect("f32")
    }

    fn evaluate(&self, _: &[Pair], features: &[Feature], outputs: &[f32]) -> Metrics {
        let gold: Vec<f64> = features
            .iter()
            .map(|f| f.score.expect("labelled").into())
            .collect();
        let predicted: Vec<f64> = outputs.iter().map(|&o| o.into()).collect();
        scores(&gold, &predicted)
    }

    fn selection_metric(&self) -> (&'static str, bool) {
        ("pearson", true)
    }

    fn export_config(&self, config: &mut EncoderConfig) {
        labels::write(config, "BertForSequenceClassification", &["LABEL_0".into()]);
        config
            .extra
            .insert("problem_type".into(), json!("regression"));
    }

    fn from_export(config: &EncoderConfig, path: &Path) -> Result<Self> {
        labels::check_architecture(config, path, &["ForSequenceClassification"])?;
        if labels::read_or_default(config, path)?.len() != 1 {
            bail!("{}: not a regression model (one label)", path.display());
        }
        Ok(Similarity)
    }
}

// main.rs — the binary: its name, sample data, defaults, and what each command writes.
pub struct SimilarityApp;

#[derive(clap::Args)]
pub struct ScoreFlags {
    #[arg(long)]
    pub gold: PathBuf,
    /// `predict`'s output: one JSON object with `score` per line.
    #[arg(long)]
    pub predictions: PathBuf,
}

impl TaskApp for SimilarityApp {
    type Task = Similarity;
    type DataFlags = NoFlags;
    type TrainFlags = NoFlags;
    type EvalFlags = NoFlags;
    type PredictFlags = OutputFlag;
    type ScoreFlags = ScoreFlags;
    type ScoreReport = Metrics;
    const NAME: &'static str = "similarity";
    const ABOUT: &'static str = "Sentence-pair similarity (regression)";
    const SAMPLE_TRAIN: &'static str = "data/similarity/train.jsonl";
    const SAMPLE_VALIDATION: &'static str = "data/similarity/validation.jsonl";

    fn defaults() -> TrainingArgs {
        TrainingArgs::for_task("runs/similarity")
    }

    fn prepare(
        f: &TrainFiles,
        _: &NoFlags,
        _: &NoFlags,
        _: &TrainingArgs,
    ) -> Result<Prepared<Similarity>> {
        let (train, validation) = (load(&f.train)?, load(&f.validation)?);
        Ok(Prepared {
            task: Similarity,
            train,
            validation,
        })
    }

    fn evaluate(
        m: &Inference<Similarity>,
        data: &Path,
        _: &NoFlags,
        _: &NoFlags,
    ) -> Result<Evaluation> {
        let pairs = load(data)?;
        let (features, outputs) = m.run(&pairs)?;
        let report = json!({"data": data, "report": m.task.evaluate(&pairs, &features, &outputs)});
        Ok(Evaluation {
            report,
            ..Evaluation::default()
        })
    }

    fn predict(
        m: &Inference<Similarity>,
        input: &Path,
        _: &NoFlags,
        out: &OutputFlag,
    ) -> Result<()> {
        let (_, outputs) = m.run(&load(input)?)?;
        let lines: String = outputs
            .iter()
            .map(|s| format!("{}\n", json!({"score": s})))
            .collect();
        out.write(lines.as_bytes())
    }

    fn score(flags: &ScoreFlags) -> Result<Metrics> {
        let gold = load(&flags.gold)?;
        let text =
            std::fs::read_to_string(&flags.predictions).context("cannot read predictions")?;
        let score = |l: &str| {
            serde_json::from_str::<Value>(l)?["score"]
                .as_f64()
                .context("score")
        };
        let predicted: Vec<f64> = text.lines().map(score).collect::<Result<_>>()?;
        if predicted.len() != gold.len() {
            bail!("{} predictions for {} pairs", predicted.len(), gold.len());
        }
        let label = |p: &Pair| {
            p.score
                .map(f64::from)
                .context(format!("{}: no label", p.source))
        };
        Ok(scores(
            &gold.iter().map(label).collect::<Result<Vec<_>>>()?,
            &predicted,
        ))
    }
}
