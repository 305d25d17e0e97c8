"""``--prometheus URL --query Q``: a request rate read from a real Prometheus (Debian's, on 127.0.0.1)
holding a recorded counter (backfilled by promtool), and the rate the workload offers is the one
recorded, minute by minute."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from mlscale.cli import app
from mlscale.workload import per_second_counts
from mlscale.workload.source import SourceOptions, resolve
from tests.prometheus import Prometheus, backfill, prometheus_binary

PHASES = ((20, 10.0), (20, 30.0), (20, 10.0))
"""(minutes, requests/s): the recorded shop's traffic, an hour, sampled every 15 s."""
runner = CliRunner()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, int]]:
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("prometheus is not on PATH (apt-get install prometheus)")
    workdir = tmp_path_factory.mktemp("prometheus")
    start = int(time.time()) // 60 * 60 - 3 * 3600  # three hours ago: inside the retention, not the head
    lines = ["# HELP http_requests Requests served.", "# TYPE http_requests counter"]
    total, at = 0.0, start
    for minutes, rate in PHASES:
        for _ in range(minutes * 4):
            lines.append(f'http_requests_total{{job="shop",instance="a"}} {total:g} {at}')
            total, at = total + rate * 15, at + 15
    lines += [f'http_requests_total{{job="shop",instance="a"}} {total:g} {at}', "# EOF"]
    backfill(binary, "\n".join(lines) + "\n", workdir)
    server = Prometheus(binary, None, workdir)
    try:
        yield server, start
    finally:
        server.stop()


def test_a_rate_is_read_from_prometheus_minute_by_minute(recorded: tuple[Prometheus, int]) -> None:
    server, start = recorded
    query = "sum(rate(http_requests_total[1m]))"
    options = SourceOptions(prometheus=server.url, query=query, start=str(start + 60), end=str(start + 3600))
    workload, answer = resolve(options)
    assert answer is not None
    assert json.loads(answer)["data"]["resultType"] == "matrix"
    assert workload.step_seconds == 60
    # The sample at start + 60 (k + 1) is the rate over minute k of the recording.
    expected = [rate for minutes, rate in PHASES for _ in range(minutes)]
    assert len(workload.rates) == len(expected) == 60
    # rate() over a window that meets a change may mix the two; every other minute is exact.
    near_changes = {19, 20, 39, 40}
    for minute, (got, want) in enumerate(zip(workload.rates, expected, strict=True)):
        if minute not in near_changes:
            assert got == pytest.approx(want, rel=1e-6), minute
    assert sum(per_second_counts(workload)) == pytest.approx(sum(r * 60 for r in workload.rates), abs=1)
    assert workload.source["label"] == f"Prometheus {query}"
    assert workload.source["url"] == server.url


def test_workload_show_reads_prometheus_and_bad_queries_exit_2(recorded: tuple[Prometheus, int]) -> None:
    server, start = recorded
    arguments = ["workload", "show", "--prometheus", server.url, "--start", str(start + 60),
                 "--end", str(start + 3600), "--step", "1m"]  # fmt: skip
    shown = runner.invoke(app, [*arguments, "--query", "sum(rate(http_requests_total[1m]))"])
    assert shown.exit_code == 0, shown.output
    assert "peak            30 requests/s in one second" in shown.output
    bad = runner.invoke(app, [*arguments, "--query", "sum(rate(http_requests_total[1m])"])
    assert bad.exit_code == 2, bad.output
    assert "said 400" in bad.output
    empty = runner.invoke(app, [*arguments, "--query", "sum(rate(no_such_metric[1m]))"])
    assert empty.exit_code == 2, empty.output
    assert "returned no series" in empty.output
    gone = runner.invoke(app, ["workload", "show", "--prometheus", "http://127.0.0.1:9", "--query", "up"])
    assert gone.exit_code == 2
    assert "did not answer" in gone.output
