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

/// A place where tags break their scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Index of the offending tag in its sentence.
    pub index: usize,
    pub message: String,
}

/// The tags of one sentence checked against `scheme`.
///
/// `Err` is a tag that cannot be read at all (not a tag, a BIOES letter in IOB data).
/// `Ok` lists the violations that have one obvious reading, the one conlleval and seqeval's
/// default mode give them: a tag that starts an entity where the scheme does not allow a
/// start (IOB1 `B-X` after `O`, IOB2 `I-X` after `O`, BIOES `I-`/`E-` without `B-`) starts
/// an entity all the same, and a BIOES entity left open ends where its tags stop. The
/// original CoNLL-2003 eng.train has two (`B-MISC` after `O`, lines 152428 and 175436);
/// [`to_iob2`] gives them that reading, and the caller decides whether to accept them.
pub fn validate(tags: &[String], scheme: Scheme) -> Result<Vec<Violation>, Violation> {
    let mut violations = Vec::new();
    let mut previous = Tag::Outside;
    for (i, tag) in tags.iter().enumerate() {
        let parsed = parse(tag).ok_or_else(|| Violation {
            index: i,
            message: format!("`{tag}` is not a tag (O, or B-/I-/E-/S- and a type)"),
        })?;
        if let (Scheme::Iob1 | Scheme::Iob2, Tag::Inside('E' | 'S', _)) = (scheme, parsed) {
            return Err(Violation {
                index: i,
                message: format!("`{tag}` is a BIOES tag in {scheme} data"),
            });
        }
        let follows = |kind: &str, letters: &[char]| matches!(previous, Tag::Inside(l, k) if k == kind && letters.contains(&l));
        let problem = match (scheme, parsed) {
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
            violations.push(Violation { index: i, message });
        }
        previous = parsed;
    }
    if let (Scheme::Bioes, Tag::Inside('B' | 'I', kind)) = (scheme, previous) {
        violations.push(Violation {
            index: tags.len() - 1,
            message: format!("the sentence ends inside an entity of type {kind} (no E-{kind})"),
        });
    }
    Ok(violations)
}

/// Rewrites `scheme` tags as IOB2. Tags that [`validate`] reports as repairable get
/// conlleval's reading: a tag that cannot continue the entity before it starts a new one.
pub fn to_iob2(tags: &[String], scheme: Scheme) -> Vec<String> {
    let mut out = Vec::with_capacity(tags.len());
    let mut previous = Tag::Outside;
    for tag in tags {
        let parsed = parse(tag).expect("validated before conversion");
        let converted = match parsed {
            Tag::Outside => "O".to_string(),
            Tag::Inside(letter, kind) => {
                // Only B- and I- leave an entity open (BIOES closes it with E- or S-).
                let continues = matches!(previous, Tag::Inside('B' | 'I', k) if k == kind);
                let inside = match (scheme, letter) {
                    (Scheme::Iob1, 'I') | (Scheme::Iob2, 'I') | (Scheme::Bioes, 'I' | 'E') => {
                        continues
                    }
                    _ => false,
                };
                format!("{}-{kind}", if inside { 'I' } else { 'B' })
            }
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
        assert!(validate(&iob1, Scheme::Iob1).unwrap().is_empty());
        assert_eq!(
            to_iob2(&iob1, Scheme::Iob1),
            tags("B-ORG O B-MISC I-MISC B-MISC O B-PER B-LOC")
        );
    }

    #[test]
    fn bioes_converts_to_iob2() {
        let bioes = tags("S-PER O B-ORG I-ORG E-ORG B-LOC E-LOC");
        assert_eq!(detect([bioes.as_slice()].into_iter()), Scheme::Bioes);
        assert!(validate(&bioes, Scheme::Bioes).unwrap().is_empty());
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

    /// The one violation of a sentence that has exactly one.
    fn violation(s: &str, scheme: Scheme) -> Violation {
        let found = validate(&tags(s), scheme).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        found.into_iter().next().unwrap()
    }

    #[test]
    fn violations_are_located_and_explained() {
        let v = violation("O I-PER", Scheme::Iob2);
        assert_eq!(v.index, 1);
        assert!(v.message.contains("must follow B-PER"));
        let v = violation("O O B-PER", Scheme::Iob1);
        assert_eq!(v.index, 2);
        assert!(v.message.contains("IOB1"));
        let v = violation("B-PER O", Scheme::Bioes);
        assert!(v.message.contains("not closed"), "{}", v.message);
        let v = violation("S-PER B-PER I-PER", Scheme::Bioes);
        assert_eq!(v.index, 2);
        assert!(v.message.contains("ends inside"));
        let err = validate(&tags("O X-PER"), Scheme::Iob2).unwrap_err();
        assert!(err.message.contains("not a tag"));
        let err = validate(&tags("S-PER"), Scheme::Iob2).unwrap_err();
        assert!(err.message.contains("BIOES tag"));
    }

    #[test]
    fn violations_convert_as_conlleval_reads_them() {
        // eng.train line 152428: `the/O Atlanta/B-MISC Games/I-MISC` in IOB1.
        let iob1 = tags("O B-MISC I-MISC O");
        assert_eq!(to_iob2(&iob1, Scheme::Iob1), tags("O B-MISC I-MISC O"));
        assert_eq!(
            to_iob2(&tags("O I-PER I-PER I-LOC"), Scheme::Iob2),
            tags("O B-PER I-PER B-LOC")
        );
        assert_eq!(
            to_iob2(&tags("O E-PER S-LOC I-LOC"), Scheme::Bioes),
            tags("O B-PER B-LOC B-LOC")
        );
        assert_eq!(
            to_iob2(&tags("B-PER E-PER I-PER E-PER"), Scheme::Bioes),
            tags("B-PER I-PER B-PER I-PER")
        );
    }
}
