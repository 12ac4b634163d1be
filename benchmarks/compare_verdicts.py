"""Put the claims of two fitted sweeps side by side (e.g. the study under two world seeds) as a Markdown table:
each claim's and each subject's value, 95% interval and verdict in both, and whether the verdict flipped.

    python benchmarks/compare_verdicts.py runs/study/laws.json runs/study-w1/laws.json --names "world 0" "world 1"
"""

import argparse
import json
from pathlib import Path


def cell(claim: dict, subject: str) -> str:
    """`value [low, high] verdict` of one subject of a claim, or its verdict alone where it has no value."""
    verdict = claim["verdicts"].get(subject, "absent")
    value, interval = claim["values"].get(subject), claim["intervals"].get(subject)
    if value is None or interval is None or verdict == "not testable":
        return verdict
    return f"{value:.3g} [{interval[0]:.3g}, {interval[1]:.3g}] {verdict}"


def rows(first: dict, second: dict) -> list[list[str]]:
    """One row per claim (its overall verdicts), then one per subject of either run."""
    out = []
    for a, b in zip(first["claims"], second["claims"], strict=True):
        flip = "" if a["verdict"] == b["verdict"] else "**flips**"
        out.append([f"**{a['id']}: {a['quantity']} {a['side']} {a['threshold']}**", a["verdict"], b["verdict"], flip])
        for subject in sorted(set(a["verdicts"]) | set(b["verdicts"])):
            va, vb = a["verdicts"].get(subject), b["verdicts"].get(subject)
            out.append([subject, cell(a, subject), cell(b, subject), "" if va == vb else "flips"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("laws", nargs=2, type=Path, help="two laws.json files")
    parser.add_argument("--names", nargs=2, default=["first", "second"], help="column titles of the two runs")
    args = parser.parse_args()
    first, second = (json.loads(path.read_text()) for path in args.laws)
    print(f"| claim / subject | {args.names[0]} | {args.names[1]} | |")
    print("|---|---|---|---|")
    for row in rows(first, second):
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")  # |alpha_t| inside a table


if __name__ == "__main__":
    main()
