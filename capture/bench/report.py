"""The bench's results as a terminal table, a JSON document and a PNG chart."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics

from ebcap.capture.bench.runner import FIGURES, SUMMARIES, BenchConfig
from ebcap.capture.bench.scenarios import NO_CAPTURE, Scenario

# (heading, figure, format, with spread): the terminal table's columns after scenario and tool.
# s per Mpkt is microseconds per packet. "rate" is the bit rate's ratio: for fixed-size frames
# the same as the packet rate's, and for the TCP stream, whose packets vary, the one that counts.
_COLUMNS = (
    ("kpkt/s", "packets_per_s", lambda v: f"{v / 1e3:.0f}", False),
    ("Mbit/s", "bits_per_s", lambda v: f"{v / 1e6:.0f}", False),
    ("rate", "bit_rate_ratio", lambda v: f"{v:.2f}", True),
    ("cap us/pkt", "cpu_capture_per_mpkt", lambda v: f"{v:.2f}", True),
    ("+all us/pkt", "cpu_machine_added_per_mpkt", lambda v: f"{v:.2f}", True),
    ("start ms", "cpu_startup_s", lambda v: f"{v * 1e3:.0f}", False),
    ("exit ms", "cpu_exit_s", lambda v: f"{v * 1e3:.1f}", False),
    ("drops", "dropped_by_kernel", lambda v: f"{v:,.0f}", False),
    ("missing", "missing_in_file", lambda v: f"{v:,.0f}", False),
    ("max B", "largest_packet", lambda v: f"{v:,.0f}", False),
    ("B/pkt", "bytes_per_packet", lambda v: f"{v:.0f}", False),
    ("first s", "first_packet_s", lambda v: f"{v:.3f}", False),
)


def _cell(summary: dict, key: str, fmt, spread: bool) -> str:
    """The median, and with `spread` the min-max over rounds when they differ."""
    median = summary["median"][key]
    if median is None:
        return "-"
    low, high = summary["min"][key], summary["max"][key]
    if spread and len(summary["rounds"]) > 1 and low is not None and low != high:
        return f"{fmt(median)} ({fmt(low)}..{fmt(high)})"
    return fmt(median)


def table(results: dict[str, dict[str, dict]], skipped: dict[str, str] | None = None) -> str:
    """One row per scenario and tool: medians over rounds, some with their min..max; '-' where
    a figure does not apply; errors and skipped scenarios listed below."""
    head = ["scenario", "tool", *(c[0] for c in _COLUMNS)]
    rows, errors = [], []
    for scenario, tools in results.items():
        for i, (tool, summary) in enumerate(tools.items()):
            cells = [_cell(summary, key, fmt, spread) for _, key, fmt, spread in _COLUMNS]
            rows.append([scenario if i == 0 else "", tool, *cells])
            if summary["median"]["error"]:
                errors.append(f"{scenario}, {tool}: {summary['median']['error']}")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        left = [f"{c:<{w}}" for c, w in zip(cells[:2], widths)]
        right = [f"{c:>{w}}" for c, w in zip(cells[2:], widths[2:])]
        return "  ".join(left + right).rstrip()

    out = [line(head), line(["-" * w for w in widths])]
    previous = None
    for row in rows:
        if row[0] and previous is not None:
            out.append("")
        out.append(line(row))
        previous = row
    rounds = max((len(s["rounds"]) for tools in results.values() for s in tools.values()),
                 default=0)
    out += ["", f"medians over {rounds} round(s)"
            + (", (min..max) where rounds differ" if rounds > 1 else "")
            + "; us/pkt = CPU microseconds per packet sent; +all = the whole machine's, less"
              " no capture's"]
    if errors:
        out += ["", "errors:", *(f"  {e}" for e in errors)]
    if skipped:
        out += ["", "skipped:", *(f"  {name}: {why}" for name, why in skipped.items())]
    return "\n".join(out)


def document(config: BenchConfig, results: dict[str, dict[str, dict]],
             senders: dict[str, str], skipped: dict[str, str] | None = None) -> dict:
    """The JSON form: the run's settings, what each figure means, and every scenario's figures:
    per tool their median, min and max over the rounds, and each round's own."""
    by_name: dict[str, Scenario] = {s.name: s for s in config.scenarios}
    return {
        "meta": {
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "generator": senders["trafgen"],
            "senders": senders,
            "duration_s": config.duration,
            "rounds": config.rounds,
            "baseline": NO_CAPTURE,
            "tools": {t.name: t.template for t in config.tools},
            "summaries": list(SUMMARIES),
            "skipped": skipped or {},
        },
        "figures": FIGURES,
        "scenarios": {
            name: {
                "traffic": by_name[name].traffic,
                "side": by_name[name].side,
                "filter": by_name[name].filter,
                "match_share": by_name[name].match_share,
                "frame_len": by_name[name].frame_len,
                "tools": tools,
            }
            for name, tools in results.items()
        },
    }


