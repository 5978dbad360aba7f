//! A check of an Arrow IPC file's or stream's layout before arrow reads it: arrow allocates
//! (and zeroes) what a header states before it reads, so a corrupt footer block in a file of a
//! kilobyte made it allocate 4 GB (found by fuzzing). Refused: a footer block or a message body
//! that reaches past the end of the file, and a batch that claims more than 8 rows per byte of
//! the file (no column of a data file takes less than a bit per row).
//!
//! The batches are found as arrow finds them: in a file, at the blocks its footer lists; in a
//! stream, message after message (an optional 0xFFFFFFFF continuation, the metadata length,
//! the metadata flatbuffer, `bodyLength` bytes of body).

use anyhow::{Result, bail};

/// Refuses a record batch (or dictionary batch) whose row count, or any column's length, is
/// larger than 8 rows per byte of the file. A message that cannot be read is left for arrow
/// to report. Returns how many batch headers it read.
pub fn check(bytes: &[u8]) -> Result<usize> {
    let limit = 8 * bytes.len() as u64 + 1024;
    let mut batches = 0;
    // A file: the footer lists where each batch is, and that is all arrow reads of it.
    if let Some(blocks) = footer_blocks(bytes)? {
        for at in blocks {
            if let Some((message, _)) = message_at(bytes, at) {
                batches += check_message(&message, limit, bytes.len())?;
            }
        }
        return Ok(batches);
    }
    // A stream: message after message.
    let mut at = 0;
    while let Some((message, end)) = message_at(bytes, at) {
        batches += check_message(&message, limit, bytes.len())?;
        let Ok(body) = usize::try_from(message.bodyLength()) else {
            break;
        };
        if end.saturating_add(body) > bytes.len() {
            bail!(
                "a message at byte {at} has a body of {body} bytes, past the end of the file \
                 ({} bytes): the file is corrupt",
                bytes.len()
            );
        }
        at = end + body;
    }
    Ok(batches)
}

/// The offsets of the record batch and dictionary blocks a file's footer lists (`None`: not
/// a file, or a footer arrow cannot read either); a block that reaches past the end of the
/// file is an error (arrow allocates a block's stated size before it reads it).
fn footer_blocks(bytes: &[u8]) -> Result<Option<Vec<usize>>> {
    let n = bytes.len();
    // What arrow checks of a file: the trailing magic (not the leading one).
    if n < 10 || !bytes.ends_with(b"ARROW1") {
        return Ok(None);
    }
    let length = i32::from_le_bytes(bytes[n - 10..n - 6].try_into().expect("4 bytes"));
    let Some(start) = usize::try_from(length)
        .ok()
        .and_then(|l| (n - 10).checked_sub(l))
    else {
        return Ok(None);
    };
    let Ok(footer) = arrow_ipc::root_as_footer(&bytes[start..n - 10]) else {
        return Ok(None);
    };
    let blocks = footer.recordBatches().into_iter().flatten();
    let dictionaries = footer.dictionaries().into_iter().flatten();
    let mut offsets = Vec::new();
    for block in blocks.chain(dictionaries) {
        let (offset, meta, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
        let end = i128::from(offset) + i128::from(meta) + i128::from(body);
        if offset < 0 || meta < 0 || body < 0 || end > n as i128 {
            bail!(
                "the footer lists a block at byte {offset} of {} bytes, past the end of the \
                 file ({n} bytes): the file is corrupt",
                i128::from(meta) + i128::from(body)
            );
        }
        offsets.push(offset as usize);
    }
    Ok(Some(offsets))
}

/// The message at `at` (after an optional continuation marker and its length) and where its
/// body starts, if it reads.
fn message_at(bytes: &[u8], mut at: usize) -> Option<(arrow_ipc::Message<'_>, usize)> {
    let mut word = u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?);
    at += 4;
    if word == 0xFFFF_FFFF {
        word = u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?);
        at += 4;
    }
    let end = at.checked_add(word as usize)?;
    if word == 0 || end > bytes.len() {
        return None;
    }
    let message = arrow_ipc::root_as_message(&bytes[at..end]).ok()?;
    Some((message, end))
}

/// 1 for a batch message whose lengths are within `limit`, 0 for another message.
fn check_message(message: &arrow_ipc::Message<'_>, limit: u64, size: usize) -> Result<usize> {
    let batch = message
        .header_as_record_batch()
        .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
    let Some(batch) = batch else {
        return Ok(0);
    };
    let lengths = batch.nodes().into_iter().flatten().map(|n| n.length());
    for rows in std::iter::once(batch.length()).chain(lengths) {
        if u64::try_from(rows).map_or(true, |r| r > limit) {
            bail!(
                "a record batch claims {rows} rows in a file of {size} bytes: the file is corrupt"
            );
        }
    }
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sentiment");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn the_batches_of_files_and_streams_pyarrow_wrote_are_read() {
        assert!(check(&fixture("reviews.arrow")).unwrap() >= 1);
        assert!(check(&fixture("reviews.arrows")).unwrap() >= 1);
    }

    #[test]
    fn a_block_reaching_past_the_end_of_the_file_is_refused() {
        let regression = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/fuzz/regressions/sentiment-arrow/block-past-the-end.bin");
        let err = check(&std::fs::read(regression).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("past the end of the file"),
            "{err}"
        );
    }

    #[test]
    fn unreadable_messages_are_left_to_arrow() {
        assert_eq!(
            check(b"ARROW1\0\0\xff\xff\xff\xff\x10\0\0\0abc").unwrap(),
            0
        );
        assert_eq!(check(b"").unwrap(), 0);
    }
}
