//! Named-entity recognition as a [`tuning::Task`]: words -> sub-token windows with aligned
//! labels, and per-window predictions merged back to one tag per word.
//!
//! Alignment as transformers' run_ner: the first sub-token of each word carries the word's
//! label; the others are ignored in the loss (-100), or, with `label_all_tokens`, carry the
//! word's label with `B-` turned into `I-`. A sentence longer than `max_seq_length` is split
//! into overlapping windows (`doc_stride` sub-tokens shared); each word's prediction is
//! taken from the window where its first sub-token has the most context on both sides.
//! With `document_context`, each window is filled with the neighbouring words of the same
//! document (alternately after and before the sentence); only the sentence's own words carry
//! labels and predictions.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use encoder::{EncodeOptions, EncoderConfig, TokenizedWindow, Tokenizer};
use serde_json::json;
use tuning::app::{Evaluation, Inference};
use tuning::task::argmax;
use tuning::{Metrics, Task};

use crate::data::{self, Reading, Sentence, TextInput, without_tags};
use crate::head::TokenClassifier;
use crate::metrics::{self, Mode};

/// transformers' ignore index: tokens with this label do not count in the loss.
pub const IGNORE: i64 = -100;

/// The logits of a window, token after token (`tokens x labels`, row-major).
pub type TokenLogits = Vec<f32>;

/// A window's view of a word: how much context its first sub-token has there, and its logits.
type Candidate<'o> = (usize, &'o [f32]);

/// One window of sub-tokens.
#[derive(Debug, Clone)]
pub struct Feature {
    pub window: TokenizedWindow,
    /// Per token: the label id, or [`IGNORE`].
    pub labels: Vec<i64>,
    /// Per token: the index (in its sentence) of the word this token is the first sub-token
    /// of, for words of the centre sentence only.
    pub first_of_word: Vec<Option<usize>>,
    /// The sentence this window belongs to (index into the examples).
    pub sentence: usize,
}

#[derive(Debug, Clone)]
pub struct NerTask {
    /// IOB2 label names; output i is `labels[i]`.
    pub labels: Vec<String>,
    pub label_all_tokens: bool,
    pub document_context: bool,
    /// Sub-tokens shared by consecutive windows of a long sentence.
    pub doc_stride: usize,
    pub mode: Mode,
}

