//! Parquet and Arrow IPC loading, on files written by pyarrow
//! (scripts/fixtures/make-columnar-fixtures.py), and their errors.

use std::path::PathBuf;

use sentiment::data::{Columns, Labels, load};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sentiment")
        .join(name)
}

const SENTENCES: [&str; 6] = [
    "a warm and funny film",
    "dull from start to end",
    "the cast is superb",
    "i wanted my money back",
    "a small gem",
    "flat and lifeless",
];

fn texts_and_labels(name: &str) -> (Vec<String>, Vec<String>) {
    let examples = load(&fixture(name), &Columns::default(), Labels::Required).unwrap();
    (
        examples.iter().map(|e| e.text.clone()).collect(),
        examples.iter().map(|e| e.label.clone().unwrap()).collect(),
    )
}

#[test]
fn parquet_with_integer_labels() {
    let (texts, labels) = texts_and_labels("reviews.parquet");
    assert_eq!(texts, SENTENCES);
    assert_eq!(labels, ["1", "0", "1", "0", "1", "0"]);
}

#[test]
fn gzip_parquet_with_dictionary_labels_and_an_index_column() {
    let examples = load(
        &fixture("reviews-gzip.parquet"),
        &Columns::default(),
        Labels::Required,
    )
    .unwrap();
    assert_eq!(examples[0].label.as_deref(), Some("positive"));
    assert_eq!(examples[1].label.as_deref(), Some("negative"));
    assert_eq!(examples[0].index, 10);
    assert!(examples[2].source.ends_with("reviews-gzip.parquet:row 3"));
}

#[test]
fn arrow_ipc_file_and_stream() {
    let (texts, labels) = texts_and_labels("reviews.arrow");
    assert_eq!(texts, SENTENCES);
    assert_eq!(labels[0], "true");
    // The stream holds two record batches; rows keep their order across them.
    let (texts, labels) = texts_and_labels("reviews.arrows");
    assert_eq!(texts, SENTENCES);
    assert_eq!(labels, ["1", "0", "1", "0", "1", "0"]);
}

#[test]
fn sentence_pairs() {
    let columns = Columns {
        text: "premise".into(),
        text_pair: Some("hypothesis".into()),
        label: "label".into(),
    };
    let examples = load(&fixture("pairs.parquet"), &columns, Labels::Required).unwrap();
    assert_eq!(examples[0].text_pair.as_deref(), Some("flat and lifeless"));
}

#[test]
fn errors_name_the_file_row_and_column() {
    let err = |name: &str, columns: &Columns, labels: Labels| {
        load(&fixture(name), columns, labels)
            .unwrap_err()
            .to_string()
    };
    let nulls = err("nulls.parquet", &Columns::default(), Labels::Required);
    assert!(
        nulls.contains("nulls.parquet:row 3: column `label` is null"),
        "{nulls}"
    );
    // Unlabelled prediction input may have null labels.
    assert!(
        load(
            &fixture("nulls.parquet"),
            &Columns::default(),
            Labels::Optional
        )
        .is_ok()
    );
    let floats = err("floats.parquet", &Columns::default(), Labels::Required);
    assert!(
        floats.contains("floats.parquet:row 1: column `label`: values of type Float64"),
        "{floats}"
    );
    let missing = Columns {
        text: "review".into(),
        ..Columns::default()
    };
    let missing = err("reviews.parquet", &missing, Labels::Required);
    assert!(
        missing.contains("no column `review` (columns: sentence, label)"),
        "{missing}"
    );
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.parquet");
    std::fs::copy(fixture("reviews.arrow"), &fake).unwrap();
    let not_parquet = load(&fake, &Columns::default(), Labels::Required)
        .unwrap_err()
        .to_string();
    assert!(
        not_parquet.contains("fake.parquet: not a readable Parquet file"),
        "{not_parquet}"
    );
}
