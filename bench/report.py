"""From published runs to docs/benchmarks.md, its plots and the README's table.

    python -m bench.report

re-renders the documents from bench/results/bench-<preset>-latest.json (each preset
published so far, committed), bench/results/mixed-latest.json (`make bench-load`) and
bench/results/ws-<sockets>-latest.json (`make bench-sockets`: each socket count's latest
sound run); `bench.run` calls the same functions after a published run. The hand-written
notes that follow the socket table are bench/sockets.md, the hand-written history (earlier
profiles and fixes) bench/analysis.md.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

from .workloads import BY_KEY

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
ANALYSIS = ROOT / "bench" / "analysis.md"
SOCKETS = ROOT / "bench" / "sockets.md"
MIXED = RESULTS_DIR / "mixed-latest.json"
README_START = "<!-- bench:table:start -->"
README_END = "<!-- bench:table:end -->"
PRESETS = ("small", "large")
STACK_LABELS = {"bare": "bare Django", "product": "the product's middleware"}


def plot_path(preset: str) -> Path:
    return ROOT / "docs" / f"benchmarks-{preset}.png"


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _queries(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    cold, warm = entry["queries_cold"], entry["queries_warm"]
    return str(cold) if cold == warm else f"{cold} → {warm}"


def _split(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    s = entry["split"]
    return f"{s['database_ms']:.1f} / {s['template_ms']:.1f} / {s['python_ms']:.1f}"


def ruler_table(document: dict[str, Any]) -> str:
    """The ruler's measurements of the run: each stack under each shape."""
    lines = [
        "| stack | shape | req/s (best of 3) | spread | x ceiling | p50 ms | p99 ms "
        "| p50 at 1 conn | p50 queued ÷ 1 conn | wrk CPU (cores) | other work (cores) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for shape, measured in document["shapes"].items():
        for stack, m in measured["ceiling"].items():
            queued = m.get("p50_queued_over_one")
            lines.append(
                f"| {STACK_LABELS.get(stack, stack)} | {shape} | {_n(m['best_rps'])} "
                f"| {m['spread']['pct']:.1f}% | {m['x_ceiling']:.2f} | {m['p50_ms']:.1f} "
                f"| {m['p99_ms']:.1f} | {m['p50_one_ms']:.2f} "
                f"| {f'{queued:.2f}' if queued is not None else '-'} "
                f"| {max(m['wrk_cpu_cores']):.2f} | {max(m['other_cpu_cores']):.2f} |"
            )
    return "\n".join(lines)


def workload_table(document: dict[str, Any]) -> str:
    """One row per workload and shape: load from wrk, queries and time split in-process."""
    lines = [
        "| workload | API or page | shape | queries/request (cold → warm) | req/s (best of 3) "
        "| spread | x ceiling | p50 ms | p99 ms | in-process ms: database / templates / Python |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    inprocess = document.get("inprocess", {})
    for shape, measured in document["shapes"].items():
        bare = measured["ceiling"]["bare"]
        lines.append(
            f"| **bare Django ceiling** | - | {shape} | - | {_n(bare['best_rps'])} "
            f"| {bare['spread']['pct']:.1f}% | {bare['x_ceiling']:.2f} | {bare['p50_ms']:.2f} "
            f"| {bare['p99_ms']:.2f} | - |"
        )
        for key, m in measured["workloads"].items():
            workload = BY_KEY.get(key)
            label = workload.label if workload else key
            kind = workload.kind if workload else "-"
            flag = f" ({m['non_2xx']} non-2xx!)" if m.get("non_2xx") else ""
            lines.append(
                f"| {label} | {kind} | {shape} | {_queries(inprocess.get(key))} "
                f"| {_n(m['best_rps'])}{flag} | {m['spread']['pct']:.1f}% "
                f"| {m['x_ceiling']:.2f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} "
                f"| {_split(inprocess.get(key))} |"
            )
    return "\n".join(lines)


def sizes_table(documents: dict[str, dict[str, Any]]) -> str:
    """Each workload on every published dataset size, side by side, on the shape they share."""
    shared = [
        shape
        for shape in next(iter(documents.values()))["shapes"]
        if all(shape in d["shapes"] for d in documents.values())
    ]
    if len(documents) < 2 or not shared:
        return ""
    shape = shared[0]
    sizes = [f"{d['dataset']['messages']:,}" for d in documents.values()]
    head = " / ".join(sizes)
    lines = [
        f"| workload | API or page | x ceiling, {head} | p50 ms, {head} | queries (warm), {head} |",
        "|---|---|---:|---:|---:|",
    ]
    keys = list(next(iter(documents.values()))["shapes"][shape]["workloads"])
    for key in keys:
        entries = [d["shapes"][shape]["workloads"].get(key) for d in documents.values()]
        warm = [d.get("inprocess", {}).get(key) for d in documents.values()]
        workload = BY_KEY.get(key)
        lines.append(
            f"| {workload.label if workload else key} | {workload.kind if workload else '-'} "
            "| "
            + " / ".join(f"{e['x_ceiling']:.2f}" if e else "-" for e in entries)
            + " | "
            + " / ".join(f"{e['p50_ms']:.1f}" if e else "-" for e in entries)
            + " | "
            + " / ".join(str(w["queries_warm"]) if w else "-" for w in warm)
            + " |"
        )
    return f"On {shape}, each size divided by its own run's bare ceiling:\n\n" + "\n".join(lines)


def mixed_section(document: dict[str, Any]) -> list[str]:
    """`make bench-load`: Locust's mixed day, then every acknowledged write accounted for."""
    accounted = document["accounting"]
    lines = [
        "## A mixed day (Locust)",
        "",
        f"Run `{document['run_id']}` on {document['date']}: {document['command']}",
        "",
        document["description"],
        "",
        "| request | requests | failures | req/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in document["requests"]:
        lines.append(
            f"| {row['name']} | {row['requests']:,} | {row['failures']:,} "
            f"| {row['rps']:.1f} | {row['p50_ms']:.0f} | {row['p99_ms']:.0f} |"
        )
    frames = document["frames"]
    lines += [
        "",
        f"Live frames: {frames['expected']:,} `message.created` expected, "
        f"{frames['received']:,} received, {frames['lost']:,} lost, "
        f"{frames['duplicated']:,} duplicated. The database afterwards: "
        f"{accounted['sends_acknowledged']:,} sends acknowledged, "
        f"{accounted['sends_stored_once']:,} stored once, "
        f"{accounted['stored_unacknowledged']:,} stored without an acknowledgement, "
        f"{accounted['messages_with_one_right_notification']:,} with exactly one right "
        f"notification, {accounted['conversation_rows_consistent']:,} of "
        f"{accounted['conversation_rows']:,} inbox rows consistent."
        + (
            " Problems: " + "; ".join(accounted["problems"])
            if accounted["problems"]
            else " No problem found."
        ),
        "",
    ]
    return lines


NUMBERS = {1: "One", 2: "Two", 3: "Three", 4: "Four"}
SOCKET_COLUMNS = (
    "| sockets | opened / failed | sends acknowledged "
    "| frames expected / received / lost / duplicated "
    "| to frame p50 / p99 / max (upper bound) | server memory per socket |"
)


def socket_runs(results_dir: Path | None = None) -> list[dict[str, Any]]:
    """Each socket count's latest sound run (`make bench-sockets`), fewest sockets first."""
    paths = (results_dir or RESULTS_DIR).glob("ws-*-latest.json")
    documents = [json.loads(path.read_text()) for path in paths]
    return sorted(documents, key=lambda document: document["settings"]["sockets"])


def _per_person(document: dict[str, Any]) -> str:
    sockets, users = document["settings"]["sockets"], document["dataset"]["users"]
    per = document.get("placement", {}).get("sockets_per_user") or math.ceil(sockets / users)
    exact = sockets <= users or sockets % users == 0
    return f"{per} per person" if exact else f"up to {per} per person"


def _ms(summary: dict[str, Any]) -> str:
    values = [summary.get(key) for key in ("p50", "p99", "max")]
    if any(value is None for value in values):
        return "-"
    return " / ".join(f"{value:,.0f}" for value in values) + " ms"


def socket_row(document: dict[str, Any]) -> str:
    opened, sent, frames = document["open"], document["send"], document["frames"]
    failures = ", ".join(
        f"{n:,} × {status if status not in ('0', 'None') else 'no answer'}"  # noqa: RUF001
        for status, n in sent.get("failed_by_status", {}).items()
    )
    return (
        f"| {document['settings']['sockets']:,} ({_per_person(document)}) "
        f"| {opened['opened']:,} / {opened['failed']:,} in {opened['seconds']:.1f} s "
        f"| {sent['acknowledged']:,} / {sent['messages']:,}"
        f"{f' ({failures})' if failures else ''} "
        f"| {frames['expected']:,} / {frames['received']:,} / {frames['lost']:,} "
        f"/ {frames['duplicated']:,} "
        f"| {_ms(document['latency_ms']['from_timestamp'])} "
        f"| {document['memory']['per_socket_kb']:.1f} KiB |"
    )


def socket_table(documents: list[dict[str, Any]]) -> str:
    """One row per run: the columns bench/sockets.md's hand-written rows had."""
    lines = [SOCKET_COLUMNS, "|---|---|---|---|---|---:|"]
    return "\n".join(lines + [socket_row(document) for document in documents])


def _each(documents: list[dict[str, Any]], values: list[str]) -> str:
    """The value the runs share, or each run's, naming the runs by their sockets."""
    if len(set(values)) == 1:
        return values[0]
    counts = " / ".join(f"{d['settings']['sockets']:,}" for d in documents)
    return f"{' / '.join(values)} (at {counts} sockets)"


def _other_work(document: dict[str, Any]) -> float:
    phases = (document["open"]["cpu"], document["open"]["cpu_idle_after"], document["send"]["cpu"])
    return max(phase.get("other", 0.0) for phase in phases)


def channel_layer_text(documents: list[dict[str, Any]]) -> str:
    """The channel layer the servers ran with, as ws_bench read it from their settings."""
    described = []
    for document in documents:
        layer = document.get("channel_layer")
        if not layer:
            continue
        sizes = (
            f"capacity {layer['capacity']:,} messages per channel, expiry {layer['expiry']:,} s, "
            f"group_expiry {layer['group_expiry']:,} s"
        )
        chosen = layer.get("set_in_settings", [])
        source = (
            f"{', '.join(chosen)} set in the settings, the rest the backend's defaults"
            if chosen
            else "the backend's defaults: the settings set none of them"
        )
        described.append(
            f"`{layer['backend']}` from `{layer['settings_module']}`, {sizes} ({source})"
        )
    if not described:
        return ""
    if len(set(described)) == 1:
        return f"The servers' channel layer: {described[0]}."
    return (
        "The servers' channel layer: "
        + "; ".join(
            f"at {d['settings']['sockets']:,} sockets, {text}"
            for d, text in zip(documents, described, strict=True)
        )
        + "."
    )


def sockets_section(documents: list[dict[str, Any]], notes: str) -> list[str]:
    """`make bench-sockets`: how the runs were made, their table, then the hand-written
    notes (bench/sockets.md); only the notes while no run is published."""
    if not documents:
        return ["## Sockets", "", notes.strip(), ""]
    settings = [d["settings"] for d in documents]
    servers = _each(documents, [NUMBERS.get(s["servers"], str(s["servers"])) for s in settings])
    workers = _each(documents, [str(s.get("workers_per_server", 1)) for s in settings])
    pool = _each(documents, [str(s["pool"]) for s in settings])
    messages = _each(documents, [f"{s['messages']:,}" for s in settings])
    rate = _each(documents, [f"{s['rate']:g}/s" for s in settings])
    cores = _each(documents, [str(d["machine"]["cores"]) for d in documents])
    placement = [d.get("placement") for d in documents]
    both = all(p and p["users_on_both_servers"] == p["users_with_sockets"] for p in placement)
    dates = " and ".join(sorted({d["date"][:10] for d in documents}))
    how = (
        "The real-time socket benchmark is `make bench-sockets` (`python -m bench.ws_bench`; "
        "uvicorn, the shape production serves `/ws/` with); it is run on its own. "
        f"{servers} uvicorn processes ({workers} worker each, a database pool of {pool}) on "
        "PostgreSQL and a Redis channel layer of the run's own; every socket open before the "
        f"first send; {messages} messages through the API at {rate} to people holding sockets"
        f"{' on both servers' if both else ''} (the sends go to the socket servers here; "
        "production sends them to gunicorn). Latency is bracketed: from the message's "
        "`timestamp` (taken before its transaction: an upper bound) and from the client's 201 "
        "(after the commit: a lower bound). Each row is the latest sound run of its size: "
        "every socket opened and stayed open, every send acknowledged, every frame received "
        f"once and on its socket only. Measured {dates} on {cores} cores, other work "
        f"(PostgreSQL included) at most {max(map(_other_work, documents)):.2f} of a core:"
    )
    lines = ["## Sockets", "", how, "", socket_table(documents), ""]
    layer = channel_layer_text(documents)
    if layer:
        lines += [layer, ""]
    if notes.strip():
        lines += [notes.strip(), ""]
    return lines


def verdict_text(document: dict[str, Any]) -> str:
    reasons = document["verdict"]["reasons"]
    if not reasons:
        return "Published: every refusal rule passed."
    return "Refused:\n" + "\n".join(f"- {reason}" for reason in reasons)


def plot(document: dict[str, Any], path: Path) -> None:
    """Requests/s over the run's bare ceiling: one bar per workload and shape."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = list(document["shapes"])
    keys = list(next(iter(document["shapes"].values()))["workloads"])
    labels = [
        f"{textwrap.fill(BY_KEY[key].label, 16)}\n({BY_KEY[key].kind})" if key in BY_KEY else key
        for key in keys
    ]
    width = 0.8 / max(1, len(shapes))
    fig, ax = plt.subplots(figsize=(max(10, len(keys) * 1.1), 5.5), dpi=110)
    for i, shape in enumerate(shapes):
        workloads = document["shapes"][shape]["workloads"]
        values = [workloads[key]["x_ceiling"] for key in keys]
        xs = [x + (i - (len(shapes) - 1) / 2) * width for x in range(len(keys))]
        bars = ax.bar(xs, values, width, label=shape, color=f"C{i}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ceiling = document["ceiling"]
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax.text(
        len(keys) - 0.5,
        1.0,
        f"bare Django ceiling ({ceiling['shape']}): {ceiling['rps']:,.0f} req/s",
        ha="right",
        va="bottom",
        fontsize=8,
    )
    ax.set_xticks(range(len(keys)), labels, fontsize=7)
    ax.set_ylabel("req/s ÷ bare Django ceiling (higher is better)")
    load = document["load"]
    ax.set_title(
        f"{document['preset']} dataset ({document['dataset']['messages']:,} messages), "
        f"wrk -t{load['threads']} -c{load['connections']}, {load['workers']} workers, "
        f"run {document['run_id']}",
        fontsize=10,
    )
    ax.set_xlim(-0.6, len(keys) - 0.4)
    ax.set_ylim(0, max(1.15, ax.get_ylim()[1] * 1.05))
    ax.legend(title="server shape", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _dataset_line(document: dict[str, Any]) -> str:
    d, h = document["dataset"], document["dataset"]["heavy"]
    return (
        f"{d['users']:,} users, {d['messages']:,} messages ({d['unread']:,} unread, "
        f"{d['replies']:,} replies, {d['edited']:,} edited), {d['conversations']:,} inbox rows, "
        f"loaded in {d['load_s']:.0f} s. The heaviest user (`{h['username']}`): "
        f"{h['partners']:,} partners, {h['messages']:,} messages, {h['top_partner_messages']:,} "
        f"with the busiest one; the thread is {h['thread_size']} messages." + _groups_text(d)
    )


def _groups_text(dataset: dict[str, Any]) -> str:
    """The groups of a dataset that has them (runs before groups had none)."""
    h = dataset["heavy"]
    if not dataset.get("group_messages") or not h.get("group"):
        return ""
    return (
        f" On top of the direct messages, {dataset['group_messages']:,} group messages in "
        f"{dataset['groups']} groups ({dataset['memberships']:,} memberships), every one of "
        f"them heavy's; the group workloads use `{h['group_name']}`: {h['group_members']} "
        f"people, {h['group_messages']:,} messages, {h['group_unread']} of them unread to heavy."
    )


def preset_section(document: dict[str, Any]) -> list[str]:
    load = document["load"]
    machine = document["machine"]
    shapes = ", ".join(
        f"{shape} ({', '.join(f'{k}={v}' for k, v in env.items())})"
        for shape, env in load["database_env"].items()
    )
    return [
        f"## {document['preset'].capitalize()} dataset",
        "",
        f"Run `{document['run_id']}` on {document['date']}, {document['duration_min']} minutes; "
        f"{machine['cpus']} cores, Python {machine['python']}, Django {machine['django']}, "
        f"gunicorn {machine['gunicorn']}, uvicorn {machine['uvicorn']}, {machine['wrk']}; "
        f"load average {document['load_average']['before'][0]:.2f} before, "
        f"{document['load_average']['after'][0]:.2f} after. {verdict_text(document)}",
        "",
        _dataset_line(document),
        "",
        f"Server shapes ({load['workers']} workers each, database connections as in "
        f"production): {shapes}.",
        "",
        "### The ruler",
        "",
        ruler_table(document),
        "",
        "### The workloads",
        "",
        workload_table(document),
        "",
        f"![req/s of each workload over the bare ceiling, per shape]"
        f"({plot_path(document['preset']).name})",
        "",
        *_preset_notes(document["preset"]),
    ]


def _preset_notes(preset: str) -> list[str]:
    """What a person found about a published run after it (bench/notes-<preset>.md)."""
    notes = ROOT / "bench" / f"notes-{preset}.md"
    return [notes.read_text().strip(), ""] if notes.exists() else []


def markdown(documents: dict[str, dict[str, Any]]) -> str:
    any_doc = next(iter(documents.values()))
    load = any_doc["load"]
    rules = any_doc["rules"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (small dataset) and `make bench-large` (1M messages), "
        "`python -m bench.run`; re-render with `python -m bench.report`. Every number below "
        "comes from the run named with it; a run whose ruler refuses is not published here.",
        "",
        "## The ruler",
        "",
        "Each run measures its own ceiling first, under each server shape it measures: "
        "bare Django (`bench/ceiling/`: sessions and auth only, one view that loads "
        "`request.user` and answers 25 bytes of JSON) and the same view behind the "
        "product's whole middleware stack, each with PostgreSQL databases of their own. "
        "Then the product serves every workload on the same shape, with the same workers, "
        "as the dataset's heaviest user. *x ceiling* divides a measurement's req/s by the "
        "fastest shape's bare Django in the same run.",
        "",
        f"Load is `wrk --latency -t{load['threads']} -c{load['connections']}`, a "
        f"{load['warmup_s']:g} s warm-up, then the best of {load['runs']} runs of "
        f"{load['duration_s']:g} s; the spread is the runs' range over the best. The "
        "ceiling is also measured at one connection (`-t1 -c1`).",
        "",
        "The run refuses to publish (exit status 2, saying why) when the bare ceiling's "
        f"p50 per queued request (p50 x workers ÷ connections) is more than "
        f"{rules['max_p50_queued_over_one']:g}x its p50 at one connection (a server starved "
        f"of CPU), when wrk used more than {rules['max_loadgen_cores']:g} of a core in any "
        f"measured run, when other work on the machine did (over "
        f"{rules['max_other_cores']:g} of a core), or when any answer was not a 2xx or 3xx "
        "(the page send answers a redirect) or a socket failed. Other work is the machine's "
        "busy time less the server's, wrk's and the stack's database's: the PostgreSQL "
        "backends serving it and the postmaster's exited children (the parallel workers "
        "a large table's queries start, closed connections).",
        "",
        "What each workload sends: API requests carry the user's JWT, pages the user's "
        "session and CSRF cookies, all minted in-process with the product's code; every "
        "request carries the TLS proxy's `X-Forwarded-Proto: https`. *Uncached* adds a "
        "query string new on every request (`bench/wrk/nocache.lua`): each one misses the "
        "conversation page cache. Sends (`bench/wrk/send.lua`) post a new message per "
        "request, with a unique `Idempotency-Key` on the API, receivers rotating through "
        "the user's 50 busiest partners; they run last. *Queries/request* are counted "
        "in-process with Django's test client (cold: the first request in an empty cache "
        "namespace; warm: the same request again). The in-process split samples 30 warm "
        "requests with pyinstrument: time in Django's database backend and psycopg, in "
        "Django's template engine (its queries counted as database), and the rest.",
        "",
    ]
    for preset in PRESETS:
        if preset in documents:
            lines += preset_section(documents[preset])
    sizes = sizes_table(documents)
    if sizes:
        lines += ["## Sizes side by side", "", sizes, ""]
    lines += sockets_section(socket_runs(), SOCKETS.read_text() if SOCKETS.exists() else "")
    if MIXED.exists():
        lines += mixed_section(json.loads(MIXED.read_text()))
    lines += [
        "## Running it",
        "",
        "```sh",
        "make bench          # small dataset, gunicorn (production's shape): about 15 minutes",
        "make bench-large    # 1M messages: about 20 minutes",
        "make bench-load     # Locust's mixed day, then every write accounted for",
        "make bench-sockets  # 1,000 then 5,000 live sockets, every frame counted",
        "uv run python -m bench.ws_bench --sockets 1000 --messages 500 --rate 50",
        "uv run python -m bench.run --preset small --shapes gunicorn,uvicorn",
        "uv run python -m bench.run --duration 3 --no-docs     # a smoke run",
        "uv run python -m bench.report                         # re-render these documents",
        "```",
        "",
        "Needs PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust), Redis on "
        "127.0.0.1:6379 and `wrk`. Each run loads its dataset into a database of its own, "
        "dropped afterwards (`--keep` keeps it).",
        "",
    ]
    if ANALYSIS.exists():
        lines += [
            "## History",
            "",
            "*Written by hand before the ruler; its ratios were divided by a ceiling "
            "measured on a starved machine and are not comparable with the tables above.*",
            "",
            ANALYSIS.read_text().strip(),
            "",
        ]
    return "\n".join(lines)


def readme_block(documents: dict[str, dict[str, Any]]) -> str:
    """The README quotes the first size's table and, once several are published, the
    sizes side by side."""
    preset, document = next(iter(documents.items()))
    ceiling = document["ceiling"]
    lines = [
        README_START,
        f"Measured by `make bench{'' if preset == 'small' else '-large'}` on "
        f"{document['date'][:10]} ({document['dataset']['messages']:,} messages, "
        f"{document['machine']['cpus']} cores; the bare Django ceiling "
        f"{ceiling['rps']:,.0f} req/s under {ceiling['shape']}; details and plots in "
        "[docs/benchmarks.md](docs/benchmarks.md)):",
        "",
        workload_table(document),
        "",
    ]
    sizes = sizes_table(documents)
    if sizes:
        lines += [sizes, ""]
    lines.append(README_END)
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    if README_START in text and README_END in text:
        head, rest = text.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        return head + block + tail
    return text.rstrip("\n") + "\n\n## Benchmarks\n\n" + block + "\n"


def published() -> dict[str, dict[str, Any]]:
    documents = {}
    for preset in PRESETS:
        path = RESULTS_DIR / f"bench-{preset}-latest.json"
        if path.exists():
            documents[preset] = json.loads(path.read_text())
    return documents


def write_all() -> None:
    documents = published()
    if not documents:
        raise SystemExit("no published run in bench/results (bench-<preset>-latest.json)")
    DOC.write_text(markdown(documents))
    for preset, document in documents.items():
        plot(document, plot_path(preset))
    README.write_text(replace_block(README.read_text(), readme_block(documents)))


if __name__ == "__main__":
    write_all()
