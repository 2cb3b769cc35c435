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
    configs = results["configs"]
    parley = [r for r in rows if r["config"] != BASELINE and is_parley(r["config"], configs[r["config"]])]
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
    big = [
        (n, e["rooms"]["1000"])
        for n, e in results["configs"].items()
        if "1000" in (e.get("rooms") or {}) and (n == BASELINE or is_parley(n, e))
    ]
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
    idle_measured = [
        (n, i)
        for n, _, i in idle_entries(results)
        if "connected" in i and (n == BASELINE or is_parley(n, results["configs"].get(n, {})))
    ]
    if idle_measured:
        lines.append("")
        lines.append("**(c) 10,000 idle connections per process, under 60 KiB each:**")
        for name, idle in idle_measured:
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
        *peer_tables(results),
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
    out += ["", "## Targets (issue 19)", "", *(issue19_targets(results) or ["(none measured in this run)"])]
    earlier = targets(results)
    if earlier:
        out += ["", "## Earlier targets", "", *earlier]
    idle_measured = [(n, c, i) for n, c, i in idle_entries(results) if "connected" in i]
    if idle_measured:
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
        for name, _, i in idle_measured:
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
    out += thread_table(results)
    out += awareness_tables(results)
    profiles = [p for p in (results.get("profiles") or [results.get("profile")]) if p and p.get("top")]
    if profiles:
        out += ["", "## Profiles", ""]
        for found in profiles:
            svg, md = found.get("svg", "profile.svg"), found.get("markdown", "profile.md")
            out.append(
                f"- {found.get('config', 'daphne-memory-sqlite')}, room of {found['room']:,} at "
                f"{found['rate_msgs']:g} msg/s: {md}, {svg}"
            )
    return "\n".join(out) + "\n"


def thread_table(results: dict) -> list[str]:
    """The steps that sent thread replies (--thread-share): the replies, the roots'
    `message.updated` frames each member received (the fewest and most at one member; per
    reply, fewer than one when group commit folded several replies to a root into one update),
    the server's CPU per delivery and per frame (deliveries and root updates), and the other
    frames the members were sent (reply notifications, follows)."""
    rows = [
        (name, size, s)
        for name, entry in results["configs"].items()
        for size, room in (entry.get("rooms") or {}).items()
        for s in room["steps"]
        if s.get("replies_sent")
    ]
    if not rows:
        return []
    out = [
        "",
        "## Thread replies",
        "",
        *header(
            [
                "configuration",
                "room",
                "step",
                "msg/s",
                "replies",
                "root updates per member",
                "per reply",
                "server µs/delivery",
                "server µs/frame",
                "other frames",
                "result",
            ],
            "lrlrrrrrrll",
        ),
    ]
    for name, size, s in rows:
        low, high = s["root_updates_per_member"]
        per_member = f"{low:,}" if low == high else f"{low:,}–{high:,}"
        others = ", ".join(f"{k} {v:,}" for k, v in sorted(s.get("other_frames", {}).items())) or "—"
        verdict = "pass" if s["pass"] else ("gen-bound" if s["generator_bound"] else "FAIL")
        if s.get("superseded"):
            verdict += ", noisy: rerun"
        out.append(
            f"| {name} | {int(size):,} | {s['label']} | {s['rate_msgs']:g} | {s['replies_sent']:,} | "
            f"{per_member} | {high / s['replies_sent']:.2f} | {_num(s.get('server_us_per_delivery'), 1)} | "
            f"{_num(s.get('server_us_per_frame'), 1)} | {others} | {verdict} |"
        )
    return out


# --- Awareness on against off (issue 13) ---------------------------------------------------------

AWARENESS_SUFFIX = " awareness-"


def awareness_variants(results: dict) -> dict[str, dict[str, dict]]:
    """{configuration: {mode: its entry}} for the configurations run with --awareness."""
    found: dict[str, dict[str, dict]] = {}
    for name, entry in results["configs"].items():
        mode = entry.get("awareness")
        if mode and name.endswith(AWARENESS_SUFFIX + mode):
            found.setdefault(name[: -len(AWARENESS_SUFFIX + mode)], {})[mode] = entry
    return found


