//! Relation classification as a [`tuning::Task`].

use std::io::Write;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use encoder::{EncodeOptions, EncoderConfig, TokenizedWindow, Tokenizer};
use serde_json::json;
use tuning::app::{Evaluation, TrainFiles};
pub use tuning::task::argmax;
use tuning::{Metrics, Task};

use crate::data::{Example, OTHER, Span};
use crate::head::{Head, RelationClassifier, RelationInput};
use crate::markers::{MarkerChoice, Markers};
use crate::metrics;

/// One marked sentence.
#[derive(Debug, Clone)]
pub struct Feature {
    pub window: TokenizedWindow,
    /// Token positions of the markers: e1 start, e1 end, e2 start, e2 end.
    pub marker_positions: [usize; 4],
    pub label: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct RelationTask {
    /// Label names; the model's output i is `labels[i]`.
    pub labels: Vec<String>,
    pub head: Head,
    pub markers: Markers,
    /// The markers the vocabulary lacks, added to it for training ([`Task::added_tokens`]).
    pub added: Vec<String>,
    /// The label of unrelated pairs, left out of the macro average.
    pub other: String,
}

impl RelationTask {
    pub fn new(labels: Vec<String>, head: Head, markers: Markers) -> Self {
        Self {
            labels,
            head,
            markers,
            added: Vec::new(),
            other: OTHER.to_string(),
        }
    }

    pub fn label_id(&self, example: &Example) -> Result<Option<usize>> {
        let Some(label) = &example.label else {
            return Ok(None);
        };
        match self.labels.iter().position(|l| l == label) {
            Some(id) => Ok(Some(id)),
            None => bail!(
                "{}: unknown label `{label}` (the model knows: {})",
                example.source,
                self.labels.join(", ")
            ),
        }
    }

    fn input(&self, batch: &[&Feature], device: &Device) -> RelationInput {
        let windows: Vec<&TokenizedWindow> = batch.iter().map(|f| &f.window).collect();
        let encoder = encoder::input::pad_batch(&windows, 0, device);
        let [rows, seq] = encoder.input_ids.dims();
        let starts = |marker: usize| {
            let flat: Vec<i64> = batch
                .iter()
                .enumerate()
                .map(|(row, f)| (row * seq + f.marker_positions[marker]) as i64)
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(flat, [rows]), device)
        };
        let weights = |open: usize, close: usize| {
            let mut values = vec![0f32; rows * seq];
            for (row, f) in batch.iter().enumerate() {
                let (a, b) = (f.marker_positions[open], f.marker_positions[close]);
                let share = 1.0 / (b - a + 1) as f32;
                values[row * seq + a..=row * seq + b].fill(share);
            }
            Tensor::<2>::from_data(TensorData::new(values, [rows, seq]), device)
        };
        let rbert = self.head == Head::Rbert;
        let empty = || Tensor::<2>::zeros([rows, 1], device);
        RelationInput {
            e1_start: starts(0),
            e2_start: starts(2),
            e1_weights: if rbert { weights(0, 1) } else { empty() },
            e2_weights: if rbert { weights(2, 3) } else { empty() },
            encoder,
        }
    }

    /// `eval`'s report of `logits` on the labelled `examples` read from `data`: the official
    /// figures and the confusion matrix (the official line goes to stderr).
    pub fn evaluation(&self, data: &Path, examples: &[Example], logits: &[Vec<f32>]) -> Evaluation {
        let gold: Vec<&str> = examples
            .iter()
            .map(|e| e.label.as_deref().expect("labelled"))
            .collect();
        let predicted: Vec<Option<&str>> = logits
            .iter()
            .map(|l| Some(self.labels[argmax(l)].as_str()))
            .collect();
        let report = metrics::score(&gold, &predicted, &self.other);
        eprintln!("{}", metrics::official_line(&report));
        Evaluation {
            confusion: Some((report.labels.clone(), report.confusion.clone())),
            report: json!({"data": data, "report": report}),
            files: Vec::new(),
        }
    }

    /// `predict`'s output: `key` (ID<TAB>Relation, the official scorer's input) or `jsonl`
    /// (label, score, the entities, probabilities and logits per sentence).
    pub fn predictions(
        &self,
        examples: &[Example],
        logits: &[Vec<f32>],
        format: &str,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match format {
            "key" => {
                for (example, logits) in examples.iter().zip(logits) {
                    writeln!(out, "{}\t{}", example.id, self.labels[argmax(logits)])?;
                }
            }
            "jsonl" => {
                for (example, logits) in examples.iter().zip(logits) {
                    let (best, score, per_label) =
                        tuning::task::label_probabilities(&self.labels, logits);
                    let record = json!({
                        "id": example.id,
                        "label": self.labels[best],
                        "score": score,
                        "e1": example.entity_text(example.e1),
                        "e2": example.entity_text(example.e2),
                        "probabilities": per_label,
                        "logits": logits,
                    });
                    writeln!(out, "{record}")?;
                }
            }
            other => bail!("unknown --format `{other}` (key, jsonl)"),
        }
        Ok(out)
    }

