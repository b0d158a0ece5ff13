"""Reports a person can judge at a glance: PNG plots and one self-contained HTML page.

Built from the files ``simulate --out`` writes (``summary.json``, per-policy request, series
and forecast CSVs) and, when present, ``tuning.json`` from ``gpuscale tune``. The HTML embeds
its plots as data URIs, so the single file can be mailed or attached to a change request.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulations.reports.tables import (
    format_params,
    headline_sentence,
    same_floor_line,
    tuned_floor,
    tuning_conditions,
)

PLOTS = ("timeline", "ttft", "pareto")
COLORS = {
    "gpuscale": "#1f77b4",
    "hpa-gpu": "#ff7f0e",
    "keda-queue": "#2ca02c",
    "keda-kv": "#9467bd",
    "knative": "#8c564b",
    "fixed": "#7f7f7f",
    "oracle": "#d62728",
}


class ReportError(ValueError):
    """The directory does not hold what a report is built from; the message says what is missing."""


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns by name. numpy's parser reads the usual file; one with an empty cell (a NaN, as
    ``write_outputs`` writes it) goes through the csv module instead."""
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), None)
        if header is None:
            return {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a header with no rows is not news here
                table = np.loadtxt(fh, delimiter=",", ndmin=2, dtype=float)
        except ValueError:
            fh.seek(0)
            body = list(csv.reader(fh))[1:]
            table = np.array([[float(c) if c != "" else math.nan for c in row] for row in body], dtype=float)
    if table.size == 0:
        return {name: np.empty(0) for name in header}
    return {name: table[:, i] for i, name in enumerate(header)}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def same_lines(lines: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[list[str]]:
    """Names grouped by identical (x, y) lines, in first-seen order: the ones that would hide each other."""
    groups: list[list[str]] = []
    for name, (x, y) in lines.items():
        for group in groups:
            gx, gy = lines[group[0]]
            if np.array_equal(gx, x) and np.array_equal(gy, y):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def plot_timeline(directory: Path, summary: dict[str, Any], out: Path) -> None:
    """Demand and gpuscale's forecast band against each policy's ready replicas."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(12, 5.4), dpi=100)
    names = [p["name"] for p in summary["policies"]]
    loaded = {name: series for name in names if (series := _read_csv(directory / f"{name}.series.csv"))}
    demand = None
    end_s = math.inf
    for group in same_lines({name: (series["t"], series["ready"]) for name, series in loaded.items()}):
        series = loaded[group[0]]
        t_min = series["t"] / 60.0
        label = " = ".join(group) + " ready"  # a line drawn under another is named with it, not hidden
        ax.step(t_min, series["ready"], where="post", color=COLORS.get(group[0], "black"), lw=1.4, label=label)
        if demand is None:
            demand = (t_min, series["arrivals_per_s"])
            end_s = float(series["t"][-1]) if series["t"].size else math.inf
    forecast_path = directory / "gpuscale.forecast.csv"
    if forecast_path.is_file():
        f = _read_csv(forecast_path)
        if f:
            at_s = f["decided_at_s"] + f["horizon_s"]
            shown = at_s <= end_s  # the forecast stops where the trace does
            at = at_s[shown] / 60.0
            ax.plot(
                at, f["forecast_mean"][shown], color="#17becf", lw=1.0, label="gpuscale forecast (mean, at horizon)"
            )
            ax.fill_between(
                at, 0, f["forecast_quantile"][shown], color="#17becf", alpha=0.2, label="forecast up to its quantile"
            )
    axes = [ax]
    if demand is not None:
        ax2 = ax.twinx()
        ax2.plot(demand[0], demand[1], color="black", lw=0.6, alpha=0.45, label="arrivals (req/s)")
        ax2.set_ylabel("arrivals, requests/s")
        axes.append(ax2)
    ax.set_xlabel("minutes")
    ax.set_ylabel("replicas (forecast: replicas of load)")
    ax.set_title("Demand, forecast and ready capacity per policy")
    ax.grid(alpha=0.3)
    _legend_below(fig, axes)
    fig.savefig(out)
    plt.close(fig)


def _plain_log_labels(axis: Any) -> None:
    """Label a log axis that spans about a decade at 0.2, 0.5, 1, 2, 5 as plain numbers: by default
    every minor tick is labelled in scientific notation, and the labels overlap."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _legend_below(fig: Any, axes: Sequence[Any], columns: int = 5) -> None:
    """One legend for all ``axes``, under the plot, where it hides no line."""
    handles, labels = [], []
    for axis in axes:
        h, lab = axis.get_legend_handles_labels()
        handles += h
        labels += lab
    rows = math.ceil(len(labels) / columns)
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0.0, 0.045 * rows + 0.02, 1.0, 1.0))