impl NerTask {
    /// The label list for a set of IOB2-tagged sentences: `O`, then `B-`/`I-` per type,
    /// types sorted.
    pub fn labels_for<'a>(tagged: impl Iterator<Item = &'a Sentence>) -> Vec<String> {
        let mut kinds: Vec<String> = tagged
            .flat_map(|s| s.tags.iter().flatten())
            .filter_map(|t| t.split_once('-').map(|(_, k)| k.to_string()))
            .collect();
        kinds.sort();
        kinds.dedup();
        let mut labels = vec!["O".to_string()];
        for kind in kinds {
            labels.push(format!("B-{kind}"));
            labels.push(format!("I-{kind}"));
        }
        labels
    }

    /// A window of `max_seq_length` tokens must hold `doc_stride` shared tokens, `[CLS]`,
    /// `[SEP]` and at least one new token.
    pub fn check_window(&self, max_seq_length: usize) -> Result<()> {
        if max_seq_length <= self.doc_stride + 2 {
            bail!(
                "doc_stride {} must be less than max_seq_length {max_seq_length} - 2",
                self.doc_stride
            );
        }
        Ok(())
    }

    /// The id of `tag`, or an error naming where it is (`at`: "file:line").
    fn label_id(&self, tag: &str, at: &str) -> Result<i64> {
        self.labels
            .iter()
            .position(|l| l == tag)
            .map(|i| i as i64)
            .ok_or_else(|| {
                anyhow!(
                    "{at}: unknown tag `{tag}` (the model knows: {})",
                    self.labels.join(", ")
                )
            })
    }

    /// The words of sentence `index` and, with document context, of its neighbours, and the
    /// range of the sentence's own words in that list.
    fn context_words<'a>(
        &self,
        sentences: &'a [Sentence],
        index: usize,
        word_tokens: &dyn Fn(usize) -> Vec<usize>,
        max_len: usize,
    ) -> (Vec<&'a str>, std::ops::Range<usize>) {
        let own = &sentences[index];
        let words: Vec<&str> = own.words.iter().map(String::as_str).collect();
        if !self.document_context {
            let n = words.len();
            return (words, 0..n);
        }
        let used: usize = word_tokens(index).iter().sum();
        let mut budget = max_len.saturating_sub(2 + used);
        if budget == 0 {
            let n = words.len();
            return (words, 0..n);
        }
        let same_doc = |i: usize| sentences[i].document == own.document;
        // Candidate words after and before the sentence, nearest first.
        let mut after: Vec<(&str, usize)> = Vec::new();
        let mut next = index + 1;
        while next < sentences.len() && same_doc(next) && after.len() < max_len {
            let counts = word_tokens(next);
            after.extend(sentences[next].words.iter().map(String::as_str).zip(counts));
            next += 1;
        }
        let mut before: Vec<(&str, usize)> = Vec::new();
        let mut previous = index;
        while previous > 0 && same_doc(previous - 1) && before.len() < max_len {
            previous -= 1;
            let counts = word_tokens(previous);
            let words = sentences[previous]
                .words
                .iter()
                .map(String::as_str)
                .zip(counts);
            // Nearest first: the previous sentence's words from its end.
            before.extend(words.rev());
        }
        let (mut left, mut right) = (Vec::new(), Vec::new());
        let (mut a, mut b) = (0, 0);
        loop {
            let mut grew = false;
            if let Some(&(word, cost)) = after.get(b)
                && cost <= budget
            {
                right.push(word);
                budget -= cost;
                b += 1;
                grew = true;
            }
            if let Some(&(word, cost)) = before.get(a)
                && cost <= budget
            {
                left.push(word);
                budget -= cost;
                a += 1;
                grew = true;
            }
            if !grew {
                break;
            }
        }
        left.reverse();
        let start = left.len();
        let end = start + words.len();
        let mut all = left;
        all.extend(words);
        all.extend(right);
        (all, start..end)
    }

    fn input(&self, batch: &[&Feature], device: &Device) -> encoder::EncoderInput {
        let windows: Vec<&TokenizedWindow> = batch.iter().map(|f| &f.window).collect();
        encoder::input::pad_batch(&windows, 0, device)
    }

    /// Per word of every sentence, the logits of its first sub-token in the window where
    /// that sub-token has the most context on both sides (`None`: the word has no sub-token).
    pub fn word_logits<'o>(
        &self,
        sentences: &[Sentence],
        features: &[Feature],
        outputs: &'o [TokenLogits],
    ) -> Vec<Vec<Option<&'o [f32]>>> {
        let n = self.labels.len();
        // (context, logits) of the best window so far, per word.
        let mut best: Vec<Vec<Option<Candidate>>> = sentences
            .iter()
            .map(|s| vec![None; s.words.len()])
            .collect();
        for (feature, logits) in features.iter().zip(outputs) {
            let last = feature.window.len().saturating_sub(1);
            for (position, word) in feature.first_of_word.iter().enumerate() {
                let Some(word) = *word else { continue };
                let context = position.min(last - position);
                let slot = &mut best[feature.sentence][word];
                if slot.is_none_or(|(c, _)| context > c) {
                    *slot = Some((context, &logits[position * n..(position + 1) * n]));
                }
            }
        }
        best.into_iter()
            .map(|words| words.into_iter().map(|w| w.map(|(_, l)| l)).collect())
            .collect()
    }

    /// One tag per word for every sentence (`O` for a word without sub-tokens).
    pub fn merge(
        &self,
        sentences: &[Sentence],
        features: &[Feature],
        outputs: &[TokenLogits],
    ) -> Vec<Vec<String>> {
        self.word_logits(sentences, features, outputs)
            .into_iter()
            .map(|words| {
                words
                    .into_iter()
                    .map(|w| w.map_or("O".to_string(), |l| self.labels[argmax(l)].clone()))
                    .collect()
            })
            .collect()
    }
}

/// What a model says about every word of every sentence.
pub struct Tagged {
    /// One IOB2 tag per word.
    pub tags: Vec<Vec<String>>,
    /// The logits of each word's first sub-token (`None` for a word without sub-tokens).
    pub logits: Vec<Vec<Option<Vec<f32>>>>,
}

impl NerTask {
    /// Refuses a gold tag the model does not know, naming its line (before the model runs).
    pub fn check_tags(&self, sentences: &[Sentence], file: &Path) -> Result<()> {
        for s in sentences {
            for (t, line) in s.tags.iter().flatten().zip(&s.lines) {
                if !self.labels.contains(t) {
                    bail!(
                        "{}:{line}: unknown tag `{t}` (the model knows: {})",
                        file.display(),
                        self.labels.join(", ")
                    );
                }
            }
        }
        Ok(())
    }