    /// Logits for a batch, one row per feature.
    fn logits(&self, model: &RelationClassifier, batch: &[&Feature], device: &Device) -> Tensor<2> {
        model.forward(self.input(batch, device))
    }
}

/// `train`: the data (a validation file, or with `holdout` a seeded fraction of the training
/// file) and the task for it, with the labels of both and the markers for the pretrained
/// model's vocabulary. Says on stderr what it read.
pub fn prepare(
    files: &TrainFiles,
    holdout: Option<f64>,
    seed: u64,
    (head, markers): (Head, MarkerChoice),
) -> Result<(RelationTask, Vec<Example>, Vec<Example>)> {
    let (train_path, validation_path) = (&files.train, &files.validation);
    let tokenizer = Tokenizer::from_model_dir(&files.model)?;
    let (markers, added) = markers.resolve(&tokenizer)?;
    let all = crate::data::load(train_path, true)?;
    let (train, validation, validation_name) = match holdout {
        Some(fraction) => {
            let (train, validation) = tuning::task::holdout::hold_out(all, fraction, seed)?;
            let name = format!("{fraction} of {} (seed {seed})", train_path.display());
            (train, validation, name)
        }
        None => {
            let validation = crate::data::load(validation_path, true)?;
            (all, validation, validation_path.display().to_string())
        }
    };
    // The classes are the training file's (with --holdout, the held-out part is of it too); a
    // label of a validation file that training never saw could never be predicted, so it is
    // refused (as sentiment and ner refuse it).
    let training_file = match holdout {
        Some(_) => validation.as_slice(),
        None => &[],
    };
    let labels = crate::data::label_names(
        train
            .iter()
            .chain(training_file)
            .filter_map(|e| e.label.as_deref()),
    );
    let task = RelationTask {
        added,
        ..RelationTask::new(labels, head, markers)
    };
    for example in &validation {
        task.label_id(example).map_err(|err| {
            anyhow!("{err}: validation labels must be labels of the training data")
        })?;
    }
    eprintln!(
        "relation: {} training examples from {}, {} validation from {}; {} labels; head {}, \
         markers {}",
        train.len(),
        train_path.display(),
        validation.len(),
        validation_name,
        task.labels.len(),
        task.head,
        task.markers
    );
    Ok((task, train, validation))
}

/// Tokenizes `example.text` and inserts the four marker ids around the entities' tokens.
/// A sentence longer than `max_len` is cut to a window around both entities; one whose
/// entities alone do not fit is an error naming the example.
pub fn mark(
    example: &Example,
    tokenizer: &Tokenizer,
    marker_ids: [u32; 4],
    max_len: usize,
) -> Result<(TokenizedWindow, [usize; 4])> {
    let plain = tokenizer
        .encode(&example.text, None, &EncodeOptions::default())
        .map_err(|e| anyhow!("{}: cannot tokenize: {e}", example.source))?
        .remove(0);
    // Word tokens only (drop [CLS]/[SEP]); they are re-added around the window.
    let content: Vec<usize> = (0..plain.len())
        .filter(|&i| plain.sequence_ids[i].is_some())
        .collect();
    let (cls, sep) = (plain.input_ids[0], plain.input_ids[plain.len() - 1]);
    let tokens_of = |span: Span, which: &str| -> Result<(usize, usize)> {
        let inside: Vec<usize> = content
            .iter()
            .enumerate()
            .filter(|&(_, &t)| {
                let (a, b) = plain.offsets[t];
                a < span.end && b > span.start
            })
            .map(|(k, _)| k)
            .collect();
        match (inside.first(), inside.last()) {
            (Some(&a), Some(&b)) => Ok((a, b)),
            _ => bail!(
                "{}: entity {which} `{}` has no tokens after tokenization",
                example.source,
                example.entity_text(span)
            ),
        }
    };
    let e1 = tokens_of(example.e1, "e1")?;
    let e2 = tokens_of(example.e2, "e2")?;
    if e1.0 <= e2.1 && e2.0 <= e1.1 {
        bail!(
            "{}: the entities share a token (`{}` and `{}`); they cannot be marked apart",
            example.source,
            example.entity_text(example.e1),
            example.entity_text(example.e2)
        );
    }
    // Content tokens kept: a window around both entities when the sentence is too long.
    let budget = max_len.saturating_sub(6); // [CLS], [SEP] and four markers
    let (first, last) = (e1.0.min(e2.0), e1.1.max(e2.1));
    let needed = last - first + 1;
    if needed > budget {
        bail!(
            "{}: the entities and the words between them need {} tokens, more than \
             max_seq_length {max_len} allows; raise --max-seq-length",
            example.source,
            needed + 6
        );
    }
    let (mut lo, mut hi) = (0usize, content.len());
    if content.len() > budget {
        // Centre the entities in the window, then clamp it to the sentence.
        let spare = budget - needed;
        lo = first.saturating_sub(spare / 2);
        hi = (lo + budget).min(content.len());
        lo = hi - budget;
    }
    let mut window = TokenizedWindow {
        input_ids: vec![cls],
        token_type_ids: vec![0],
        offsets: vec![(0, 0)],
        word_ids: vec![None],
        sequence_ids: vec![None],
    };
    let mut positions = [0usize; 4];
    let push_marker = |window: &mut TokenizedWindow, id: u32| {
        window.input_ids.push(id);
        window.token_type_ids.push(0);
        window.offsets.push((0, 0));
        window.word_ids.push(None);
        window.sequence_ids.push(Some(0));
        window.input_ids.len() - 1
    };
    for (k, &t) in content.iter().enumerate().take(hi).skip(lo) {
        if k == e1.0 {
            positions[0] = push_marker(&mut window, marker_ids[0]);
        }
        if k == e2.0 {
            positions[2] = push_marker(&mut window, marker_ids[2]);
        }
        window.input_ids.push(plain.input_ids[t]);
        window.token_type_ids.push(0);
        window.offsets.push(plain.offsets[t]);
        window.word_ids.push(plain.word_ids[t]);
        window.sequence_ids.push(Some(0));
        if k == e1.1 {
            positions[1] = push_marker(&mut window, marker_ids[1]);
        }
        if k == e2.1 {
            positions[3] = push_marker(&mut window, marker_ids[3]);
        }
    }
    window.input_ids.push(sep);
    window.token_type_ids.push(0);
    window.offsets.push((0, 0));
    window.word_ids.push(None);
    window.sequence_ids.push(None);
    Ok((window, positions))
}

