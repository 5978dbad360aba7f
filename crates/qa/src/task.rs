//! Extractive QA as a [`tuning::Task`], following transformers' run_qa.
//!
//! Features: question + context pairs of at most `max_seq_length` tokens, the context cut
//! into overlapping windows (`doc_stride` tokens shared) when it does not fit, with the
//! character offsets of every context token. Questions longer than `max_query_length` tokens
//! are cut to that length (counted and reported by the binary). Training labels: the start
//! and end tokens of the first answer whose offsets match, or `[CLS]` (position 0) when the
//! answer is outside the window and for unanswerable v2.0 questions. A question whose answers
//! all fail their offsets has no labels and does not count in the loss.
//!
//! Post-processing across all windows of a question: the `n_best_size` best start and end
//! logits per window, spans inside the context only, at most `max_answer_length` tokens,
//! score = start + end logit, text cut from the original context by character offsets.
//! v2.0: the null score is the smallest `[CLS]` start + end over the windows; the question
//! gets no answer when null score - best span score > `null_score_diff_threshold`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::{Device, Tensor, TensorData};
use encoder::{EncodeOptions, EncoderConfig, TokenizedWindow, Tokenizer, Truncation};
use serde::Serialize;
use serde_json::json;
use tuning::app::{Evaluation, Inference};
use tuning::{Metrics, Task};

use crate::data::Example;
use crate::head::QuestionAnswering;
use crate::metrics;
use tuning::app::cli::at_least;

#[derive(Debug, Clone)]
pub struct Feature {
    pub window: TokenizedWindow,
    /// Index of the question in the examples.
    pub example: usize,
    /// Character span in the context of each token; `None` outside the context.
    pub context_offsets: Vec<Option<(usize, usize)>>,
    /// Training labels (start token, end token); `None`: not used for training.
    pub label: Option<(usize, usize)>,
}

/// Per window: start and end logits of every token.
pub type SpanLogits = (Vec<f32>, Vec<f32>);

/// How questions become windows and windows become answers: run_qa's options (also
/// `train`'s flags), recorded in the export.
#[derive(Debug, Clone, Serialize, serde::Deserialize, clap::Args)]
pub struct Settings {
    /// Context tokens shared by consecutive windows of a long context.
    #[arg(long, default_value_t = 128)]
    pub doc_stride: usize,
    /// Questions longer than this many tokens are cut to it.
    #[arg(long, default_value_t = 64, value_parser = at_least::<1>)]
    pub max_query_length: usize,
    /// Start and end candidates per window, and answers kept in the n-best list.
    #[arg(long, default_value_t = 20, value_parser = at_least::<1>)]
    pub n_best_size: usize,
    /// Longest answer in tokens.
    #[arg(long, default_value_t = 30, value_parser = at_least::<1>)]
    pub max_answer_length: usize,
    /// v2.0: unanswerable questions exist, and the null answer competes with spans (set
    /// from the data).
    #[arg(skip)]
    pub version_2_with_negative: bool,
    /// v2.0: answer "" when null score - best span score exceeds this.
    #[arg(long, default_value_t = 0.0)]
    pub null_score_diff_threshold: f64,
}

impl Settings {
    /// A window of `max_seq_length` tokens must hold a question of `max_query_length`
    /// tokens, three special tokens, `doc_stride` shared context tokens and one more.
    pub fn check_window(&self, max_seq_length: usize) -> Result<()> {
        if self.max_query_length + self.doc_stride + 3 >= max_seq_length {
            bail!(
                "max_seq_length {max_seq_length} leaves no room for context after a question of \
                 up to max_query_length {} tokens and a doc_stride of {}",
                self.max_query_length,
                self.doc_stride
            );
        }
        Ok(())
    }
}

impl Default for Settings {
    /// run_qa's defaults (as the flags' defaults above).
    fn default() -> Self {
        use clap::{Args, Command, FromArgMatches};
        let matches = Self::augment_args(Command::new("settings")).get_matches_from(["settings"]);
        Self::from_arg_matches(&matches).expect("every setting has a default")
    }
}

