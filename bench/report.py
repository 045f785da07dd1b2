"""From a results file to docs/benchmarks.md, docs/benchmarks.png and the README's table.

    python -m bench.report [bench/results/latest.json]

re-renders the documents from a stored run (`bench.run` calls the same functions).
The hand-written analysis (profiles, fixes, gaps) lives in bench/analysis.md and is
copied into docs/benchmarks.md under "Analysis".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"
README = ROOT / "README.md"
ANALYSIS = ROOT / "bench" / "analysis.md"
README_START = "<!-- bench:table:start -->"
README_END = "<!-- bench:table:end -->"

READ_TARGET = 0.60
SCALING_TARGET = 1.20


def ceilings(preset: dict[str, Any]) -> list[float]:
    """Every ceiling measurement of the preset's run: its own, and each one paired."""
    values = [preset["workloads"].get("ceiling", {}).get("rps")]
    values += [e.get("paired_ceiling", {}).get("rps") for e in preset["workloads"].values()]
    return [v for v in values if v]


def ceiling_rps(preset: dict[str, Any]) -> float | None:
    """The mean of the preset's ceiling measurements."""
    values = ceilings(preset)
    return sum(values) / len(values) if values else None


def ratio_to_ceiling(preset: dict[str, Any], entry: dict[str, Any]) -> float | None:
    """Requests/s over the ceiling measured around it (or the preset's mean ceiling)."""
    ceiling = entry.get("paired_ceiling", {}).get("rps") or ceiling_rps(preset)
    return entry["rps"] / ceiling if ceiling and "rps" in entry else None