    /// conlleval lines for `predict`: `word gold predicted` (`word predicted` for untagged
    /// input), a blank line after each sentence.
    pub fn conll_lines(
        sentences: &[Sentence],
        tags: &[Vec<String>],
        layout: Option<&str>,
    ) -> Result<Vec<u8>> {
        if let Some(original) = layout {
            return Ok(Self::conll_in_layout(sentences, tags, original));
        }
        let mut out = Vec::new();
        for (sentence, tags) in sentences.iter().zip(tags) {
            for (i, (word, tag)) in sentence.words.iter().zip(tags).enumerate() {
                match &sentence.original_tags {
                    Some(gold) => writeln!(out, "{word} {} {tag}", gold[i])?,
                    None => writeln!(out, "{word} {tag}")?,
                }
            }
            writeln!(out)?;
        }
        Ok(out)
    }

    /// The predictions line for line as the CoNLL input `original` lays them out: each word on
    /// its own line, `-DOCSTART-` lines kept, other lines blank. `score --gold` then reads the
    /// output against the input it came from.
    fn conll_in_layout(sentences: &[Sentence], tags: &[Vec<String>], original: &str) -> Vec<u8> {
        let mut at_line: HashMap<usize, (usize, usize)> = HashMap::new();
        for (s, sentence) in sentences.iter().enumerate() {
            for (w, &line) in sentence.lines.iter().enumerate() {
                at_line.insert(line, (s, w));
            }
        }
        let mut out = String::with_capacity(original.len() + original.len() / 4);
        for (i, line) in original.lines().enumerate() {
            match at_line.get(&(i + 1)) {
                Some(&(s, w)) => {
                    let (sentence, tag) = (&sentences[s], &tags[s][w]);
                    let word = &sentence.words[w];
                    match &sentence.original_tags {
                        Some(gold) => out.push_str(&format!("{word} {} {tag}", gold[w])),
                        None => out.push_str(&format!("{word} {tag}")),
                    }
                }
                None if line.trim_start().starts_with("-DOCSTART-") => out.push_str(line.trim()),
                None => {}
            }
            out.push('\n');
        }
        out.into_bytes()
    }

    /// JSONL per sentence: its words, the labels and each word's first sub-token logits.
    pub fn logit_lines(&self, sentences: &[Sentence], tagged: &Tagged) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (sentence, logits) in sentences.iter().zip(&tagged.logits) {
            let record = json!({
                "words": sentence.words,
                "labels": self.labels,
                "logits": logits,
            });
            writeln!(out, "{record}")?;
        }
        Ok(out)
    }

    /// JSONL per text line: the line, its text and its entities with character offsets.
    pub fn entity_lines(
        text: &[String],
        input: &TextInput,
        tags: &[Vec<String>],
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for ((line, words), tags) in input.spans.iter().zip(tags) {
            let text = &text[*line];
            let mut found: Vec<_> = metrics::conlleval_entities(std::slice::from_ref(tags))
                .into_iter()
                .collect();
            found.sort_by_key(|e| e.1);
            // Byte position of each character (and of the end), once per line: offsets are in
            // characters, and counting them from the start for each entity was quadratic.
            let at: Vec<usize> = text
                .char_indices()
                .map(|(b, _)| b)
                .chain([text.len()])
                .collect();
            let entities: Vec<serde_json::Value> = found
                .into_iter()
                .map(|(kind, first, last)| {
                    let (start, end) = (words[first].1, words[last].2);
                    let surface = &text[at[start]..at[end]];
                    json!({"type": kind, "text": surface, "start": start, "end": end})
                })
                .collect();
            writeln!(
                out,
                "{}",
                json!({"line": line + 1, "text": text, "entities": entities})
            )?;
        }
        Ok(out)
    }
}

/// Runs `model` over `sentences` (their gold tags set aside) and merges the windows back into
/// one prediction per word.
pub fn tag(model: &Inference<NerTask>, sentences: &[Sentence]) -> Result<Tagged> {
    let (features, outputs) = model.run(&without_tags(sentences))?;
    let task = &model.task;
    let tags = task.merge(sentences, &features, &outputs);
    let logits = task
        .word_logits(sentences, &features, &outputs)
        .into_iter()
        .map(|words| words.into_iter().map(|w| w.map(<[f32]>::to_vec)).collect())
        .collect();
    Ok(Tagged { tags, logits })
}

