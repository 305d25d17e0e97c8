"""Small samples of every workload format mlscale reads, made here (no trace can be downloaded on
this machine), in the published formats' exact layout: ``python -m tests.workload_samples`` writes
them into tests/data/workloads, and a test checks the checked-in files are what it writes."""

from __future__ import annotations

import hashlib
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent / "data" / "workloads"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


FUNCTIONS = [("owner-a", "app-a", "f-http", "http"), ("owner-a", "app-a", "f-queue", "queue"),
             ("owner-b", "app-b", "f-timer", "timer"), ("owner-b", "app-b", "f-http", "http"),
             ("owner-c", "app-c", "f-event", "event")]  # fmt: skip
"""Five functions of three apps, one with a timer's flat minute counts, the others diurnal."""


def azure_functions_2019(day: int) -> str:
    rng = random.Random(2019 + day)
    lines = ["HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(m) for m in range(1, 1441))]
    for index, (owner, app, function, trigger) in enumerate(FUNCTIONS):
        if day == 2 and index == 4:
            continue  # absent from day 2: it had no invocations that day
        mean = 3 + 10 * index
        counts = []
        for minute in range(1440):
            wave = 1 + 0.8 * math.cos(2 * math.pi * (minute - 14 * 60) / 1440)
            counts.append(1 if trigger == "timer" else max(0, round(rng.gauss(mean * wave, math.sqrt(mean)))))
        keys = [_hash(owner), _hash(app), _hash(app + function), trigger]
        lines.append(",".join([*keys, *map(str, counts)]))
    return "\n".join(lines) + "\n"


def azure_functions_2021() -> str:
    rng = random.Random(2021)
    rows = []
    for index, (_, app, function, _) in enumerate(FUNCTIONS[:3]):
        t = 0.0
        while t < 200:
            t += rng.expovariate(0.5 + index)
            duration = rng.lognormvariate(-2, 1)
            rows.append(
                (t + duration, f"{_hash(app)},{_hash(app + function)},{t + duration:.6f},{duration:.6f}")
            )
    rows.sort()
    return "app,func,end_timestamp,duration\n" + "\n".join(row for _, row in rows) + "\n"


def azure_llm() -> str:
    rng = random.Random(2023)
    at = datetime(2023, 11, 16, 18, 15, 46, tzinfo=UTC)
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for _ in range(400):
        at += timedelta(seconds=rng.expovariate(2.0))
        # Seven fractional digits, as the published files have them.
        stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f") + str(rng.randrange(10))
        lines.append(f"{stamp},{rng.randrange(20, 4000)},{rng.randrange(1, 600)}")
    return "\n".join(lines) + "\n"


def timestamps() -> str:
    rng = random.Random(7)
    t, lines = 1_796_000_000.0, ["timestamp,note"]
    for i in range(300):
        t += rng.expovariate(5.0 if 100 <= i < 200 else 1.5)
        lines.append(f"{t:.6f},request {i}")
    return "\n".join(lines) + "\n"


def prometheus_range() -> str:
    """What ``curl .../api/v1/query_range?query=sum(rate(http_requests_total[1m]))&step=60`` saves."""
    rng = random.Random(9)
    start = 1_796_000_000
    values = [
        [start + 60 * i, f"{max(0.0, 12 + 8 * math.sin(i / 10) + rng.gauss(0, 1)):.4f}"] for i in range(90)
    ]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "shop"}, "values": values}]}})  # fmt: skip


def samples() -> dict[str, str]:
    return {
        "invocations_per_function_md.anon.d01.csv": azure_functions_2019(1),
        "invocations_per_function_md.anon.d02.csv": azure_functions_2019(2),
        "AzureFunctionsInvocationTraceSample2021.txt": azure_functions_2021(),
        "AzureLLMInferenceTraceSample_conv.csv": azure_llm(),
        "request-times.csv": timestamps(),
        "prometheus-query-range.json": prometheus_range(),
    }


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, text in samples().items():
        (HERE / name).write_text(text)
        print(HERE / name)


if __name__ == "__main__":
    main()
