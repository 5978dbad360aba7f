"""Reads a benchmark recipe (benchmarks/recipes/<benchmark>.toml) for a transformers-side
baseline script, so both sides of a benchmark take their settings from one file.

A baseline declares how each recipe key reaches it: `flags` maps a key to one of its
command-line options; `fixed` lists the keys it does not take as options, with the value it
always uses (Trainer's default, or what the script hard-codes). A recipe key in neither, or
a fixed key whose recipe value differs, is an error naming the recipe and the key: a recipe
setting is never silently dropped on one side.
"""

import sys
import tomllib

# The recipe's tables that hold settings; [benchmark], [report], [finetune] and
# [transformers] describe the benchmark, not the training.
SETTING_TABLES = ("task", "training")


# What a benchmark recipe (run-recipe, recipe-table) and a study recipe (run-study) must hold:
# each table, with the keys read from it unconditionally.
BENCHMARK = {
    "benchmark": ("name", "model", "data", "seeds", "selection", "reported", "headline", "metric"),
    "training": (),
    "report": (),
    "finetune": ("script", "results"),
    "transformers": ("script", "results"),
}
STUDY = {"study": ("title", "task", "model", "seeds", "train", "reported", "metric")}


def load(path, required=None):
    """The recipe at `path`; exits naming the file when it is not TOML or lacks a table or key
    of `required` (BENCHMARK, STUDY)."""
    return parse(path, read(path), required)


def read(path):
    """The recipe file's bytes; exits naming the file when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        sys.exit(f"{path}: cannot read the recipe: {err.strerror}")


def parse(path, raw, required=None):
    """`load` of bytes already read (recipe-table hashes them)."""
    try:
        recipe = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        sys.exit(f"{path}: not a valid recipe: {err}")
    for table, keys in (required or {}).items():
        if not isinstance(recipe.get(table), dict):
            sys.exit(f"{path}: [{table}] missing")
        for key in keys:
            if key not in recipe[table]:
                sys.exit(f"{path}: [{table}] has no `{key}`")
    return recipe


def apply(path, argv, flags, fixed, benchmark_flags=None):
    """Returns `argv` with the recipe's settings put before it (the command line given wins,
    which the recipe driver never uses: it passes only the seed and output directory).

    `benchmark_flags` maps keys of [benchmark] (model, data, ...) to options the same way."""
    recipe = load(path, BENCHMARK)
    out = []
    for key, option in (benchmark_flags or {}).items():
        if key not in recipe.get("benchmark", {}):
            sys.exit(f"{path}: [benchmark] has no `{key}`")
        out += [option, str(recipe["benchmark"][key])]
    for table in SETTING_TABLES:
        for key, value in recipe.get(table, {}).items():
            if key in flags:
                out += [flags[key], str(value)]
            elif key in fixed:
                if not same(fixed[key], value):
                    sys.exit(f"{path}: [{table}] {key} = {value!r}, but this script always uses "
                             f"{fixed[key]!r}; change the recipe or teach the script the setting")
            else:
                sys.exit(f"{path}: [{table}] {key} is a setting this script does not know; "
                         f"it would be ignored on the transformers side")
    return out + list(argv)


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)))
    return a == b


def from_argv(argv, flags, fixed, benchmark_flags=None):
    """`--recipe FILE` anywhere in `argv` is replaced by the recipe's settings."""
    argv = list(argv)
    if "--recipe" not in argv:
        return argv
    at = argv.index("--recipe")
    if at + 1 >= len(argv):
        sys.exit("--recipe needs a file")
    path = argv[at + 1]
    rest = argv[:at] + argv[at + 2:]
    return apply(path, rest, flags, fixed, benchmark_flags)
