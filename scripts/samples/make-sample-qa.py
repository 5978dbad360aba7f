#!/usr/bin/env python3
"""Writes the QA sample data (data/qa/{train,validation}.jsonl): short made-up biographies
with questions whose answers are spans of them, one JSONL line per question in the layout of
Hugging Face `datasets` (`id`, `title`, `context`, `question`, `answers` {text, answer_start}
with character offsets). Ours, from templates; for the quick demo and the tests, not a
benchmark. Deterministic (seeded).

    python3 scripts/samples/make-sample-qa.py
"""
import json
import pathlib
import random

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
FIRST = ["Anna", "Tomas", "Maria", "Kenji", "Olu", "Lena", "Pablo", "Ines", "Sven", "Amira", "Jonas", "Clara",
         "Rafael", "Noor", "Ivo", "Greta"]
LAST = ["Berg", "Lind", "Costa", "Sato", "Adeyemi", "Vogel", "Ruiz", "Moreau", "Haddad", "Weiss", "Novak", "Okafor"]
CITIES = ["Marenburg", "Port Tavin", "Kelmont", "Saltmere", "North Ridge", "Orsa", "Velden", "Caldra"]
JOBS = ["a baker", "an engineer", "a violin teacher", "a ship captain", "a botanist", "a journalist", "a carpenter"]
ORGS = ["Norvale Bank", "the Pell Institute", "Kestrel Air", "Greyfield Press", "Orchid Labs", "the city museum"]
HOBBIES = ["chess", "sailing", "painting", "running", "beekeeping", "astronomy"]


def example(rng, number):
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    city, year, job, org, hobby = (rng.choice(CITIES), str(rng.randint(1900, 2005)), rng.choice(JOBS),
                                   rng.choice(ORGS), rng.choice(HOBBIES))
    context = (f"{name} was born in {city} in {year}. Later {name.split()[0]} worked as {job} at {org}. "
               f"In the evenings {name.split()[0]} enjoyed {hobby}.")
    questions = [(f"Where was {name} born?", city), (f"In which year was {name} born?", year),
                 (f"What did {name.split()[0]} work as?", job), (f"Where did {name.split()[0]} work?", org),
                 (f"What did {name.split()[0]} enjoy in the evenings?", hobby)]
    rows = []
    for i, (question, answer) in enumerate(rng.sample(questions, 3)):
        start = context.index(answer)
        rows.append({"id": f"s{number:04d}-{i}", "title": name, "context": context, "question": question,
                     "answers": {"text": [answer], "answer_start": [start]}})
    return rows


def main():
    rng = random.Random(1858)
    out = ROOT / "data" / "qa"
    out.mkdir(parents=True, exist_ok=True)
    for name, count, first in [("train", 100, 0), ("validation", 30, 1000)]:
        rows = [row for n in range(count) for row in example(rng, first + n)]
        (out / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        print(f"wrote {out}/{name}.jsonl ({len(rows)} questions)")


if __name__ == "__main__":
    main()