def _measured(preset: dict[str, Any]):
    for key, entry in preset["workloads"].items():
        if "rps" in entry:
            yield key, entry


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, per workload and size: the value, the limit, met or not."""
    targets: list[dict[str, Any]] = []
    presets = results["presets"]
    for name, preset in presets.items():
        for key, entry in _measured(preset):
            ratio = ratio_to_ceiling(preset, entry)
            if not entry.get("read") or ratio is None:
                continue
            ceiling = entry["rps"] / ratio
            targets.append(
                {
                    "target": f"read req/s >= {READ_TARGET:.0%} of the ceiling",
                    "workload": key,
                    "preset": name,
                    "value": round(ratio, 3),
                    "limit": READ_TARGET,
                    "met": ratio >= READ_TARGET,
                    "detail": f"{entry['rps']:.0f} of {ceiling:.0f} req/s = {ratio:.0%}",
                }
            )
    if "small" in presets and "large" in presets:
        small, large = presets["small"]["workloads"], presets["large"]["workloads"]
        for key, entry in large.items():
            if "p50_ms" not in entry or "p50_ms" not in small.get(key, {}):
                continue
            ratio = entry["p50_ms"] / small[key]["p50_ms"]
            targets.append(
                {
                    "target": f"large p50 <= {SCALING_TARGET}x small p50",
                    "workload": key,
                    "preset": "large/small",
                    "value": round(ratio, 3),
                    "limit": SCALING_TARGET,
                    "met": ratio <= SCALING_TARGET,
                    "detail": f"{entry['p50_ms']:.2f} ms / {small[key]['p50_ms']:.2f} ms "
                    f"= {ratio:.2f}x",
                }
            )
        small_q, large_q = presets["small"]["queries"], presets["large"]["queries"]
        for key in large_q:
            if key not in small_q:
                continue
            pair = [
                (small_q[key][phase]["queries"], large_q[key][phase]["queries"])
                for phase in ("cold", "warm")
            ]
            targets.append(
                {
                    "target": "queries per request identical at both sizes",
                    "workload": key,
                    "preset": "large/small",
                    "value": [list(p) for p in pair],
                    "limit": None,
                    "met": all(a == b for a, b in pair),
                    "detail": "cold {}/{}, warm {}/{} (small/large)".format(*pair[0], *pair[1]),
                }
            )
    return targets


def _queries(entry: dict[str, Any]) -> str:
    if "queries_cold" not in entry:
        return "-"
    cold, warm = entry["queries_cold"], entry["queries_warm"]
    return str(cold) if cold == warm else f"{cold} → {warm}"


def table(results: dict[str, Any]) -> str:
    """The markdown table: one row per workload and size."""
    lines = [
        "| workload | size | queries/request (cold → warm) | req/s | x ceiling | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    order = list(next(iter(results["presets"].values()))["workloads"])
    for key in order:
        for name, preset in results["presets"].items():
            entry = preset["workloads"].get(key)
            if entry is None:
                continue
            label = entry["label"]
            if "rps" not in entry:
                lines.append(f"| {label} | {name} | - | not measured: {entry.get('error')} |||| ")
                continue
            value = 1.0 if key == "ceiling" else ratio_to_ceiling(preset, entry)
            ratio = f"{value:.2f}" if value is not None else "-"
            flag = f" ({entry['non_2xx']} non-2xx!)" if entry.get("non_2xx") else ""
            lines.append(
                f"| {label} | {name} | {_queries(entry)} | {entry['rps']:.0f}{flag} | {ratio} "
                f"| {entry['p50_ms']:.2f} | {entry['p99_ms']:.2f} |"
            )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = list(results["presets"])
    keys = [
        key
        for key in next(iter(results["presets"].values()))["workloads"]
        if key != "ceiling"
        and any("rps" in p["workloads"].get(key, {}) for p in results["presets"].values())
    ]
    labels = [
        next(iter(results["presets"].values()))["workloads"][k]["label"].replace(" (", "\n(")
        for k in keys
    ]
    colors = {"small": "#4C72B0", "large": "#DD8452"}
    width = 0.8 / max(1, len(presets))
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(11, 8.5), dpi=110, gridspec_kw={"height_ratios": [3, 2]}
    )
    for i, name in enumerate(presets):
        preset = results["presets"][name]
        workloads = preset["workloads"]
        values = [workloads.get(k, {}).get("rps", 0) for k in keys]
        xs = [x + (i - (len(presets) - 1) / 2) * width for x in range(len(keys))]
        color = colors.get(name, f"C{i}")
        bars = ax.bar(xs, values, width, label=f"{name} dataset", color=color)
        ax.bar_label(bars, fmt="%.0f", fontsize=8, padding=2)
        ratios = [
            ratio_to_ceiling(preset, workloads[k]) or 0 if "rps" in workloads.get(k, {}) else 0
            for k in keys
        ]
        bars2 = ax2.bar(xs, ratios, width, label=f"{name} dataset", color=color)
        ax2.bar_label(bars2, fmt="%.2f", fontsize=8, padding=2)
        ceiling = ceiling_rps(results["presets"][name])
        if ceiling:
            ax.axhline(ceiling, color=color, linestyle="--", linewidth=1.5)
            ax.axhline(ceiling * READ_TARGET, color=color, linestyle=":", linewidth=1)
            # One preset's labels at the left end of its lines, the other's at the right.
            x, ha = (len(keys) - 0.5, "right") if i % 2 else (-0.5, "left")
            ax.text(
                x,
                ceiling,
                f" ceiling ({name}) {ceiling:.0f} ",
                ha=ha,
                va="bottom",
                color=color,
                fontsize=8,
            )
            ax.text(
                x,
                ceiling * READ_TARGET,
                f" 60% of ceiling ({name}) ",
                ha=ha,
                va="bottom",
                color=color,
                fontsize=7,
            )
    ax.set_xticks(range(len(keys)), labels, fontsize=9)
    ax.set_ylabel("requests/s (higher is better)")
    machine = results["machine"]
    ax.set_title(
        f"Requests/s per workload as the heaviest user ({machine.get('cores')} cores, "
        f"{results['load']['server'].split(' --')[0].split()[0]} x{machine.get('cores')}, "
        f"wrk -c{results['load']['connections']}, {results['date'][:10]})",
        fontsize=10,
    )
    ax.legend(loc="upper center", fontsize=9)
    ax.set_xlim(-0.6, len(keys) - 0.4)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
    ax2.axhline(READ_TARGET, color="black", linestyle=":", linewidth=1)
    ax2.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax2.text(len(keys) - 0.5, READ_TARGET, "read target 0.60", ha="right", va="bottom", fontsize=8)
    ax2.text(len(keys) - 0.5, 1.0, "ceiling = 1", ha="right", va="bottom", fontsize=8)
    ax2.set_xticks(range(len(keys)), labels, fontsize=9)
    ax2.set_ylabel("x ceiling measured around it")
    ax2.set_xlim(-0.6, len(keys) - 0.4)
    ax2.set_ylim(0, max(1.15, ax2.get_ylim()[1] * 1.05))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _targets_section(results: dict[str, Any]) -> list[str]:
    targets = results.get("targets") or evaluate(results)
    lines = ["| target | workload | size | measured | met |", "|---|---|---|---|---|"]
    for t in targets:
        lines.append(
            f"| {t['target']} | {t['workload']} | {t['preset']} | {t['detail']} "
            f"| {'yes' if t['met'] else '**no**'} |"
        )
    checks = [t for t in targets if not t.get("supporting")]
    missed = [t for t in checks if not t["met"]]
    summary = (
        "Every target is met."
        if not missed
        else f"{len(missed)} of {len(checks)} checks missed; the gaps are named in Analysis."
    )

    return [summary, "", *lines]


def _dataset_section(results: dict[str, Any]) -> list[str]:
    lines = [
        "| size | users | messages | unread | replies | edited | inbox rows | heavy: partners "
        "| heavy: messages | busiest conversation | generate + load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, preset in results["presets"].items():
        m = preset["manifest"]
        h = m["heavy"]
        lines.append(
            f"| {name} | {m['users']:,} | {m['messages']:,} | {m['unread']:,} | {m['replies']:,} "
            f"| {m['edited']:,} | {m['conversations']:,} | {h['partners']:,} | {h['messages']:,} "
            f"| {h['top_partner_messages']:,} | {m['seconds']['total']:.0f} s |"
        )
    return lines


def _detail_section(results: dict[str, Any]) -> list[str]:
    lines = [
        "| workload | size | paired ceiling req/s | server CPU | all CPU | load avg "
        "| PostgreSQL sessions (peak) | DB time, cold (ms) | single-client p50 / CPU ms "
        "| response bytes | p90 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, preset in results["presets"].items():
        for key, entry in preset["workloads"].items():
            if "rps" not in entry:
                continue
            db_ms = entry.get("db_ms_cold")
            paired = entry.get("paired_ceiling", {}).get("rps")
            load = entry.get("load_average") or ["-"]
            one = entry.get("single_client") or {}
            lines.append(
                f"| {key} | {name} | {f'{paired:.0f}' if paired else '-'} "
                f"| {entry.get('server_cpu_pct', '-')}% | {entry.get('machine_cpu_pct', '-')}% "
                f"| {load[0]} "
                f"| {entry.get('pg_sessions_peak', '-')} | {db_ms if db_ms is not None else '-'} "
                f"| {one.get('p50_ms', '-')} / {one.get('cpu_p50_ms', '-')} "
                f"| {entry.get('bytes', '-')} | {entry.get('p90_ms', '-')} |"
            )
    return lines


def _ws_section(results: dict[str, Any]) -> list[str]:
    """What `bench.ws_bench` measured on each preset's database, in its own words."""
    try:
        from bench.ws_bench import markdown as ws_markdown
    except Exception:  # its module is another engineer's: fall back to the raw JSON
        ws_markdown = None
    lines: list[str] = []
    for name, preset in results["presets"].items():
        ws = preset.get("ws") or {}
        if not ws:
            continue
        lines += [f"**{name} dataset**", ""]
        if ws_markdown is not None and "error" not in ws and "skipped" not in ws:
            try:
                lines += [ws_markdown(ws).strip(), ""]
                continue
            except Exception:  # a result shape it does not expect
                pass
        lines += ["```json", json.dumps(ws, indent=2)[:3000], "```", ""]
    return lines or ["Not run."]


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    load = results["load"]
    ceiling_notes = []
    for name, preset in results["presets"].items():
        values = ceilings(preset)
        if len(values) > 1:
            ceiling_notes.append(
                f"{name}: {min(values):.0f} to {max(values):.0f} req/s over "
                f"{len(values)} measurements"
            )
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python -m bench.run`) on {results['date']}; run "
        f"`{results['run_id']}`, {results['elapsed_s'] / 60:.1f} minutes. The tables and the "
        "plot are rewritten by every run; the analysis comes from `bench/analysis.md`.",
        "",
        "## Results",
        "",
        "Every request is made as the dataset's heaviest user (`heavy`: the most partners "
        "and messages). *Queries/request* are counted in-process through Django's test "
        "client on the same database: *cold* is the first request in an empty cache "
        "namespace, *warm* the same request repeated (what wrk does). *x ceiling* divides "
        "a workload's requests/s by the ceiling's, measured for half the time right before "
        "and half right after it (other work on a shared machine drifts over a run; "
        "a bracket of neighbouring measurements cancels a steady drift).",
        "",
        table(results),
        "",
        "![requests/s per workload and dataset size, ceilings dashed, 60% of them dotted]"
        "(benchmarks.png)",
        "",
        "## Targets",
        "",
        *_targets_section(results),
        "",
        "## Analysis",
        "",
        ANALYSIS.read_text().strip() if ANALYSIS.exists() else "(no bench/analysis.md)",
        "",
        "## How it was measured",
        "",
        f"- Machine: {machine.get('cpu')}, {machine.get('cores')} cores, "
        f"{machine.get('memory_gb')} GB RAM, Linux {machine.get('kernel')}; Python "
        f"{machine.get('python')}, Django {machine.get('django')}, uvicorn "
        f"{machine.get('uvicorn')}, PostgreSQL {machine.get('postgresql')}, Redis "
        f"{machine.get('redis')}, {machine.get('wrk')}.",
        f"- Server: `{load['server']}` (one worker per core) with `{load['settings']}`: the "
        "production settings with a loopback secret, throttles running but with per-second "
        "windows far above the load, and the ceiling view added at `/bench/ceiling/`. "
        "PostgreSQL and Redis (database 9, a key prefix per run) are the machine's own.",
        f"- Load: `wrk -t{load['threads']} -c{load['connections']} -d{load['duration_s']:g}s "
        f"--latency` from a separate process over loopback, after a {load['warmup_s']:g} s "
        "warm-up of the same workload; the load generator shares the machine's cores with "
        "the server, as it does for the ceiling. Requests carry `Authorization: Bearer <JWT>` "
        "(from `POST /api/v1/auth/token/`) and the TLS proxy's `X-Forwarded-Proto: https`.",
        "- Ceiling: an authenticated DRF view returning a constant JSON body, with the "
        "authentication, permission and throttle classes of the API's inbox view. "
        + (f"Ceiling spread over the run: {'; '.join(ceiling_notes)}." if ceiling_notes else ""),
        "- The conversation page is served through a per-request `cache_page`: *cached* is "
        "the app as it serves a repeated request; *uncached* adds a query string that is new "
        "on every request, so each one is a miss (cache lookup, the view, and the store of "
        "the new entry).",
        "- Send rotates the receiver through heavy's 50 busiest partners; it runs after the "
        "reads, so the reads see the generated data only.",
        "",
        "### Datasets",
        "",
        "`python -m bench.dataset --preset small|large --seed 42` (COPY on PostgreSQL, "
        "then VACUUM ANALYZE; its rows checked through the product's selectors before "
        "anything is measured). *Inbox rows* are the per-user `Conversation` rows (two per "
        "pair).",
        "",
        *_dataset_section(results),
        "",
        "### Per-workload detail",
        "",
        "Server CPU is the uvicorn processes' CPU time over the measured seconds (200% = "
        "both cores). DB time is PostgreSQL's own execution time for the cold request's "
        "SELECTs (EXPLAIN ANALYZE). Single-client p50 is 40 warm requests made one after "
        "another in-process (wall / CPU ms); it is measured while each dataset is prepared, "
        "so minutes apart for the two sizes: on a shared machine it says what one request "
        "costs, not how the sizes compare (the interleaved wrk p50 does that).",
        "",
        *_detail_section(results),
        "",
        "### Real-time socket (`bench.ws_bench`)",
        "",
        *_ws_section(results),
        "",
        "## Running it",
        "",
        "```sh",
        "make bench                                        # both presets",
        "uv run python -m bench.run --preset small         # the small one only (a few minutes)",
        "uv run python -m bench.run --preset large --duration 30",
        "uv run python -m bench.report bench/results/latest.json   # re-render these documents",
        "```",
        "",
        "Needs PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust), Redis on "
        "127.0.0.1:6379 and `wrk`. Each preset gets a fresh database "
        "`messaging_bench_<preset>`, kept afterwards (`--drop` removes it) so a workload can "
        "be profiled against it:",
        "",
        "```sh",
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/messaging_bench_large \\",
        "REDIS_URL=redis://127.0.0.1:6379/9 CACHE_KEY_PREFIX=bench-profile \\",
        "uv run python -m bench.inprocess profile --workload inbox \\",
        "  --manifest var/bench/<run>/large/manifest.json --requests 300",
        "```",
        "",
    ]
    return "\n".join(lines)


def readme_block(results: dict[str, Any]) -> str:
    return "\n".join(
        [
            README_START,
            f"Measured by `make bench` on {results['date'][:10]} ({results['machine'].get('cores')}"
            " cores; details, targets and plot in [docs/benchmarks.md](docs/benchmarks.md)):",
            "",
            table(results),
            README_END,
        ]
    )


def update_readme(results: dict[str, Any]) -> None:
    text = README.read_text()
    block = readme_block(results)
    if README_START in text and README_END in text:
        head, rest = text.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## Benchmarks\n\n" + block + "\n"
    README.write_text(text)


def write_all(results: dict[str, Any]) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(markdown(results))
    plot(results)
    update_readme(results)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else ROOT / "bench" / "results" / "latest.json"
    results = json.loads(path.read_text())
    results["targets"] = evaluate(results)
    write_all(results)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
