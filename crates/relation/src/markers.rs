//! Entity marking: marker tokens inserted around both entities of a sentence.
//!
//! The markers are vocabulary entries inserted by id after tokenization, never text the
//! tokenizer could split: `[unused0]` as literal text becomes `[`, `unused`, `##0`, `]`.
//! Inserting by id also keeps the words themselves tokenized exactly as without markers.
//!
//! Choices (`--markers`):
//! - `auto` (default): `unused` where the vocabulary has `[unused0]`..`[unused3]` (BERT's,
//!   DistilBERT's and ELECTRA's vocabularies), else `new`;
//! - `unused`: `[unused0] e1 [unused1] ... [unused2] e2 [unused3]`, BERT's reserved entries, so
//!   the vocabulary and the embedding matrix keep their size and the export is a plain
//!   checkpoint of the family;
//! - `new`: `<e1> e1 </e1> ... <e2> e2 </e2>`, four tokens added to the vocabulary and rows
//!   added to the word embeddings, as transformers users do with `add_tokens` and
//!   `resize_token_embeddings` (a byte-level BPE or SentencePiece vocabulary has no reserved
//!   entries); the export carries the grown tokenizer and embedding matrix;
//! - `punct`: `$ e1 $ ... # e2 #`, the R-BERT paper's choice, with no new tokens;
//! - or any four tokens, comma-separated (`E1,/E1,E2,/E2`); those the vocabulary lacks are
//!   added as with `new`.
//!
//! The four tokens chosen are written into the exported `config.json`
//! (`finetune_relation.markers`).

use anyhow::{Result, bail};
use encoder::Tokenizer;

/// The four marker tokens: e1 start, e1 end, e2 start, e2 end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Markers(pub [String; 4]);

/// What `--markers` asks for, resolved against a tokenizer by [`MarkerChoice::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerChoice {
    Auto,
    /// These four tokens; `add` says whether those missing from the vocabulary are added
    /// (`new` and custom lists) or are an error (`unused`, `punct`).
    Tokens {
        markers: Markers,
        add: bool,
    },
}

impl Markers {
    pub fn unused() -> Self {
        Self(["[unused0]", "[unused1]", "[unused2]", "[unused3]"].map(String::from))
    }

    pub fn punct() -> Self {
        Self(["$", "$", "#", "#"].map(String::from))
    }

    /// The tokens `new` adds.
    pub fn new_tokens() -> Self {
        Self(["<e1>", "</e1>", "<e2>", "</e2>"].map(String::from))
    }

    /// The ids of the four tokens; each must be a single vocabulary entry.
    pub fn ids(&self, tokenizer: &Tokenizer) -> Result<[u32; 4]> {
        let mut ids = [0u32; 4];
        for (id, token) in ids.iter_mut().zip(&self.0) {
            *id = match tokenizer.token_to_id(token) {
                Some(found) => found,
                None => bail!(
                    "the marker token `{token}` is not in the vocabulary of {}; choose \
                     --markers new (adds <e1>, </e1>, <e2>, </e2> to it), punct, or four tokens",
                    tokenizer.source().display()
                ),
            };
            check_not_special(token, *id, tokenizer)?;
        }
        Ok(ids)
    }
}

fn check_not_special(token: &str, id: u32, tokenizer: &Tokenizer) -> Result<()> {
    if tokenizer.is_special(id) {
        bail!(
            "the marker token `{token}` is a special token of {} (the model gives it its own \
             meaning: [CLS], [SEP], [PAD], ...); choose --markers unused, new, punct or four \
             ordinary tokens",
            tokenizer.source().display()
        );
    }
    Ok(())
}

impl MarkerChoice {
    /// The four markers for `tokenizer`'s vocabulary, and those of them to add to it (in
    /// order, each once).
    pub fn resolve(&self, tokenizer: &Tokenizer) -> Result<(Markers, Vec<String>)> {
        match self {
            Self::Auto => {
                let unused = Markers::unused();
                let has_all = unused.0.iter().all(|t| {
                    tokenizer
                        .token_to_id(t)
                        .is_some_and(|id| !tokenizer.is_special(id))
                });
                let choice = if has_all {
                    Self::Tokens {
                        markers: unused,
                        add: false,
                    }
                } else {
                    Self::Tokens {
                        markers: Markers::new_tokens(),
                        add: true,
                    }
                };
                choice.resolve(tokenizer)
            }
            Self::Tokens {
                markers,
                add: false,
            } => {
                markers.ids(tokenizer)?;
                Ok((markers.clone(), Vec::new()))
            }
            Self::Tokens { markers, add: true } => {
                let mut missing: Vec<String> = Vec::new();
                for token in &markers.0 {
                    match tokenizer.token_to_id(token) {
                        Some(id) => check_not_special(token, id, tokenizer)?,
                        None if !missing.contains(token) => missing.push(token.clone()),
                        None => {}
                    }
                }
                Ok((markers.clone(), missing))
            }
        }
    }
}