/// `train`: the task for the tagged `train` file, whose tags give the labels, and the data
/// (`settings` gives everything but the labels). Says on stderr what it read.
pub fn prepare(
    train_path: &Path,
    validation_path: &Path,
    reading: &Reading,
    settings: NerTask,
    max_seq_length: usize,
) -> Result<(NerTask, Vec<Sentence>, Vec<Sentence>)> {
    settings.check_window(max_seq_length)?;
    let (train, normalized) = reading.load_tagged(train_path)?;
    let (validation, _) = reading.load_tagged(validation_path)?;
    let task = NerTask {
        labels: NerTask::labels_for(train.iter()),
        ..settings
    };
    eprintln!(
        "ner: {} training sentences from {} (scheme {}, trained as iob2), {} validation \
         from {}; labels: {}",
        train.len(),
        train_path.display(),
        normalized.scheme,
        validation.len(),
        validation_path.display(),
        task.labels.join(" ")
    );
    Ok((task, train, validation))
}

/// `eval`: entity-level scores of `model` on the tagged file `path`, read as `reading` says.
pub fn evaluation(
    model: &Inference<NerTask>,
    path: &Path,
    reading: &Reading,
    mode: Mode,
) -> Result<Evaluation> {
    let (sentences, normalized) = reading.load_tagged(path)?;
    model.task.check_tags(&sentences, path)?;
    let predicted = tag(model, &sentences)?.tags;
    let gold: Vec<Vec<String>> = sentences.iter().map(|s| s.tags.clone().unwrap()).collect();
    let report = metrics::score(&gold, &predicted, mode);
    Ok(Evaluation {
        report: json!({
            "data": path,
            "scheme": normalized.scheme.to_string(),
            "repaired_tags": normalized.repaired.len(),
            "sentences": sentences.len(),
            "report": report,
        }),
        ..Evaluation::default()
    })
}

/// `predict`: with `text`, raw text lines (a file or `-`) as JSONL entities with character
/// offsets; otherwise CoNLL/JSONL sentences as conlleval lines (`format` `conll`) or their
/// words' logits (`logits`).
pub fn predictions(
    model: &Inference<NerTask>,
    input: &Path,
    reading: &Reading,
    text: bool,
    format: &str,
) -> Result<Vec<u8>> {
    if text {
        let lines = data::read_text_lines(input)?;
        let found = data::text_sentences(&lines, &input.display().to_string());
        if found.sentences.is_empty() {
            bail!("{}: no text", input.display());
        }
        return NerTask::entity_lines(&lines, &found, &tag(model, &found.sentences)?.tags);
    }
    let (sentences, original) = reading.load_for_prediction(input)?;
    let tagged = tag(model, &sentences)?;
    let layout = (!tuning::app::cli::is_jsonl(input, &original)).then_some(original.as_str());
    match format {
        "conll" => NerTask::conll_lines(&sentences, &tagged.tags, layout),
        "logits" => model.task.logit_lines(&sentences, &tagged),
        other => bail!("unknown --format `{other}` (conll, logits)"),
    }
}

impl Task for NerTask {
    type Example = Sentence;
    type Feature = Feature;
    type Model = TokenClassifier;
    type Output = TokenLogits;

    fn name(&self) -> &str {
        "ner"
    }

    fn build_model(
        &self,
        encoder: encoder::BertModel,
        config: &EncoderConfig,
        classifier_dropout: f64,
        device: &Device,
    ) -> TokenClassifier {
        TokenClassifier::new(
            encoder,
            config,
            self.labels.len(),
            classifier_dropout,
            device,
        )
    }

