//! The fuzz targets: one per input format finetune reads, each calling the loader the binaries
//! call, on a file named as they expect.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// One input format and the loader that reads it.
pub struct Target {
    pub name: &'static str,
    /// What it reads, for reports.
    pub what: &'static str,
    /// The input's file name (its extension chooses the format).
    pub file: &'static str,
    /// The seed inputs, relative to the repository root.
    pub seeds: &'static [&'static str],
    /// Tokens of the format that mutations insert.
    pub tokens: &'static [&'static str],
    /// Reads the input at the path: `Err` for refused input; a panic is a bug.
    pub run: fn(&Path) -> Result<()>,
}

impl Target {
    /// The seed inputs' bytes (text seeds cut to their first 4 KB at a line end, so that
    /// mutations stay cheap).
    pub fn seed_inputs(&self) -> Result<Vec<Vec<u8>>> {
        let mut inputs = Vec::new();
        for seed in self.seeds {
            let bytes = if *seed == GENERATED_SAFETENSORS {
                small_safetensors()?
            } else {
                let path = root().join(seed);
                std::fs::read(&path).map_err(|e| anyhow::anyhow!("seed {}: {e}", path.display()))?
            };
            inputs.push(cut_text(bytes));
        }
        Ok(inputs)
    }
}

/// The repository root (seed files and the fixed gold files of the score targets).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cut_text(bytes: Vec<u8>) -> Vec<u8> {
    const MAX: usize = 4096;
    if bytes.len() <= MAX || std::str::from_utf8(&bytes).is_err() {
        return bytes;
    }
    let end = bytes[..MAX]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(MAX, |p| p + 1);
    bytes[..end].to_vec()
}

/// A seed made here: a safetensors file of two small tensors.
const GENERATED_SAFETENSORS: &str = "(generated) two-tensors.safetensors";

fn small_safetensors() -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("seed.safetensors");
    let tensors = std::collections::BTreeMap::from([
        (
            "bert.embeddings.word_embeddings.weight".to_string(),
            encoder::HostTensor {
                shape: vec![4, 2],
                data: vec![0.5; 8],
            },
        ),
        (
            "classifier.bias".to_string(),
            encoder::HostTensor {
                shape: vec![2],
                data: vec![1.0, -1.0],
            },
        ),
    ]);
    encoder::checkpoint::write_safetensors(&tensors, &path)?;
    Ok(std::fs::read(&path)?)
}

const TSV_TOKENS: &[&str] = &["sentence", "label", "\t", "\"", "\"\"", "sentence\tlabel\n"];
const JSON_TOKENS: &[&str] = &[
    "{\"",
    "\":",
    "\",\"",
    "\"text\"",
    "\"label\"",
    "\"id\"",
    "\\u0000",
];