impl std::str::FromStr for MarkerChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let fixed = |markers| Self::Tokens {
            markers,
            add: false,
        };
        match s {
            "auto" => Ok(Self::Auto),
            "unused" => Ok(fixed(Markers::unused())),
            "punct" => Ok(fixed(Markers::punct())),
            "new" => Ok(Self::Tokens {
                markers: Markers::new_tokens(),
                add: true,
            }),
            list => {
                let tokens: Vec<&str> = list.split(',').map(str::trim).collect();
                if tokens.len() != 4 || tokens.iter().any(|t| t.is_empty()) {
                    return Err(format!(
                        "unknown markers `{s}` (auto, unused, new, punct, or four tokens \
                         E1,/E1,E2,/E2)"
                    ));
                }
                Ok(Self::Tokens {
                    markers: Markers([0, 1, 2, 3].map(|i| tokens[i].to_string())),
                    add: true,
                })
            }
        }
    }
}

impl std::fmt::Display for Markers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Self::unused() {
            f.write_str("unused")
        } else if *self == Self::punct() {
            f.write_str("punct")
        } else {
            f.write_str(&self.0.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(fixture: &str) -> Tokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(fixture);
        Tokenizer::from_model_dir(&dir).unwrap()
    }

    fn tokens(choice: &MarkerChoice) -> Markers {
        match choice {
            MarkerChoice::Tokens { markers, .. } => markers.clone(),
            MarkerChoice::Auto => panic!("auto"),
        }
    }

    #[test]
    fn presets_and_custom_lists_parse() {
        assert_eq!("auto".parse::<MarkerChoice>().unwrap(), MarkerChoice::Auto);
        assert_eq!(tokens(&"unused".parse().unwrap()), Markers::unused());
        assert_eq!(tokens(&"punct".parse().unwrap()).0[2], "#");
        assert_eq!(tokens(&"new".parse().unwrap()), Markers::new_tokens());
        let custom = tokens(&"<a>,</a>,<b>,</b>".parse().unwrap());
        assert_eq!(custom.0[3], "</b>");
        assert_eq!(custom.to_string(), "<a>,</a>,<b>,</b>");
        assert!("a,b".parse::<MarkerChoice>().is_err());
    }

    #[test]
    fn auto_takes_unused_entries_where_the_vocabulary_has_them_and_adds_new_tokens_elsewhere() {
        // The tiny BERT vocabulary has [unused0] and [unused1] only; RoBERTa's has none.
        for fixture in ["encoder/tiny-bert", "families/roberta"] {
            let tok = tokenizer(fixture);
            let (markers, added) = MarkerChoice::Auto.resolve(&tok).unwrap();
            assert_eq!(markers, Markers::new_tokens(), "{fixture}");
            assert_eq!(added, Markers::new_tokens().0.to_vec(), "{fixture}");
        }
        // MiniLM-like: all four [unused] present.
        let mut tok = tokenizer("encoder/tiny-bert");
        tok.add_tokens(&["[unused2]", "[unused3]"]);
        let (markers, added) = MarkerChoice::Auto.resolve(&tok).unwrap();
        assert_eq!((markers, added.len()), (Markers::unused(), 0));
    }

    #[test]
    fn only_missing_tokens_are_added_and_special_tokens_are_refused() {
        let tok = tokenizer("families/roberta");
        let choice: MarkerChoice = "<x>,</x>,<x>,a".parse().unwrap();
        let (_, added) = choice.resolve(&tok).unwrap();
        assert_eq!(added, ["<x>", "</x>"]);
        let special: MarkerChoice = "<s>,a,b,c".parse().unwrap();
        let err = special.resolve(&tok).unwrap_err().to_string();
        assert!(err.contains("`<s>` is a special token"), "{err}");
        let err = "unused".parse::<MarkerChoice>().unwrap().resolve(&tok);
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("`[unused0]` is not in the vocabulary"),
            "{err}"
        );
        assert!(err.contains("--markers new"), "{err}");
    }
}
