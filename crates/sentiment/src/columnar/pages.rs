//! A check of a Parquet file's page headers before the parquet crate reads it: the crate
//! allocates each page's `uncompressed_page_size` (up to 2 GiB) before it decompresses, so a
//! corrupt header in a file of a kilobyte made it allocate and zero gigabytes (found by
//! fuzzing: 1.4 KB -> 1.8 GB resident, seconds to fail). No codec this build reads (snappy,
//! gzip, lz4) expands data more than deflate's 1032:1, so a page that claims more is refused.
//!
//! Likewise a dictionary page's number of values: the crate allocates them all (a fuzz input
//! claimed 2^31 eight-byte values), and each takes at least a byte of the page.
//!
//! The headers are Thrift compact-protocol structs; [`skip_struct`] walks one without knowing
//! its schema, reading only the sizes it needs.

use anyhow::{Result, bail};

/// Deflate's largest expansion is 1032:1; snappy's and lz4's are smaller.
const MAX_RATIO: u64 = 1100;
/// Room for headers and tiny pages.
const SLACK: u64 = 64 * 1024;

/// The column chunks of a file: (first page offset, compressed size of all its pages).
pub type Chunks = Vec<(u64, u64)>;

/// Refuses a page whose stated uncompressed size no codec could reach from its compressed
/// size. A header that cannot be read is left for the parquet crate to report. Returns how
/// many page headers it read.
pub fn check(bytes: &[u8], chunks: &Chunks) -> Result<usize> {
    let mut pages = 0;
    for &(start, length) in chunks {
        let end = start.saturating_add(length).min(bytes.len() as u64) as usize;
        let mut at = start as usize;
        while at < end {
            let Some(page) = page_header(&bytes[at..end]) else {
                return Ok(pages);
            };
            let (uncompressed, compressed, header) =
                (page.uncompressed, page.compressed, page.length);
            pages += 1;
            // Every dictionary value takes at least a byte of the page.
            if let Some(values) = page.dictionary_values
                && values > uncompressed + SLACK
            {
                bail!(
                    "the dictionary page at byte {at} claims {values} values in {uncompressed} \
                     bytes: the file is corrupt"
                );
            }
            if uncompressed > compressed.saturating_mul(MAX_RATIO) + SLACK {
                bail!(
                    "the page at byte {at} claims {uncompressed} bytes uncompressed from \
                     {compressed} compressed, more than any codec expands: the file is corrupt"
                );
            }
            at = at
                .saturating_add(header)
                .saturating_add(compressed as usize);
        }
    }
    Ok(pages)
}

/// A page header's uncompressed and compressed sizes and its own length in bytes.
/// What [`check`] reads of a page header.
struct PageHeader {
    uncompressed: u64,
    compressed: u64,
    /// The header's own length in bytes.
    length: usize,
    /// A dictionary page's number of values.
    dictionary_values: Option<u64>,
}

fn page_header(bytes: &[u8]) -> Option<PageHeader> {
    let mut reader = Compact { bytes, at: 0 };
    let (mut uncompressed, mut compressed, mut dictionary_values) = (None, None, None);
    let mut id: i16 = 0;
    loop {
        let header = reader.byte()?;
        let kind = header & 0x0f;
        if kind == 0 {
            break;
        }
        id = reader.field_id(header, id)?;
        match (id, kind) {
            (2, 5) => uncompressed = Some(u64::try_from(reader.zigzag()?).ok()?),
            (3, 5) => compressed = Some(u64::try_from(reader.zigzag()?).ok()?),
            // DictionaryPageHeader { 1: num_values, ... }
            (7, 12) => dictionary_values = Some(first_i32(&mut reader)?),
            _ => reader.skip(kind, 0)?,
        }
    }
    Some(PageHeader {
        uncompressed: uncompressed?,
        compressed: compressed?,
        length: reader.at,
        dictionary_values,
    })
}

/// Field 1 (an i32) of a struct, the rest skipped.
fn first_i32(reader: &mut Compact<'_>) -> Option<u64> {
    let mut value = None;
    let mut id: i16 = 0;
    loop {
        let header = reader.byte()?;
        let kind = header & 0x0f;
        if kind == 0 {
            return value;
        }
        id = reader.field_id(header, id)?;
        match (id, kind) {
            (1, 5) => value = Some(u64::try_from(reader.zigzag()?).ok()?),
            _ => reader.skip(kind, 1)?,
        }
    }
}