def _us_at(room: dict, rate: float) -> dict | None:
    """The step that counts at `rate` (a ladder rung or fixed rate): not one superseded by a rerun."""
    steps = [
        s for s in room.get("steps", []) if abs(s["rate_msgs"] - rate) < 1e-6 and not s.get("superseded")
    ]
    return steps[-1] if steps else None


def awareness_comparison(results: dict) -> list[dict]:
    """Per configuration and room: each mode's knee, and at every rate all its modes ran, each
    mode's server µs per delivery (and whether that step passed)."""
    rows = []
    for base, modes in awareness_variants(results).items():
        order = [m for m in ("off", "reads", "noreads", "on") if m in modes]
        sizes = sorted({int(size) for entry in modes.values() for size in (entry.get("rooms") or {})})
        for size in sizes:
            rooms = {m: (modes[m].get("rooms") or {}).get(str(size)) or {} for m in order}
            rates = None
            for room in rooms.values():
                mine = {s["rate_msgs"] for s in room.get("steps", []) if s["label"] in ("ladder", "fixed")}
                rates = mine if rates is None else rates & mine
            rows.append(
                {
                    "config": base,
                    "size": size,
                    "modes": order,
                    "knee": {m: rooms[m].get("knee_rate_msgs") for m in order},
                    "near_knee_us": {m: near_knee_us(rooms[m]) for m in order},
                    "at": {rate: {m: _us_at(rooms[m], rate) for m in order} for rate in sorted(rates or ())},
                }
            )
    return rows


def awareness_tables(results: dict) -> list[str]:
    """--awareness: the knees and the server's µs per delivery at the same rates, mode by mode;
    then every step of the "on" runs with what the members sent and received as browsers."""
    rows = awareness_comparison(results)
    if not rows:
        return []
    out = ["", "## Awareness: on against off", ""]
    out.append(
        "Server µs per delivery at each rate every mode ran (a step that failed is marked ✗); "
        "on/off is the ratio of the two."
    )
    for row in rows:
        modes = row["modes"]
        paired = {"on", "off"} <= set(modes)

        def ratio(on, off, paired=paired) -> str:
            if not paired:
                return ""
            return f" | {on / off:.2f}" if on and off else " | —"

        out += ["", f"**{row['config']}, room of {row['size']:,}**", ""]
        names = ["msg/s", *[f"{m}: µs/delivery" for m in modes], *(["on/off"] if paired else [])]
        out += header(names, "r" * len(names))
        knee, near = row["knee"], row["near_knee_us"]
        cells = " | ".join(_num(knee[m], 1) for m in modes)
        out.append(f"| knee msg/s | {cells}{ratio(knee.get('on'), knee.get('off'))} |")
        cells = " | ".join(_num(near[m], 1) for m in modes)
        out.append(f"| µs near the knee | {cells}{ratio(near.get('on'), near.get('off'))} |")
        for rate, steps in row["at"].items():
            us = {m: (steps[m] or {}).get("server_us_per_delivery") for m in modes}
            cells = " | ".join(
                _num(us[m], 1) + ("" if steps[m] is None or steps[m]["pass"] else " ✗") for m in modes
            )
            out.append(f"| {rate:g} | {cells}{ratio(us.get('on'), us.get('off'))} |")
    steps = [
        (name, size, s)
        for name, entry in results["configs"].items()
        if entry.get("awareness") in ("on", "reads", "noreads")
        for size, room in (entry.get("rooms") or {}).items()
        for s in room["steps"]
    ]
    if steps:
        out += [
            "",
            "What the members sent as browsers during each step, and the awareness frames they "
            "received (counted by type, never parsed; no deliveries):",
            "",
            *header(
                [
                    "configuration",
                    "room",
                    "step",
                    "msg/s",
                    "typing.start sent",
                    "room.read sent",
                    "presence.set sent",
                    "awareness frames received",
                    "per message",
                    "server µs/delivery",
                    "server µs/frame (all)",
                    "gen CPU",
                    "gen µs/delivery",
                    "other CPU",
                    "result",
                ],
                "lrlrrrrlrrrrrrl",
            ),
        ]
        for name, size, s in steps:
            kinds = {k: v for k, v in s.get("other_frames", {}).items() if k in AWARENESS_KINDS}
            received = ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())) or "—"
            per_message = sum(kinds.values()) / s["messages_sent"] if s["messages_sent"] else None
            verdict = "pass" if s["pass"] else ("gen-bound" if s["generator_bound"] else "FAIL")
            if s.get("superseded"):
                verdict += ", noisy: rerun"
            out.append(
                f"| {name} | {int(size):,} | {s['label']} | {s['rate_msgs']:g} | "
                f"{s.get('typing_sent', 0):,} | {s.get('reads_sent', 0):,} | {s.get('presence_sent', 0):,} | "
                f"{received} | "
                f"{_num(per_message, 1)} | {_num(s.get('server_us_per_delivery'), 1)} | "
                f"{_num(s.get('server_us_per_any_frame'), 1)} | {_pct(s['generator_cpu'])} | "
                f"{_num(s.get('generator_us_per_delivery'), 2)} | {_pct(s['other_cpu'])} | {verdict} |"
            )
    return out