impl Task for RelationTask {
    type Example = Example;
    type Feature = Feature;
    type Model = RelationClassifier;
    /// Logits, one per label.
    type Output = Vec<f32>;

    fn name(&self) -> &str {
        "relation"
    }

    /// The heads read token states and the `cls` head is each family's own.
    fn supports_family(&self, _family: encoder::ModelFamily) -> bool {
        true
    }

    fn added_tokens(&self) -> Vec<String> {
        self.added.clone()
    }

    fn build_model(
        &self,
        encoder: encoder::BertModel,
        config: &EncoderConfig,
        classifier_dropout: f64,
        device: &Device,
    ) -> RelationClassifier {
        RelationClassifier::new(
            encoder,
            config,
            self.labels.len(),
            self.head,
            classifier_dropout,
            device,
        )
    }

    fn featurize(
        &self,
        examples: &[Example],
        tokenizer: &Tokenizer,
        max_seq_length: usize,
    ) -> Result<Vec<Feature>> {
        let marker_ids = self.markers.ids(tokenizer)?;
        examples
            .iter()
            .map(|e| {
                let (window, marker_positions) = mark(e, tokenizer, marker_ids, max_seq_length)?;
                Ok(Feature {
                    window,
                    marker_positions,
                    label: self.label_id(e)?,
                })
            })
            .collect()
    }

    fn feature_len(&self, feature: &Feature) -> usize {
        feature.window.len()
    }

    /// Mean cross-entropy over the labels.
    fn loss(&self, model: &RelationClassifier, batch: &[&Feature], device: &Device) -> Tensor<1> {
        let logits = self.logits(model, batch, device);
        let classes: Vec<usize> = batch
            .iter()
            .map(|f| f.label.expect("training features are labelled"))
            .collect();
        tuning::task::cross_entropy(logits, &classes, device)
    }

    fn predict(
        &self,
        model: &RelationClassifier,
        batch: &[&Feature],
        device: &Device,
    ) -> Vec<Vec<f32>> {
        let logits = self.logits(model, batch, device);
        tuning::task::rows(logits)
    }

    fn evaluate(
        &self,
        _examples: &[Example],
        features: &[Feature],
        outputs: &[Vec<f32>],
    ) -> Metrics {
        let gold: Vec<&str> = features
            .iter()
            .map(|f| self.labels[f.label.expect("evaluation features are labelled")].as_str())
            .collect();
        let predicted: Vec<Option<&str>> = outputs
            .iter()
            .map(|o| Some(self.labels[argmax(o)].as_str()))
            .collect();
        metrics::score(&gold, &predicted, &self.other).metrics()
    }

    fn selection_metric(&self) -> (&'static str, bool) {
        ("macro_f1", true)
    }

