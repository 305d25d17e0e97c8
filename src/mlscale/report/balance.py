"""Pure: how the load was shared between replicas, from the run's frames.

``per_replica`` is each replica's whole-run record (requests served, ready seconds, CPU);
``steady_share`` takes the longest stretch in which the same set of two or more replicas was
ready and gives each one's share of the requests that finished in it, against the fair 1/N:
a balancer that favours one replica shows as a large ``max_deviation``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def per_replica(requests: pd.DataFrame, replicas: pd.DataFrame) -> list[dict[str, Any]]:
    served = requests[requests["outcome"] == "ok"]["replica"].value_counts()
    total = int(served.sum())
    names = sorted(
        set(served.index) | set(replicas["replica"].dropna()) if len(replicas) else set(served.index)
    )
    rows = []
    for name in names:
        own = replicas[replicas["replica"] == name] if len(replicas) else replicas
        ready = own[own["ready"].fillna(False).astype(bool)] if len(own) else own
        cpu = ready["cpu_utilization"].dropna() if len(ready) else pd.Series(dtype=float)
        restarts = own["restarts"].dropna() if len(own) and "restarts" in own else pd.Series(dtype=float)
        rows.append(
            {
                "replica": str(name),
                "ok": int(served.get(name, 0)),
                "share": round(float(served.get(name, 0)) / total, 4) if total else None,
                "ready_s": len(ready),
                "cpu_utilization_mean": round(float(cpu.mean()), 1) if len(cpu) else None,
                "restarts": int(restarts.max()) if len(restarts) else 0,
            }
        )
    return rows


def steady_share(requests: pd.DataFrame, replicas: pd.DataFrame, start_at: float) -> dict[str, Any] | None:
    """Shares in the longest stretch with one unchanged set of >= 2 ready replicas (None: no such stretch)."""
    if not len(replicas):
        return None
    ready = replicas[replicas["ready"].fillna(False).astype(bool)]
    sets = ready.groupby("second")["replica"].apply(lambda names: frozenset(names))
    best: tuple[int, int, frozenset[str]] | None = None
    run_start, last = -2, -2
    previous: frozenset[str] = frozenset()
    for at, names in sets.items():
        second = int(at)
        if names != previous or second != last + 1:
            run_start, previous = second, names
        last = second
        if len(names) >= 2 and (best is None or last - run_start > best[1] - best[0]):
            best = (run_start, last, names)
    if best is None or best[1] - best[0] < 4:  # under 5 s is not a steady phase
        return None
    first, final, names = best
    ok = requests[requests["outcome"] == "ok"]
    finished = ok["completed_at"] - start_at
    window = ok[(finished >= first) & (finished < final + 1) & ok["replica"].isin(names)]
    counts = window["replica"].value_counts()
    total = int(counts.sum())
    if not total:
        return None
    fair = 1 / len(names)
    shares = {str(name): round(float(counts.get(name, 0)) / total, 4) for name in sorted(names)}
    return {
        "from_s": first,
        "to_s": final + 1,
        "replicas": len(names),
        "requests": total,
        "fair_share": round(fair, 4),
        "shares": shares,
        "max_deviation": round(max(abs(share - fair) / fair for share in shares.values()), 4),
    }
