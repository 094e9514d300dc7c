"""The bench's figures from its rounds: summaries, ratios, a table for the terminal and one
for the README."""

from __future__ import annotations

from typing import Any

from bench.measure import summary
from bench.workload import Figure


def _per_round(results: dict[str, Any], key: str) -> list[float]:
    return [r["rps"] for r in results["subjects"][key]["rounds"]]


def figure(results: dict[str, Any], spec: Figure) -> dict[str, Any]:
    """A figure: numerator and denominator (min/median/max) and their ratio."""
    if spec.metric == "statements":
        op, top, bottom = spec.numerator.split("|")
        counted = results["statements"][op]
        a, b = counted[top]["statements"], counted[bottom]["statements"]
        value = a / b if b else 0.0
        return {
            "id": spec.id,
            "title": spec.title,
            "metric": spec.metric,
            "unit": "statements per operation",
            "numerator": {"key": f"{op}|{top}", "min": a, "median": a, "max": a},
            "denominator": {"key": f"{op}|{bottom}", "min": b, "median": b, "max": b},
            "ratio": {"min": value, "median": value, "max": value, "rounds": [value]},
        }
    top, bottom = _per_round(results, spec.numerator), _per_round(results, spec.denominator)
    # Subjects of a figure ran in the same rounds: a ratio per round, then their median.
    ratios = [a / b if b else 0.0 for a, b in zip(top, bottom, strict=True)]
    return {
        "id": spec.id,
        "title": spec.title,
        "metric": spec.metric,
        "unit": "requests per second",
        "numerator": {"key": spec.numerator, **summary(top)},
        "denominator": {"key": spec.denominator, **summary(bottom)},
        "ratio": {**summary(ratios), "rounds": ratios},
    }


def subject_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": summary([r["rps"] for r in rounds]),
        "p50_ms": summary([r["p50_ms"] for r in rounds]),
        "p99_ms": summary([r["p99_ms"] for r in rounds]),
        "counted_rps": summary([r["counted_rps"] for r in rounds]),
        "unexpected": sum(r["unexpected"] for r in rounds),
        "socket_errors": sum(r["socket_errors"] for r in rounds),
    }


def _trio(part: dict[str, Any]) -> str:
    return f"{part['min']:.1f} / {part['median']:.1f} / {part['max']:.1f}"


def table(results: dict[str, Any]) -> str:
    """Every figure on one line: numerator and denominator min/median/max, median ratio."""
    lines = [
        f"{'figure':<6} {'what':<66} {'numerator min/med/max':>26} {'denominator min/med/max':>26}"
        f" {'ratio':>7} {'(min-max)':>13}"
    ]
    for f in results["figures"]:
        r = f["ratio"]
        lines.append(
            f"{f['id']:<6} {f['title'][:66]:<66} {_trio(f['numerator']):>26}"
            f" {_trio(f['denominator']):>26} {r['median']:7.3f} ({r['min']:.3f}-{r['max']:.3f})"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """The figures as a Markdown table, for the README."""
    lines = [
        "| figure | what | numerator min / median / max | denominator min / median / max | ratio (median) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for f in results["figures"]:
        unit = "req/s" if f["metric"] == "rps" else "statements"
        lines.append(
            f"| {f['id']} | {f['title']} | {_trio(f['numerator'])} {unit} |"
            f" {_trio(f['denominator'])} {unit} | {f['ratio']['median']:.2f} |"
        )
    return "\n".join(lines)


def statements_table(results: dict[str, Any]) -> str:
    lines = [
        f"{'operation':<28} {'server':<14} {'statements':>10} {'pool resets':>11} {'round trips':>11}  by kind"
    ]
    for op, servers in results["statements"].items():
        for server, counted in servers.items():
            kinds = ", ".join(f"{k} {v}" for k, v in counted["kinds"].items())
            lines.append(
                f"{op:<28} {server:<14} {counted['statements']:10d} {counted['pool_resets']:11d}"
                f" {counted['round_trips']:11d}  {kinds}"
            )
    return "\n".join(lines)