def p99_per_bin(arrival_s: np.ndarray, ttft_s: np.ndarray, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's start and the p99 TTFT of the requests that arrived in it (an unserved request counts as
    never served, capped at 10,000 s for the log axis); a bin with no arrivals is NaN, so a line breaks
    there instead of bridging minutes without data."""
    if arrival_s.size == 0:
        return np.zeros(0), np.zeros(0)
    ttft = np.minimum(np.where(np.isnan(ttft_s), np.inf, ttft_s), 1e4)  # capped before interpolating: inf has none
    bins = (arrival_s // bin_s).astype(int)
    every = np.arange(int(bins.min()), int(bins.max()) + 1)
    ys = np.full(every.size, math.nan)
    for i, b in enumerate(every):
        values = ttft[bins == b]
        if values.size:
            ys[i] = float(np.percentile(values, 99))
    return every * bin_s, ys


def plot_ttft(directory: Path, summary: dict[str, Any], out: Path, bin_s: float = 60.0) -> None:
    """p99 TTFT per minute for each policy against the SLO target."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(12, 4.6), dpi=100)
    target = summary["slo"]["ttft_s"]
    for p in summary["policies"]:
        requests = _read_csv(directory / f"{p['name']}.requests.csv")
        if not requests:
            continue
        xs, ys = p99_per_bin(requests["arrival_s"], requests["ttft_s"], bin_s)
        ax.plot(xs / 60.0, ys, color=COLORS.get(p["name"], "black"), lw=1.2, label=p["name"])
    ax.axhline(target, color="black", ls="--", lw=1, label=f"SLO {target:g} s")
    ax.set_yscale("log")
    _plain_log_labels(ax.yaxis)
    ax.set_xlabel("minutes")
    ax.set_ylabel("TTFT p99 per minute, s")
    ax.set_title("Time to first token over time against the SLO")
    ax.grid(alpha=0.3, which="both")
    _legend_below(fig, [ax], columns=8)
    fig.savefig(out)
    plt.close(fig)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """(GPU-hours, attainment) points no other point beats on both (fewer hours, more attainment)."""
    front: list[tuple[float, float]] = []
    for cost, att in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or att > front[-1][1]:
            front.append((cost, att))
    return front


#: Where a run that missed no request is drawn on the log axis of misses (it has no place there otherwise).
NO_MISS = 1e-4


def _miss(attainment: float) -> float:
    """Share of requests missing the target, floored so a perfect run still shows on a log axis."""
    return max(NO_MISS, 1.0 - attainment)


def no_miss_label(misses: Sequence[float]) -> str | None:
    """The legend entry of the floor line when some run sits on it: a point there missed nothing, it is not
    a 0.01 % miss rate."""
    on_floor = sum(1 for m in misses if m <= NO_MISS)
    if not on_floor:
        return None
    return f"no request missed ({on_floor} run{'' if on_floor == 1 else 's'}, drawn at {NO_MISS:.2%})"


def _train_oracle_hours(tuning: dict[str, Any]) -> float:
    """The oracle's GPU-hours over the training windows: what tuning trials are measured against."""
    return float(sum(r["oracle"]["gpu_hours"] for key, r in tuning["references"].items() if key.endswith("[train]")))


