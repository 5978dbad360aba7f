//! Seeded mutations of byte strings: bit flips, interesting bytes, deletions, duplications,
//! dictionary tokens, splices of two inputs, truncation. The same seed gives the same inputs.

/// The seeded generator of the mutations: the engine's SplitMix64 (the same on every
/// platform, so a seed replays the same inputs).
pub use tuning::engine::sampler::SplitMix64 as Rng;

/// Bytes that break parsers: separators, quotes, brackets, digits, signs, NUL, high bytes.
const INTERESTING: &[u8] = b"\t\n\r \",:{}[]-+.0123456789eE\\\x00\xff\xc3\xa9<>()#$";

/// Tokens every text format meets (each target adds its own).
pub const COMMON_TOKENS: &[&str] = &[
    "\n",
    "\r\n",
    "\t",
    "\"",
    "null",
    "true",
    "-1",
    "0",
    "18446744073709551616",
    "99999999999999999999999",
    "1e400",
    "NaN",
    "\u{feff}",
    "é",
    "日本",
    "🙂",
    "\u{200b}",
    "{}",
    "[]",
    "[[[[[[[[[[[[[[[[",
];

/// Applies 1 to 4 random mutations to `input`; `other` is another input to splice from,
/// `tokens` the target's dictionary.
pub fn mutate(input: &mut Vec<u8>, other: &[u8], tokens: &[&str], rng: &mut Rng) {
    for _ in 0..1 + rng.below(4) {
        mutate_once(input, other, tokens, rng);
    }
}

fn mutate_once(input: &mut Vec<u8>, other: &[u8], tokens: &[&str], rng: &mut Rng) {
    let len = input.len();
    let at = |rng: &mut Rng| rng.below(len.max(1) + 1).min(len);
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(16)).min(len);
            input.drain(start..end);
        }
        3 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64)).min(len);
            let piece = input[start..end].to_vec();
            let to = at(rng);
            input.splice(to..to, piece);
        }
        4 | 5 => {
            let pick = rng.below(tokens.len() + COMMON_TOKENS.len());
            let token = if pick < tokens.len() {
                tokens[pick]
            } else {
                COMMON_TOKENS[pick - tokens.len()]
            };
            let to = at(rng);
            input.splice(to..to, token.bytes());
        }
        6 if !other.is_empty() => {
            // Splice: this input's head with the other's tail.
            let cut = at(rng);
            let from = rng.below(other.len());
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        7 if len > 0 => input.truncate(rng.below(len)),
        8 if len > 0 => {
            // A line repeated: long inputs, many records.
            let start = rng.below(len);
            let end = input[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(len, |p| start + p + 1);
            let line = input[start..end].to_vec();
            for _ in 0..1 + rng.below(8) {
                input.splice(end..end, line.iter().copied());
            }
        }
        _ => input.push(INTERESTING[rng.below(INTERESTING.len())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutations_and_they_change_the_input() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut changed = 0;
            let mut last = Vec::new();
            for _ in 0..200 {
                let mut input = b"sentence\tlabel\nfine\t1\n".to_vec();
                mutate(&mut input, b"other\t0\n", &["label"], &mut rng);
                changed += usize::from(input != b"sentence\tlabel\nfine\t1\n");
                last = input;
            }
            (changed, last)
        };
        let (changed, a) = run(7);
        assert_eq!(run(7).1, a);
        assert_ne!(run(8).1, a);
        assert!(changed > 150, "only {changed} of 200 inputs changed");
    }
}