/// A cursor over Thrift compact-protocol bytes.
struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The id of the field whose header byte is `header`, after field `last`.
    fn field_id(&mut self, header: u8, last: i16) -> Option<i16> {
        match (header >> 4) as i16 {
            0 => i16::try_from(self.zigzag()?).ok(),
            delta => last.checked_add(delta),
        }
    }

    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn advance(&mut self, n: u64) -> Option<()> {
        let n = usize::try_from(n).ok()?;
        if self.bytes.len() - self.at < n {
            return None;
        }
        self.at += n;
        Some(())
    }

    /// Skips one value of compact type `kind` (nested at most 32 deep).
    fn skip(&mut self, kind: u8, depth: u8) -> Option<()> {
        if depth > 32 {
            return None;
        }
        match kind {
            1 | 2 => Some(()),
            3 => self.advance(1),
            4..=6 => self.varint().map(drop),
            7 => self.advance(8),
            8 => {
                let n = self.varint()?;
                self.advance(n)
            }
            9 | 10 => {
                let header = self.byte()?;
                let size = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let element = header & 0x0f;
                for _ in 0..size {
                    // Booleans in a list take one byte each.
                    if element == 1 || element == 2 {
                        self.advance(1)?;
                    } else {
                        self.skip(element, depth + 1)?;
                    }
                }
                Some(())
            }
            11 => {
                let size = self.varint()?;
                if size == 0 {
                    return Some(());
                }
                let kinds = self.byte()?;
                for _ in 0..size {
                    self.skip(kinds >> 4, depth + 1)?;
                    self.skip(kinds & 0x0f, depth + 1)?;
                }
                Some(())
            }
            12 => skip_struct(self, depth + 1),
            _ => None,
        }
    }
}

/// Skips a struct's fields up to its stop byte.
fn skip_struct(reader: &mut Compact<'_>, depth: u8) -> Option<()> {
    loop {
        let header = reader.byte()?;
        let kind = header & 0x0f;
        if kind == 0 {
            return Some(());
        }
        if header >> 4 == 0 {
            reader.zigzag()?;
        }
        reader.skip(kind, depth)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact-protocol page header: type 0, the two sizes, a nested data page header
    /// (num_values 3, two i32 encodings), stop.
    fn header(uncompressed: u64, compressed: u64) -> Vec<u8> {
        let zigzag = |v: u64| {
            let mut z = v << 1;
            let mut out = Vec::new();
            loop {
                let b = (z & 0x7f) as u8;
                z >>= 7;
                if z == 0 {
                    out.push(b);
                    return out;
                }
                out.push(b | 0x80);
            }
        };
        let mut h = vec![0x15, 0x00, 0x15];
        h.extend(zigzag(uncompressed));
        h.push(0x15);
        h.extend(zigzag(compressed));
        // Field 5 (delta 2 from 3): struct {1: i32 3, 2: i32 0, 3: i32 0}, stop.
        h.extend([0x2c, 0x15, 0x06, 0x15, 0x00, 0x15, 0x00, 0x00]);
        h.push(0x00);
        h
    }

    #[test]
    fn reads_the_sizes_and_length_of_a_header() {
        let h = header(1000, 40);
        let page = page_header(&h).unwrap();
        assert_eq!(
            (page.uncompressed, page.compressed, page.length),
            (1000, 40, h.len())
        );
        assert_eq!(page.dictionary_values, None);
    }

    #[test]
    fn a_page_no_codec_could_expand_to_is_refused_and_a_plausible_one_passes() {
        let mut file = header(2_000_000, 100);
        file.extend(vec![0u8; 100]);
        let err = check(&file, &vec![(0, file.len() as u64)]).unwrap_err();
        assert!(err.to_string().contains("claims 2000000 bytes"), "{err}");
        let mut good = header(4000, 100);
        good.extend(vec![0u8; 100]);
        let second = good.len();
        good.extend(header(80, 80));
        good.extend(vec![0u8; 80]);
        assert_eq!(check(&good, &vec![(0, good.len() as u64)]).unwrap(), 2);
        assert_eq!(second, header(4000, 100).len() + 100);
    }

    #[test]
    fn a_dictionary_page_with_more_values_than_bytes_is_refused() {
        // type 2 (dictionary page), sizes 100/100, field 7: struct {1: num_values}, stop.
        let page = |values: &[u8]| {
            let mut h = vec![0x15, 0x04, 0x15, 0xc8, 0x01, 0x15, 0xc8, 0x01, 0x4c, 0x15];
            h.extend(values);
            h.extend([0x15, 0x00, 0x00, 0x00]);
            h.extend(vec![0u8; 100]);
            h
        };
        let few = page(&[40]);
        assert_eq!(check(&few, &vec![(0, few.len() as u64)]).unwrap(), 1);
        // 2^31 - 1 values in 100 bytes.
        let many = page(&[0xfe, 0xff, 0xff, 0xff, 0x0f]);
        let err = check(&many, &vec![(0, many.len() as u64)]).unwrap_err();
        assert!(
            err.to_string().contains("claims 2147483647 values"),
            "{err}"
        );
    }

    #[test]
    fn unreadable_headers_are_left_to_the_parquet_reader() {
        assert_eq!(check(&[0xff, 0xff, 0xff], &vec![(0, 3)]).unwrap(), 0);
        assert_eq!(check(&[], &vec![(10, 5)]).unwrap(), 0);
    }

    #[test]
    fn every_page_of_files_pyarrow_wrote_is_read() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sentiment");
        for name in ["reviews.parquet", "reviews-gzip.parquet", "pairs.parquet"] {
            let path = dir.join(name);
            let chunks = super::super::parquet_chunks(&path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            // Each column chunk has a dictionary page and at least one data page.
            assert!(
                check(&bytes, &chunks).unwrap() >= 2 * chunks.len(),
                "{name}"
            );
        }
    }
}
