#!/usr/bin/env python3
"""Write the sentiment sample data (data/sentiment/{train,validation}.tsv).

Our own sentences, composed from hand-written phrases: reviews of films, books, meals, hotels
and gadgets, with negation ("not good") and contrast ("..., but ...") so that a bag of words
is not enough. Labels follow GLUE SST-2: 1 positive, 0 negative. Deterministic; rerun to
regenerate. Plain Python, no dependencies.
"""

import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent.parent / "data" / "sentiment"

THINGS = ["the film", "this movie", "the book", "the novel", "the meal", "dinner", "the hotel",
          "our room", "the phone", "this laptop", "the concert", "the show", "the service",
          "the soundtrack", "the ending", "the first chapter", "the staff", "the camera",
          "the plot", "the acting"]
GOOD = ["wonderful", "delightful", "brilliant", "charming", "superb", "moving", "gripping",
        "excellent", "lovely", "great", "fantastic", "memorable", "warm", "clever", "beautiful"]
BAD = ["dull", "awful", "tedious", "boring", "terrible", "clumsy", "disappointing", "bland",
       "messy", "forgettable", "painful", "weak", "lifeless", "annoying", "poor"]
GOOD_END = ["i would gladly go back", "i recommend it to everyone", "worth every minute",
            "it made my week", "i loved every bit of it", "a real pleasure"]
BAD_END = ["i want my money back", "avoid it if you can", "a waste of an evening",
           "i regret going", "never again", "what a letdown"]
INTENS = ["", "really ", "truly ", "quite ", "remarkably ", "simply "]


def sentence(rng, positive):
    thing = rng.choice(THINGS)
    good, bad = rng.choice(GOOD), rng.choice(BAD)
    i = rng.choice(INTENS)
    form = rng.randrange(7)
    if form == 0:
        s = f"{thing} was {i}{good if positive else bad}."
    elif form == 1:
        s = f"{thing} was not {bad if positive else good} at all."
    elif form == 2:
        s = (f"i expected {thing} to be {bad}, but it was {i}{good}." if positive
             else f"i expected {thing} to be {good}, but it was {i}{bad}.")
    elif form == 3:
        s = (f"{thing} had a {bad} start, yet overall it was {good}." if positive
             else f"{thing} had a {good} start, yet overall it was {bad}.")
    elif form == 4:
        s = f"{thing}? {rng.choice(GOOD_END if positive else BAD_END)}."
    elif form == 5:
        s = (f"nobody could call {thing} {bad}; {rng.choice(GOOD_END)}." if positive
             else f"nobody could call {thing} {good}; {rng.choice(BAD_END)}.")
    else:
        s = (f"{i}{good} and {rng.choice(GOOD)}: {thing} deserves the praise." if positive
             else f"{i}{bad} and {rng.choice(BAD)}: {thing} deserves the complaints.")
    return s[0].upper() + s[1:]


def write(path, n, seed):
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < n:
        positive = len(rows) % 2 == 0
        s = sentence(rng, positive)
        if s not in seen:
            seen.add(s)
            rows.append((s, 1 if positive else 0))
    rng.shuffle(rows)
    path.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in rows))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    write(OUT / "train.tsv", 320, 1)
    write(OUT / "validation.tsv", 120, 2)
    # Sentences in both files would flatter validation accuracy: keep them apart.
    train = set((OUT / "train.tsv").read_text().splitlines()[1:])
    validation = [l for l in (OUT / "validation.tsv").read_text().splitlines()[1:] if l not in train]
    (OUT / "validation.tsv").write_text("sentence\tlabel\n" + "".join(l + "\n" for l in validation))
    print(f"wrote {OUT}/train.tsv (320) and validation.tsv ({len(validation)})")
