//! Columnar data files: Parquet (`.parquet`; uncompressed, snappy, gzip or lz4 pages) and
//! Arrow IPC (`.arrow` / `.feather` files, `.arrows` streams), as written by pandas, pyarrow
//! and Hugging Face `datasets` (`Dataset.to_parquet`, its cache files).
//!
//! [`read`] returns the named columns of every row as text: any Arrow string type, integers
//! (transformers' `ClassLabel` is int64), booleans, or dictionary-encoded strings. A column of
//! another type is an error naming the file, the row (from 1) and the column. What the values
//! mean (text, label, index) is [`crate::data`]'s business.

mod ipc;
mod pages;

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

/// The columns of a file that [`read`] returns: for each wanted column, whether the file has it,
/// and per row the values (`None` for a null, or for every row of a column it lacks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub found: Vec<bool>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Reads the `wanted` columns (name, and whether the file must have it) of a Parquet file
/// (`.parquet`) or an Arrow IPC file (a stream for `.arrows`).
pub fn read(path: &Path, wanted: &[(&str, bool)]) -> Result<Table> {
    let parquet = path.extension().and_then(|e| e.to_str()) == Some("parquet");
    let format = if parquet { "Parquet" } else { "Arrow IPC" };
    contained(path, format, || {
        let batches = if parquet {
            read_parquet(path)?
        } else {
            read_arrow(path)?
        };
        to_table(path, &batches, wanted)
    })
}

/// Runs `read`, turning a panic inside it into an error naming the file: the arrow and
/// parquet readers assert on some corrupt files (offsets past a buffer, negative lengths:
/// found by fuzzing, `crates/fuzz/regressions/`) instead of returning an error. The panic
/// message is not printed (the error carries it).
fn contained<T>(path: &Path, format: &str, read: impl FnOnce() -> Result<T>) -> Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(anyhow!(
            "{}: not a readable {format} file (the reader failed: {message})",
            path.display()
        ))
    })
}

fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| anyhow!("{}: not a readable Parquet file: {e}", path.display()))?;
    let chunks = chunks_of(builder.metadata());
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    pages::check(&bytes, &chunks).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let reader = builder
        .build()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: cannot decode: {e}", path.display()))?;
    Ok(batches)
}

/// Each column chunk's first page offset and compressed length, from the file's metadata.
fn chunks_of(metadata: &parquet::file::metadata::ParquetMetaData) -> pages::Chunks {
    metadata
        .row_groups()
        .iter()
        .flat_map(|group| group.columns())
        .filter_map(|column| {
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            Some((
                u64::try_from(start).ok()?,
                u64::try_from(column.compressed_size()).ok()?,
            ))
        })
        .collect()
}

/// [`chunks_of`] a file (for tests).
#[cfg(test)]
fn parquet_chunks(path: &Path) -> Result<pages::Chunks> {
    let file = File::open(path)?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?;
    Ok(chunks_of(builder.metadata()))
}

fn read_arrow(path: &Path) -> Result<Vec<RecordBatch>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    ipc::check(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let stream = path.extension().and_then(|e| e.to_str()) == Some("arrows");
    let batches: Vec<RecordBatch> = if stream {
        arrow_ipc::reader::StreamReader::try_new(std::io::BufReader::new(file), None)
            .map_err(|e| anyhow!("{}: not an Arrow IPC stream: {e}", path.display()))?
            .collect::<Result<_, _>>()
    } else {
        arrow_ipc::reader::FileReader::try_new(file, None)
            .map_err(|e| {
                anyhow!(
                    "{}: not an Arrow IPC file: {e} (name a stream `.arrows`)",
                    path.display()
                )
            })?
            .collect::<Result<_, _>>()
    }
    .map_err(|e| anyhow!("{}: cannot decode: {e}", path.display()))?;
    Ok(batches)
}

fn to_table(path: &Path, batches: &[RecordBatch], wanted: &[(&str, bool)]) -> Result<Table> {
    let Some(first) = batches.first() else {
        // No record batch: no rows (and no column to find).
        return Ok(Table {
            found: vec![false; wanted.len()],
            rows: Vec::new(),
        });
    };
    let schema = first.schema();
    let mut indices = Vec::new();
    for &(name, required) in wanted {
        indices.push(match schema.index_of(name) {
            Ok(i) => Some(i),
            Err(_) if !required => None,
            Err(_) => bail!(
                "{}: no column `{name}` (columns: {})",
                path.display(),
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let mut table = Table {
        found: indices.iter().map(Option::is_some).collect(),
        rows: Vec::new(),
    };
    for batch in batches {
        for row in 0..batch.num_rows() {
            let at = format!("{}:row {}", path.display(), table.rows.len() + 1);
            let cells = indices
                .iter()
                .map(|&column| match column {
                    None => Ok(None),
                    Some(c) => value(batch.column(c), row)
                        .map_err(|e| anyhow!("{at}: column `{}`: {e}", schema.field(c).name())),
                })
                .collect::<Result<Vec<_>>>()?;
            table.rows.push(cells);
        }
    }
    Ok(table)
}

/// A cell as text (`None` for null).
fn value(array: &ArrayRef, row: usize) -> Result<Option<String>> {
    if array.is_null(row) {
        return Ok(None);
    }
    let text = match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).to_string(),
        DataType::Utf8View => array.as_string_view().value(row).to_string(),
        DataType::Boolean => array.as_boolean().value(row).to_string(),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).to_string(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let key = dictionary.normalized_keys()[row];
            return value(dictionary.values(), key);
        }
        other => bail!("values of type {other} are not supported (strings, integers, booleans)"),
    };
    Ok(Some(text))
}
