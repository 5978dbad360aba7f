//! Tag schemes: IOB1 (CoNLL-2003 as shipped), IOB2 and BIOES, their detection and the
//! conversion to IOB2, the scheme every model here is trained on (transformers' conll2003
//! labels are IOB2 too).
//!
//! - IOB1: entities start with `I-`; `B-` only where an entity directly follows another of
//!   the same type.
//! - IOB2: every entity starts with `B-`, continues with `I-`.
//! - BIOES: `S-` single-token entities, `B-` `I-`* `E-` longer ones.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Iob1,
    Iob2,
    Bioes,
}

impl std::str::FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "iob1" => Ok(Self::Iob1),
            "iob2" | "bio" => Ok(Self::Iob2),
            "bioes" | "iobes" => Ok(Self::Bioes),
            _ => Err(format!("unknown tag scheme `{s}` (iob1, iob2, bioes)")),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Iob1 => "iob1",
            Self::Iob2 => "iob2",
            Self::Bioes => "bioes",
        })
    }
}

/// A parsed tag: `O`, or a prefix letter and an entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag<'a> {
    Outside,
    Inside(char, &'a str),
}

/// Parses `O`, `B-PER`, `I-LOC`, `E-ORG`, `S-MISC` (any type name after the dash).
pub fn parse(tag: &str) -> Option<Tag<'_>> {
    if tag == "O" {
        return Some(Tag::Outside);
    }
    let (prefix, kind) = tag.split_once('-')?;
    let letter = match prefix {
        "B" | "I" | "E" | "S" => prefix.chars().next().unwrap(),
        _ => return None,
    };
    if kind.is_empty() {
        return None;
    }
    Some(Tag::Inside(letter, kind))
}

/// Guesses the scheme of tagged sentences: BIOES when `S-` or `E-` occur, IOB1 when an
/// entity starts with `I-` (after `O`, another type, or at a sentence start), else IOB2.
pub fn detect<'a>(sentences: impl Iterator<Item = &'a [String]>) -> Scheme {
    let mut iob1 = false;
    for tags in sentences {
        let mut previous = Tag::Outside;
        for tag in tags {
            let Some(parsed) = parse(tag) else { continue };
            match parsed {
                Tag::Inside('S' | 'E', _) => return Scheme::Bioes,
                Tag::Inside('I', kind) => {
                    let continues = matches!(previous, Tag::Inside(_, k) if k == kind);
                    if !continues {
                        iob1 = true;
                    }
                }
                _ => {}
            }
            previous = parsed;
        }
    }
    if iob1 { Scheme::Iob1 } else { Scheme::Iob2 }
}

/// A violation of `scheme` at tag `index` of a sentence, described.
pub fn validate(tags: &[String], scheme: Scheme) -> Result<(), (usize, String)> {
    let mut previous = Tag::Outside;
    for (i, tag) in tags.iter().enumerate() {
        let parsed = parse(tag).ok_or_else(|| {
            (
                i,
                format!("`{tag}` is not a tag (O, or B-/I-/E-/S- and a type)"),
            )
        })?;
        let follows = |kind: &str, letters: &[char]| matches!(previous, Tag::Inside(l, k) if k == kind && letters.contains(&l));
        let problem = match (scheme, parsed) {
            (Scheme::Iob1 | Scheme::Iob2, Tag::Inside('E' | 'S', _)) => {
                Some(format!("`{tag}` is a BIOES tag in {scheme} data"))
            }
            (Scheme::Iob1, Tag::Inside('B', kind)) if !follows(kind, &['B', 'I']) => Some(format!(
                "`{tag}` in IOB1 must directly follow an entity of type {kind}"
            )),
            (Scheme::Iob2, Tag::Inside('I', kind)) if !follows(kind, &['B', 'I']) => {
                Some(format!("`{tag}` in IOB2 must follow B-{kind} or I-{kind}"))
            }
            (Scheme::Bioes, Tag::Inside('I' | 'E', kind)) if !follows(kind, &['B', 'I']) => {
                Some(format!("`{tag}` in BIOES must follow B-{kind} or I-{kind}"))
            }
            _ => None,
        };
        // In BIOES an open entity (B-/I-) must be closed by I-/E- of its type.
        let unclosed = match (scheme, previous, parsed) {
            (Scheme::Bioes, Tag::Inside('B' | 'I', kind), now) => match now {
                Tag::Inside('I' | 'E', k) if k == kind => None,
                _ => Some(format!(
                    "an entity of type {kind} is not closed with E-{kind} before `{tag}`"
                )),
            },
            _ => None,
        };
        if let Some(message) = problem.or(unclosed) {
            return Err((i, message));
        }
        previous = parsed;
    }
    if let (Scheme::Bioes, Tag::Inside('B' | 'I', kind)) = (scheme, previous) {
        return Err((
            tags.len() - 1,
            format!("the sentence ends inside an entity of type {kind} (no E-{kind})"),
        ));
    }
    Ok(())
}

