"""Data at the paper's scale: one `ftscale fit` on a generated WMT-schema JSONL of N pairs, cold and warm cache.

Measures the time to the first training step (from process start), the wall time, the peak RSS of the
process tree (sampled every 50 ms), the 1-minute load average when each run starts, and the rate of the cold
run's extra work (pairs of the split per second of the cold run's extra time over the first warm run's). The
backbone is a randomly initialised ladder model with the world tokenizer, so nothing is pretrained.

    python benchmarks/data_scale.py [--pairs 1000000] [--train-size 100000] [--eval-pairs 500] [--warm-runs 1]
        [--code-root DIR]

`--code-root` runs the `ftscale` of another checkout (e.g. `git worktree add /tmp/old HEAD`) for a before/after.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import psutil
import yaml

CLOCK_ENV = "DATA_SCALE_CLOCK"
# Editable installs map `ftscale.<room>` to folders; pointing the map at another checkout runs its code.
LAUNCH = """import sys, __editable___ftscale_0_1_0_finder as finder
installed, root = sys.argv.pop(1), sys.argv.pop(1)
finder.MAPPING = {name: path.replace(installed, root or installed, 1) for name, path in finder.MAPPING.items()}
try:
    from ftscale.cli.main import main
except ImportError:  # a checkout from before the cli room
    from ftscale.sweeps.cli import main
sys.exit(main(sys.argv[1:]))
"""


class FirstStepClock(L.Callback):
    """Writes the seconds from process start to the first training batch into the file named by $DATA_SCALE_CLOCK."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            elapsed = time.time() - psutil.Process().create_time()
            Path(os.environ[CLOCK_ENV]).write_text(f"{elapsed:.3f}")


def sentences(rng: np.random.Generator, n: int, vocabulary: np.ndarray) -> list[str]:
    """n sentences of WMT-like lengths (log-normal, median about 20 words, 1 to 120)."""
    lengths = np.clip(np.rint(rng.lognormal(np.log(20), 0.55, n)), 1, 120).astype(int)
    words = vocabulary[rng.zipf(1.3, lengths.sum()) % len(vocabulary)]
    cuts = np.cumsum(lengths)[:-1]
    return [" ".join(chunk).capitalize() + "." for chunk in np.split(words, cuts)]


