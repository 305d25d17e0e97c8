"""Policies side by side: each run's numbers grouped by the policy that scaled it, their spread
over repeats, and a ranking that says when two policies are within each other's spread.

Pure: it reads the statistics ``stats.run_statistics`` made (one dict per run) and returns
``compare.json``'s ``policies`` and ``ranking``; ``plots.policy_figure`` draws them.
"""

from __future__ import annotations

import statistics as pystats
from collections.abc import Sequence
from typing import Any

MEASURES = (
    ("replica_seconds", "replica-s", "replica-seconds provisioned (ready or starting)"),
    ("replica_seconds_per_1000_ok", "replica-s / 1k ok", "replica-seconds per 1,000 ok"),
    ("slo_violation_seconds", "SLO-violated s", "seconds whose arrivals broke the SLO"),
    ("recovery_s", "recovery s", "SLO recovery after the largest load increase (s)"),
    ("p50_ms", "p50 ms", "ok latency p50, from the intended send (ms)"),
    ("p95_ms", "p95 ms", "ok latency p95 (ms)"),
    ("p99_ms", "p99 ms", "ok latency p99 (ms)"),
    ("failed", "failed", "requests not ok (every kind)"),
    ("scale_events", "scale events", "decisions that changed the count"),
    ("reaction_s", "reaction s", "first scale-up: load change to replicas ready (s)"),
    ("replicas_max", "max replicas", "most ready replicas"),
)


def policy_of(stats: dict[str, Any]) -> str:
    return str(stats["run"].get("policy") or "cpu")


def configuration_of(stats: dict[str, Any], with_engine: bool) -> str:
    """The group a run belongs to: its policy, and its engine when the runs compared differ in it
    (``keras`` against ``litert`` under the same policy are two configurations, not repeats); a
    simulated run is never a repeat of a measured one."""
    engine = stats["run"].get("engine") or "unknown engine"
    name = f"{policy_of(stats)} · {engine}" if with_engine else policy_of(stats)
    return f"{name} · simulated" if stats["run"].get("backend") == "simulated" else name


def run_measures(stats: dict[str, Any]) -> dict[str, float | None]:
    """One run's numbers for the comparison."""
    scaling = stats["autoscaling"]
    ok = stats["latency_ms"]["ok"]["from_intended"]
    increases = [r for r in stats["slo_recovery"] if r["to_rps"] > r["from_rps"]]
    largest = max(increases, key=lambda r: r["to_rps"] - r["from_rps"], default=None)
    ups = [e for e in scaling["scale_events"] if e["to"] > e["from"] and e["reaction_s"] is not None]
    counts = stats["counts"]
    recovery: float | None = None
    if largest is not None:
        # Not recovered while the level lasted: the whole level counts (a lower bound, said so).
        recovery = (
            largest["recovered_after_s"]
            if largest["recovered_after_s"] is not None
            else float(largest["violated_seconds"])
        )
    return {
        "replica_seconds": scaling["replica_seconds"],
        "replica_seconds_per_1000_ok": scaling["replica_seconds_per_1000_ok"],
        "slo_violation_seconds": float(stats["slo"]["seconds_violated"]),
        "recovery_s": recovery,
        "p50_ms": ok["p50"],
        "p95_ms": ok["p95"],
        "p99_ms": ok["p99"],
        "failed": float(sum(n for kind, n in counts.items() if kind != "ok")),
        "scale_events": float(len(scaling["scale_events"])),
        "reaction_s": ups[0]["reaction_s"] if ups else None,
        "replicas_max": scaling["replicas_max"],
    }


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    known = [float(v) for v in values if v is not None]
    if not known:
        return {"median": None, "min": None, "max": None, "values": list(values)}
    return {"median": pystats.median(known), "min": min(known), "max": max(known), "values": list(values)}


