"""What the offline commands print: rich tables of backtests, replays and tuning runs.

Kept apart from the command definitions so ``cli`` reads as the list of commands and their options, and
the tables can change without touching how a command validates its input.
"""

from __future__ import annotations

from typing import Any


def _table(title: str, caption: str) -> Any:
    """A table that fits an 80-column terminal without cutting a cell: no vertical rules, short headers
    (the caption spells them out). Names share prefixes (seasonal_daily, seasonal_naive_daily; keda-queue,
    keda-kv) and figures lose digits, so a cell cut short misleads."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    # A title names a trace file, and "[...]" in a file name would read as markup and vanish.
    return Table(title=escape(title), caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)


def print_backtest(result: dict[str, Any]) -> None:
    """Every model at every horizon, the best MASE per horizon in bold: the model to pick stands out."""
    from rich.markup import escape

    best = {b["horizon_s"]: b for b in result.get("best", [])}
    rows = []
    for row in result["results"]:
        cov, loss = row["coverage"], row.get("pinball_by_quantile", {})
        rows.append(
            [
                row["model"],
                f"{row['horizon_s']:g} s",
                _fmt(row["mase"], "{:.3f}"),
                _fmt(loss.get("0.5"), "{:.3f}"),
                _fmt(loss.get("0.9"), "{:.3f}"),
                _fmt(cov.get("0.5"), "{:.2f}"),
                _fmt(cov.get("0.9"), "{:.2f}"),
                _fmt(cov.get("0.95"), "{:.2f}"),
                f"{row['update_us']:.0f}",
            ]
        )
    table = _table(
        f"{result['series']} — step {result['step_s']:g} s, {result['points']} points",
        "MASE and pinball loss at p50, p90 scaled by the naive error before each origin; p50, p90, p95: share of"
        " actuals at or below that forecast quantile; µs: one update",
    )
    for i, header in enumerate(("model", "ahead", "MASE", "pb50", "pb90", "p50", "p90", "p95", "µs")):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row, cells in zip(result["results"], rows, strict=True):
        held = best.get(row["horizon_s"])
        if held is not None and row["model"] == held["model"]:
            cells[2] = f"[bold]{cells[2]}[/]"
        table.add_row(*cells)
    console = wide_console()
    console.print(table)
    if best:
        console.print(
            "best MASE: "
            + ", ".join(f"{b['horizon_s']:g} s {escape(b['model'])} {b['mase']:.3f}" for b in best.values())
        )
    for vs in result.get("default_vs_best", []):
        interval = vs.get("interval_95")
        noise = ""
        if interval is not None:
            low, high = interval
            verdict = "better" if high < 1 else "worse" if low > 1 else "within noise"
            noise = f" (95 % interval {low:.2f}–{high:.2f}: {verdict})"
        against = escape(vs["best_other"])
        console.print(f"default / best other at {vs['horizon_s']:g} s: {vs['ratio']:.3f} against {against}{noise}")
    notes = {row["model"]: row["notes"] for row in result["results"] if row["notes"]}
    for name, lines in notes.items():
        console.print(f"[dim]{name}: {escape('; '.join(lines))}[/]")
    for name, why in result.get("skipped_baselines", {}).items():
        console.print(f"[dim]{name} not scored: {escape(why)}[/]")
    if result["skipped_horizons_s"]:
        console.print(f"skipped (longer than the series allows): {result['skipped_horizons_s']}")


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def print_simulation(summary: dict[str, Any], span_s: float) -> None:
    """One row per policy, then where gpuscale's hours above the oracle went, then an unreachable SLO's warning."""
    slo = summary["slo"]
    title = (
        f"{summary['trace']} on {summary['profile']}: {summary['requests']} requests over {span_s / 60:.0f} min; "
        f"SLO: TTFT <= {slo['ttft_s']:g} s for {slo['attainment']:.1%}"
    )
    table = _table(
        title,
        "in SLO: requests within the TTFT target; p50, p95, p99: TTFT; events: scale events; "
        "flaps: reversals; met: the SLO is met",
    )
    headers = ("policy", "GPU-h", "×oracle", "in SLO", "p50", "p95", "p99", "events", "flaps", "met")
    for header in headers:
        table.add_column(header, justify="left" if header == "policy" else "right", no_wrap=header == "policy")
    for row in summary["policies"]:
        ratio = row["gpu_hours_vs_oracle"]
        table.add_row(
            row["name"],
            f"{row['gpu_hours']:.1f}",
            "-" if ratio is None else f"{ratio:.2f}",
            f"{row['slo_attainment']:.1%}",
            _seconds(row["ttft_p50_s"]),
            _seconds(row["ttft_p95_s"]),
            _seconds(row["ttft_p99_s"]),
            str(row["scale_events"]),
            str(row["flaps"]),
            "[green]yes[/]" if row["meets_slo"] else "[red]no[/]",
        )
    console = wide_console()
    console.print(table)
    sentence = headline_sentence(summary)
    if sentence is not None:
        console.print(sentence, markup=False, highlight=False)
    for row in summary["policies"]:
        line = excess_line(row)
        if line:
            console.print(line)
    if summary["best_possible_attainment"] < slo["attainment"]:
        console.print(
            f"[yellow]This SLO is out of reach on this profile: only {summary['best_possible_attainment']:.2%} of "
            f"requests can get a first token within {slo['ttft_s']:g} s even alone on an idle replica.[/]"
        )


def tuned_floor(tuned: dict[str, Any]) -> int | None:
    """The replica floor a tuned policy never rose above on any scored window: it ended as a fixed fleet
    of that size, whatever its signals' settings say. ``None`` when it scaled (or has no floor)."""
    floor = tuned["params"].get("min_replicas")
    scores = tuned["scores"]
    if floor is None or not scores or any(row.get("peak_replicas") is None for row in scores):
        return None
    if all(row["peak_replicas"] <= floor for row in scores):
        return int(floor)
    return None


