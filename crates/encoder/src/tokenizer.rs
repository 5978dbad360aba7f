//! Tokenization with the model's own tokenizer, as transformers' fast tokenizers do it.
//!
//! Reads `tokenizer.json` through the `tokenizers` crate (the same Rust code that backs
//! transformers' `*TokenizerFast`); a model directory with only `vocab.txt` gets the BERT
//! WordPiece pipeline built from it, as transformers' `BertTokenizerFast` converts it.
//! Padding and truncation stored in `tokenizer.json` are switched off: like transformers, we
//! apply them per call, from [`EncodeOptions`]. Offsets are in characters (Unicode scalar
//! values), which is what Python's `offset_mapping` indexes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{
    AddedToken, EncodeInput, Encoding, InputSequence, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use crate::error::LoadError;

/// How to cut sequences that are too long, named as in transformers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// Remove tokens from the longer sequence first (transformers' default, `True`).
    LongestFirst,
    /// Cut only the first sequence (e.g. a long context placed first).
    OnlyFirst,
    /// Cut only the second sequence (SQuAD: question first, context second).
    OnlySecond,
}

impl std::str::FromStr for Truncation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "longest_first" => Ok(Self::LongestFirst),
            "only_first" => Ok(Self::OnlyFirst),
            "only_second" => Ok(Self::OnlySecond),
            _ => Err(format!(
                "unknown truncation `{s}` (longest_first, only_first, only_second)"
            )),
        }
    }
}

/// Per-call settings: `None` for `max_length` means no truncation at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    pub max_length: Option<usize>,
    pub truncation: Truncation,
    /// Tokens shared by consecutive overflowing windows (transformers' `stride`).
    pub stride: usize,
    /// Keep the windows after the first (transformers' `return_overflowing_tokens`).
    pub return_overflowing: bool,
    pub add_special_tokens: bool,
}

impl EncodeOptions {
    /// Truncate to `max_length` with the default strategy, dropping what does not fit.
    pub fn truncate_to(max_length: usize) -> Self {
        Self {
            max_length: Some(max_length),
            ..Self::default()
        }
    }
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            max_length: None,
            truncation: Truncation::LongestFirst,
            stride: 0,
            return_overflowing: false,
            add_special_tokens: true,
        }
    }
}

/// One tokenized window: everything a featurizer needs, and nothing about padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedWindow {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
    /// `(start, end)` character offsets into the input text the token belongs to; `(0, 0)` for
    /// special tokens.
    pub offsets: Vec<(usize, usize)>,
    /// For each token, the index of the word it came from (pre-split input) or of the
    /// pre-tokenizer's word (raw text); `None` for special tokens.
    pub word_ids: Vec<Option<u32>>,
    /// For each token, 0 (first text), 1 (second text) or `None` (special token).
    pub sequence_ids: Vec<Option<usize>>,
}

impl TokenizedWindow {
    fn from_encoding(encoding: &Encoding) -> Self {
        // `get_sequence_ids` builds a fresh vector on each call: once per window, not per
        // token (per token made a long text quadratic).
        let sequence_ids = encoding.get_sequence_ids();
        Self {
            input_ids: encoding.get_ids().to_vec(),
            token_type_ids: encoding.get_type_ids().to_vec(),
            offsets: encoding.get_offsets().to_vec(),
            word_ids: encoding.get_word_ids().to_vec(),
            sequence_ids,
        }
    }

    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }
}

/// The model's tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    source: PathBuf,
    /// `inner` with the truncation of the last call applied, reused while the settings stay
    /// the same: `tokenizers` keeps truncation inside the tokenizer, and making a configured
    /// copy clones the whole vocabulary map (~4 ms, which per sentence made featurizing
    /// SST-2's 67k training sentences take minutes).
    configured: Mutex<Option<(TruncationKey, tokenizers::Tokenizer)>>,
}