def plot_pareto(summary: dict[str, Any] | None, tuning: dict[str, Any] | None, out: Path) -> None:
    """Cost relative to the oracle against SLO attainment: every tuning trial, each family's front,
    the replayed policies, and the oracle at the corner (x = 1). Relative cost lets trials (training
    windows) and replays (the whole trace) share one axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=100)
    target = (summary or tuning or {})["slo"]["attainment"]
    if tuning is not None:
        base = _train_oracle_hours(tuning) or 1.0
        for name, tuned in tuning["policies"].items():
            pts = [(t["gpu_hours"] / base, _miss(t["slo_attainment"])) for t in tuned["trials"]]
            color = COLORS.get(name, "black")
            ax.scatter(*zip(*pts, strict=True), s=8, alpha=0.25, color=color)
            front = [(c, _miss(a)) for c, a in pareto_front([(c, 1.0 - m) for c, m in pts])]
            ax.step(*zip(*front, strict=True), where="post", color=color, lw=1.5, label=f"{name} trials (front)")
    if summary is not None:
        for p in summary["policies"]:
            if p["gpu_hours_vs_oracle"] is None:
                continue
            marker = "*" if p["name"] == "oracle" else "o"
            ax.scatter(
                [p["gpu_hours_vs_oracle"]],
                [_miss(p["slo_attainment"])],
                s=200 if marker == "*" else 50,
                marker=marker,
                color=COLORS.get(p["name"], "black"),
                edgecolor="black",
                zorder=5,
                label=p["name"],
            )
    ax.axhline(_miss(target), color="black", ls="--", lw=1, label=f"SLO: at most {1 - target:.0%} missed")
    misses = [
        _miss(t["slo_attainment"]) for tuned in (tuning or {}).get("policies", {}).values() for t in tuned["trials"]
    ]
    misses += [_miss(p["slo_attainment"]) for p in (summary or {}).get("policies", []) if p["gpu_hours_vs_oracle"]]
    floor_label = no_miss_label(misses)
    if floor_label is not None:
        ax.axhline(NO_MISS, color="grey", ls=":", lw=1, label=floor_label)
    ax.set_xscale("log")
    _plain_log_labels(ax.xaxis)
    ax.set_yscale("log")
    ax.set_xlabel("GPU-hours relative to the oracle (the oracle is 1)")
    ax.set_ylabel("share of requests missing the target (1 - SLO attainment)")
    ax.set_title("Cost against SLO attainment (down and to the left is better)")
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _table(summary: dict[str, Any]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "policy",
            "GPU-hours",
            "x oracle",
            "SLO attainment",
            "TTFT p50",
            "p95",
            "p99",
            "events",
            "flaps",
            "meets SLO",
        )
    )
    rows = []
    for p in summary["policies"]:

        def sec(v: float | None) -> str:
            return "unserved" if v is None else f"{v:.2f} s"

        ratio = "-" if p["gpu_hours_vs_oracle"] is None else f"{p['gpu_hours_vs_oracle']:.2f}"
        cells = (
            html.escape(p["name"]),
            f"{p['gpu_hours']:.2f}",
            ratio,
            f"{p['slo_attainment']:.2%}",
            sec(p["ttft_p50_s"]),
            sec(p["ttft_p95_s"]),
            sec(p["ttft_p99_s"]),
            str(p["scale_events"]),
            str(p["flaps"]),
            "yes" if p["meets_slo"] else "no",
        )
        cls = ' class="miss"' if not p["meets_slo"] else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _shares(shares: dict[str, float], total: float) -> str:
    if not shares or total <= 0:
        return "-"
    return ", ".join(f"{html.escape(k)} {v:.2f} ({v / total:.0%})" for k, v in shares.items())


def _excess_table(summary: dict[str, Any]) -> str:
    """Per policy, GPU-hours above and below the oracle; for gpuscale, what held the fleet then."""
    rows = []
    for p in summary["policies"]:
        excess = p.get("excess_over_oracle")
        if not excess:
            continue
        over = excess["over_gpu_hours"]
        cells = (
            html.escape(p["name"]),
            f"{over:.2f}",
            f"{excess['under_gpu_hours']:.2f}",
            _shares(excess["by_reason"], over),
            _shares(excess["by_signal"], over),
        )
        numbers = "".join(f"<td>{c}</td>" for c in cells[:3])
        rows.append(f"<tr>{numbers}" + "".join(f'<td class="text">{c}</td>' for c in cells[3:]) + "</tr>")
    if not rows:
        return ""
    head = "<th>policy</th><th>GPU-h above oracle</th><th>GPU-h below</th>"
    head += '<th class="text">above, by decision</th><th class="text">above, by the signal that won</th>'
    note = (
        '<p class="note">Paid pods (starting, ready, draining) minute by minute against the oracle\'s. '
        "gpuscale's minutes above it are charged to the decision in force: hold_stabilization is a "
        "scale-down waiting for its window, hold_forecast one the forecast stopped short of it; the signal is "
        "the ask that won.</p>"
    )
    return f"{note}<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def above_the_oracle(score: dict[str, Any]) -> str:
    """GPU-hours above the oracle and, for gpuscale, the decision and signal that held most of them."""
    excess = score.get("excess_over_oracle")  # tuning files from before it was recorded have none
    if not excess:
        return "-"
    over = excess["over_gpu_hours"]
    leading = [next(iter(excess[k].items())) for k in ("by_reason", "by_signal") if excess[k]]
    shares = ", ".join(f"{html.escape(k)} {v / over:.0%}" for k, v in leading if over > 0)
    return f"{over:.2f}" + (f" ({shares})" if shares else "")


def _tuning_table(tuning: dict[str, Any]) -> str:
    """Each tuned policy on every window (a policy that never left its floor says so), then the fixed
    fleet in hindsight and the oracle on each window: the rows the terminal prints."""
    rows = []
    floors = {name: tuned_floor(tuned) for name, tuned in tuning["policies"].items()}
    for name, tuned in tuning["policies"].items():
        params = format_params(tuned["params"])
        label = name if floors[name] is None else f"{name} (floor {floors[name]})"
        for s in tuned["scores"]:
            ratio = "-" if s["gpu_hours_vs_oracle"] is None else f"{s['gpu_hours_vs_oracle']:.2f}"
            rows.append(
                f"<tr><td>{html.escape(label)}</td><td>{html.escape(s['trace'])} [{s['kind']}]</td>"
                f"<td>{s['gpu_hours']:.2f}</td><td>{ratio}</td><td>{s['slo_attainment']:.2%}</td>"
                f'<td>{"yes" if s["meets_slo"] else "no"}</td><td class="text">{above_the_oracle(s)}</td>'
                f'<td class="text">{html.escape(params)}</td></tr>'
            )
    for window, refs in tuning.get("references", {}).items():
        for ref_name, label in (("fixed", "fixed, in hindsight"), ("oracle", "oracle")):
            r = refs[ref_name]
            ratio = "-" if r["gpu_hours_vs_oracle"] is None else f"{r['gpu_hours_vs_oracle']:.2f}"
            rows.append(
                f"<tr><td>{label}</td><td>{html.escape(window)}</td><td>{r['gpu_hours']:.2f}</td><td>{ratio}</td>"
                f"<td>{r['slo_attainment']:.2%}</td><td>{'yes' if r['meets_slo'] else 'no'}</td>"
                '<td class="text"></td><td class="text"></td></tr>'
            )
    head = "".join(f"<th>{h}</th>" for h in ("policy", "window", "GPU-hours", "x oracle", "SLO att.", "meets"))
    head += '<th class="text">above the oracle (GPU-h), mostly while</th><th class="text">tuned</th>'
    same = same_floor_line(floors)
    note = f'<p class="note">{html.escape(same)}</p>' if same else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1240px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child,td.text,th.text{text-align:left}tr.miss td{color:#a00}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}.note{color:#555;font-size:.9rem}
.headline{font-size:1.05rem;font-weight:600}
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img id="{path.stem}" alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


#: Top-level keys the report reads, and the command that writes each file.
_SUMMARY = (("trace", "requests", "profile", "slo", "seed", "policies"), "gpuscale simulate --out")
_TUNING = (("references", "policies"), "gpuscale tune --out")


def _load(path: Path, required: tuple[str, ...], written_by: str) -> dict[str, Any] | None:
    """The results file at ``path`` (None when absent); refused, naming the file and what is wrong, when it is not
    what ``written_by`` writes."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ReportError(f"{path}: expected the JSON object {written_by} writes, got a {type(doc).__name__}")
    missing = [key for key in required if key not in doc]
    if missing:
        raise ReportError(f"{path}: missing key {missing[0]!r}; expected the results {written_by} writes")
    return doc


