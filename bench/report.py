"""Turn bench/run.py's results into a markdown report, a latency plot and a profile summary.

python -m bench.report bench/results/results.json     # rewrite results.md and latency.png
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

BASELINE = "websockets-baseline"
LOST_Y = 20_000.0  # where steps with lost deliveries are drawn, in ms


def _ms(value) -> str:
    if value is None:
        return "∞ (lost)"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _num(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def knee_rows(results: dict) -> list[dict]:
    rows = []
    baseline = results["configs"].get(BASELINE, {}).get("rooms", {})
    for name, entry in results["configs"].items():
        for size, room in (entry.get("rooms") or {}).items():
            knee = room.get("knee_deliveries_per_s") or room.get("best_passing_deliveries_per_s")
            base = (baseline.get(size) or {}).get("knee_deliveries_per_s") or (baseline.get(size) or {}).get(
                "best_passing_deliveries_per_s"
            )
            at_knee = max((s for s in room["steps"] if s["pass"]), key=lambda s: s["rate_msgs"], default=None)
            costs = sorted(
                s["server_us_per_delivery"]
                for s in room["steps"]
                if s.get("server_us_per_delivery") and not s["lost"] and not s.get("superseded")
            )
            rows.append(
                {
                    "us_per_delivery": costs[len(costs) // 2] if costs else None,
                    "config": name,
                    "size": int(size),
                    "knee_rate": room.get("knee_rate_msgs"),
                    "knee_deliveries": knee,
                    "ratio": (knee / base) if knee and base else None,
                    "p99_at_knee": at_knee["p99_ms"] if at_knee else None,
                    "at_fraction": room.get("at_fraction"),
                    "first_fail": room.get("first_fail_rate_msgs"),
                    "reason": room.get("first_fail_reason", ""),
                    "lower_bound": "generator saturated" in room.get("first_fail_reason", ""),
                    "baseline_generator_bound": any(
                        s["generator_bound"] for s in (baseline.get(size) or {}).get("steps", [])
                    ),
                }
            )
    return rows


def targets(results: dict) -> list[str]:
    lines = []
    rows = knee_rows(results)
    parley = [r for r in rows if r["config"] != BASELINE]
    if parley and any(r["config"] == BASELINE for r in rows):
        lines.append("**(a) ≥ half the baseline's deliveries/s, with p99 < 100 ms at 80 % of its own knee:**")
        for r in sorted(parley, key=lambda r: (r["config"], r["size"])):
            at = r["at_fraction"]
            p99_80 = at["p99_ms"] if at else None
            ok_ratio = r["ratio"] is not None and r["ratio"] >= 0.5
            ok_p99 = at is not None and at["pass"]
            verdict = "met" if ok_ratio and ok_p99 else "not met"
            lines.append(
                f"- {r['config']}, room of {r['size']}: {_num(r['knee_deliveries'])} deliveries/s = "
                f"{_ratio(r['ratio'])} of the baseline; p99 at 80 % of the knee "
                f"{_ms(p99_80) if at else '—'} ms → **{verdict}**"
            )
    big = [(n, e["rooms"]["1000"]) for n, e in results["configs"].items() if "1000" in (e.get("rooms") or {})]
    if big:
        lines.append("")
        lines.append("**(b) a room of 1,000: p99 < 250 ms, nothing lost** (the highest rate meeting it):")
        for name, room in big:
            good = [
                s
                for s in room["steps"]
                if s["lost"] == 0 and s["p99_ms"] is not None and s["p99_ms"] < 250 and not s["duplicates"]
            ]
            best = max(good, key=lambda s: s["rate_msgs"], default=None)
            lines.append(
                f"- {name}: "
                + (
                    f"up to {best['rate_msgs']:g} msg/s ({_num(best['deliveries_per_s'])} deliveries/s, "
                    f"p99 {_ms(best['p99_ms'])} ms) → **met**"
                    if best
                    else "no step met it → **not met**"
                )
            )
    if results.get("idle"):
        lines.append("")
        lines.append("**(c) 10,000 idle connections per process, under 60 KiB each:**")
        for name, idle in results["idle"].items():
            ok = (
                idle["connected"] >= 10000
                and idle["kib_per_connection"] is not None
                and idle["kib_per_connection"] < 60
            )
            lines.append(
                f"- {name}: {idle['connected']:,} connected, "
                f"{_num(idle['kib_per_connection'], 1)} KiB each → "
                f"**{'met' if ok else 'not met'}**"
                + ("" if idle["requested"] >= 10000 else f" (only {idle['requested']:,} tried in this run)")
            )
    return lines


def header(names: list[str], aligns: str) -> list[str]:
    assert len(names) == len(aligns), "one alignment per column"
    rule = ["---:" if a == "r" else "---" for a in aligns]
    return ["| " + " | ".join(names) + " |", "| " + " | ".join(rule) + " |"]


def _ratio(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def markdown(results: dict) -> str:
    m = results["machine"]
    v = results["versions"]
    out = [
        "# Parley delivery benchmark: results",
        "",
        f"Preset `{results['preset']}`, started {results['started']}, git `{results['git_commit']}`, "
        f"{results.get('elapsed_min', '?')} min. Command: `{results['command']}`.",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"load average at start {' '.join(m['loadavg_at_start'])}. Server (and PostgreSQL/Redis) on cpus "
        f"{results['cpus']['server']}, load generator on cpus {results['cpus']['generator']}.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
        "",
        "Latency is from the time a message was due to be sent (open loop) to its receipt, at every "
        "member including the sender; lost deliveries count as infinitely late. A step passes with "
        "p99 ≤ 100 ms, nothing lost, duplicated or out of order, no error frames, and a generator "
        "below 90 % of its core. CPU columns are fractions of one core over the step: the generator, "
        "the server process, PostgreSQL + Redis, and everything else on the machine (other people's work). "
        "Server µs per delivery is the server process's CPU time over the deliveries it made (the median "
        "of the steps that lost nothing): it hardly changes when other processes share the core, so it "
        "compares configurations where latencies cannot.",
        "",
        "## Knees",
        "",
        *header(
            [
                "configuration",
                "room",
                "knee msg/s",
                "knee deliveries/s",
                "vs baseline",
                "p99 at knee ms",
                "p99 at 80 % of knee ms",
                "server µs per delivery",
                "first failure",
            ],
            "lrrrrrrrl",
        ),
    ]
    for r in knee_rows(results):
        at = r["at_fraction"]
        bound = "≥ " if r["lower_bound"] else ""
        p99_knee = _ms(r["p99_at_knee"]) if r["p99_at_knee"] is not None else "—"
        fail = f"{_num(r['first_fail'], 1)} msg/s: {r['reason']}" if r["first_fail"] else r["reason"]
        out.append(
            f"| {r['config']} | {r['size']:,} | {bound}{_num(r['knee_rate'], 1)} | "
            f"{bound}{_num(r['knee_deliveries'])} | {_ratio(r['ratio'])} | {p99_knee} | "
            f"{_ms(at['p99_ms']) if at else '—'} | {_num(r['us_per_delivery'], 0)} | {fail} |"
        )
    errors = {n: e["error"] for n, e in results["configs"].items() if e.get("error")}
    for name, error in errors.items():
        out.append(f"\n**{name} failed:** `{error.splitlines()[0] if error else ''}`")
    out += ["", "## Targets", "", *targets(results)]
    if results.get("idle"):
        out += [
            "",
            "## Idle connections",
            "",
            *header(
                [
                    "configuration",
                    "connected",
                    "connects/s",
                    "RSS before MiB",
                    "RSS after MiB",
                    "KiB per connection",
                    "server CPU while connecting",
                    "generator CPU",
                    "pings answered",
                    "failures",
                ],
                "lrrrrrrrrl",
            ),
        ]
        for name, i in results["idle"].items():
            out.append(
                f"| {name} | {i['connected']:,} / {i['requested']:,} | {_num(i['connects_per_s'])} | "
                f"{i['rss_before_kib'] / 1024:,.0f} | {i['rss_after_kib'] / 1024:,.0f} | "
                f"{_num(i['kib_per_connection'], 1)} | "
                f"{_pct(i['server_cpu_during_connect'])} | {_pct(i['generator_cpu_during_connect'])} | "
                f"{i['ping_alive']}/{i['ping_sample']} | {i['failures'] or '—'} |"
            )
    out += [
        "",
        "## Every step",
        "",
        *header(
            [
                "configuration",
                "room",
                "step",
                "msg/s",
                "offered del/s",
                "delivered/s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "max ms",
                "lost",
                "dup",
                "errors",
                "send lag p99 ms",
                "gen CPU",
                "server CPU",
                "server µs/delivery",
                "pg+redis CPU",
                "other CPU",
                "result",
            ],
            "lrlrrrrrrrrrlrrrrrrl",
        ),
    ]
    for name, entry in results["configs"].items():
        for size, room in (entry.get("rooms") or {}).items():
            for s in room["steps"]:
                lost = f"{s['lost']:,}"
                if s.get("still_missing_after_recovery") is not None and s["lost"]:
                    lost += f" ({s['still_missing_after_recovery']:,} never)"
                verdict = "pass" if s["pass"] else ("gen-bound" if s["generator_bound"] else "FAIL")
                if s.get("superseded"):
                    verdict += ", noisy: rerun"
                elif s.get("noisy"):
                    verdict += ", noisy"
                out.append(
                    f"| {name} | {int(size):,} | {s['label']} | {s['rate_msgs']:g} | "
                    f"{s['offered_deliveries']:,.0f} | {s['deliveries_per_s']:,.0f} | {_ms(s['p50_ms'])} | "
                    f"{_ms(s['p99_ms'])} | {_ms(s['p999_ms'])} | "
                    f"{_ms(s['max_ms'])} | {lost} | {s['duplicates']} | {s['errors'] or '—'} | "
                    f"{_num(s['send_lag_p99_ms'], 1)} | {_pct(s['generator_cpu'])} | "
                    f"{_pct(s['server_cpu'])} | {_num(s.get('server_us_per_delivery'), 1)} | "
                    f"{_pct(s['services_cpu'])} | {_pct(s['other_cpu'])} | "
                    f"{verdict} |"
                )
    if results.get("profile") and results["profile"].get("top"):
        out += ["", "## Profile", "", "See profile.md and profile.svg."]
    return "\n".join(out) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({int(size) for e in results["configs"].values() for size in (e.get("rooms") or {})})
    if not sizes:
        return
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 5), squeeze=False)
    names = list(results["configs"])
    colours = plt.get_cmap("tab10")
    for ax, size in zip(axes[0], sizes, strict=True):
        plotted = False
        for index, name in enumerate(names):
            room = (results["configs"][name].get("rooms") or {}).get(str(size))
            if not room:
                continue
            steps = sorted(room["steps"], key=lambda s: s["offered_deliveries"])
            steps = [s for s in steps if s["label"] != "profile" and not s.get("superseded")]
            xs = [s["offered_deliveries"] for s in steps]
            p99 = [s["p99_ms"] if s["p99_ms"] is not None else LOST_Y for s in steps]
            p50 = [s["p50_ms"] if s["p50_ms"] is not None else LOST_Y for s in steps]
            if not steps:
                continue
            plotted = True
            colour = colours(index % 10)
            ax.plot(xs, p99, "-o", color=colour, label=f"{name} p99", markersize=4)
            ax.plot(xs, p50, ":", color=colour, alpha=0.6)
            bad = [(x, y) for x, y, s in zip(xs, p99, steps, strict=True) if s["lost"]]
            if bad:
                ax.plot(*zip(*bad, strict=True), "x", color=colour, markersize=10, markeredgewidth=2)
            gen = [(x, y) for x, y, s in zip(xs, p99, steps, strict=True) if s["generator_bound"]]
            if gen:
                ax.plot(*zip(*gen, strict=True), "s", color=colour, markersize=9, fillstyle="none")
        ax.axhline(100, color="grey", linestyle="--", linewidth=1)
        if plotted:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(f"room of {size:,}")
        ax.set_xlabel("offered deliveries/s (messages/s × members)")
        ax.set_ylabel("latency ms (solid p99, dotted p50)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
    fig.suptitle(
        f"Parley delivery latency vs rate ({results['machine']['nproc']} cores, {results['started'][:10]}); "
        "x: lost deliveries (drawn at 20 s), □: generator saturated",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- py-spy --------------------------------------------------------------------------------------

# Leaf frames where a thread waits rather than works (py-spy's own idle detection misses these
# here): the database thread waiting for work, the event loop waiting in epoll.
IDLE_LEAVES = {
    ("_worker", "thread.py"),
    ("EpollSelector.select", "selectors.py"),
    ("Condition.wait", "threading.py"),
}
# Frames every busy sample passes through (entry points, the event loop, Channels' middleware
# chain): left out of the inclusive table, where they would only fill the top rows.
PLUMBING_FILES = (
    "threading.py",
    "daphne/cli.py",
    "daphne/server.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "twisted/internet/asyncioreactor.py",
    "channels/routing.py",
    "channels/sessions.py",
    "channels/security/websocket.py",
    "channels/auth.py",
    "channels/middleware.py",
    "uvicorn/main.py",
    "uvicorn/server.py",
)
FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _area(path: str) -> str:
    """A frame's file, shortened to the package (or standard-library module) it belongs to."""
    match = re.search(r"site-packages/([^/]+)", path)
    if match:
        return match.group(1).removesuffix(".py")
    match = re.search(r"lib/python3\.\d+/(.+?)(?:/|\.py$)", path)
    if match:
        return f"stdlib:{match.group(1)}"
    for app in ("messaging", "accounts", "notifications", "config"):
        if f"{app}/" in path:
            return app
    return path