/// Rewrites valid `scheme` tags as IOB2.
pub fn to_iob2(tags: &[String], scheme: Scheme) -> Vec<String> {
    let mut out = Vec::with_capacity(tags.len());
    let mut previous = Tag::Outside;
    for tag in tags {
        let parsed = parse(tag).expect("validated before conversion");
        let converted = match (scheme, parsed) {
            (_, Tag::Outside) => "O".to_string(),
            (Scheme::Iob2, _) => tag.clone(),
            (Scheme::Iob1, Tag::Inside('I', kind)) => {
                let continues = matches!(previous, Tag::Inside(_, k) if k == kind);
                format!("{}-{kind}", if continues { 'I' } else { 'B' })
            }
            (Scheme::Iob1, Tag::Inside(_, kind)) => format!("B-{kind}"),
            (Scheme::Bioes, Tag::Inside('B' | 'S', kind)) => format!("B-{kind}"),
            (Scheme::Bioes, Tag::Inside(_, kind)) => format!("I-{kind}"),
        };
        out.push(converted);
        previous = parsed;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn iob1_converts_to_iob2() {
        let iob1 = tags("I-ORG O I-MISC I-MISC B-MISC O I-PER I-LOC");
        assert_eq!(detect([iob1.as_slice()].into_iter()), Scheme::Iob1);
        validate(&iob1, Scheme::Iob1).unwrap();
        assert_eq!(
            to_iob2(&iob1, Scheme::Iob1),
            tags("B-ORG O B-MISC I-MISC B-MISC O B-PER B-LOC")
        );
    }

    #[test]
    fn bioes_converts_to_iob2() {
        let bioes = tags("S-PER O B-ORG I-ORG E-ORG B-LOC E-LOC");
        assert_eq!(detect([bioes.as_slice()].into_iter()), Scheme::Bioes);
        validate(&bioes, Scheme::Bioes).unwrap();
        assert_eq!(
            to_iob2(&bioes, Scheme::Bioes),
            tags("B-PER O B-ORG I-ORG I-ORG B-LOC I-LOC")
        );
    }

    #[test]
    fn iob2_is_detected_and_kept() {
        let iob2 = tags("B-PER I-PER O B-LOC");
        assert_eq!(detect([iob2.as_slice()].into_iter()), Scheme::Iob2);
        assert_eq!(to_iob2(&iob2, Scheme::Iob2), iob2);
    }

    #[test]
    fn violations_are_located_and_explained() {
        let err = validate(&tags("O I-PER"), Scheme::Iob2).unwrap_err();
        assert_eq!(err.0, 1);
        assert!(err.1.contains("must follow B-PER"));
        let err = validate(&tags("O B-PER"), Scheme::Iob1).unwrap_err();
        assert!(err.1.contains("IOB1"));
        let err = validate(&tags("B-PER O"), Scheme::Bioes).unwrap_err();
        assert!(err.1.contains("not closed"), "{}", err.1);
        let err = validate(&tags("B-PER I-PER"), Scheme::Bioes).unwrap_err();
        assert!(err.1.contains("ends inside"));
        let err = validate(&tags("O X-PER"), Scheme::Iob2).unwrap_err();
        assert!(err.1.contains("not a tag"));
        let err = validate(&tags("S-PER"), Scheme::Iob2).unwrap_err();
        assert!(err.1.contains("BIOES tag"));
    }
}
