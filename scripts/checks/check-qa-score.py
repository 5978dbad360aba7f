#!/usr/bin/env python3
"""Check `qa score` against the SQuAD v1.1 evaluation rules, computed in Python, over perturbed
predictions of a whole dev set.

The reference follows the published definition of the v1.1 script, with Python's own string
semantics (what the official script runs on), as scripts/baselines/baseline-transformers-qa.py
implements it: lower() on the text, every character of string.punctuation removed, the
articles removed by the regular expression \\b(a|an|the)\\b, whitespace collapsed by
str.split(); exact match = equal normalised texts; F1 = overlap of the
normalised tokens, 0 when nothing is in common (so 0 when either side is empty); each
question's best over its gold answers, unanswered questions 0.

For each kind of perturbation (the first gold answer as it is, the empty answer, a cased and
punctuated variant with an article, half of the answer, a seeded random span of the context,
the whole sentence around the answer, unicode spacing and dashes, a prediction missing for
every tenth question), it writes one predictions file, runs `qa score` on it and compares
exact match and F1 with the reference: one question scored differently would move a total by
100 / 10,570 (~0.0095), far above the tolerance of 1e-9.

Writes OUT/summary.json (per kind: both sides' figures); exits 1 on any difference.
`--table SUMMARY` prints a summary's markdown table, as BENCHMARKS.md shows it.

Run: .venv/bin/python scripts/checks/check-qa-score.py target/release/qa \
         ../shared/data/squad/dev-v1.1.json.gz runs/qa-score-check
"""

import collections
import gzip
import importlib.util
import json
import os
import random
import subprocess
import sys
import time


def load_baseline():
    """The v1.1 definition as the transformers-side QA baseline implements it (its normalize
    and token F1), so that both Python scorers of this repository are one. Loaded only to
    score: it imports torch."""
    spec = importlib.util.spec_from_file_location(
        "baseline", os.path.join(os.path.dirname(__file__), "..", "baselines", "baseline-transformers-qa.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(baseline, questions, predictions):
    em = f = 0.0
    for q in questions:
        if q["id"] not in predictions:
            continue
        answer = predictions[q["id"]]
        em += max(float(baseline.normalize(answer) == baseline.normalize(g)) for g in q["golds"])
        f += max(baseline.token_f1(answer, g) for g in q["golds"])
    return {"exact_match": 100 * em / len(questions), "f1": 100 * f / len(questions)}


def perturbations(q, rng):
    gold, context = q["golds"][0], q["context"]
    words = gold.split()
    start = context.find(gold)
    sentence_start = context.rfind(". ", 0, max(start, 0)) + 2 if start > 0 else 0
    sentence_end = context.find(". ", start + len(gold)) if start >= 0 else -1
    context_words = context.split()
    i = rng.randrange(len(context_words))
    return {
        "gold": gold,
        "empty": "",
        "cased-punctuated": "The " + gold.upper() + "!?",
        "half": " ".join(words[: max(1, len(words) // 2)]),
        "random-span": " ".join(context_words[i : i + rng.randint(1, 8)]),
        "sentence": context[sentence_start : sentence_end if sentence_end > 0 else len(context)],
        "unicode-spacing": "\u00a0" + gold.replace(" ", "\u2009") + " \u2014 an",
        "every-tenth-missing": None if rng.random() < 0.1 else gold,
    }


def main(qa, dev, out):
    os.makedirs(out, exist_ok=True)
    data = json.load(gzip.open(dev) if dev.endswith(".gz") else open(dev))
    questions = [
        {"id": qa_["id"], "context": p["context"], "golds": [a["text"] for a in qa_["answers"]]}
        for article in data["data"] for p in article["paragraphs"] for qa_ in p["qas"]
    ]
    baseline = load_baseline()
    rng = random.Random(0)
    kinds = collections.defaultdict(dict)
    for q in questions:
        for kind, answer in perturbations(q, rng).items():
            if answer is not None:
                kinds[kind][q["id"]] = answer
    results, failed = {}, False
    for kind, predictions in kinds.items():
        path = os.path.join(out, f"predictions-{kind}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(predictions, f, ensure_ascii=False)
        ours = json.loads(subprocess.run([qa, "score", "--gold", dev, "--predictions", path],
                                         check=True, capture_output=True, text=True).stdout)
        theirs = reference(baseline, questions, predictions)
        same = all(abs(ours[k] - theirs[k]) <= 1e-9 for k in ("exact_match", "f1"))
        failed |= not same
        results[kind] = {"qa_score": {k: ours[k] for k in ("exact_match", "f1")},
                         "v1.1_rules": theirs, "same": same}
        print(f"{kind}: qa score {ours['exact_match']:.4f} / {ours['f1']:.4f}, "
              f"v1.1 rules {theirs['exact_match']:.4f} / {theirs['f1']:.4f}{'' if same else '  DIFFERENT'}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    summary = {"command": " ".join(["scripts/checks/check-qa-score.py", qa, dev, out]),
               "commit": commit, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "questions": len(questions), "kinds": results}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    sys.exit(1 if failed else 0)


def table(summary_path):
    """The markdown table of a summary, as BENCHMARKS.md shows it."""
    summary = json.load(open(summary_path))
    print("| predictions | `qa score` EM / F1 | v1.1 rules EM / F1 |")
    print("|---|---|---|")
    for kind, r in summary["kinds"].items():
        ours, theirs = r["qa_score"], r["v1.1_rules"]
        print(f"| {kind} | {ours['exact_match']:.4f} / {ours['f1']:.4f} | "
              f"{theirs['exact_match']:.4f} / {theirs['f1']:.4f} |")


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        table(sys.argv[2])
    else:
        main(*sys.argv[1:4])
