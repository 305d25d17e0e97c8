"""Every workload format mlscale reads, on the samples tests/workload_samples.py makes in the
published layouts: what each reads, and a malformed file refused with its line and column (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlscale.cli import app
from mlscale.errors import InputError, WorkloadError
from mlscale.workload import per_second_counts, planned_requests, saved, schedule
from mlscale.workload.source import SourceOptions, detect, resolve
from tests import workload_samples

DATA = workload_samples.HERE
DAY1 = DATA / "invocations_per_function_md.anon.d01.csv"
DAY2 = DATA / "invocations_per_function_md.anon.d02.csv"
AZURE_2021 = DATA / "AzureFunctionsInvocationTraceSample2021.txt"
LLM = DATA / "AzureLLMInferenceTraceSample_conv.csv"
TIMES = DATA / "request-times.csv"
PROMETHEUS = DATA / "prometheus-query-range.json"
runner = CliRunner()


def test_the_checked_in_samples_are_what_the_generator_writes() -> None:
    for name, text in workload_samples.samples().items():
        assert (DATA / name).read_text() == text, f"{name}: run python -m tests.workload_samples"


@pytest.mark.parametrize(
    ("path", "kind"),
    [(DAY1, "azure-functions-2019"), (AZURE_2021, "azure-functions-2021"), (LLM, "azure-llm"),
     (TIMES, "timestamps"), (PROMETHEUS, "prometheus"), (Path("workloads/spike.txt"), "rates")],
)  # fmt: skip
def test_the_format_is_told_by_the_first_line(path: Path, kind: str) -> None:
    assert detect(path.read_text()) == kind


def _day_totals(path: Path) -> list[int]:
    """Per-minute totals of every function of a day file, summed here independently of the reader."""
    lines = path.read_text().splitlines()[1:]
    rows = [[int(v) for v in line.split(",")[4:]] for line in lines]
    return [sum(column) for column in zip(*rows, strict=True)]


def test_azure_2019_days_in_sequence_keep_every_minutes_count() -> None:
    workload, _ = resolve(SourceOptions(files=(DAY1, DAY2)))
    assert workload.step_seconds == 60
    assert len(workload.rates) == 2 * 1440
    assert [round(rate * 60) for rate in workload.rates] == _day_totals(DAY1) + _day_totals(DAY2)
    assert workload.source["label"] == "Azure Functions 2019, days 1, 2, all functions"
    assert planned_requests(workload) == sum(_day_totals(DAY1)) + sum(_day_totals(DAY2))


def test_azure_2019_picks_a_function_an_app_or_the_top_n() -> None:
    lines = [line.split(",") for line in DAY1.read_text().splitlines()[1:]]
    by_function = {row[2]: [int(v) for v in row[4:]] for row in lines}
    busiest = max(by_function, key=lambda f: sum(by_function[f]))
    one, _ = resolve(SourceOptions(files=(DAY1,), pick=f"function={busiest}"))
    assert [round(r * 60) for r in one.rates] == by_function[busiest]
    app_hash = lines[0][1]
    app_rows = [[int(v) for v in row[4:]] for row in lines if row[1] == app_hash]
    assert len(app_rows) == 2
    app_workload, _ = resolve(SourceOptions(files=(DAY1,), pick=f"app={app_hash}"))
    assert [round(r * 60) for r in app_workload.rates] == [a + b for a, b in zip(*app_rows, strict=True)]
    top, _ = resolve(SourceOptions(files=(DAY1,), pick="top=1"))
    assert top.rates == one.rates
    with pytest.raises(InputError, match="no such function"):
        resolve(SourceOptions(files=(DAY1,), pick="function=feed"))


def test_azure_2021_arrives_at_end_minus_duration() -> None:
    rows = [line.split(",") for line in AZURE_2021.read_text().splitlines()[1:]]
    arrivals = sorted(float(end) - float(duration) for _, _, end, duration in rows)
    workload, _ = resolve(SourceOptions(files=(AZURE_2021,)))
    assert workload.times is not None
    assert len(workload.times) == len(rows)
    assert workload.times == pytest.approx([t - arrivals[0] for t in arrivals], abs=1e-9)
    assert schedule(workload) == list(workload.times)  # replayed at its own times


def test_azure_llm_replays_its_timestamps_with_seven_digit_fractions() -> None:
    workload, _ = resolve(SourceOptions(files=(LLM,)))
    assert workload.times is not None
    assert len(workload.times) == 400
    second = LLM.read_text().splitlines()[2].split(",")[0]  # e.g. 2023-11-16 18:15:47.1234567
    first = LLM.read_text().splitlines()[1].split(",")[0]
    expected = float(second[-9:-1]) - float(first[-9:-1])  # seconds and 6 digits, same minute mostly
    if second[:-10] == first[:-10]:
        assert workload.times[1] == pytest.approx(expected, abs=1e-6)
    assert "token counts are not replayed" in workload.description


def test_a_timestamp_csv_and_a_prometheus_answer() -> None:
    times, _ = resolve(SourceOptions(files=(TIMES,)))
    assert times.times is not None
    assert len(times.times) == 300
    assert times.times[0] == 0
    rates, _ = resolve(SourceOptions(files=(PROMETHEUS,)))
    values = json.loads(PROMETHEUS.read_text())["data"]["result"][0]["values"]
    assert rates.step_seconds == 60
    assert rates.rates == tuple(float(v) for _, v in values)


def test_window_speed_and_peak_compose_and_are_named() -> None:
    workload, _ = resolve(SourceOptions(files=(DAY1,), start="6h", duration="2h", speed=60, peak=2.5))
    minutes = _day_totals(DAY1)[360:480]
    assert workload.step_seconds == 1
    assert workload.unit == "replicas"
    assert max(per_second_counts(workload, scale=1000)) == round(2.5 * 1000)
    assert (
        workload.source["label"]
        == "Azure Functions 2019, day 1, all functions, 6h–8h, at 60×, peak 2.5 replicas"
    )
    unsized, _ = resolve(SourceOptions(files=(DAY1,), start="6h", duration="2h", speed=60))
    assert per_second_counts(unsized) == minutes  # one minute of the trace in each second


def test_a_window_must_cut_whole_steps_and_fall_inside() -> None:
    with pytest.raises(InputError, match="multiple"):
        resolve(SourceOptions(files=(DAY1,), start="90s"))
    with pytest.raises(InputError, match="outside"):
        resolve(SourceOptions(files=(DAY1,), start="25h"))


def test_a_saved_workload_reads_back_the_same() -> None:
    for options in (SourceOptions(files=(DAY1,), speed=60, peak=2), SourceOptions(files=(TIMES,), speed=2)):
        workload, _ = resolve(options)
        again = saved.loads(saved.dumps(workload), "w.json")
        assert again == workload
        assert again.source == workload.source
        back, _ = resolve(SourceOptions(files=(Path(_write(saved.dumps(workload))),)))
        assert back.source["label"] == workload.source["label"]


def _write(text: str) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        file.write(text)
    return file.name


HEADER_2019 = "HashOwner,HashApp,HashFunction,Trigger,1,2"
MALFORMED = [
    # (file name, content, where: ":line:column:", what the message says)
    ("d01.csv", "HashOwner,HashApp,HashFunc,Trigger,1,2\n", ":1:19:", "'HashFunction'"),
    ("d01.csv", f"{HEADER_2019}\no,a,f,http,3,x\n", ":2:14:", "not a whole number"),
    ("d01.csv", f"{HEADER_2019}\no,a,f,http,3\n", ":2:", "fields where the header has 6"),
    ("d01.csv", "HashOwner,HashApp,HashFunction,Trigger,1,3\n", ":1:42:", "expected 2"),
    ("t.txt", "app,func,end_timestamp,duration\na,f,10.5,0.2\na,f,11,-1\n", ":3:8:", "duration '-1'"),
    ("t.txt", "app,func,end_timestamp,duration\na,f,ten,0.2\n", ":2:5:", "end_timestamp 'ten'"),
    ("llm.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,12,3\nyesterday,1,2\n",
     ":3:1:", "neither seconds nor a time"),
    ("llm.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,1.5,3\n", ":2:24:",
     "ContextTokens '1.5'"),
    ("times.csv", "timestamp\n1.5\n2.5\nsoon\n", ":4:1:", "neither seconds nor a time"),
    ("p.json", '{"status": "success", "data": {"resultType": "matrix", "result": [\n'
     '  {"metric": {}, "values": [[1, "2"], [61, "-3"]]}]}}', ":2:39:", "not a request rate"),
    ("p.json", '{"status": "success",\n "data": {"resultType": "matrix", "result": []', ":2:", "not JSON"),
    ("p.json", '{"status": "error", "error": "parse error at char 4"}', ":1:1:", "parse error at char 4"),
    ("r.txt", "1,2\n3,,4\n", ":2:3:", "empty value"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "where", "message"), MALFORMED)
def test_each_reader_refuses_a_malformed_file_with_its_line_and_column(
    tmp_path: Path, name: str, content: str, where: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(WorkloadError) as raised:
        resolve(SourceOptions(files=(path,)))
    assert where in str(raised.value)
    assert message in str(raised.value)
    result = runner.invoke(app, ["workload", "show", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{name}{where}" in result.output.replace("\n", "")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--pick", "top=2"], "chooses functions of an Azure Functions trace"),
     (["--pick", "owner=x"], "function=HASH, app=HASH or top=N"),
     (["--speed", "0"], "above 0"),
     (["--query", "up"], "go with --prometheus"),
     (["--start", "soon"], "give a span")],
)  # fmt: skip
def test_bad_source_options_exit_2_saying_why(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["workload", "show", str(TIMES), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