def summarise_profile(raw: str, top: int = 25) -> dict:
    """From py-spy's raw (collapsed) stacks: self and inclusive time per function and per package."""
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    by_area: Counter = Counter()
    total = idle = busy = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        keys = []
        for frame in stack.split(";"):
            match = FRAME.match(frame.strip())
            if match is None:
                continue  # process / thread labels
            keys.append((match.group("name"), match.group("file")))
        if not keys:
            continue
        name, file = keys[-1]
        if (name, file.rsplit("/", 1)[-1]) in IDLE_LEAVES:
            idle += samples
            continue
        busy += samples
        self_time[keys[-1]] += samples
        by_area[_area(keys[-1][1])] += samples
        for key in set(keys):
            if key[0] != "<module>" and not key[1].endswith(PLUMBING_FILES):
                inclusive[key] += samples

    shares_of = max(busy, 1)

    def table(counter: Counter) -> list[dict]:
        return [
            {"function": name, "file": _short(file), "samples": n, "share": round(n / shares_of, 4)}
            for (name, file), n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "busy_samples": busy,
        "idle_samples": idle,
        "self": table(self_time),
        "inclusive": table(inclusive),
        "by_package": [
            {"package": a, "samples": n, "share": round(n / shares_of, 4)}
            for a, n in by_area.most_common(top)
        ],
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def profile_markdown(found: dict) -> str:
    top = found["top"]
    step = found["step"]
    out = [
        "# py-spy profile: daphne-memory-sqlite under load",
        "",
        f"A room of {found['room']} members, {found['rate_msgs']:g} messages/s "
        f"({step['offered_deliveries']:,.0f} deliveries/s offered, "
        f"{step['deliveries_per_s']:,.0f} delivered; p50 {_ms(step['p50_ms'])} ms, "
        f"p99 {_ms(step['p99_ms'])} ms, server CPU {_pct(step['server_cpu'])}). "
        f"py-spy sampled the server at 100 Hz for {found['seconds']} s: {top['samples']:,} samples over all "
        f"threads, of which {top.get('idle_samples', 0):,} found a thread waiting (the database thread for "
        "work, the event loop in epoll) and are left out; shares below are of the "
        f"{top.get('busy_samples', top['samples']):,} busy samples. profile.svg is the flame graph of the "
        "same load (waiting included).",
        "",
        "## Self time by package (where the CPU actually was)",
        "",
        "| package | share | samples |",
        "| --- | ---: | ---: |",
        *[f"| {r['package']} | {r['share']:.1%} | {r['samples']:,} |" for r in top["by_package"][:15]],
        "",
        "## Self time by function",
        "",
        "| function | file | share |",
        "| --- | --- | ---: |",
        *[f"| `{r['function']}` | {r['file']} | {r['share']:.1%} |" for r in top["self"][:20]],
        "",
        "## Inclusive time by function (the function and everything it called)",
        "",
        "| function | file | share |",
        "| --- | --- | ---: |",
        *[f"| `{r['function']}` | {r['file']} | {r['share']:.1%} |" for r in top["inclusive"][:25]],
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/results.json")
    data = json.loads(source.read_text())
    (source.parent / "results.md").write_text(markdown(data))
    plot(data, source.parent / "latency.png")
    print(f"wrote {source.parent / 'results.md'} and {source.parent / 'latency.png'}")