#[derive(Debug, Clone)]
pub struct QaTask {
    pub settings: Settings,
}

/// One candidate answer of the n-best list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub text: String,
    pub start_logit: f32,
    pub end_logit: f32,
    /// Softmax of the scores over the n-best list.
    pub probability: f64,
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The answer text ("" = no answer, v2.0).
    pub text: String,
    /// v2.0: null score - best span score (what the threshold is compared with).
    pub null_score_diff: Option<f64>,
    pub nbest: Vec<Candidate>,
}

/// Cuts `question` after its first `max_tokens` tokens; returns it and whether it was cut.
pub fn limit_question(
    question: &str,
    tokenizer: &Tokenizer,
    max_tokens: usize,
) -> Result<(String, bool)> {
    let plain = EncodeOptions {
        add_special_tokens: false,
        ..EncodeOptions::default()
    };
    let window = tokenizer
        .encode(question, None, &plain)
        .map_err(|e| anyhow!("cannot tokenize a question: {e}"))?
        .remove(0);
    if window.len() <= max_tokens {
        return Ok((question.to_string(), false));
    }
    let end = window.offsets[max_tokens - 1].1;
    Ok((question.chars().take(end).collect(), true))
}

fn top_indices(values: &[f32], allowed: &[Option<(usize, usize)>], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len())
        .filter(|&i| allowed[i].is_some())
        .collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order.truncate(n);
    order
}

impl QaTask {
    fn input(&self, batch: &[&Feature], device: &Device) -> encoder::EncoderInput {
        let windows: Vec<&TokenizedWindow> = batch.iter().map(|f| &f.window).collect();
        encoder::input::pad_batch(&windows, 0, device)
    }

