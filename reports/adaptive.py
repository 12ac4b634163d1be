"""The path of an adaptive sweep (`sweeps/adaptive.py`) as the report's section and as `sweep status` lines: its
stages, whom each selection dropped and why, and the final choice with its P(best)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ftscale.reports.sections import Section, Table
from ftscale.sweeps.store import Store
from ftscale.sweeps.store.stages import Elimination, StageTask

TITLE = "Adaptive selection: the path"
ELIMINATION_COLUMNS = ["candidate", "after stage", "P(worse than the leader)", "predicted loss", "low", "high",
                       "leader", "leader's predicted loss", "leader's low", "leader's high"]  # fmt: skip


def adaptive_sections(store: Store) -> list[Section]:
    """The report's section on the sweep's adaptive path; none for an ordinary sweep."""
    state = StageTask(store).state()
    if state["settings"] is None:
        return []
    rows = store.rows()
    stages = [[s["stage"], _sizes(rows, s["stage"]), len(_candidates(rows, s)), *_selected(s)] for s in state["stages"]]
    eliminations = [
        [e["candidate"], e["stage"], e["p_worse"], e["loss"], e["low"], e["high"], e["leader"], e["leader_loss"],
         e["leader_low"], e["leader_high"]]
        for e in state["eliminations"]
    ]  # fmt: skip
    tables = [
        Table("adaptive/stages", ["stage", "Df", "candidates", "leader", "P(best)", "dropped", "outcome"], stages),
        Table("adaptive/eliminations", ELIMINATION_COLUMNS, eliminations),
    ]
    last = next((s["result"] for s in reversed(state["stages"]) if s["result"] is not None), None)
    if last is not None:
        selection = last["selection"]
        columns = ["rank", "candidate", "predicted loss", "low", "high", "P(best)", "P(worse than the leader)"]
        keys = ("rank", "candidate", "predicted_loss", "low", "high", "p_best", "p_worse_than_leader")
        ranked = [[row[k] for k in keys] for row in selection["candidates"]]
        tables.append(Table("adaptive/last_selection", columns, ranked))
    text = " ".join(
        [
            _settings(state["settings"]),
            "Each stage runs every surviving candidate's next finetuning size (the first: its 3 smallest), all "
            "seeds; the selection after it predicts each candidate's loss at the target from its curve so far "
            "(`select`, its draws pooled over resamples of the seeds) and drops those worse than the leader with at "
            "least the probability above. P(best) from partial curves was overconfident on Lin et al.'s data "
            "(docs/benchmarks.md): read it as how contested the choice is.",
            _outcome(state, rows),
        ]
    )
    return [Section(TITLE, text, tables)]


def adaptive_lines(store: Store) -> list[str]:
    """`sweep status`'s lines on the sweep's adaptive path; none for an ordinary sweep."""
    state = StageTask(store).state()
    if state["settings"] is None:
        return []
    rows = store.rows()
    lines = [f"adaptive sweep: {_settings(state['settings'])}"]
    by_stage: dict[int, list[str]] = {}
    for e in state["eliminations"]:
        by_stage.setdefault(e["stage"], []).append(
            f"  dropped {e['candidate']}: {Elimination(**{f.name: e[f.name] for f in fields(Elimination)}).reason()}"
        )
    for stage in state["stages"]:
        leader, p_best, _, outcome = _selected(stage)
        head = f"stage {stage['stage']} (Df {_sizes(rows, stage['stage'])}; {len(_candidates(rows, stage))} candidates)"
        if stage["result"] is None:
            lines.append(f"{head}: {_waiting(state)}")
            continue
        lines.append(f"{head}: leader {leader} (P(best) {p_best:.2f}); {outcome}")
        lines += by_stage.get(stage["stage"], [])
    lines.append(_outcome(state, rows))
    return lines


def _settings(settings: dict[str, Any]) -> str:
    budget = "" if settings["budget"] >= 1 else f", within {settings['budget']:.1%} of the full sweep's planned steps"
    return (
        f"choosing the candidate with the lowest loss at Df {settings['target_df']:g}; a candidate is dropped at "
        f"P(worse than the leader) >= {settings['probability']:g}{budget}."
    )


def _selected(stage: dict[str, Any]) -> list[Any]:
    """[leader, its P(best), how many were dropped, the outcome] of a stage's selection (None before it ran)."""
    result = stage["result"]
    if result is None:
        return [None, None, None, "selection not run yet"]
    leader = result["selection"]["candidates"][0]
    outcome = f"stopped: {result['stopped']}" if result["stopped"] else "next stage opened"
    return [leader["candidate"], leader["p_best"], len(result["eliminated"]), outcome]


def _outcome(state: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    last = state["stages"][-1]["result"]
    spent = sum(r["planned_steps"] or 0 for r in rows if r["stage"] is not None and r["status"] != "skipped")
    full = sum(r["planned_steps"] or 0 for r in rows)
    share = f"; planned training steps {spent / full:.1%} of the full sweep's ({spent} of {full})" if full else ""
    if last is None or not last["stopped"]:
        return f"choice: not made yet{share}."
    return f"choice: {last['choice']}, P(best) {last['p_best']:.2f} ({last['stopped']}){share}."


def _waiting(state: dict[str, Any]) -> str:
    """What the selection of the current stage waits for, in words."""
    current = state["current"]
    if current["error"] is not None:
        lines = [line for line in current["error"].splitlines() if line.strip()]
        return f"selection failed: {lines[-1] if lines else '?'}; `ftscale sweep run SPEC --retry-failed` tries again"
    if current["unsettled"]:
        return f"running ({current['unsettled']} points to go)"
    if current["failed"]:
        return (
            f"waits for {current['failed']} failed points of candidates still in the running: "
            "`ftscale sweep run SPEC --retry-failed`"
        )
    if current["owner"] is not None and current["expires"] >= state["now"]:
        return f"selection running in {current['owner']}"
    return "selection due (the next sweep run, sweep point or sweep status runs it)"


def _sizes(rows: list[dict[str, Any]], stage: int) -> str:
    return ", ".join(map(str, sorted({r["factors"]["train_size"] for r in rows if _in(r, stage)})))


def _candidates(rows: list[dict[str, Any]], stage: dict[str, Any]) -> list[str]:
    if stage["result"] is not None:
        return stage["result"]["candidates"]
    return list(dict.fromkeys(r["candidate"] for r in rows if _in(r, stage["stage"])))


def _in(row: dict[str, Any], stage: int) -> bool:
    return row["stage"] == stage and row["candidate"] is not None and row["status"] != "skipped"
