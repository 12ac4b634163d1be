"""Model selection from partial finetuning curves on Lin et al.'s (ICML 2024) benchmark: their baselines reproduced,
and `ftscale select` beside them. Prints markdown tables.

Protocol (Lin et al., Sec. 6 and their `src/draw.py`): 30 models, 3 tasks; target Df = 1,638,400; budget 1/8 ... 1/512
of it: a method sees the columns 200 ... 204,800 (1/8) down to 200 ... 3,200 (1/512), and column 0 (the loss before
finetuning). PearCorr = Pearson correlation across the models between a method's score and the true loss at the
target; RelAcc = (worst true loss - true loss of the chosen model) / (worst - best), both in percent. The scores, as
Lin et al. define them: ZeroShot the loss at Df = 0, SubTuning the loss at the largest column seen, ModelSize log
parameter count (its correlation is therefore negative when larger models finetune better; its choice is the largest
model), AtS its predicted loss at the target. ftscale's `select` is run with its default predictor menu, the model
size and the loss at Df = 0 of every model, and no pools.

    python benchmarks/selection.py [--data benchmarks/data/lin2024]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr

from ftscale.scaling_laws.selection import Curve, Selection, select

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "lin2024"
TASKS = ("flan", "wmt19", "gigaword")  # Lin et al.'s Table 1 order
TARGET = 1_638_400
RATIOS = (8, 16, 32, 64, 128, 256, 512)
METHODS = ("ZeroShot", "SubTuning", "ModelSize", "AtS")
# Lin et al. 2024, Table 1 (= their repository's results/tab1.txt), budgets 1/8 ... 1/512, in percent.
PUBLISHED = {
    ("flan", "PearCorr"): {
        "AtS": (90.9, 73.1, 65.5, 61.1, 52.2, 50.5, 45.6),
        "ZeroShot": (-10.7,) * 7,
        "SubTuning": (60.9, 46.5, 36.4, 29.0, 24.6, 20.9, 16.4),
        "ModelSize": (-20.9,) * 7,
    },
    ("wmt19", "PearCorr"): {
        "AtS": (98.9, 97.0, 97.7, 86.0, 78.0, 73.4, 61.5),
        "ZeroShot": (7.1,) * 7,
        "SubTuning": (93.5, 87.1, 77.7, 64.5, 51.7, 41.6, 34.5),
        "ModelSize": (36.0,) * 7,
    },
    ("gigaword", "PearCorr"): {
        "AtS": (98.9, 97.6, 96.9, 92.0, 91.1, 89.1, 91.0),
        "ZeroShot": (-49.2,) * 7,
        "SubTuning": (93.2, 89.3, 85.4, 80.9, 76.2, 69.9, 64.8),
        "ModelSize": (-24.4,) * 7,
    },
    ("flan", "RelAcc"): {
        "AtS": (93.6, 93.2, 93.2, 93.2, 85.3, 93.2, 93.2),
        "ZeroShot": (85.3,) * 7,
        "SubTuning": (93.2, 93.2, 93.2, 93.2, 59.6, 59.6, 59.6),
        "ModelSize": (59.6,) * 7,
    },
    ("wmt19", "RelAcc"): {
        "AtS": (99.1, 99.1, 99.6, 99.1, 99.1, 99.1, 99.1),
        "ZeroShot": (84.4,) * 7,
        "SubTuning": (99.1,) * 7,
        "ModelSize": (22.5,) * 7,
    },
    ("gigaword", "RelAcc"): {
        "AtS": (100.0, 91.4, 94.3, 100.0, 94.3, 94.3, 91.4),
        "ZeroShot": (71.3,) * 7,
        "SubTuning": (87.6, 87.6, 87.6, 71.3, 71.3, 71.3, 71.3),
        "ModelSize": (71.3,) * 7,
    },
}


class Task:
    """One task's table: model ids, finetuning sizes (the numeric columns > 0), losses, loss at Df = 0, sizes."""

    def __init__(self, path: Path):
        with open(path) as fh:
            rows = list(csv.DictReader(fh))
        self.columns = np.array([int(c) for c in rows[0] if c.isdigit() and int(c) > 0], float)
        self.models = [r["config name"] for r in rows]
        self.loss = np.array([[float(r[str(int(c))]) for c in self.columns] for r in rows])
        self.loss0 = np.array([float(r["0"]) for r in rows])
        self.size = np.array([float(r["size"]) for r in rows])
        self.true = self.loss[:, self.columns == TARGET][:, 0]

    def curves(self) -> dict[str, Curve]:
        """Every model's whole curve: `select` reads only the columns within its budget."""
        return {
            m: Curve(self.columns, self.loss[i], loss0=self.loss0[i], size=self.size[i])
            for i, m in enumerate(self.models)
        }

    def score(self, method: str, budget_df: float) -> tuple[np.ndarray, int]:
        """A baseline's score per model (lower = better, except ModelSize) and the model it chooses."""
        if method == "ZeroShot":
            return self.loss0, int(np.argmin(self.loss0))
        if method == "SubTuning":
            seen = self.loss[:, self.columns == budget_df][:, 0]
            return seen, int(np.argmin(seen))
        if method == "ModelSize":
            return np.log(self.size), int(np.argmax(self.size))
        chosen = select(self.curves(), TARGET, budget=budget_df / TARGET, predictors=["tail"], n_bootstrap=1)
        return chosen.loss, int(np.argmin(chosen.loss))

    def metrics(self, score: np.ndarray, chosen: int) -> tuple[float, float]:
        """PearCorr and RelAcc in percent, as Lin et al. compute them (rounded to 4 decimals before scaling)."""
        worst, best = self.true.max(), self.true.min()
        return 100 * round(pearsonr(score, self.true)[0], 4), 100 * round(
            (worst - self.true[chosen]) / (worst - best), 4
        )