    /// The answer of every question from the logits of all its windows.
    pub fn postprocess(
        &self,
        examples: &[Example],
        features: &[Feature],
        outputs: &[SpanLogits],
    ) -> Vec<Prediction> {
        let s = &self.settings;
        let mut by_example: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, f) in features.iter().enumerate() {
            by_example.entry(f.example).or_default().push(i);
        }
        examples
            .iter()
            .enumerate()
            .map(|(index, example)| {
                let context: Vec<char> = example.context.chars().collect();
                let mut candidates: Vec<(f32, f32, usize, usize)> = Vec::new();
                let mut null_score: Option<f32> = None;
                for &fi in by_example.get(&index).map(Vec::as_slice).unwrap_or(&[]) {
                    let (starts, ends) = &outputs[fi];
                    let offsets = &features[fi].context_offsets;
                    let null = starts[0] + ends[0];
                    null_score = Some(null_score.map_or(null, |n| n.min(null)));
                    for &a in &top_indices(starts, offsets, s.n_best_size) {
                        for &b in &top_indices(ends, offsets, s.n_best_size) {
                            if b < a || b - a + 1 > s.max_answer_length {
                                continue;
                            }
                            let (from, to) = (offsets[a].unwrap().0, offsets[b].unwrap().1);
                            candidates.push((starts[a], ends[b], from, to));
                        }
                    }
                }
                candidates.sort_by(|x, y| (y.0 + y.1).total_cmp(&(x.0 + x.1)));
                candidates.truncate(s.n_best_size);
                let best_span = candidates.first().map(|c| c.0 + c.1);
                let mut nbest: Vec<(String, f32, f32)> = candidates
                    .iter()
                    .map(|&(a, b, from, to)| (context[from..to].iter().collect(), a, b))
                    .collect();
                let null_score_diff = match (s.version_2_with_negative, null_score) {
                    (true, Some(null)) => {
                        nbest.push((String::new(), null, 0.0));
                        Some(f64::from(null - best_span.unwrap_or(f32::NEG_INFINITY)))
                    }
                    _ => None,
                };
                nbest.sort_by(|x, y| (y.1 + y.2).total_cmp(&(x.1 + x.2)));
                let scores: Vec<f32> = nbest.iter().map(|c| c.1 + c.2).collect();
                let probabilities = tuning::task::softmax(&scores);
                let text = match null_score_diff {
                    Some(diff) if diff > s.null_score_diff_threshold => String::new(),
                    _ => candidates
                        .first()
                        .map(|&(_, _, from, to)| context[from..to].iter().collect())
                        .unwrap_or_default(),
                };
                Prediction {
                    text,
                    null_score_diff,
                    nbest: nbest
                        .into_iter()
                        .zip(probabilities)
                        .map(|((text, start_logit, end_logit), probability)| Candidate {
                            text,
                            start_logit,
                            end_logit,
                            probability,
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// `train`: the task and the data of the training and validation files (`settings` as
/// given; SQuAD v2.0 when either file has unanswerable questions). Says on stderr what it
/// read.
pub fn prepare(
    train_path: &Path,
    validation_from: &Validation,
    settings: &Settings,
    max_seq_length: usize,
) -> Result<(QaTask, Vec<Example>, Vec<Example>)> {
    settings.check_window(max_seq_length)?;
    let (train, train_v2) = crate::data::load_reporting(train_path)?;
    let (train, validation, validation_v2, validation_name) = match validation_from {
        Validation::File(path) => {
            let (validation, v2) = crate::data::load_reporting(path)?;
            (train, validation, v2, path.display().to_string())
        }
        Validation::Holdout { fraction, seed } => {
            let (train, held) = hold_out_paragraphs(train, *fraction, *seed)?;
            let name = format!(
                "{fraction} of the paragraphs of {} held out (seed {seed})",
                train_path.display()
            );
            (train, held, train_v2, name)
        }
    };
    let unusable = train
        .iter()
        .filter(|e| !e.is_impossible && e.answers.is_empty())
        .count();
    if unusable == train.len() {
        bail!(
            "{}: none of its {} questions has a usable answer (an answer at its offset, or \
             is_impossible): there is nothing to train on",
            train_path.display(),
            train.len()
        );
    }
    let settings = Settings {
        version_2_with_negative: train_v2 || validation_v2,
        ..settings.clone()
    };
    eprintln!(
        "qa: {} training questions from {} ({unusable} without a usable answer), {} \
         validation from {}; SQuAD {}",
        train.len(),
        train_path.display(),
        validation.len(),
        validation_name,
        if settings.version_2_with_negative {
            "v2.0 (with unanswerable questions)"
        } else {
            "v1.1"
        }
    );
    Ok((QaTask { settings }, train, validation))
}

/// Where `train`'s validation questions come from.
pub enum Validation {
    /// A file of its own.
    File(PathBuf),
    /// A seeded fraction of the training file's paragraphs ([`hold_out_paragraphs`]).
    Holdout { fraction: f64, seed: u64 },
}

/// Holds out a seeded `fraction` of the paragraphs (each run of consecutive questions on one
/// context, as SQuAD files list them) for validation, whole: no held-out question shares its
/// context with a training question, so selection is not scored on passages the model has
/// trained on. Both parts keep file order (the split of `tuning::task::holdout`, drawn over
/// paragraphs instead of questions).
pub fn hold_out_paragraphs(
    examples: Vec<Example>,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<Example>, Vec<Example>)> {
    let mut paragraphs: Vec<Vec<Example>> = Vec::new();
    for example in examples {
        match paragraphs.last_mut() {
            Some(paragraph) if paragraph[0].context == example.context => paragraph.push(example),
            _ => paragraphs.push(vec![example]),
        }
    }
    let (train, held) = tuning::task::holdout::hold_out(paragraphs, fraction, seed)
        .map_err(|e| anyhow!("{e} (paragraphs: a held-out paragraph takes its questions)"))?;
    Ok((
        train.into_iter().flatten().collect(),
        held.into_iter().flatten().collect(),
    ))
}

/// `eval`: the official scores of `model` on the dataset `path` (its first `max_examples`
/// questions in file order, when given), with its answers as `predictions_<data>/` files for
/// the model directory.
pub fn evaluation(
    model: &Inference<QaTask>,
    path: &Path,
    max_examples: Option<usize>,
) -> Result<Evaluation> {
    let (mut examples, v2) = crate::data::load_reporting(path)?;
    if let Some(n) = max_examples {
        examples.truncate(n);
    }
    let (features, outputs) = model.run(&examples)?;
    let predictions = model.task.postprocess(&examples, &features, &outputs);
    let by_id: HashMap<String, String> = examples
        .iter()
        .zip(&predictions)
        .map(|(e, p)| (e.id.clone(), p.text.clone()))
        .collect();
    let v2 = v2 || model.task.settings.version_2_with_negative;
    let report = metrics::score(&examples, &by_id, v2, None, 1.0);
    let dir = PathBuf::from(format!("predictions_{}", tuning::app::cli::file_stem(path)));
    Ok(Evaluation {
        report: json!({"data": path, "report": report}),
        confusion: None,
        files: prediction_files(&dir, &examples, &predictions)?,
    })
}

/// `predict`: answers to the questions in `input`, as `predictions.json` and
/// `nbest_predictions.json` in `dir` (and with `logits`, `window_logits.jsonl`).
pub fn predict(model: &Inference<QaTask>, input: &Path, dir: &Path, logits: bool) -> Result<()> {
    let (examples, _) = crate::data::load_reporting(input)?;
    let (features, outputs) = model.run(&examples)?;
    let predictions = model.task.postprocess(&examples, &features, &outputs);
    let mut files = prediction_files(dir, &examples, &predictions)?;
    if logits {
        let lines = window_logits(&examples, &features, &outputs);
        files.push((dir.join("window_logits.jsonl"), lines));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (path, bytes) in files {
        encoder::fsutil::write_atomic(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "qa: {} answers written to {}",
        predictions.len(),
        dir.join("predictions.json").display()
    );
    Ok(())
}

/// `predictions.json` ({id: answer}) and `nbest_predictions.json` ({id: n-best list}), as
/// run_qa writes them, under `dir`.
pub fn prediction_files(
    dir: &Path,
    examples: &[Example],
    predictions: &[Prediction],
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let answers: serde_json::Map<String, serde_json::Value> = examples
        .iter()
        .zip(predictions)
        .map(|(e, p)| (e.id.clone(), json!(p.text)))
        .collect();
    let nbest: serde_json::Map<String, serde_json::Value> = examples
        .iter()
        .zip(predictions)
        .map(|(e, p)| (e.id.clone(), json!(p.nbest)))
        .collect();
    Ok(vec![
        (
            dir.join("predictions.json"),
            serde_json::to_string_pretty(&answers)?.into_bytes(),
        ),
        (
            dir.join("nbest_predictions.json"),
            serde_json::to_string_pretty(&nbest)?.into_bytes(),
        ),
    ])
}

/// Every window's input ids and start/end logits, one JSON object per line (for comparing
/// with transformers: scripts/checks/check-qa-export.py).
pub fn window_logits(examples: &[Example], features: &[Feature], logits: &[SpanLogits]) -> Vec<u8> {
    let mut lines = String::new();
    for (feature, (starts, ends)) in features.iter().zip(logits) {
        let record = json!({
            "id": examples[feature.example].id,
            "input_ids": feature.window.input_ids,
            "start_logits": starts,
            "end_logits": ends,
        });
        lines.push_str(&record.to_string());
        lines.push('\n');
    }
    lines.into_bytes()
}

impl Task for QaTask {
    type Example = Example;
    type Feature = Feature;
    type Model = QuestionAnswering;
    type Output = SpanLogits;

    fn name(&self) -> &str {
        "qa"
    }

    fn build_model(
        &self,
        encoder: encoder::BertModel,
        config: &EncoderConfig,
        _classifier_dropout: f64,
        device: &Device,
    ) -> QuestionAnswering {
        QuestionAnswering::new(encoder, config, device)
    }

    fn featurize(
        &self,
        examples: &[Example],
        tokenizer: &Tokenizer,
        max_seq_length: usize,
    ) -> Result<Vec<Feature>> {
        let s = &self.settings;
        s.check_window(max_seq_length)?;
        let options = EncodeOptions {
            max_length: Some(max_seq_length),
            truncation: Truncation::OnlySecond,
            stride: s.doc_stride,
            return_overflowing: true,
            add_special_tokens: true,
        };
        let mut features = Vec::new();
        for (index, example) in examples.iter().enumerate() {
            // run_qa strips the question's leading whitespace (it would only cost tokens).
            let (question, _) =
                limit_question(example.question.trim_start(), tokenizer, s.max_query_length)
                    .map_err(|e| anyhow!("{}: {e}", example.source))?;
            let windows = tokenizer
                .encode(&question, Some(&example.context), &options)
                .map_err(|e| anyhow!("{}: cannot tokenize: {e}", example.source))?;
            let answer = example
                .answers
                .first()
                .map(|a| (a.start, a.start + a.text.chars().count()));
            for window in windows {
                let context_offsets: Vec<Option<(usize, usize)>> = (0..window.len())
                    .map(|t| (window.sequence_ids[t] == Some(1)).then(|| window.offsets[t]))
                    .collect();
                let label = if example.is_impossible {
                    Some((0, 0))
                } else {
                    answer.map(|(from, to)| {
                        let inside: Vec<usize> = (0..window.len())
                            .filter(|&t| context_offsets[t].is_some())
                            .collect();
                        let (Some(&first), Some(&last)) = (inside.first(), inside.last()) else {
                            return (0, 0);
                        };
                        let (a, b) = (
                            context_offsets[first].unwrap().0,
                            context_offsets[last].unwrap().1,
                        );
                        if !(a <= from && b >= to) {
                            return (0, 0); // the answer is not (entirely) in this window
                        }
                        let start = inside
                            .iter()
                            .copied()
                            .rfind(|&t| context_offsets[t].unwrap().0 <= from)
                            .unwrap_or(first);
                        let end = inside
                            .iter()
                            .copied()
                            .find(|&t| context_offsets[t].unwrap().1 >= to)
                            .unwrap_or(last);
                        (start, end)
                    })
                };
                features.push(Feature {
                    window,
                    example: index,
                    context_offsets,
                    label,
                });
            }
        }
        Ok(features)
    }

    fn feature_len(&self, feature: &Feature) -> usize {
        feature.window.len()
    }

    /// (CE(start) + CE(end)) / 2, as BertForQuestionAnswering, over the labelled windows.
    fn loss(&self, model: &QuestionAnswering, batch: &[&Feature], device: &Device) -> Tensor<1> {
        let (starts, ends) = model.forward(self.input(batch, device));
        let weights: Vec<f32> = batch
            .iter()
            .map(|f| f32::from(f.label.is_some() as u8))
            .collect();
        let count = weights.iter().sum::<f32>().max(1.0);
        let (s, e): (Vec<usize>, Vec<usize>) =
            batch.iter().map(|f| f.label.unwrap_or((0, 0))).unzip();
        let weights = Tensor::<2>::from_data(TensorData::new(weights, [batch.len(), 1]), device);
        let picked = |logits: Tensor<2>, targets: &[usize]| {
            let targets: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
            let targets = Tensor::<2, burn::tensor::Int>::from_data(
                TensorData::new(targets, [batch.len(), 1]),
                device,
            );
            burn::tensor::activation::log_softmax(logits, 1).gather(1, targets)
        };
        let total = (picked(starts, &s) + picked(ends, &e)) * weights;
        total.sum().div_scalar(-2.0 * count)
    }

    fn predict(
        &self,
        model: &QuestionAnswering,
        batch: &[&Feature],
        device: &Device,
    ) -> Vec<SpanLogits> {
        let (starts, ends) = model.forward(self.input(batch, device));
        let (starts, ends) = (tuning::task::rows(starts), tuning::task::rows(ends));
        batch
            .iter()
            .zip(starts.into_iter().zip(ends))
            .map(|(f, (mut s, mut e))| {
                s.truncate(f.window.len());
                e.truncate(f.window.len());
                (s, e)
            })
            .collect()
    }

    fn evaluate(
        &self,
        examples: &[Example],
        features: &[Feature],
        outputs: &[SpanLogits],
    ) -> Metrics {
        let predictions: HashMap<String, String> = examples
            .iter()
            .zip(self.postprocess(examples, features, outputs))
            .map(|(e, p)| (e.id.clone(), p.text))
            .collect();
        let report = metrics::score(
            examples,
            &predictions,
            self.settings.version_2_with_negative,
            None,
            1.0,
        );
        let mut m = Metrics::new();
        m.insert("exact_match".into(), report.exact_match);
        m.insert("f1".into(), report.f1);
        if let Some(v2) = report.v2 {
            m.insert("has_ans_f1".into(), v2.has_ans_f1);
            m.insert("no_ans_f1".into(), v2.no_ans_f1);
        }
        m
    }

    fn selection_metric(&self) -> (&'static str, bool) {
        ("f1", true)
    }

    /// A run's export, or a transformers `*ForQuestionAnswering` checkpoint (run_qa's
    /// post-processing settings).
    fn from_export(config: &EncoderConfig, path: &Path) -> Result<Self> {
        tuning::task::labels::check_architecture(config, path, &["ForQuestionAnswering"])?;
        let settings = match config.extra.get("finetune_qa") {
            Some(value) => serde_json::from_value(value.clone())
                .map_err(|e| anyhow!("{}: finetune_qa: {e}", path.display()))?,
            None => Settings::default(),
        };
        // The same ranges as the flags (an edited config.json must not reach the windowing).
        let s: &Settings = &settings;
        for (name, value) in [
            ("max_query_length", s.max_query_length),
            ("n_best_size", s.n_best_size),
            ("max_answer_length", s.max_answer_length),
        ] {
            if value == 0 {
                bail!("{}: finetune_qa.{name} must be at least 1", path.display());
            }
        }
        Ok(QaTask { settings })
    }

    /// Every family's `*ForQuestionAnswering` is the encoder and `qa_outputs` (DistilBERT's
    /// with a dropout before it, see [`crate::head`]).
    fn supports_family(&self, _family: encoder::ModelFamily) -> bool {
        true
    }

    fn export_config(&self, config: &mut EncoderConfig) {
        let architecture = config.family().class_name("ForQuestionAnswering");
        config
            .extra
            .insert("architectures".into(), json!([architecture]));
        config.extra.insert(
            "finetune_qa".into(),
            serde_json::to_value(&self.settings).expect("serializes"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Answer;

    fn tokenizer() -> Tokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/encoder/tiny-bert");
        Tokenizer::from_model_dir(&dir).unwrap()
    }

    #[test]
    fn held_out_paragraphs_keep_their_questions_and_the_split_is_seeded() {
        // 20 paragraphs of 1 to 3 questions each, in file order.
        let mut examples = Vec::new();
        for p in 0..20 {
            for q in 0..=(p % 3) {
                let mut e = example(&format!("paragraph {p} says yes"), "yes");
                e.id = format!("{p}-{q}");
                examples.push(e);
            }
        }
        let total = examples.len();
        let (train, held) = hold_out_paragraphs(examples.clone(), 0.25, 42).unwrap();
        assert_eq!(train.len() + held.len(), total);
        let contexts = |part: &[Example]| {
            part.iter()
                .map(|e| e.context.clone())
                .collect::<std::collections::BTreeSet<_>>()
        };
        // 5 of the 20 paragraphs, each with all its questions; none on both sides.
        assert_eq!(contexts(&held).len(), 5);
        assert!(contexts(&held).is_disjoint(&contexts(&train)));
        for context in contexts(&held) {
            let wanted = examples.iter().filter(|e| e.context == context).count();
            assert_eq!(held.iter().filter(|e| e.context == context).count(), wanted);
        }
        // File order on both sides; the same seed draws the same split, another seed another.
        let order = |part: &[Example]| {
            let at: Vec<usize> = part
                .iter()
                .map(|e| examples.iter().position(|x| x.id == e.id).unwrap())
                .collect();
            at.windows(2).all(|w| w[0] < w[1])
        };
        assert!(order(&train) && order(&held));
        let ids = |part: &[Example]| part.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        let again = hold_out_paragraphs(examples.clone(), 0.25, 42).unwrap().1;
        assert_eq!(ids(&again), ids(&held));
        let other = hold_out_paragraphs(examples.clone(), 0.25, 43).unwrap().1;
        assert_ne!(ids(&other), ids(&held));
        // Too few paragraphs to hold any out is an error, not an empty validation set.
        let err = hold_out_paragraphs(examples[..1].to_vec(), 0.25, 42).unwrap_err();
        assert!(err.to_string().contains("paragraphs"), "{err}");
    }

    fn example(context: &str, answer: &str) -> Example {
        let start = context.find(answer).unwrap();
        Example {
            id: "x".into(),
            question: "  where?".into(),
            context: context.into(),
            answers: vec![Answer {
                text: answer.into(),
                start,
            }],
            answer_texts: vec![answer.into()],
            is_impossible: false,
            source: "t".into(),
        }
    }

    #[test]
    fn long_questions_are_cut_to_max_query_length_tokens() {
        let tok = tokenizer();
        let (cut, was_cut) = limit_question("abcdefghij", &tok, 4).unwrap();
        assert!(was_cut);
        assert_eq!(
            tok.encode(&cut, None, &EncodeOptions::default()).unwrap()[0].len(),
            4 + 2
        );
        let (kept, was_cut) = limit_question("ab", &tok, 4).unwrap();
        assert_eq!((kept.as_str(), was_cut), ("ab", false));
    }

    #[test]
    fn labels_point_at_the_answer_or_cls_in_windows_without_it() {
        let tok = tokenizer();
        let task = QaTask {
            settings: Settings {
                doc_stride: 4,
                max_query_length: 8,
                ..Settings::default()
            },
        };
        let e = example("aaaa bbbb cccc dddd eeee ffff gggg hhhh", "gggg");
        let features = task.featurize(std::slice::from_ref(&e), &tok, 24).unwrap();
        assert!(features.len() > 1, "the context needs several windows");
        let mut found = 0;
        for f in &features {
            let (start, end) = f.label.unwrap();
            if (start, end) == (0, 0) {
                continue;
            }
            found += 1;
            let (from, _) = f.context_offsets[start].unwrap();
            let (_, to) = f.context_offsets[end].unwrap();
            assert_eq!(&e.context[from..to], "gggg");
        }
        assert!(found >= 1);
        // Post-processing finds the span back from logits that point at it.
        let outputs: Vec<SpanLogits> = features
            .iter()
            .map(|f| {
                let (s, t) = f.label.unwrap();
                let mut starts = vec![0.0; f.window.len()];
                let mut ends = vec![0.0; f.window.len()];
                if (s, t) != (0, 0) {
                    starts[s] = 5.0;
                    ends[t] = 5.0;
                }
                (starts, ends)
            })
            .collect();
        let predictions = task.postprocess(std::slice::from_ref(&e), &features, &outputs);
        assert_eq!(predictions[0].text, "gggg");
    }
}
