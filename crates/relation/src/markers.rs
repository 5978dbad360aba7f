//! Entity marking: marker tokens inserted around both entities of a sentence.
//!
//! The markers are vocabulary entries inserted by id after tokenization, never text the
//! tokenizer could split: `[unused0]` as literal text becomes `[`, `unused`, `##0`, `]`.
//! Inserting by id also keeps the words themselves tokenized exactly as without markers.
//!
//! Presets:
//! - `unused` (default): `[unused0] e1 [unused1] ... [unused2] e2 [unused3]`, BERT's reserved
//!   entries, so the vocabulary and the embedding matrix keep their size and the export is a
//!   plain BERT checkpoint;
//! - `punct`: `$ e1 $ ... # e2 #`, the R-BERT paper's choice, for vocabularies without
//!   reserved entries;
//! - or any four tokens of the vocabulary, comma-separated: `E1,/E1,E2,/E2`.
//!
//! The choice is written into the exported `config.json` (`finetune_relation.markers`).

use anyhow::{Result, bail};
use encoder::Tokenizer;

/// The four marker tokens: e1 start, e1 end, e2 start, e2 end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Markers(pub [String; 4]);

impl Markers {
    pub fn unused() -> Self {
        Self(["[unused0]", "[unused1]", "[unused2]", "[unused3]"].map(String::from))
    }

    pub fn punct() -> Self {
        Self(["$", "$", "#", "#"].map(String::from))
    }

    /// The ids of the four tokens; each must be a single vocabulary entry.
    pub fn ids(&self, tokenizer: &Tokenizer) -> Result<[u32; 4]> {
        let mut ids = [0u32; 4];
        for (id, token) in ids.iter_mut().zip(&self.0) {
            *id = match tokenizer.token_to_id(token) {
                Some(found) => found,
                None => bail!(
                    "the marker token `{token}` is not in the vocabulary of {}; choose \
                     --markers punct or four tokens the vocabulary has",
                    tokenizer.source().display()
                ),
            };
            if tokenizer.is_special(*id) {
                bail!(
                    "the marker token `{token}` is a special token of {} (the model gives it \
                     its own meaning: [CLS], [SEP], [PAD], ...); choose --markers unused, punct \
                     or four ordinary tokens",
                    tokenizer.source().display()
                );
            }
        }
        Ok(ids)
    }
}

impl std::str::FromStr for Markers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "unused" => Ok(Self::unused()),
            "punct" => Ok(Self::punct()),
            list => {
                let tokens: Vec<&str> = list.split(',').map(str::trim).collect();
                if tokens.len() != 4 || tokens.iter().any(|t| t.is_empty()) {
                    return Err(format!(
                        "unknown markers `{s}` (unused, punct, or four tokens E1,/E1,E2,/E2)"
                    ));
                }
                Ok(Self([0, 1, 2, 3].map(|i| tokens[i].to_string())))
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

    #[test]
    fn presets_and_custom_lists_parse() {
        assert_eq!("unused".parse::<Markers>().unwrap(), Markers::unused());
        assert_eq!("punct".parse::<Markers>().unwrap().0[2], "#");
        let custom: Markers = "<a>,</a>,<b>,</b>".parse().unwrap();
        assert_eq!(custom.0[3], "</b>");
        assert_eq!(custom.to_string(), "<a>,</a>,<b>,</b>");
        assert!("a,b".parse::<Markers>().is_err());
    }
}