def _row(values, fmt: str = "{:.1f}") -> str:
    return " | ".join(fmt.format(v) for v in values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Lin et al.'s flan/wmt19/gigaword.csv")
    ap.add_argument("--bootstrap", type=int, default=1000, help="select's bootstrap draws (default %(default)d)")
    args = ap.parse_args()
    start = time.perf_counter()
    budgets = [TARGET / r for r in RATIOS]
    header = "| " + " | ".join(f"1/{r}" for r in RATIOS)
    baseline: dict[tuple[str, str], np.ndarray] = {}  # (task, method) -> (budgets, 2)
    selections: dict[str, list[Selection]] = {}
    tasks = {t: Task(args.data / f"{t}.csv") for t in TASKS}
    for name, task in tasks.items():
        for method in METHODS:
            baseline[name, method] = np.array([task.metrics(*task.score(method, b)) for b in budgets])
        selections[name] = [
            select(task.curves(), TARGET, budget=b / TARGET, n_bootstrap=args.bootstrap, seed=0) for b in budgets
        ]

    for k, metric in enumerate(("PearCorr", "RelAcc")):
        print(f"\n### Baselines reproduced: {metric} (published in parentheses)\n")
        print(f"| task | method {header} | max. difference as printed |")
        print("|---|---" + "|---" * len(RATIOS) + "|---|")
        for name in TASKS:
            for method in METHODS:
                ours, theirs = baseline[name, method][:, k], np.array(PUBLISHED[name, metric][method])
                printed = np.array([float(f"{o:.1f}") for o in ours])
                cells = " | ".join(f"{o:.1f} ({p:.1f})" for o, p in zip(printed, theirs, strict=True))
                print(f"| {name} | {method} | {cells} | {np.abs(printed - theirs).max():.1f} |")

    print("\n### ftscale select beside AtS (reproduced)\n")
    print(f"| task | method | metric {header} | mean |")
    print("|---|---|---" + "|---" * len(RATIOS) + "|---|")
    for name, task in tasks.items():
        ours = np.array([task.metrics(s.loss, int(np.argmin(s.loss))) for s in selections[name]])
        for k, metric in enumerate(("PearCorr", "RelAcc")):
            for method, values in (("AtS", baseline[name, "AtS"][:, k]), ("ftscale select", ours[:, k])):
                print(f"| {name} | {method} | {metric} | {_row(values)} | {values.mean():.1f} |")

    print("\n### ftscale select: the predictor chosen inside the budget, and how sure it was\n")
    print(f"| task | {header.lstrip('| ')} |")
    print("|---" + "|---" * len(RATIOS) + "|")
    for name, task in tasks.items():
        cells = []
        for s in selections[name]:
            i = s.candidates.index(s.leader)
            inside = np.mean((task.true >= s.low) & (task.true <= s.high))
            truly = "best" if task.true[i] == task.true.min() else f"#{int(np.sum(task.true < task.true[i])) + 1}"
            cells.append(f"{s.predictor}, P(best) {s.p_best[i]:.2f}, choice {truly}, {inside:.0%} in 95% interval")
        print(f"| {name} | " + " | ".join(cells) + " |")

    print("\n### Goal: higher mean PearCorr than AtS on each task, RelAcc >= AtS at every budget\n")
    for name, task in tasks.items():
        ours = np.array([task.metrics(s.loss, int(np.argmin(s.loss))) for s in selections[name]])
        ats = baseline[name, "AtS"]
        lower = [f"1/{r}" for r, o, a in zip(RATIOS, ours[:, 1], ats[:, 1], strict=True) if o < a - 1e-9]
        print(
            f"- {name}: mean PearCorr {ours[:, 0].mean():.1f} vs AtS {ats[:, 0].mean():.1f} "
            f"({'higher' if ours[:, 0].mean() > ats[:, 0].mean() else 'not higher'}); RelAcc below AtS at "
            f"{', '.join(lower) if lower else 'no budget'}"
        )
    print(f"\nruntime {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