def same_floor_line(floors: dict[str, int | None]) -> str | None:
    """Policies that all ended as the same fixed fleet read as identical rows, which looks like a bug:
    say what happened instead."""
    by_floor: dict[int, list[str]] = {}
    for name, floor in floors.items():
        if floor is not None:
            by_floor.setdefault(floor, []).append(name)
    lines = [
        f"{', '.join(names)} ended as the same fleet: a floor of {floor} replicas that never scaled above it; on"
        f" this trace their signals bought nothing over a fixed fleet"
        for floor, names in sorted(by_floor.items())
        if len(names) > 1
    ]
    return "\n".join(lines) if lines else None


def headline_sentence(summary: dict[str, Any]) -> str | None:
    """What a comparison says, in one sentence: did gpuscale meet the SLO, at what cost against the cheapest
    baseline that met it and against the clairvoyant oracle. ``None`` when gpuscale was not replayed."""
    rows = {r["name"]: r for r in summary["policies"]}
    ours = rows.get("gpuscale")
    if ours is None:
        return None
    slo = summary["slo"]
    target = f"TTFT within {slo['ttft_s']:g} s for {slo['attainment']:.1%} of requests"
    met = (
        f"gpuscale met the SLO ({target}) with {ours['gpu_hours']:.2f} GPU-h"
        if ours["meets_slo"]
        else f"gpuscale missed the SLO ({target}: {ours['slo_attainment']:.2%}) with {ours['gpu_hours']:.2f} GPU-h"
    )
    head = summary.get("headline")
    if head is None:
        tried = [name for name in rows if name not in ("gpuscale", "oracle")]
        return f"{met}; no baseline met it ({', '.join(tried)})." if tried else f"{met}."
    ratio = head["gpuscale_vs_best_baseline"]
    cheaper = f"{1 - ratio:.0%} fewer" if ratio <= 1 else f"{ratio - 1:.0%} more"
    sentence = (
        f"{met}: {cheaper} than the cheapest baseline that met it ({head['best_baseline']},"
        f" {head['best_baseline_gpu_hours']:.2f} GPU-h)"
    )
    if head["gpuscale_vs_oracle"] is not None:
        sentence += f" and {head['gpuscale_vs_oracle']:.2f}x the clairvoyant oracle"
    if ours["meets_slo"] and head["gap_closed"] is not None and head["gap_closed"] > 0:
        sentence += f", closing {head['gap_closed']:.0%} of the gap between them"
    return sentence + "."


def excess_line(row: dict[str, Any]) -> str | None:
    """gpuscale's GPU-hours above the oracle, by the decision and the signal that held them."""
    excess = row.get("excess_over_oracle")
    if row["name"] != "gpuscale" or not excess or excess["over_gpu_hours"] <= 0:
        return None

    def shares(by: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in by.items())

    return (
        f"gpuscale paid {excess['over_gpu_hours']:.2f} GPU-h above the oracle ({excess['under_gpu_hours']:.2f} below). "
        f"By decision: {shares(excess['by_reason'])}. By the signal that won: {shares(excess['by_signal'])}."
    )


def wide_console() -> Any:
    """A console that does not squeeze tables to 80 columns when output is piped to a file (a terminal's
    width, or COLUMNS when set, still rules)."""
    import os
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() or "COLUMNS" in os.environ else Console(width=140)


