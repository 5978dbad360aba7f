//! The order in which training features are visited: shuffled per epoch from the seed, and
//! optionally grouped by length so that batches need little padding.
//!
//! The order depends only on (seed, epoch, lengths), never on earlier draws, which is what lets
//! a resumed run pick up exactly where the interrupted one was.

/// SplitMix64: small, fast, and the same on every platform and crate version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A seed for one purpose at one point of the run (epoch, step, ...), derived without state.
pub fn derive_seed(seed: u64, purpose: u64, index: u64) -> u64 {
    let mut rng = SplitMix64::new(seed ^ purpose.wrapping_mul(0xA24B_AED4_963E_E407));
    for _ in 0..(index % 7) {
        rng.next_u64();
    }
    rng.next_u64() ^ index.wrapping_mul(0x9FB2_1C65_1E98_DF25)
}

const SHUFFLE: u64 = 1;

/// How many batches of `batch_size` make a "megabatch" inside which lengths are sorted
/// (transformers' `LengthGroupedSampler` uses 50).
const MEGABATCH_FACTOR: usize = 50;

/// The feature indices of one epoch, cut into batches.
pub fn epoch_batches(
    lengths: &[usize],
    batch_size: usize,
    seed: u64,
    epoch: usize,
    shuffle: bool,
    group_by_length: bool,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    if shuffle {
        SplitMix64::new(derive_seed(seed, SHUFFLE, epoch as u64)).shuffle(&mut order);
    }
    if group_by_length {
        // Random megabatches, each sorted longest first; the megabatch holding the longest
        // sequence goes first so that running out of memory happens at once, not hours later.
        let megabatch = batch_size * MEGABATCH_FACTOR;
        let mut megabatches: Vec<Vec<usize>> = order
            .chunks(megabatch)
            .map(|chunk| {
                let mut chunk = chunk.to_vec();
                chunk.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
                chunk
            })
            .collect();
        if let Some(longest) = (0..megabatches.len()).max_by_key(|&m| lengths[megabatches[m][0]]) {
            megabatches.swap(0, longest);
        }
        order = megabatches.concat();
    }
    order.chunks(batch_size).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_order_other_epoch_other_order() {
        let lengths = vec![5; 100];
        let a = epoch_batches(&lengths, 8, 42, 0, true, false);
        assert_eq!(a, epoch_batches(&lengths, 8, 42, 0, true, false));
        assert_ne!(a, epoch_batches(&lengths, 8, 42, 1, true, false));
        assert_ne!(a, epoch_batches(&lengths, 8, 43, 0, true, false));
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>(), "a permutation");
        assert_eq!(a.len(), 13);
        assert_eq!(a[12].len(), 4);
    }

    #[test]
    fn no_shuffle_keeps_file_order() {
        let batches = epoch_batches(&[1, 2, 3, 4, 5], 2, 7, 3, false, false);
        assert_eq!(batches, vec![vec![0, 1], vec![2, 3], vec![4]]);
    }

    #[test]
    fn length_grouping_cuts_padding() {
        let mut rng = SplitMix64::new(1);
        let lengths: Vec<usize> = (0..2000).map(|_| 5 + rng.below(120)).collect();
        let padding = |batches: &[Vec<usize>]| -> usize {
            batches
                .iter()
                .map(|b| {
                    let max = b.iter().map(|&i| lengths[i]).max().unwrap();
                    b.iter().map(|&i| max - lengths[i]).sum::<usize>()
                })
                .sum()
        };
        let plain = epoch_batches(&lengths, 16, 42, 0, true, false);
        let grouped = epoch_batches(&lengths, 16, 42, 0, true, true);
        assert!(padding(&grouped) * 10 < padding(&plain));
        let longest = *lengths.iter().max().unwrap();
        assert_eq!(lengths[grouped[0][0]], longest, "longest batch first");
    }
}