    fn featurize(
        &self,
        sentences: &[Sentence],
        tokenizer: &Tokenizer,
        max_seq_length: usize,
    ) -> Result<Vec<Feature>> {
        self.check_window(max_seq_length)?;
        // Words are tokenized as run_ner does for RoBERTa (`add_prefix_space=True`): each one
        // as if a space preceded it. Changes nothing for WordPiece or SentencePiece.
        let tokenizer = &tokenizer.with_prefix_space();
        let plain = EncodeOptions {
            add_special_tokens: false,
            ..EncodeOptions::default()
        };
        // Sub-tokens per word of a sentence (words are tokenized independently), computed once
        // per sentence: with document context every sentence is also a neighbour of a dozen
        // others, and tokenizing it again for each of them was most of the featurizing time.
        let counted: Vec<OnceCell<Vec<usize>>> =
            sentences.iter().map(|_| OnceCell::new()).collect();
        let word_tokens = |index: usize| -> Vec<usize> {
            counted[index]
                .get_or_init(|| {
                    let s = &sentences[index];
                    let words: Vec<&str> = s.words.iter().map(String::as_str).collect();
                    let mut counts = vec![0usize; words.len()];
                    if let Ok(windows) = tokenizer.encode_words(&words, &plain) {
                        for w in windows[0].word_ids.iter().flatten() {
                            counts[*w as usize] += 1;
                        }
                    }
                    counts
                })
                .clone()
        };
        let windowed = EncodeOptions {
            max_length: Some(max_seq_length),
            stride: self.doc_stride,
            return_overflowing: true,
            ..EncodeOptions::default()
        };
        let mut features = Vec::new();
        for (index, sentence) in sentences.iter().enumerate() {
            let (words, own) = self.context_words(sentences, index, &word_tokens, max_seq_length);
            let windows = tokenizer
                .encode_words(&words, &windowed)
                .map_err(|e| anyhow!("{}: cannot tokenize: {e}", sentence.source))?;
            let tag_ids = match &sentence.tags {
                Some(tags) => Some(
                    tags.iter()
                        .enumerate()
                        .map(|(i, t)| self.label_id(t, &sentence.word_source(i)))
                        .collect::<Result<Vec<i64>>>()?,
                ),
                None => None,
            };
            for window in windows {
                let mut labels = vec![IGNORE; window.len()];
                let mut first_of_word = vec![None; window.len()];
                for t in 0..window.len() {
                    let Some(word) = window.word_ids[t] else {
                        continue;
                    };
                    let word = word as usize;
                    if !own.contains(&word) {
                        continue;
                    }
                    let local = word - own.start;
                    // run_ner's rule, a token whose word differs from the previous token's;
                    // and it must start the word (offsets are within the word), since a
                    // window may begin in the middle of one. The first rule alone matters
                    // for tokenizers that give a word several tokens starting at 0
                    // (SentencePiece's lone `▁`, byte-level BPE's `Ġ`).
                    let is_first = window.offsets[t].0 == 0
                        && (t == 0 || window.word_ids[t - 1] != Some(word as u32));
                    if is_first {
                        first_of_word[t] = Some(local);
                    }
                    if let Some(ids) = &tag_ids {
                        if is_first {
                            labels[t] = ids[local];
                        } else if self.label_all_tokens {
                            let tag = &self.labels[ids[local] as usize];
                            let inside = match tag.strip_prefix("B-") {
                                Some(kind) => format!("I-{kind}"),
                                None => tag.clone(),
                            };
                            labels[t] = self.label_id(&inside, &sentence.word_source(local))?;
                        }
                    }
                }
                features.push(Feature {
                    window,
                    labels,
                    first_of_word,
                    sentence: index,
                });
            }
        }
        Ok(features)
    }

    fn feature_len(&self, feature: &Feature) -> usize {
        feature.window.len()
    }

    /// Mean cross-entropy over the labelled tokens of the batch (transformers'
    /// `CrossEntropyLoss(ignore_index=-100)`).
    fn loss(&self, model: &TokenClassifier, batch: &[&Feature], device: &Device) -> Tensor<1> {
        let logits = model.forward(self.input(batch, device));
        let [rows, seq, n] = logits.dims();
        let mut targets = vec![0i64; rows * seq];
        let mut weights = vec![0f32; rows * seq];
        for (row, f) in batch.iter().enumerate() {
            for (t, &label) in f.labels.iter().enumerate() {
                if label != IGNORE {
                    targets[row * seq + t] = label;
                    weights[row * seq + t] = 1.0;
                }
            }
        }
        let count = weights.iter().sum::<f32>().max(1.0);
        let targets =
            Tensor::<2, Int>::from_data(TensorData::new(targets, [rows * seq, 1]), device);
        let weights = Tensor::<2>::from_data(TensorData::new(weights, [rows * seq, 1]), device);
        let picked = log_softmax(logits.reshape([rows * seq, n]), 1).gather(1, targets);
        (picked * weights).sum().div_scalar(count).neg()
    }

    fn predict(
        &self,
        model: &TokenClassifier,
        batch: &[&Feature],
        device: &Device,
    ) -> Vec<TokenLogits> {
        let logits = model.forward(self.input(batch, device));
        let [_, seq, n] = logits.dims();
        let values = logits
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 logits");
        batch
            .iter()
            .enumerate()
            .map(|(row, f)| values[row * seq * n..(row * seq + f.window.len()) * n].to_vec())
            .collect()
    }