def failures_by_kind(runs: Sequence[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for stats in runs:
        for kind, n in stats["counts"].items():
            if kind != "ok" and n:
                total[kind] = total.get(kind, 0) + n
    return total


def compare_policies(all_stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{"policies": {name: {...}}, "ranking": [...], "notes": [...]}`` for compare.json."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    with_engine = len({s["run"].get("engine") for s in all_stats}) > 1
    for stats in all_stats:
        grouped.setdefault(configuration_of(stats, with_engine), []).append(stats)
    policies: dict[str, dict[str, Any]] = {}
    for name, runs in grouped.items():
        measured = [run_measures(s) for s in runs]
        policies[name] = {
            "runs": [s["run"]["path"] for s in runs],
            "measures": {key: spread([m[key] for m in measured]) for key, _, _ in MEASURES},
            "failures_by_kind": failures_by_kind(runs),
            "scale_events": [s["autoscaling"]["scale_events"] for s in runs],
        }
    load = same_load(all_stats)
    ranking = rank(policies) if load["identical"] is not False else []
    said = notes(policies, ranking)
    if load["identical"] is False:  # a fingerprint each, and they differ
        counts = ", ".join(f"#{i}: {n:,}" for i, n in enumerate(load["requests"], 1))
        said.insert(0, f"not ranked: the runs were sent different loads (requests {counts}), so their "
                       "differences are not the policies'; rank runs of one `mlscale compare`")  # fmt: skip
    elif load["identical"] is None:
        said.insert(0, "the runs' loads could not be checked (a run has no schedule fingerprint): "
                       "ranked as if they were the same")  # fmt: skip
    if load["identical"] is not False:
        oracle = next((name for name in policies if name.split(" · ")[0] == "oracle"), None)
        if oracle is not None:
            for name, entry in policies.items():
                entry["replica_seconds_x_oracle"] = ratio(policies, "replica_seconds", name, oracle)
        said.extend(against_oracle(policies, oracle))
    return {"policies": policies, "ranking": ranking, "notes": said, "load": load}


def against_oracle(policies: dict[str, dict[str, Any]], oracle: str | None) -> list[str]:
    """In words: each policy's median replica-seconds as a multiple of the oracle's (each entry's
    ``replica_seconds_x_oracle``, the denominator of every "x oracle"), and any policy that beat
    the oracle, which a lower bound must not allow: then its model did not hold in these runs."""
    if oracle is None:
        return []
    said = []
    bound = policies[oracle]["measures"]
    for name, entry in policies.items():
        times = entry.get("replica_seconds_x_oracle")
        if name == oracle or times is None:
            continue
        broken = entry["measures"]["slo_violation_seconds"]["median"]
        if times < 1 and broken is not None and broken <= (bound["slo_violation_seconds"]["median"] or 0):
            said.append(f"{name} used {times:.2f}x the oracle's replica-seconds at no more SLO-broken "
                        "seconds: the oracle's model (one replica's flat-out capacity, its start-up) did "
                        "not hold in these runs")  # fmt: skip
    multiples = ", ".join(f"{n} {e['replica_seconds_x_oracle']:.2f}x" for n, e in policies.items()
                          if n != oracle and e.get("replica_seconds_x_oracle") is not None)  # fmt: skip
    return ([f"replica-seconds against the oracle's (median): {multiples}"] if multiples else []) + said


def same_load(all_stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Whether every run was sent the identical schedule (request count, intended send times and
    images, as their fingerprints say): True, False, or None when a run has no fingerprint."""
    prints = [s["run"].get("schedule") for s in all_stats]
    known = [p for p in prints if p]
    identical = None if len(known) < len(prints) else len({p["sha256"] for p in known}) == 1
    return {
        "identical": identical,
        "requests": [p["requests"] if p else None for p in prints],
        "sha256": [p["sha256"] if p else None for p in prints],
        "requests_per_unit": [s["run"].get("requests_per_unit") for s in all_stats],
    }


def _key(entry: dict[str, Any], measure: str) -> float:
    median = entry["measures"][measure]["median"]
    return float("inf") if median is None else float(median)


def rank(policies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Fewest SLO-violated seconds first, then fewest replica-seconds; the oracle is a yardstick,
    ranked like the rest but marked. Each entry says whether it is within the spread of the one
    above it (their ranges of SLO-violated seconds overlap, or of replica-seconds when tied)."""
    order = sorted(policies, key=lambda p: (_key(policies[p], "slo_violation_seconds"),
                                            _key(policies[p], "replica_seconds")))  # fmt: skip
    ranked = []
    for place, name in enumerate(order, 1):
        entry = {"place": place, "policy": name, "yardstick": name.split(" · ")[0] == "oracle"}
        if place > 1:
            above = policies[order[place - 2]]["measures"]
            here = policies[name]["measures"]
            entry["within_spread_of_above"] = _overlap(above["slo_violation_seconds"],
                                                       here["slo_violation_seconds"])  # fmt: skip
        ranked.append(entry)
    return ranked


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    known = [sum(v is not None for v in m["values"]) for m in (a, b)]
    if min(known) < 2:
        return True  # no spread is known: not shown to be a difference
    return bool(a["min"] <= b["max"] and b["min"] <= a["max"])


def ratio(policies: dict[str, dict[str, Any]], measure: str, of: str, to: str) -> float | None:
    """Median ``measure`` of policy ``of`` over that of ``to`` (None when either is missing or 0)."""
    if of not in policies or to not in policies:
        return None
    a, b = policies[of]["measures"][measure]["median"], policies[to]["measures"][measure]["median"]
    return a / b if a is not None and b else None


def notes(policies: dict[str, dict[str, Any]], ranking: Sequence[dict[str, Any]]) -> list[str]:
    """What a reader should not over-read, in words."""
    said = []
    repeats = {len(p["runs"]) for p in policies.values()}
    if repeats == {1}:
        said.append("one run per policy: no spread is known, so no difference here is shown to be real "
                    "(use --repeat 3)")  # fmt: skip
    for entry in ranking:
        if entry.get("within_spread_of_above"):
            above = ranking[entry["place"] - 2]["policy"]
            said.append(f"{entry['policy']} and {above}: their SLO-broken seconds overlap across repeats; "
                        "the difference is within the spread")  # fmt: skip
    return said
