"""The bench's results as a terminal table, a JSON document and a PNG chart."""

from __future__ import annotations

import json
import os
import platform

from ebcap.capture.bench.runner import FIGURES, BenchConfig
from ebcap.capture.bench.scenarios import NO_CAPTURE, Scenario

# (heading, figure, format): the terminal table's columns after scenario and tool.
_COLUMNS = (
    ("kpkt/s", "packets_per_s", lambda v: f"{v / 1e3:.0f}"),
    ("rate", "rate_ratio", lambda v: f"{v:.2f}"),
    ("Mbit/s", "bits_per_s", lambda v: f"{v / 1e6:.0f}"),
    ("cap CPU s/Mpkt", "cpu_capture_per_mpkt", lambda v: f"{v:.3f}"),
    ("exit ms", "cpu_exit_s", lambda v: f"{v * 1e3:.1f}"),
    ("all CPU s/Mpkt", "cpu_machine_per_mpkt", lambda v: f"{v:.2f}"),
    ("kernel drops", "dropped_by_kernel", lambda v: f"{v:,.0f}"),
    ("missing in file", "missing_in_file", lambda v: f"{v:,.0f}"),
    ("B/pkt", "bytes_per_packet", lambda v: f"{v:.0f}"),
    ("first pkt s", "first_packet_s", lambda v: f"{v:.3f}"),
)


def table(results: dict[str, dict[str, dict]]) -> str:
    """One row per scenario and tool; '-' where a figure does not apply, errors listed below."""
    head = ["scenario", "tool", *(c[0] for c in _COLUMNS)]
    rows, errors = [], []
    for scenario, tools in results.items():
        for i, (tool, figures) in enumerate(tools.items()):
            cells = [fmt(figures[key]) if figures[key] is not None else "-"
                     for _, key, fmt in _COLUMNS]
            rows.append([scenario if i == 0 else "", tool, *cells])
            if figures["error"]:
                errors.append(f"{scenario}, {tool}: {figures['error']}")
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
    if errors:
        out += ["", "errors:", *(f"  {e}" for e in errors)]
    return "\n".join(out)


def document(config: BenchConfig, results: dict[str, dict[str, dict]],
             generator: str) -> dict:
    """The JSON form: the run's settings, what each figure means, and every scenario's figures."""
    by_name: dict[str, Scenario] = {s.name: s for s in config.scenarios}
    return {
        "meta": {
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "generator": generator,
            "duration_s": config.duration,
            "rounds": config.rounds,
            "baseline": NO_CAPTURE,
            "tools": {t.name: t.template for t in config.tools},
        },
        "figures": FIGURES,
        "scenarios": {
            name: {
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


# (title, value of one tool's figures): the chart's panels.
_PANELS = (
    ("traffic rate vs no capture", lambda f: f["rate_ratio"]),
    ("capture process CPU s per Mpkt", lambda f: f["cpu_capture_per_mpkt"]),
    ("whole machine CPU s per Mpkt", lambda f: f["cpu_machine_per_mpkt"]),
    ("packets missing from the file, % of expected", _missing_percent),
    ("file bytes per packet", lambda f: f["bytes_per_packet"]),
    ("time from start to first packet captured, s", lambda f: f["first_packet_s"]),
)


def plot(path: str, results: dict[str, dict[str, dict]]) -> None:
    """Grouped bars, one group per scenario and one bar per tool, in four panels."""
    import matplotlib  # lazily: only --plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(results)
    tools = tool_names(results)
    fig, axes = plt.subplots(len(_PANELS), 1, figsize=(max(8, 1.3 * len(scenarios)), 3 * len(_PANELS) + 1),
                             sharex=True)
    width = 0.8 / max(1, len(tools))
    for ax, (title, value) in zip(axes, _PANELS):
        for i, tool in enumerate(tools):
            values = [value(results[s][tool]) for s in scenarios]
            xs = [x + (i - (len(tools) - 1) / 2) * width for x in range(len(scenarios))]
            ax.bar(xs, [v if v is not None else 0 for v in values], width, label=tool)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].axhline(1.0, color="black", linewidth=0.6)
    axes[-1].set_xticks(range(len(scenarios)), scenarios, rotation=30, ha="right", fontsize=8)
    fig.suptitle("ebcap bench", fontsize=12)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(tools),
               fontsize=9, bbox_to_anchor=(0.5, 0.975), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tool_names(results: dict[str, dict[str, dict]]) -> list[str]:
    return list(next(iter(results.values()))) if results else []
