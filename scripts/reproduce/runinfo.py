"""What a benchmark or study run records about where and when it ran, shared by
scripts/reproduce/run-recipe and run-study: checksums, UTC times, the machine (and its NVIDIA
GPUs) and the code's git state. Standard library only."""

import datetime
import hashlib
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
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


def code_state():
    """(commit, dirty) of the working tree from git; (None, None) without a repository."""
    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return None, None