/// Every target.
pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "sentiment-tsv",
            what: "sentiment data, GLUE TSV",
            file: "data.tsv",
            seeds: &["data/sentiment/train.tsv", "data/sentiment/validation.tsv"],
            tokens: TSV_TOKENS,
            run: |p| sentiment_load(p),
        },
        Target {
            name: "sentiment-csv",
            what: "sentiment data, CSV",
            file: "data.csv",
            seeds: &["crates/fuzz/seeds/sentiment.csv"],
            tokens: &[",", "\"", "\"\"", "sentence,label\n", "\"a,b\""],
            run: |p| sentiment_load(p),
        },
        Target {
            name: "sentiment-jsonl",
            what: "sentiment data, JSONL",
            file: "data.jsonl",
            seeds: &["crates/fuzz/seeds/sentiment.jsonl"],
            tokens: &["{\"sentence\": \"", "\"label\": ", "{\"text\":", "1"],
            run: |p| sentiment_load(p),
        },
        Target {
            name: "sentiment-parquet",
            what: "sentiment data, Parquet",
            file: "data.parquet",
            seeds: &[
                "tests/fixtures/sentiment/reviews.parquet",
                "tests/fixtures/sentiment/reviews-gzip.parquet",
                "tests/fixtures/sentiment/pairs.parquet",
                "tests/fixtures/sentiment/nulls.parquet",
                "tests/fixtures/sentiment/floats.parquet",
            ],
            tokens: &["PAR1", "sentence", "label", "\x15\x00", "\x19\x1c"],
            run: |p| sentiment_load(p),
        },
        Target {
            name: "sentiment-arrow",
            what: "sentiment data, Arrow IPC file",
            file: "data.arrow",
            seeds: &["tests/fixtures/sentiment/reviews.arrow"],
            tokens: &["ARROW1", "\x7f\x7f\x7f\x7f", "sentence", "label"],
            run: |p| sentiment_load(p),
        },
        Target {
            name: "sentiment-arrows",
            what: "sentiment data, Arrow IPC stream",
            file: "data.arrows",
            seeds: &["tests/fixtures/sentiment/reviews.arrows"],
            tokens: &["\x7f\x7f\x7f\x7f", "sentence", "label", "\x00\x00\x00\x00"],
            run: |p| sentiment_load(p),
        },
        Target {
            name: "sentiment-score",
            what: "sentiment score --predictions (GLUE TSV or JSONL) against the sample gold",
            file: "predictions.tsv",
            seeds: &[
                "crates/fuzz/seeds/sentiment-predictions.tsv",
                "crates/fuzz/seeds/sentiment-predictions.jsonl",
            ],
            tokens: &["index\tprediction\n", "{\"index\": ", "\"label\": \"1\"}"],
            run: |p| {
                let gold = root().join("crates/fuzz/seeds/sentiment-gold.tsv");
                let columns = sentiment::data::Columns::default();
                sentiment::metrics::score_files(&gold, p, &columns).map(drop)
            },
        },
        Target {
            name: "ner-conll",
            what: "ner data, CoNLL columns (tags checked and converted to IOB2)",
            file: "data.conll",
            seeds: &["data/ner/validation.conll", "data/ner/train.conll"],
            tokens: &[
                "-DOCSTART- -X- -X- O\n",
                " B-PER",
                " I-ORG",
                " E-LOC",
                " S-MISC",
                " O",
                "\n\n",
                "B-",
                "I-",
            ],
            run: |p| {
                let reading = ner::data::Reading::default();
                reading.load_tagged(p)?;
                reading.load_for_prediction(p).map(drop)
            },
        },
        Target {
            name: "ner-jsonl",
            what: "ner data, JSONL tokens and tags",
            file: "data.jsonl",
            seeds: &["crates/fuzz/seeds/ner.jsonl"],
            tokens: &[
                "\"tokens\"",
                "\"tags\"",
                "\"document\"",
                "\"B-PER\"",
                "\"I-X\"",
            ],
            run: |p| {
                let reading = ner::data::Reading::default();
                reading.load_tagged(p).map(drop)
            },
        },
        Target {
            name: "ner-text",
            what: "ner predict --text input (raw lines split into words with offsets)",
            file: "text.txt",
            seeds: &["data/samples/sentences.jsonl"],
            tokens: &["  ", "\u{a0}", "\u{3000}", "'s", "-", "."],
            run: |p| {
                let lines = ner::data::read_text_lines(p)?;
                let input = ner::data::text_sentences(&lines, "text");
                anyhow::ensure!(!input.sentences.is_empty(), "no text");
                Ok(())
            },
        },
        Target {
            name: "ner-score",
            what: "ner score: a conlleval file (token, gold, predicted)",
            file: "predictions.conlleval",
            seeds: &["tests/fixtures/ner/edge-cases.conlleval"],
            tokens: &[" B-PER", " I-PER", " O", "-DOCSTART-", " E-", " S-", "\n\n"],
            run: |p| ner::metrics::score_file(p, None, ner::metrics::Mode::Conlleval).map(drop),
        },
        Target {
            name: "relation-semeval",
            what: "relation data, SemEval-2010 Task 8 format",
            file: "data.txt",
            seeds: &["data/relation/validation.txt"],
            tokens: &[
                "<e1>", "</e1>", "<e2>", "</e2>", "Other\n", "(e2,e1)", "Comment:", "\t\"",
            ],
            run: |p| relation::data::load(p, true).map(drop),
        },
        Target {
            name: "relation-jsonl",
            what: "relation data, JSONL with entity spans",
            file: "data.jsonl",
            seeds: &["crates/fuzz/seeds/relation.jsonl"],
            tokens: &[
                "\"e1\": [",
                "\"e2\": {\"start\": ",
                "\"end\": ",
                "\"label\"",
                "]",
            ],
            run: |p| relation::data::load(p, false).map(drop),
        },
        Target {
            name: "relation-score",
            what: "relation score: an answer key of predictions against the fixture key",
            file: "predictions.txt",
            seeds: &[
                "tests/fixtures/relation/predictions.txt",
                "tests/fixtures/relation/key.txt",
            ],
            tokens: &[
                "\tOther",
                "\tCause-Effect(e1,e2)",
                "(e2,e1)",
                "\t",
                "Cause-Effect",
            ],
            run: |p| {
                let gold = root().join("tests/fixtures/relation/key.txt");
                relation::metrics::score_files(&gold, p, "Other").map(drop)
            },
        },
        Target {
            name: "qa-squad",
            what: "qa data, SQuAD JSON",
            file: "data.json",
            seeds: &["tests/fixtures/qa/dev-v1.json"],
            tokens: &[
                "\"answer_start\": ",
                "\"is_impossible\": true",
                "\"answers\": []",
                "\"context\": \"",
                "\"qas\": [",
                "\"data\": [",
            ],
            run: |p| qa::data::load(p).map(drop),
        },
        Target {
            name: "qa-jsonl",
            what: "qa data, JSONL (datasets layout)",
            file: "data.jsonl",
            seeds: &["data/qa/validation.jsonl", "tests/fixtures/qa/dev-v2.jsonl"],
            tokens: &[
                "\"answer_start\": [",
                "\"text\": [",
                "\"answers\": {",
                "\"context\": \"",
            ],
            run: |p| qa::data::load(p).map(drop),
        },
        Target {
            name: "qa-score",
            what: "qa score: predictions.json against the fixture gold, and a no-answer file",
            file: "predictions.json",
            seeds: &[
                "crates/fuzz/seeds/qa-predictions.json",
                "tests/fixtures/qa/na-probs-v2.json",
            ],
            tokens: JSON_TOKENS,
            run: |p| {
                let gold = root().join("tests/fixtures/qa/dev-v1.json");
                let scored = qa::metrics::score_files(&gold, p, None, 0.0).map(drop);
                let probabilities = qa::data::read_map::<f64>(p, "probabilities").map(drop);
                scored.or(probabilities)
            },
        },
        Target {
            name: "config-json",
            what: "a model directory's config.json",
            file: "config.json",
            seeds: &[
                "tests/fixtures/encoder/tiny-bert/config.json",
                "tests/fixtures/checkpoints/token-classification/config.json",
                "tests/fixtures/checkpoints/question-answering/config.json",
            ],
            tokens: &[
                "\"hidden_size\": ",
                "\"num_attention_heads\": 0",
                "\"id2label\": {",
                "\"model_type\": \"bert\"",
                "\"max_position_embeddings\": ",
                "\"hidden_act\": \"",
            ],
            run: |p| {
                let text = std::fs::read_to_string(p)?;
                encoder::EncoderConfig::from_json_str(&text).map(drop)?;
                Ok(())
            },
        },
        Target {
            name: "safetensors",
            what: "a safetensors checkpoint (header and tensor data)",
            file: "model.safetensors",
            seeds: &[GENERATED_SAFETENSORS],
            tokens: &[
                "\"dtype\":\"F16\"",
                "\"shape\":[",
                "\"data_offsets\":[",
                "\"BF16\"",
                "\x00\x00\x00\x00",
            ],
            run: |p| encoder::Checkpoint::read(p).map(drop).map_err(Into::into),
        },
    ]
}

fn sentiment_load(path: &Path) -> Result<()> {
    let columns = sentiment::data::Columns::default();
    sentiment::data::load(path, &columns, sentiment::data::Labels::Optional).map(drop)
}