def write_wmt_jsonl(path: Path, pairs: int, seed: int) -> None:
    """`{"translation": {"en": ..., "de": ...}}` per line, written in chunks so memory stays flat."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzäöüß"))
    vocabulary = np.array(["".join(rng.choice(letters, rng.integers(2, 11))) for _ in range(30_000)])
    with path.open("w", encoding="utf-8") as file:
        for start in range(0, pairs, 100_000):
            n = min(100_000, pairs - start)
            for en, de in zip(sentences(rng, n, vocabulary), sentences(rng, n, vocabulary), strict=True):
                file.write(json.dumps({"translation": {"en": en, "de": de}}, ensure_ascii=False) + "\n")


def prepare(folder: Path, pairs: int, eval_pairs: int = 500) -> dict[str, str]:
    """The split files (train of `pairs`, validation and test of `eval_pairs`), generated once."""
    sizes = {"train": pairs, "validation": eval_pairs, "test": eval_pairs}
    # The 500-pair files keep their first names, so files generated before the option stay in use.
    files = {
        split: folder / (f"{split}.jsonl" if split != "train" and n == 500 else f"{split}-{n}.jsonl")
        for split, n in sizes.items()
    }
    for seed, (split, path) in enumerate(files.items()):
        if not path.is_file():
            write_wmt_jsonl(path.with_suffix(".tmp"), sizes[split], seed)
            path.with_suffix(".tmp").replace(path)
    return {split: str(path) for split, path in files.items()}


def backbone(folder: Path) -> Path:
    """A randomly initialised ladder `xs` with the world tokenizer (no pretraining)."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    from ftscale.datamodules import world_tokenizer
    from ftscale.ladder.shapes import ladder_config

    path = folder / "backbone-xs"
    if not (path / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(world_tokenizer())
        ids = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
        LlamaForCausalLM(ladder_config("xs", len(tokenizer), 512, *ids)).save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker that ended since the listing
            total += member.memory_info().rss
    return total


def run_fit(args: list[str], env: dict[str, str], rss_limit: int) -> dict[str, float]:
    """Wall time, peak tree RSS, time to the first step and the load average at the start of one run (killed above
    `rss_limit` bytes)."""
    with tempfile.NamedTemporaryFile(suffix=".clock") as clock, tempfile.TemporaryDirectory() as root:
        env = {**env, CLOCK_ENV: clock.name}
        args = [*args, "--trainer.default_root_dir", root]  # a run directory of its own: its config.yaml is new
        load = os.getloadavg()[0]  # the machine may be shared: times are only comparable at similar loads
        start = time.perf_counter()
        child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        process, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            peak = max(peak, tree_rss(process))
            if peak > rss_limit:
                for member in [*process.children(recursive=True), process]:
                    member.kill()
            time.sleep(0.05)
        wall = time.perf_counter() - start
        stderr = child.stderr.read()
        if child.returncode:
            over = peak > rss_limit
            print(f"run {'killed above the RSS limit' if over else 'failed'}: {stderr[-2000:]}", file=sys.stderr)
            failed = {"first_step_s": float("nan"), "load": load, "failed": True}
            return {"wall_s": wall, "peak_rss_gib": peak / 2**30, **failed}
        first = float(Path(clock.name).read_text() or "nan")
    return {"wall_s": wall, "peak_rss_gib": peak / 2**30, "first_step_s": first, "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000, help="training pairs (1M; 5M and 25M for scale)")
    parser.add_argument("--train-size", type=int, default=100_000)
    parser.add_argument("--eval-pairs", type=int, default=500, help="pairs of the validation and the test split")
    parser.add_argument("--warm-runs", type=int, default=1, help="warm-cache runs after the cold one")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/ftscale-data-scale"))
    parser.add_argument("--code-root", default="", help="checkout whose ftscale to run (default: the installed one)")
    parser.add_argument("--rss-limit-gib", type=float, default=16.0, help="kill a run whose tree RSS passes this")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    files = prepare(args.folder, args.pairs, args.eval_pairs)
    data = {"class_path": "ftscale.datamodules.Translation", "init_args": {"data_files": files, "drop_empty": True}}
    (args.folder / "data.yaml").write_text(yaml.safe_dump(data))
    repo = Path(__file__).resolve().parents[1]
    command = [
        sys.executable,
        "-c",
        LAUNCH,
        str(repo),
        args.code_root,
        "fit",
        "--config",
        str(repo / "configs/quickstart.yaml"),
    ]
    command += ["--data", str(args.folder / "data.yaml"), "--model.backbone", str(backbone(args.folder))]
    command += ["--data.train_size", str(args.train_size), "--trainer.max_steps", "5", "--generation.max_examples"]
    command += ["0", "--trainer.callbacks+=benchmarks.data_scale.FirstStepClock", "--trainer.logger", "false"]
    command += ["--trainer.enable_progress_bar", "false"]
    with tempfile.TemporaryDirectory(dir=args.folder) as cache:
        env = {**os.environ, "FTSCALE_CACHE": cache, "HF_DATASETS_CACHE": f"{cache}/hf", "PYTHONPATH": str(repo)}
        names = ["cold", *(f"warm{i + 1}" if args.warm_runs > 1 else "warm" for i in range(args.warm_runs))]
        runs = {name: run_fit(command, env, int(args.rss_limit_gib * 2**30)) for name in names}
    extra = runs["cold"]["first_step_s"] - runs[names[1]]["first_step_s"]
    setup = {"pairs": args.pairs, "train_size": args.train_size, "eval_pairs": args.eval_pairs}
    print(json.dumps({**setup, "code": args.code_root or "installed", "cpus": os.cpu_count()}))
    for name, run in runs.items():
        print(f"{name}: " + ", ".join(f"{key} {value:.2f}" for key, value in run.items()))
    print(f"cold - warm to first step: {extra:.2f} s ({args.pairs / extra:,.0f} pairs of the split per second)")


if __name__ == "__main__":
    main()
