#!/usr/bin/env python3
"""Writes the columnar fixtures of crates/sentiment/tests/columnar.rs with pyarrow (what
pandas and Hugging Face datasets use), so the Rust readers are tested against files written
by the users' own tools: tests/fixtures/sentiment/

- reviews.parquet         snappy; `sentence` (string), `label` (int64, as a ClassLabel)
- reviews-gzip.parquet    gzip; `label` dictionary-encoded strings, `index` column
- reviews.arrow           Arrow IPC file; large_string text, `label` as bool
- reviews.arrows          Arrow IPC stream; two record batches
- pairs.parquet           `premise`, `hypothesis`, `label` (sentence pairs)
- nulls.parquet           a null label on row 3
- floats.parquet          float labels (not supported: an error)

    .venv/bin/python scripts/make-columnar-fixtures.py
"""
import pathlib

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sentiment"
SENTENCES = ["a warm and funny film", "dull from start to end", "the cast is superb",
             "i wanted my money back", "a small gem", "flat and lifeless"]
LABELS = [1, 0, 1, 0, 1, 0]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    table = pa.table({"sentence": SENTENCES, "label": pa.array(LABELS, pa.int64())})
    pq.write_table(table, OUT / "reviews.parquet", compression="snappy")
    names = pa.array(["positive" if l else "negative" for l in LABELS]).dictionary_encode()
    pq.write_table(pa.table({"index": list(range(10, 16)), "sentence": SENTENCES, "label": names}),
                   OUT / "reviews-gzip.parquet", compression="gzip")
    big = pa.table({"sentence": pa.array(SENTENCES, pa.large_string()),
                    "label": pa.array([bool(l) for l in LABELS])})
    with ipc.new_file(OUT / "reviews.arrow", big.schema) as w:
        w.write_table(big)
    with ipc.new_stream(OUT / "reviews.arrows", table.schema) as w:
        for batch in table.to_batches(max_chunksize=4):
            w.write_batch(batch)
    pq.write_table(pa.table({"premise": SENTENCES, "hypothesis": SENTENCES[::-1], "label": LABELS}),
                   OUT / "pairs.parquet")
    pq.write_table(pa.table({"sentence": SENTENCES, "label": pa.array([1, 0, None, 0, 1, 0], pa.int64())}),
                   OUT / "nulls.parquet")
    pq.write_table(pa.table({"sentence": SENTENCES, "label": [0.5] * 6}), OUT / "floats.parquet")
    print("wrote", sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()
