"""What a benchmark or study run records about where and when it ran, shared by
scripts/reproduce/run-recipe and run-study: checksums, UTC times, the machine (and its NVIDIA
GPUs) and the code's git state. Standard library only."""

import datetime
import hashlib
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def git(*args, cwd=ROOT):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def gpus():
    """[{name, driver, memory}] of the NVIDIA GPUs nvidia-smi sees; [] without one."""
    try:
        run = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True)
    except OSError:
        return []
    if run.returncode != 0:
        return []
    rows = [line.split(", ") for line in run.stdout.strip().splitlines() if line.strip()]
    return [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) == 3]


def machine(device="cpu"):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    out = {"cpu": cpu, "logical_cpus": os.cpu_count(), "system": platform.system(),
           "arch": platform.machine()}
    if device != "cpu":
        out["gpus"] = gpus()
    return out


# What the reproduce scripts themselves write into the tree: results of earlier runs (run-recipe
# overwrites a seed's committed result when it is run again) and study reports and records. A
# change there is not a change of the code a run is made with, so it does not make a run "dirty".
OUTPUTS = ("benchmarks/results", "benchmarks/results-cuda", "benchmarks/studies")


def git_state(root=ROOT):
    """(commit, dirty) from git, which must answer: dirty when a tracked file outside OUTPUTS
    differs from the commit (untracked files do not count)."""
    excluded = [f":(exclude){path}" for path in OUTPUTS]
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded, cwd=root)
    return git("rev-parse", "HEAD", cwd=root), bool(changed)


def code_state():
    """git_state(), or (None, None) without a repository."""
    try:
        return git_state()
    except (OSError, subprocess.CalledProcessError):
        return None, None