def write_json(path: str, doc: dict) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def _missing_percent(figures: dict) -> float | None:
    if figures["missing_in_file"] is None or not figures["expected_in_file"]:
        return None
    return 100 * figures["missing_in_file"] / figures["expected_in_file"]


def _ms(key: str):
    return lambda f: f[key] * 1e3 if f[key] is not None else None


# (title, value of one round's figures, y scale): the chart's panels. Figures that span
# decades between a 1 % filter and a full-snaplen TCP capture get a log scale.
_PANELS = (
    ("bit rate vs no capture", lambda f: f["bit_rate_ratio"], "linear"),
    ("capture process CPU, us per packet sent", lambda f: f["cpu_capture_per_mpkt"], "log"),
    ("CPU the capture adds to the machine, us per packet sent",
     lambda f: f["cpu_machine_added_per_mpkt"], "linear"),
    ("start-up CPU per run, ms", _ms("cpu_startup_s"), "log"),
    ("exit CPU per run, ms", _ms("cpu_exit_s"), "linear"),
    ("packets missing from the file, % of expected", _missing_percent, "linear"),
    ("file bytes per packet", lambda f: f["bytes_per_packet"], "log"),
    ("time from start to first packet captured, s", lambda f: f["first_packet_s"], "linear"),
)


def _spread(rounds: list[dict], value) -> tuple[float, float, float] | None:
    """(median, min, max) of a panel's value over the rounds: computed from each round, since
    a derived value's median is not the value of the medians."""
    values = [v for v in (value(r) for r in rounds) if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def plot(path: str, results: dict[str, dict[str, dict]]) -> None:
    """Grouped bars, one group per scenario and one bar per tool, in one panel per figure: each
    bar the median over rounds, its whisker the min..max."""
    import matplotlib  # lazily: only --plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(results)
    tools = tool_names(results)
    fig, axes = plt.subplots(len(_PANELS), 1,
                             figsize=(max(8, 1.1 * len(scenarios)), 2.6 * len(_PANELS) + 1.5),
                             sharex=True)
    width = 0.8 / max(1, len(tools))
    for ax, (title, value, scale) in zip(axes, _PANELS):
        for i, tool in enumerate(tools):
            stats = [_spread(results[s][tool]["rounds"], value) for s in scenarios]
            xs = [x + (i - (len(tools) - 1) / 2) * width for x in range(len(scenarios))]
            medians = [st[0] if st else math.nan for st in stats]   # nan: no bar
            err = [[st[0] - st[1] if st else 0 for st in stats],
                   [st[2] - st[0] if st else 0 for st in stats]]
            ax.bar(xs, medians, width, yerr=err, capsize=2, error_kw={"linewidth": 0.8},
                   label=tool)
        ax.set_title(title, fontsize=10)
        ax.set_yscale(scale)
        ax.grid(axis="y", alpha=0.3)
    axes[0].axhline(1.0, color="black", linewidth=0.6)
    axes[2].axhline(0.0, color="black", linewidth=0.6)
    axes[-1].set_xticks(range(len(scenarios)), scenarios, rotation=30, ha="right", fontsize=8)
    rounds = max(len(results[s][t]["rounds"]) for s in scenarios for t in tools)
    # Title, then legend, then panels, each in a band of its own at the top.
    top = 1 - 0.9 / fig.get_figheight()
    fig.suptitle(f"ebcap bench: medians over {rounds} round(s), whiskers min..max", fontsize=12,
                 y=1 - 0.15 / fig.get_figheight())
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(tools),
               fontsize=9, bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tool_names(results: dict[str, dict[str, dict]]) -> list[str]:
    return list(next(iter(results.values()))) if results else []