AWARENESS_KINDS = ("typing.started", "typing.stopped", "presence.changed", "receipts.changed", "room.read")


# --- Against the peers (issue 19) ----------------------------------------------------------------

PEERS = ("ejabberd-muc", "synapse-sqlite", "synapse-postgres")
EMBEDDED = "uvicorn-memory-sqlite"
PRODUCTION = "uvicorn-pubsub-postgres"
TWO_PROCESSES = "uvicorn-pubsub-postgres-x2"
IDLE_TARGET_KIB = 30.0


def is_parley(name: str, entry: dict) -> bool:
    """One of Parley's configurations (not the baseline, not a peer)."""
    return name != BASELINE and name not in PEERS and entry.get("server") not in ("synapse", "ejabberd")


def idle_entries(results: dict) -> list[tuple[str, int, dict]]:
    """(configuration, connections requested, result) of every idle measure. A configuration's
    entry is {count: result} (several counts), or one result (results.json before issue 19)."""
    found = []
    for name, entry in (results.get("idle") or {}).items():
        by_count = {entry.get("requested", 0): entry} if "requested" in entry else entry
        for count, result in by_count.items():
            found.append((name, int(count), result))
    return sorted(
        found,
        key=lambda e: (list(results["configs"]).index(e[0]) if e[0] in results["configs"] else 99, e[1]),
    )