    /// A run's export: the markers, head and labels it was trained with (a checkpoint
    /// without them cannot be used: which tokens mark the entities is not in its weights).
    fn from_export(config: &EncoderConfig, path: &Path) -> Result<RelationTask> {
        let at = path.display();
        let settings = config
            .extra
            .get("finetune_relation")
            .ok_or_else(|| anyhow!("{at}: no `finetune_relation` entry; not a relation model"))?;
        let head: Head = serde_json::from_value(settings["head"].clone())
            .map_err(|e| anyhow!("{at}: finetune_relation.head: {e}"))?;
        let markers: [String; 4] = serde_json::from_value(settings["markers"].clone())
            .map_err(|e| anyhow!("{at}: finetune_relation.markers: {e}"))?;
        let other = settings["other_label"]
            .as_str()
            .unwrap_or(OTHER)
            .to_string();
        let labels = tuning::task::labels::read(config, path)?;
        Ok(RelationTask {
            labels,
            head,
            markers: Markers(markers),
            added: Vec::new(),
            other,
        })
    }

    fn export_config(&self, config: &mut EncoderConfig) {
        // Only the [CLS] head has transformers' layout; the others name our own class so
        // that AutoModelForSequenceClassification does not load them with a wrong head.
        let architecture = config.family().class_name(match self.head {
            Head::Cls => "ForSequenceClassification",
            Head::EntityStart | Head::Rbert => "ForRelationClassification",
        });
        tuning::task::labels::write(config, &architecture, &self.labels);
        let extra = &mut config.extra;
        extra.insert(
            "finetune_relation".into(),
            json!({
                "head": self.head,
                "markers": self.markers.0,
                "other_label": self.other,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::parse_semeval;

    fn tokenizer() -> Tokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/encoder/tiny-bert");
        Tokenizer::from_model_dir(&dir).unwrap()
    }

    fn example(sentence: &str) -> Example {
        parse_semeval(&format!("1\t\"{sentence}\"\nOther\n"), "t.txt")
            .unwrap()
            .remove(0)
    }

    fn tokens(tok: &Tokenizer, window: &TokenizedWindow) -> Vec<String> {
        window
            .input_ids
            .iter()
            .map(|&id| tok.id_to_token(id).unwrap())
            .collect()
    }

    #[test]
    fn markers_are_inserted_around_the_entity_tokens() {
        let tok = tokenizer();
        let ids = Markers::punct().ids(&tok).unwrap();
        let e = example("the <e2>cat</e2> sat on <e1>a mat</e1> .");
        let (window, positions) = mark(&e, &tok, ids, 64).unwrap();
        let t = tokens(&tok, &window);
        // e2 comes first in the text here: its markers (#) enclose `cat`.
        assert_eq!(t[0], "[CLS]");
        assert_eq!(t[t.len() - 1], "[SEP]");
        assert_eq!(t[positions[2]], "#");
        assert_eq!(t[positions[3]], "#");
        assert_eq!(t[positions[0]], "$");
        assert_eq!(t[positions[1]], "$");
        let e2_text: String = t[positions[2] + 1..positions[3]].concat();
        assert_eq!(e2_text.replace("##", ""), "cat");
        let e1_text: String = t[positions[0] + 1..positions[1]].join(" ");
        assert_eq!(e1_text.replace(" ##", ""), "a mat");
        assert!(positions[3] < positions[0], "e2 before e1 in the text");
        // Same words as without markers, plus exactly four markers.
        let plain = tok
            .encode(&e.text, None, &EncodeOptions::default())
            .unwrap();
        assert_eq!(window.len(), plain[0].len() + 4);
    }

    #[test]
    fn long_sentences_keep_a_window_around_both_entities() {
        let tok = tokenizer();
        let ids = Markers::punct().ids(&tok).unwrap();
        let filler = "x ".repeat(40);
        let e = example(&format!("{filler}<e1>cat</e1> and <e2>dog</e2> {filler}"));
        let (window, positions) = mark(&e, &tok, ids, 20).unwrap();
        assert_eq!(window.len(), 20);
        let t = tokens(&tok, &window);
        assert_eq!(
            t[positions[0] + 1..positions[1]].concat().replace("##", ""),
            "cat"
        );
        assert_eq!(
            t[positions[2] + 1..positions[3]].concat().replace("##", ""),
            "dog"
        );
        // Entities too far apart for the window: an error naming the example.
        let far = example(&format!("<e1>cat</e1> {filler} <e2>dog</e2>"));
        let err = mark(&far, &tok, ids, 20).unwrap_err().to_string();
        assert!(
            err.contains("t.txt:1") && err.contains("max_seq_length"),
            "{err}"
        );
    }

    #[test]
    fn markers_missing_from_the_vocabulary_are_named() {
        let err = Markers::unused().ids(&tokenizer()).unwrap_err().to_string();
        assert!(
            err.contains("[unused2]") && err.contains("--markers new"),
            "{err}"
        );
    }
}