/// The settings that `configured` was built for.
type TruncationKey = (Option<usize>, Truncation, usize);

impl Clone for Tokenizer {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.source.clone())
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .finish()
    }
}

impl Tokenizer {
    fn new(inner: tokenizers::Tokenizer, source: PathBuf) -> Self {
        Self {
            inner,
            source,
            configured: Mutex::new(None),
        }
    }

    /// The configured copy (a panic elsewhere while it was held leaves nothing half-done in
    /// it: it is only ever replaced whole).
    fn configured(&self) -> MutexGuard<'_, Option<(TruncationKey, tokenizers::Tokenizer)>> {
        self.configured
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Loads `tokenizer.json` from a model directory, or builds BERT WordPiece from `vocab.txt`.
    pub fn from_model_dir(dir: &Path) -> Result<Self, LoadError> {
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Self::from_tokenizer_json(&json);
        }
        let vocab = dir.join("vocab.txt");
        if vocab.is_file() {
            return Self::from_vocab(&vocab, lower_case_setting(dir));
        }
        Err(LoadError::MissingFile {
            dir: dir.to_path_buf(),
            what: "tokenizer",
            expected: "tokenizer.json or vocab.txt",
        })
    }

    pub fn from_tokenizer_json(path: &Path) -> Result<Self, LoadError> {
        let mut inner =
            tokenizers::Tokenizer::from_file(path).map_err(|err| LoadError::Tokenizer {
                path: path.to_path_buf(),
                message: err.to_string(),
            })?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|err| LoadError::Tokenizer {
                path: path.to_path_buf(),
                message: err.to_string(),
            })?;
        Ok(Self::new(inner, path.to_path_buf()))
    }

    /// transformers' `BertTokenizerFast` built from a WordPiece vocabulary.
    pub fn from_vocab(path: &Path, lowercase: bool) -> Result<Self, LoadError> {
        let err = |message: String| LoadError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let model = WordPiece::from_file(&path.to_string_lossy())
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| err(e.to_string()))?;
        let mut inner = tokenizers::Tokenizer::new(model);
        let id = |token: &str| {
            inner
                .token_to_id(token)
                .ok_or_else(|| err(format!("vocabulary has no `{token}` token")))
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        inner.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)));
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), sep),
            ("[CLS]".into(), cls),
        )));
        inner.with_decoder(Some(WordPieceDecoder::default()));
        let specials: Vec<AddedToken> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .into_iter()
            .filter(|t| inner.token_to_id(t).is_some())
            .map(|t| AddedToken::from(t, true))
            .collect();
        inner.add_special_tokens(&specials);
        Ok(Self::new(inner, path.to_path_buf()))
    }

    /// The file this tokenizer was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Whether `id` is one of the tokenizer's special tokens (`[CLS]`, `[SEP]`, `[PAD]`, ...).
    pub fn is_special(&self, id: u32) -> bool {
        self.inner
            .get_added_tokens_decoder()
            .get(&id)
            .is_some_and(|token| token.special)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The `tokenizers` tokenizer itself, e.g. to save it with [`Tokenizer::save`].
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Adds tokens to the vocabulary, as transformers' `tokenizer.add_tokens` does (ordinary,
    /// not special, never split); returns how many were new. A new token's id follows the
    /// largest id so far, so `vocab_size` grows by that many. The embedding matrix must grow
    /// with it ([`crate::BertModel::resize_token_embeddings`]).
    pub fn add_tokens(&mut self, tokens: &[&str]) -> usize {
        let added: Vec<AddedToken> = tokens.iter().map(|t| AddedToken::from(*t, false)).collect();
        *self.configured() = None;
        self.inner.add_tokens(&added)
    }

    /// The tokenizer as transformers' `add_prefix_space=True` makes it (what run_ner does for
    /// RoBERTa): byte-level BPE tokenizes every pre-split word as if a space came before it,
    /// so a word gets the same tokens as inside running text. Tokenizers without a byte-level
    /// step (WordPiece, SentencePiece) are returned as they are.
    pub fn with_prefix_space(&self) -> Self {
        let mut inner = self.inner.clone();
        if let Some(pre) = inner.get_pre_tokenizer().and_then(with_prefix_space) {
            inner.with_pre_tokenizer(Some(pre));
        }
        if let Some(post) = inner.get_post_processor().and_then(with_prefix_space) {
            inner.with_post_processor(Some(post));
        }
        Self::new(inner, self.source.clone())
    }

    /// Writes `tokenizer.json` (without padding or truncation settings).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = self
            .inner
            .to_string(true)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        crate::fsutil::write_atomic(path, json.as_bytes())
    }

    /// Tokenizes one text, or a pair, into one window, or several with `return_overflowing`.
    pub fn encode(
        &self,
        text: &str,
        pair: Option<&str>,
        options: &EncodeOptions,
    ) -> Result<Vec<TokenizedWindow>, String> {
        let input: EncodeInput = match pair {
            Some(second) => (text, second).into(),
            None => text.into(),
        };
        self.encode_input(input, options)
    }

    /// Tokenizes pre-split words (NER): `word_ids` index into `words`, offsets are within each
    /// word.
    pub fn encode_words(
        &self,
        words: &[&str],
        options: &EncodeOptions,
    ) -> Result<Vec<TokenizedWindow>, String> {
        let input = EncodeInput::Single(InputSequence::from(words));
        self.encode_input(input, options)
    }

    fn encode_input(
        &self,
        input: EncodeInput,
        options: &EncodeOptions,
    ) -> Result<Vec<TokenizedWindow>, String> {
        let key = (options.max_length, options.truncation, options.stride);
        let mut configured = self.configured();
        if configured
            .as_ref()
            .is_none_or(|(built_for, _)| *built_for != key)
        {
            let mut tokenizer = self.inner.clone();
            let truncation = options.max_length.map(|max_length| TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy: match options.truncation {
                    Truncation::LongestFirst => TruncationStrategy::LongestFirst,
                    Truncation::OnlyFirst => TruncationStrategy::OnlyFirst,
                    Truncation::OnlySecond => TruncationStrategy::OnlySecond,
                },
                stride: options.stride,
            });
            tokenizer
                .with_truncation(truncation)
                .map_err(|e| e.to_string())?;
            *configured = Some((key, tokenizer));
        }
        let (_, tokenizer) = configured.as_ref().expect("configured above");
        let encoding = tokenizer
            .encode_char_offsets(input, options.add_special_tokens)
            .map_err(|e| e.to_string())?;
        let mut windows = vec![TokenizedWindow::from_encoding(&encoding)];
        if options.return_overflowing {
            // transformers keeps one level: the main window followed by its overflows.
            windows.extend(
                encoding
                    .get_overflowing()
                    .iter()
                    .map(TokenizedWindow::from_encoding),
            );
        }
        Ok(windows)
    }
}

/// `do_lower_case` from `tokenizer_config.json`; BERT's default (true) when absent.
/// `part` (a pre-tokenizer or post-processor) with `add_prefix_space` set wherever a
/// byte-level step has it, nested sequences included; `None` when nothing changes.
fn with_prefix_space<T>(part: &T) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    fn set(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(object) => {
                let mut changed = false;
                if object.get("add_prefix_space") == Some(&serde_json::Value::Bool(false)) {
                    object.insert("add_prefix_space".into(), true.into());
                    changed = true;
                }
                for child in object.values_mut() {
                    changed |= set(child);
                }
                changed
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, v| set(v) | c),
            _ => false,
        }
    }
    let mut value = serde_json::to_value(part).ok()?;
    if !set(&mut value) {
        return None;
    }
    serde_json::from_value(value).ok()
}

fn lower_case_setting(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v.get("do_lower_case").and_then(|b| b.as_bool()))
        .unwrap_or(true)
}
