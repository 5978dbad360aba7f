#!/usr/bin/env python3
"""Writes the relation sample data (data/relation/{train,validation}.txt) in the SemEval-2010
Task 8 release format: ID<TAB>"sentence with <e1>..</e1> and <e2>..</e2>", the label, a
Comment line and a blank line, CRLF line endings, as the real release.

The sentences are ours, made from templates and word lists written for this project; they
are for the quick demo and the tests, not a benchmark. Deterministic (seeded).

    python3 scripts/samples/make-sample-relation.py
"""

import pathlib
import random

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent

# relation -> (templates with {A} = e1-role filler and {B} = e2-role filler when the label
# is R(e1,e2)), (A fillers, B fillers). Direction (e2,e1) swaps which entity is e1.
RELATIONS = {
    "Cause-Effect": (
        ["The {B} was caused by the {A}.", "A {A} can trigger a {B} in minutes.",
         "Their {B} resulted from a long {A}.", "The {A} led to a sudden {B}."],
        (["storm", "virus", "fire", "drought", "explosion", "infection", "strike", "flood"],
         ["outage", "fever", "smoke", "famine", "panic", "cough", "delay", "damage"]),
    ),
    "Component-Whole": (
        ["The {A} of the {B} was broken.", "Each {B} has a small {A} inside.",
         "She replaced the {A} on her {B}.", "The {B} lost its {A} last week."],
        (["wheel", "handle", "screen", "engine", "keyboard", "roof", "lens", "blade"],
         ["bicycle", "door", "laptop", "truck", "piano", "house", "camera", "fan"]),
    ),
    "Content-Container": (
        ["The {A} was kept in a {B}.", "He found some {A} inside the old {B}.",
         "A {B} full of {A} stood on the table.", "They stored the {A} in a sealed {B}."],
        (["coins", "letters", "flour", "wine", "toys", "photos", "tea", "nails"],
         ["box", "drawer", "jar", "barrel", "basket", "envelope", "tin", "bucket"]),
    ),
    "Entity-Destination": (
        ["The {A} was moved into the {B}.", "We sent the {A} to the {B} yesterday.",
         "Workers loaded the {A} onto the {B}.", "The {A} was delivered to the {B}."],
        (["package", "cattle", "furniture", "patient", "cargo", "luggage", "soldiers", "grain"],
         ["warehouse", "barn", "apartment", "hospital", "ship", "station", "camp", "silo"]),
    ),
    "Entity-Origin": (
        ["The {A} came from a distant {B}.", "This {A} was taken from the {B}.",
         "The {A} escaped from the {B} at night.", "An {A} emerged from the {B}."],
        (["water", "oil", "prisoner", "smell", "honey", "signal", "dust", "music"],
         ["spring", "well", "prison", "kitchen", "hive", "tower", "mine", "radio"]),
    ),
    "Instrument-Agency": (
        ["The {B} used a {A} to fix it.", "A {B} cut the rope with a {A}.",
         "The {B} painted the wall with a {A}.", "With a {A}, the {B} opened the lock."],
        (["hammer", "knife", "brush", "wrench", "needle", "saw", "pen", "key"],
         ["carpenter", "sailor", "painter", "mechanic", "tailor", "worker", "writer", "thief"]),
    ),
    "Member-Collection": (
        ["A {A} joined the {B} in spring.", "Every {A} in the {B} voted.",
         "The {B} lost its oldest {A}.", "One {A} left the {B} early."],
        (["singer", "wolf", "player", "bird", "sheep", "student", "tree", "ship"],
         ["choir", "pack", "team", "flock", "herd", "class", "forest", "fleet"]),
    ),
    "Message-Topic": (
        ["The {A} discussed the {B} at length.", "Her {A} was about the {B}.",
         "A short {A} explained the {B}.", "The {A} described the new {B}."],
        (["lecture", "article", "report", "book", "speech", "film", "letter", "poem"],
         ["election", "war", "budget", "disease", "economy", "climate", "treaty", "river"]),
    ),
    "Product-Producer": (
        ["The {A} was made by a local {B}.", "A {B} produced the {A} last year.",
         "This {A} was written by a famous {B}.", "The {B} built a {A} by hand."],
        (["bread", "chair", "novel", "car", "cheese", "violin", "song", "boat"],
         ["baker", "carpenter", "author", "factory", "farmer", "maker", "composer", "shipyard"]),
    ),
}

OTHER = [
    "The {A} stood near the {B}.", "A {A} and a {B} were on the list.",
    "After the {A}, we talked about the {B}.", "The {A} is older than the {B}.",
]
OTHER_WORDS = ["lamp", "river", "teacher", "window", "garden", "road", "cat", "cloud",
               "mountain", "village", "market", "clock", "bridge", "child", "table", "song"]


def mark(template, a, b):
    """Fills a template; as in SemEval, e1 is the entity that comes first in the text.
    Returns the sentence and whether the A-role filler is e1."""
    a_first = template.index("{A}") < template.index("{B}")
    first, second = ("<e1>{}</e1>", "<e2>{}</e2>") if a_first else ("<e2>{}</e2>", "<e1>{}</e1>")
    return template.replace("{A}", first.format(a)).replace("{B}", second.format(b)), a_first


def examples(rng, count):
    out = []
    while len(out) < count:
        if rng.random() < 0.18:
            t = rng.choice(OTHER)
            a, b = rng.sample(OTHER_WORDS, 2)
            out.append((mark(t, a, b)[0], "Other"))
            continue
        relation = rng.choice(sorted(RELATIONS))
        templates, (a_words, b_words) = RELATIONS[relation]
        t = rng.choice(templates)
        sentence, a_is_e1 = mark(t, rng.choice(a_words), rng.choice(b_words))
        # The label names the roles: R(e1,e2) when e1 plays the first role (A).
        direction = "(e1,e2)" if a_is_e1 else "(e2,e1)"
        out.append((sentence, relation + direction))
    return out


def write(path, rows, first_id):
    lines = []
    for i, (sentence, label) in enumerate(rows):
        lines += [f'{first_id + i}\t"{sentence}"', label, "Comment:", ""]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())


def main():
    rng = random.Random(20101)
    out = ROOT / "data" / "relation"
    out.mkdir(parents=True, exist_ok=True)
    write(out / "train.txt", examples(rng, 400), 1)
    write(out / "validation.txt", examples(rng, 120), 1001)
    print(f"wrote {out}/train.txt (400) and validation.txt (120)")


if __name__ == "__main__":
    main()