    fn evaluate(
        &self,
        sentences: &[Sentence],
        features: &[Feature],
        outputs: &[TokenLogits],
    ) -> Metrics {
        let predicted = self.merge(sentences, features, outputs);
        let gold: Vec<Vec<String>> = sentences
            .iter()
            .map(|s| s.tags.clone().expect("evaluation sentences are tagged"))
            .collect();
        metrics::score(&gold, &predicted, self.mode).metrics()
    }

    fn selection_metric(&self) -> (&'static str, bool) {
        ("f1", true)
    }

    /// A run's export, or a transformers `*ForTokenClassification` checkpoint (labels from
    /// `id2label`, run_ner's settings: first sub-tokens, no document context).
    fn from_export(config: &EncoderConfig, path: &Path) -> Result<Self> {
        tuning::task::labels::check_architecture(config, path, &["ForTokenClassification"])?;
        let labels = tuning::task::labels::read_or_default(config, path)?;
        let settings = config.extra.get("finetune_ner");
        let setting = |key: &str| settings.and_then(|s| s.get(key));
        Ok(NerTask {
            labels,
            label_all_tokens: setting("label_all_tokens")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            document_context: setting("document_context")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            doc_stride: setting("doc_stride").and_then(|v| v.as_u64()).unwrap_or(32) as usize,
            mode: Mode::Conlleval,
        })
    }

    /// Every family's `*ForTokenClassification` is the encoder, dropout and one linear layer
    /// named `classifier`: the same head.
    fn supports_family(&self, _family: encoder::ModelFamily) -> bool {
        true
    }

    fn export_config(&self, config: &mut EncoderConfig) {
        let architecture = config.family().class_name("ForTokenClassification");
        tuning::task::labels::write(config, &architecture, &self.labels);
        let extra = &mut config.extra;
        extra.insert(
            "finetune_ner".into(),
            json!({
                "scheme": "iob2",
                "label_all_tokens": self.label_all_tokens,
                "document_context": self.document_context,
                "doc_stride": self.doc_stride,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Columns, normalize_tags, parse_conll};

    fn tokenizer() -> Tokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/encoder/tiny-bert");
        Tokenizer::from_model_dir(&dir).unwrap()
    }

    fn sentences() -> Vec<Sentence> {
        let text = "-DOCSTART- O\n\na O\nb I-PER\n\nc O\n\nd I-LOC\n\n-DOCSTART- O\n\ne O\n";
        let mut s = parse_conll(text, "t", Columns::default(), true).unwrap();
        normalize_tags(&mut s, None, Default::default(), std::path::Path::new("t")).unwrap();
        s
    }

    fn task(document_context: bool) -> NerTask {
        let s = sentences();
        NerTask {
            labels: NerTask::labels_for(s.iter()),
            label_all_tokens: false,
            document_context,
            doc_stride: 2,
            mode: Mode::Conlleval,
        }
    }

    fn words(tok: &Tokenizer, f: &Feature) -> String {
        f.window
            .input_ids
            .iter()
            .map(|&i| tok.id_to_token(i).unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn document_context_adds_neighbours_of_the_same_document_only() {
        let tok = tokenizer();
        let s = sentences();
        let features = task(true).featurize(&s, &tok, 64).unwrap();
        assert_eq!(features.len(), 4, "one window per sentence");
        // Sentence 1 ("c") sees "a b" before and "d" after, not "e" (another document).
        assert_eq!(words(&tok, &features[1]), "[CLS] a b c d [SEP]");
        // Only its own word is labelled and predicted.
        let labelled: Vec<usize> = (0..features[1].labels.len())
            .filter(|&t| features[1].labels[t] != IGNORE)
            .collect();
        assert_eq!(labelled, vec![3]);
        assert_eq!(features[1].first_of_word[3], Some(0));
        assert_eq!(words(&tok, &features[3]), "[CLS] e [SEP]");
        // Without context each window holds its sentence alone.
        let plain = task(false).featurize(&s, &tok, 64).unwrap();
        assert_eq!(words(&tok, &plain[1]), "[CLS] c [SEP]");
    }

    #[test]
    fn context_stops_at_the_token_budget() {
        let tok = tokenizer();
        let s = sentences();
        // 5 tokens: [CLS] + c + [SEP] leaves 2, one word each side.
        let features = task(true).featurize(&s, &tok, 5).unwrap();
        assert_eq!(words(&tok, &features[1]), "[CLS] b c d [SEP]");
    }
}
