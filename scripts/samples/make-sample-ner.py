#!/usr/bin/env python3
"""Writes the NER sample data (data/ner/{train,validation}.conll) in CoNLL-2003's column
format: `WORD POS CHUNK NER`, `-DOCSTART- -X- -X- O` document breaks, blank lines between
sentences, IOB1 tags (as CoNLL-2003 ships them: B- only where an entity directly follows
another of the same type).

The sentences, names and places are ours, made from templates written for this project;
they are for the quick demo and the tests, not a benchmark. POS and chunk columns are
placeholders (`X`, `O`): the tools here read only the word and the NER column.

    python3 scripts/samples/make-sample-ner.py
"""

import pathlib
import random

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent

NAMES = {
    "PER": ["Anna Berg", "Tomas Lind", "Maria Costa", "Kenji Sato", "Olu Adeyemi", "Lena Vogel",
            "Pablo Ruiz", "Ines Moreau", "Sven", "Amira Haddad", "Jonas", "Clara Weiss"],
    "ORG": ["Norvale Bank", "Brightwater Systems", "the Union of Millers", "Kestrel Air",
            "Halden United", "Greyfield Press", "Orchid Labs", "the Pell Institute"],
    "LOC": ["Marenburg", "the Elm Valley", "Port Tavin", "Lake Orsa", "Kelmont", "North Ridge",
            "Saltmere", "the Verin coast"],
    "MISC": ["Ardenian", "the Summer Cup", "Kelmontese", "the Glass Prize", "Orsan", "Tavinese"],
}

TEMPLATES = [
    "{PER} joined {ORG} in {LOC} last year .",
    "{ORG} said on Monday that profits rose in {LOC} .",
    "{PER} won {MISC} after a long final .",
    "The {MISC} delegation arrived in {LOC} on Tuesday .",
    "{PER} , who works for {ORG} , declined to comment .",
    "Shares of {ORG} fell 3 percent in {LOC} trading .",
    "{PER} met {PER} in {LOC} to discuss the plan .",
    "Officials in {LOC} praised {ORG} for the new bridge .",
    "Fans cheered as {PER} scored twice for {ORG} .",
    "Rain is expected in {LOC} and {LOC} this weekend .",
    "Prices were steady , traders said .",
    "The talks will resume next week .",
    "{MISC} {MISC} fans celebrated in {LOC} .",
]


def fill(template, rng):
    words = []
    for piece in template.split():
        if piece.startswith("{") and piece.endswith("}"):
            kind = piece[1:-1]
            words.append((rng.choice(NAMES[kind]).split(), kind))
        else:
            words.append(([piece], None))
    # IOB1: I- for every entity word, B- only for an entity right after one of its type.
    rows, previous = [], None
    for tokens, kind in words:
        for i, token in enumerate(tokens):
            if kind is None:
                tag = "O"
            elif i == 0 and previous == kind:
                tag = f"B-{kind}"
            else:
                tag = f"I-{kind}"
            rows.append((token, tag))
        previous = kind
    return rows


def write(path, rng, documents):
    lines = []
    for _ in range(documents):
        lines += ["-DOCSTART- -X- -X- O", ""]
        for _ in range(rng.randint(3, 6)):
            for token, tag in fill(rng.choice(TEMPLATES), rng):
                lines.append(f"{token} X O {tag}")
            lines.append("")
    path.write_text("\n".join(lines) + "\n")


def main():
    rng = random.Random(2003)
    out = ROOT / "data" / "ner"
    out.mkdir(parents=True, exist_ok=True)
    write(out / "train.conll", rng, 60)
    write(out / "validation.conll", rng, 20)
    print(f"wrote {out}/train.conll and validation.conll")


if __name__ == "__main__":
    main()
