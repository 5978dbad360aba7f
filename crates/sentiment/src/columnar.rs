//! Columnar data files: Parquet (`.parquet`; uncompressed, snappy, gzip or lz4 pages) and
//! Arrow IPC (`.arrow` / `.feather` files, `.arrows` streams), as written by pandas, pyarrow
//! and Hugging Face `datasets` (`Dataset.to_parquet`, its cache files).
//!
//! Text columns may be any Arrow string type; labels strings, integers (transformers'
//! `ClassLabel` is int64), booleans, or dictionary-encoded strings. A null or a column of
//! another type is an error naming the file, the row (from 1) and the column.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

use crate::data::{Columns, Example, Labels};

/// Reads a Parquet file into examples.
pub fn load_parquet(path: &Path, columns: &Columns, labels: Labels) -> Result<Vec<Example>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| anyhow!("{}: not a readable Parquet file: {e}", path.display()))?
        .build()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: cannot decode: {e}", path.display()))?;
    to_examples(path, &batches, columns, labels)
}

/// Reads an Arrow IPC file (or, for `.arrows`, a stream) into examples.
pub fn load_arrow(path: &Path, columns: &Columns, labels: Labels) -> Result<Vec<Example>> {
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
    to_examples(path, &batches, columns, labels)
}

fn to_examples(
    path: &Path,
    batches: &[RecordBatch],
    columns: &Columns,
    labels: Labels,
) -> Result<Vec<Example>> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let find = |name: &str, required: bool| -> Result<Option<usize>> {
        match schema.index_of(name) {
            Ok(i) => Ok(Some(i)),
            Err(_) if !required => Ok(None),
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
        }
    };
    let text = find(&columns.text, true)?.expect("required");
    let pair = match &columns.text_pair {
        Some(name) => find(name, true)?,
        None => None,
    };
    let label = find(&columns.label, labels == Labels::Required)?;
    let index = find("index", false)?.or(find("idx", false)?);
    let mut examples = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let number = examples.len() + 1;
            let at = format!("{}:row {number}", path.display());
            let cell = |column: usize| -> Result<Option<String>> {
                let name = schema.field(column).name();
                value(batch.column(column), row).map_err(|e| anyhow!("{at}: column `{name}`: {e}"))
            };
            let required = |column: usize| -> Result<String> {
                cell(column)?.ok_or_else(|| {
                    anyhow!("{at}: column `{}` is null", schema.field(column).name())
                })
            };
            let label = match label {
                Some(c) if labels == Labels::Required => Some(required(c)?),
                Some(c) => cell(c)?,
                None => None,
            };
            let index = match index {
                Some(c) => required(c)?
                    .parse()
                    .map_err(|_| anyhow!("{at}: column `index` is not a whole number"))?,
                None => examples.len(),
            };
            examples.push(Example {
                text: required(text)?,
                text_pair: match pair {
                    Some(c) => Some(required(c)?),
                    None => None,
                },
                label,
                index,
                source: at,
            });
        }
    }
    Ok(examples)
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