def near_knee_us(room: dict) -> float | None:
    """Server µs per delivery near the knee: the median over the passing steps at half the knee's
    rate or more (the knee, the refinements, 80 % of it); the fixed rates' best passing step."""
    passing = [s for s in room.get("steps", []) if s["pass"] and s.get("server_us_per_delivery")]
    if not passing:  # not one step passed: what the failing ones cost
        costs = sorted(
            s["server_us_per_delivery"]
            for s in room.get("steps", [])
            if s.get("server_us_per_delivery") and not s.get("superseded") and s["label"] != "warm-up"
        )
        return costs[len(costs) // 2] if costs else None
    top = max(s["rate_msgs"] for s in passing)
    costs = sorted(s["server_us_per_delivery"] for s in passing if s["rate_msgs"] >= top / 2)
    return costs[len(costs) // 2]


def peer_rows(results: dict) -> list[dict]:
    """One row per room size and configuration: knee, µs per delivery near it; a configuration
    with no figures for a size (failed, or not run) says why."""
    sizes = sorted({int(s) for e in results["configs"].values() for s in (e.get("rooms") or {})})
    sizes = sizes or [int(s) for s in results.get("settings", {}).get("sizes", [])]
    rows = []
    for size in sizes:
        for name, entry in results["configs"].items():
            room = (entry.get("rooms") or {}).get(str(size))
            row = {"config": name, "size": size, "parley": is_parley(name, entry)}
            if room is None:
                why = (
                    entry.get("not_run", {}).get(str(size))
                    if isinstance(entry.get("not_run"), dict)
                    else None
                )
                error = (entry.get("error") or "").strip().splitlines()
                row["not_run"] = why or (f"failed: {error[0][:160]}" if error else "not measured")
            else:
                reason = room.get("first_fail_reason", "")
                best = max(
                    (s for s in room.get("steps", []) if s["pass"]),
                    key=lambda s: s["rate_msgs"],
                    default=None,
                )
                row.update(
                    # The fixed rates (no ladder, no knee): the best passing one.
                    knee_rate=room.get("knee_rate_msgs") or (best["rate_msgs"] if best else None),
                    knee=room.get("knee_deliveries_per_s") or room.get("best_passing_deliveries_per_s"),
                    lower_bound="generator saturated" in reason,
                    first_fail=room.get("first_fail_rate_msgs"),
                    reason=reason,
                    us=near_knee_us(room),
                )
            rows.append(row)
    return rows


def _knee_cell(row: dict, key: str, digits: int = 0) -> str:
    value = row.get(key)
    if value is None:
        first = row.get("first_fail")
        return f"< {first:,.3g} msg/s" if key == "knee_rate" and first else "—"
    return ("≥ " if row.get("lower_bound") else "") + _num(value, digits)


def idle_by_config(results: dict) -> dict[str, dict[int, dict]]:
    found: dict[str, dict[int, dict]] = {}
    for name, count, result in idle_entries(results):
        found.setdefault(name, {})[count] = result
    return found


def peer_tables(results: dict) -> list[str]:
    """The report's lead: every configuration at every room size, then the idle connections."""
    out = [
        "## Against the peers",
        "",
        "Knee: the highest rate with p99 ≤ 100 ms and nothing lost (≥: the generator saturated "
        "first, a lower bound; with fixed rates, the highest that passed). µs/delivery: the "
        "server's CPU per delivery near the knee (the "
        "passing steps at half its rate or more). peers.png draws both.",
        "",
        *header(["room", "configuration", "knee msg/s", "knee deliveries/s", "server µs/delivery"], "rlrrr"),
    ]
    for r in peer_rows(results):
        name = f"**{r['config']}**" if r["parley"] else r["config"]
        if "not_run" in r:
            out.append(f"| {r['size']:,} | {name} | not run: {r['not_run']} | — | — |")
            continue
        out.append(
            f"| {r['size']:,} | {name} | {_knee_cell(r, 'knee_rate', 1)} | {_knee_cell(r, 'knee')} | "
            f"{_num(r['us'], 1 if r['us'] is not None and r['us'] < 100 else 0)} |"
        )
    idle = idle_by_config(results)
    if idle:
        counts = sorted({c for by_count in idle.values() for c in by_count})
        names = ["configuration"]
        for count in counts:
            names += [f"KiB/member at {count:,}", f"connects/s at {count:,}"]
        out += [
            "",
            "Idle connections: a fresh server, members logged in (Parley: `hello` received; ejabberd: "
            "joined their MUC room; Synapse: long-polling `/sync`) in rooms of 100, then left idle; "
            "the server's RSS growth per member, and members connected per second.",
            "",
            *header(names, "l" + "rr" * len(counts)),
        ]
        for name, by_count in idle.items():
            cells = []
            for count in counts:
                result = by_count.get(count)
                if result is None:
                    cells += ["—", "—"]
                elif result.get("not_run") or result.get("error"):
                    why = result.get("not_run") or "failed: " + result["error"].strip().splitlines()[0][:120]
                    cells += [f"not run: {why}", "—"]
                else:
                    cells += [_num(result.get("kib_per_connection"), 1), _num(result.get("connects_per_s"))]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    scaling = two_process_scaling(results)
    if scaling:
        out += [
            "",
            f"Two processes ({TWO_PROCESSES}: two uvicorn processes, one per core, the members split "
            f"between them, the generator sharing the cores) against one ({PRODUCTION}, same run):",
            "",
            *header(
                ["room", "one process deliveries/s", "two processes deliveries/s", "scaling factor"], "rrrr"
            ),
        ]
        for size, one, two, factor in scaling:
            out.append(
                f"| {size:,} | {_num(one)} | {_num(two)} | {'—' if factor is None else f'{factor:.2f}×'} |"
            )
    return out


def two_process_scaling(results: dict) -> list[tuple[int, float | None, float | None, float | None]]:
    """(size, one process's knee deliveries/s, two processes', two / one) per room size."""
    rows = {(r["config"], r["size"]): r for r in peer_rows(results)}
    found = []
    for (name, size), row in sorted(rows.items(), key=lambda i: i[0][1]):
        if name != TWO_PROCESSES:
            continue
        one = rows.get((PRODUCTION, size), {}).get("knee")
        two = row.get("knee")
        found.append((size, one, two, (two / one) if one and two else None))
    return found


def _verdict(ok: bool | None) -> str:
    return "**undecided**" if ok is None else ("**met**" if ok else "**not met**")


def issue19_targets(results: dict) -> list[str]:
    """Issue 19's targets, each marked met or not from this run's figures."""
    rows = [r for r in peer_rows(results) if "not_run" not in r]
    by = {(r["config"], r["size"]): r for r in rows}
    sizes = sorted({r["size"] for r in rows})
    parley = [
        n
        for n, e in results["configs"].items()
        if is_parley(n, e) and e.get("processes", 1) == 1 and e.get("server") != "daphne"
    ]
    peers = [n for n in results["configs"] if n in PEERS]
    lines = []
    if parley and peers:
        lines.append(
            "**Parley ahead of both peers at every room size, on knee deliveries/s and µs/delivery:**"
        )
        for size in sizes:
            for name in parley:
                mine = by.get((name, size))
                if mine is None:
                    continue
                knee_parts, us_parts, knee_oks, us_ok = [], [], [], True
                for peer in peers:
                    other = by.get((peer, size))
                    if other is None:
                        continue
                    knee_oks.append(_ahead(mine, other))
                    ratio = (mine["knee"] / other["knee"]) if mine.get("knee") and other.get("knee") else None
                    knee_parts.append(
                        f"{peer} {_knee_cell(other, 'knee')}" + (f" ({ratio:.2g}×)" if ratio else "")
                    )
                    if other["us"] is None:
                        # The peer delivered nothing at any step: no CPU per delivery to compare.
                        us_parts.append(f"{peer} — (no passing step)")
                        continue
                    cheaper = mine["us"] is not None and mine["us"] < other["us"]
                    us_ok = us_ok and cheaper
                    us_parts.append(f"{peer} {_num(other['us'], 1)}")
                knee_ok = False if False in knee_oks else (None if None in knee_oks else True)
                lines.append(
                    f"- room of {size:,}, {name}: knee {_knee_cell(mine, 'knee')} deliveries/s vs "
                    f"{', '.join(knee_parts)} → {_verdict(knee_ok)}; µs/delivery {_num(mine['us'], 1)} vs "
                    f"{', '.join(us_parts)} → {_verdict(us_ok)}"
                )
    if parley and any(r["config"] == BASELINE for r in rows):
        lines += ["", "**Server µs per delivery at most 2× the bare server's, at every room size:**"]
        for size in sizes:
            base = by.get((BASELINE, size))
            for name in parley:
                mine = by.get((name, size))
                if not mine or not base or mine["us"] is None or not base["us"]:
                    continue
                ratio = mine["us"] / base["us"]
                lines.append(
                    f"- room of {size:,}, {name}: {_num(mine['us'], 1)} vs {_num(base['us'], 1)} µs = "
                    f"{ratio:.1f}× → {_verdict(ratio <= 2)}"
                )
        lines += ["", "**≥ 50 % of the bare server's deliveries/s at the knee (rooms of 10 and 1,000 too):**"]
        for size in sizes:
            base = by.get((BASELINE, size))
            for name in parley:
                mine = by.get((name, size))
                if not mine or not base or not base.get("knee"):
                    continue
                share = (mine.get("knee") or 0) / base["knee"]
                note = (
                    " (the baseline generator-bound: its knee is higher, the share lower)"
                    if base["lower_bound"]
                    else ""
                )
                lines.append(
                    f"- room of {size:,}, {name}: {_knee_cell(mine, 'knee')} of {_knee_cell(base, 'knee')} = "
                    f"{share:.0%}{note} → {_verdict(share >= 0.5)}"
                )
    if any(r["config"] == PRODUCTION for r in rows) and any(r["config"] == EMBEDDED for r in rows):
        lines += [
            "",
            f"**PostgreSQL + Redis pub/sub ({PRODUCTION}) within 80 % of the embedded default's "
            "deliveries/s:**",
        ]
        for size in sizes:
            prod, embedded = by.get((PRODUCTION, size)), by.get((EMBEDDED, size))
            if not prod or not embedded or not embedded.get("knee"):
                continue
            share = (prod.get("knee") or 0) / embedded["knee"]
            lines.append(
                f"- room of {size:,}: {_knee_cell(prod, 'knee')} of {_knee_cell(embedded, 'knee')} = "
                f"{share:.0%} → {_verdict(share >= 0.8)}"
            )
    idle = [
        (n, c, r)
        for n, c, r in idle_entries(results)
        if n in results["configs"] and is_parley(n, results["configs"][n])
    ]
    measured = [(n, c, r) for n, c, r in idle if r.get("kib_per_connection") is not None]
    if measured:
        lines += ["", f"**Idle connections: ≤ {IDLE_TARGET_KIB:g} KiB per connection:**"]
        for name, count, result in measured:
            kib = result["kib_per_connection"]
            lines.append(
                f"- {name}, {result['connected']:,} of {count:,} connected: {kib:.1f} KiB each → "
                f"{_verdict(kib <= IDLE_TARGET_KIB and result['connected'] == count)}"
            )
    scaling = two_process_scaling(results)
    if scaling:
        lines += ["", "**Two server processes deliver more than one (the scaling factor):**"]
        for size, one, two, factor in scaling:
            lines.append(
                f"- room of {size:,}: {_num(two)} vs {_num(one)} deliveries/s = "
                f"{'—' if factor is None else f'{factor:.2f}×'} → "
                f"{_verdict(None if factor is None else factor > 1)}"
            )
    return lines


def _ahead(mine: dict, other: dict) -> bool | None:
    """Is Parley's knee above the peer's? None when a generator-bound lower bound leaves it open."""
    a, b = mine.get("knee") or 0, other.get("knee") or 0
    if a > b:
        return None if other["lower_bound"] else True
    if mine["lower_bound"] and a >= b:
        return None
    return False


def plot_peers(results: dict, path: Path) -> bool:
    """peers.png: knee deliveries/s and server µs per delivery by room size, a bar per configuration
    (hatched: a generator-bound lower bound). False when there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in peer_rows(results) if "not_run" not in r]
    sizes = sorted({r["size"] for r in rows})
    names = [n for n in results["configs"] if any(r["config"] == n for r in rows)]
    if not sizes or not names:
        return False
    by = {(r["config"], r["size"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    colours = plt.get_cmap("tab10")
    width = 0.8 / len(names)
    for ax, key, label in (
        (axes[0], "knee", "knee deliveries/s (p99 ≤ 100 ms, nothing lost)"),
        (axes[1], "us", "server CPU µs per delivery near the knee (lower is better)"),
    ):
        for index, name in enumerate(names):
            xs, ys, hatches = [], [], []
            for position, size in enumerate(sizes):
                row = by.get((name, size))
                if row and row.get(key):
                    xs.append(position + (index - (len(names) - 1) / 2) * width)
                    ys.append(row[key])
                    hatches.append("//" if key == "knee" and row["lower_bound"] else "")
            bars = ax.bar(xs, ys, width, label=name, color=colours(index % 10))
            for bar, hatch in zip(bars, hatches, strict=True):
                bar.set_hatch(hatch)
        ax.set_yscale("log")
        values = [r[key] for r in rows if r.get(key)]
        if values:  # bars on a log axis start from its bottom: below the smallest, so it shows
            ax.set_ylim(bottom=min(values) / 3, top=max(values) * 2)
        ax.set_xticks(range(len(sizes)), [f"room of {s:,}" for s in sizes])
        ax.set_ylabel(label)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
    fig.suptitle(
        f"Parley against the peers ({results['machine']['nproc']} cores, {results['started'][:10]}); "
        "hatched: generator saturated first (a lower bound)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


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
        f"# py-spy profile: {found.get('config', 'daphne-memory-sqlite')} under load",
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
    plot_peers(data, source.parent / "peers.png")
    print(f"wrote {source.parent / 'results.md'}, {source.parent / 'latency.png'} and peers.png")