def _seconds(value: float | None) -> str:
    return "∞" if value is None else f"{value:.2f}s"


def print_tuning(summary: dict[str, Any]) -> None:
    """Each tuned policy on every window next to the references, then the conditions and the settings."""
    from rich.markup import escape

    table = _table(
        f"tuned for the fewest GPU-hours at TTFT <= {summary['slo']['ttft_s']:g} s "
        f"for {summary['slo']['attainment']:.1%} of requests",
        "in SLO: requests within the TTFT target; met: the SLO is met",
    )
    for header in ("policy", "window", "GPU-h", "×oracle", "in SLO", "met"):
        table.add_column(header, justify="left" if header in ("policy", "window") else "right", no_wrap=True)
    floors = {name: tuned_floor(tuned) for name, tuned in summary["policies"].items()}
    for policy_name, tuned in summary["policies"].items():
        label = policy_name if floors[policy_name] is None else f"{policy_name} (floor {floors[policy_name]})"
        for row in tuned["scores"]:
            ratio = row["gpu_hours_vs_oracle"]
            table.add_row(
                label,
                escape(f"{row['trace']} [{row['kind']}]"),  # brackets are rich markup otherwise
                f"{row['gpu_hours']:.2f}",
                "-" if ratio is None else f"{ratio:.2f}",
                f"{row['slo_attainment']:.2%}",
                "[green]yes[/]" if row["meets_slo"] else "[red]no[/]",
            )
    for window, refs in summary["references"].items():
        for ref_name, label in (("fixed", "fixed, in hindsight"), ("oracle", "oracle")):
            row = refs[ref_name]
            table.add_row(
                label,
                escape(window),
                f"{row['gpu_hours']:.2f}",
                f"{row['gpu_hours_vs_oracle']:.2f}",
                f"{row['slo_attainment']:.2%}",
                "[green]yes[/]" if row["meets_slo"] else "[red]no[/]",
            )
    console = wide_console()
    console.print(table)
    line = same_floor_line(floors)
    if line is not None:
        console.print(line, markup=False, highlight=False)
    console.print(tuning_conditions(summary))
    for policy_name, tuned in summary["policies"].items():
        d = tuned["degradation"]
        console.print(
            f"{policy_name}: {format_params(tuned['params'])}; x oracle in sample {d['in_sample_vs_oracle']}, "
            f"out of sample {d['out_of_sample_vs_oracle']}",
            markup=False,
        )
        if "acceptance" in tuned:
            console.print(f"  {tuned['acceptance']['verdict']}", markup=False)
        if tuned.get("advice"):
            console.print(f"  {tuned['advice']}", markup=False)
    if summary["policies"]:
        first = next(iter(summary["policies"].values()))
        if "acceptance" in first:
            console.print(f"a setting is {first['acceptance']['rule']}", markup=False)


def format_params(params: dict[str, Any]) -> str:
    """A tuned setting as a person reads it: ``name=value`` pairs, three significant digits."""

    def shown(value: Any) -> str:
        if isinstance(value, float):
            if value.is_integer() or abs(value) >= 1_000:  # a token count: whole tokens, never 2.12e+03
                return f"{value:.0f}"
            return f"{value:.3g}"
        return str(value)

    return ", ".join(f"{name}={shown(value)}" for name, value in params.items())


def tuning_conditions(summary: dict[str, Any]) -> str:
    """What every trial had to survive, so a reader can judge the table's margins."""
    from simulations.traces.perturb import Perturbation

    trained = sum(1 for w in summary["windows"] if w["kind"] == "train")
    recorded = {k: v for k, v in summary.get("perturbation", {}).items() if k != "tuned_on"}
    perturbation = Perturbation(**recorded)
    line = f"tuned on {trained} training window{'s' if trained != 1 else ''}"
    if perturbation.copies:
        plural = "ies" if perturbation.copies != 1 else "y"
        line += f" and {perturbation.copies} perturbed cop{plural} of each ({perturbation.describe()})"
    conditions = (
        f"{line}; {summary['draws']} cold-start draw{'s' if summary['draws'] != 1 else ''} per trial, "
        f"each to meet {summary['required_attainment']:.2%}; "
        f"scored on draw {summary['scoring_seed']}"
    )
    # tuning files from before the warm-up replayed held-out windows alone, from a fresh fleet
    if any(w.get("warm_up_s") for w in summary["windows"]):
        conditions += "; held-out windows scored after replaying the trace before them as a warm-up"
    return conditions