def write_report(directory: Path, out: Path | None = None) -> Path:
    """``report.html`` and its PNGs from a ``simulate --out`` (and/or ``tune``) directory."""
    if not directory.is_dir():
        raise ReportError(f"{directory}: no such directory (give one that gpuscale simulate --out or tune --out wrote)")
    summary = _load(directory / "summary.json", *_SUMMARY)
    tuning = _load(directory / "tuning.json", *_TUNING)
    if summary is None and tuning is None:
        raise ReportError(
            f"{directory}: neither summary.json (gpuscale simulate --out) nor tuning.json (gpuscale tune)"
        )
    out = out or directory
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _render(directory, out, summary, tuning)
    except (KeyError, TypeError) as exc:
        raise ReportError(
            f"{directory}: the results are not what gpuscale simulate or tune write ({type(exc).__name__}: {exc})"
        ) from None


def _render(directory: Path, out: Path, summary: dict[str, Any] | None, tuning: dict[str, Any] | None) -> Path:
    parts = ["<h1>gpuscale report</h1>"]
    if summary is not None:
        slo = summary["slo"]
        parts.append(
            f'<p class="note">Trace <b>{html.escape(summary["trace"])}</b> ({summary["requests"]} requests) on '
            f"profile <b>{html.escape(summary['profile'])}</b>; SLO: TTFT &le; {slo['ttft_s']:g} s for "
            f"{slo['attainment']:.1%} of requests; seed {summary['seed']}.</p>"
        )
        table = _table(summary)  # first: a malformed row is named by the key the table misses
        sentence = headline_sentence(summary)
        if sentence is not None:
            parts.append(f'<p class="headline">{html.escape(sentence)}</p>')
        parts.append("<h2>Figures</h2>" + table)
        excess = _excess_table(summary)
        if excess:
            parts.append("<h2>Where the GPU-hours went, beyond the oracle</h2>" + excess)
        plot_timeline(directory, summary, out / "timeline.png")
        plot_ttft(directory, summary, out / "ttft.png")
        parts.append("<h2>Demand, forecast and capacity</h2>" + _img(out / "timeline.png", "timeline"))
        parts.append("<h2>TTFT over time</h2>" + _img(out / "ttft.png", "TTFT over time"))
    plot_pareto(summary, tuning, out / "pareto.png")
    parts.append("<h2>GPU-hours against SLO attainment</h2>" + _img(out / "pareto.png", "Pareto front"))
    if tuning is not None:
        conditions = ""
        if {"windows", "draws", "required_attainment", "scoring_seed"} <= tuning.keys():
            conditions = f'<p class="note">{html.escape(tuning_conditions(tuning))}</p>'
        parts.append("<h2>Tuned policies, in and out of sample</h2>" + conditions + _tuning_table(tuning))
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>gpuscale report</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_tuning_report(tuning: dict[str, Any], out: Path) -> Path:
    """A report for a tuning run alone (the Pareto of its trials and the tuned policies)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "tuning.json").write_text(json.dumps(tuning, indent=2) + "\n", encoding="utf-8")
    return write_report(out, out)
