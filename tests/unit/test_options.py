"""Options are validated when they are made: a bad value is an InputError that names the option,
before anything starts (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlscale.backends import BackendName, ClusterChoice, UpOptions, kubernetes_options, local_options
from mlscale.backends.kubernetes.options import KubernetesOptions
from mlscale.backends.local.options import LocalOptions
from mlscale.errors import InputError, ResourceMissing
from mlscale.loadgen.options import LoadTestOptions, ScheduleOptions
from mlscale.locations import local_or_shipped, resource, values_file
from mlscale.workload import Arrival, Workload


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"weights": "/no/such/weights.h5"}, "--weights"),
        ({"cpu_request": "half"}, "--cpu-request"),
        ({"cpu_request": "0m"}, "--cpu-request"),
        ({"dispatcher_port": 70000}, "--dispatcher-port"),
        ({"result_url": "ftp://x/storeLatency"}, "--result-url"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_local_options_refuse_bad_values(changes: dict[str, object], named: str) -> None:
    with pytest.raises(InputError, match=named):
        LocalOptions(**changes)  # type: ignore[arg-type]


def test_local_options_travel_to_the_supervisor_as_json_and_back(tmp_path: Path) -> None:
    options = LocalOptions(
        cpu_request="250m", values_file=tmp_path / "v.yaml", state_dir=tmp_path, images=None
    )
    assert LocalOptions.from_json(options.to_json()) == options


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"namespace": "Not_A_Name"}, "--namespace"),
        ({"weights": "weights.h5"}, "--weights imagenet or none"),
        ({"dispatcher_url": "192.168.49.2:30080"}, "--dispatcher-url"),
        ({"timeout_s": 0}, "timeout"),
    ],
)
def test_kubernetes_options_refuse_bad_values(changes: dict[str, object], named: str) -> None:
    with pytest.raises(InputError, match=named):
        KubernetesOptions(**changes)  # type: ignore[arg-type]


def test_up_options_become_each_backends_own() -> None:
    up = UpOptions(
        backend=BackendName.KUBERNETES,
        max_replicas=3,
        cpu_request="250m",
        cluster=ClusterChoice(namespace="exp", minikube=False, registry="127.0.0.1:5000"),
    )
    cluster = kubernetes_options(up)
    assert (cluster.namespace, cluster.minikube, cluster.registry, cluster.weights) == (
        "exp",
        False,
        "127.0.0.1:5000",
        "imagenet",
    )
    assert cluster.set_values == {
        "autoscaling.maxReplicas": "3",
        "inference.resources.requests.cpu": "250m",
    }
    local = local_options(UpOptions(max_replicas=3))
    assert (local.weights, local.max_replicas, local.cpu_request) == ("none", 3, "500m")  # values.yaml's


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"time_scale": 0.0}, "--time-scale"),
        ({"time_scale": 2.0}, "--time-scale"),
        ({"min_replicas": 0}, "--min"),
    ],
)
def test_up_options_refuse_bad_values(changes: dict[str, object], named: str) -> None:
    with pytest.raises(InputError, match=named):
        UpOptions(**changes)  # type: ignore[arg-type]


def test_local_options_read_a_values_file_over_the_charts_as_helm_does(tmp_path: Path) -> None:
    """A values file that sets one key keeps the chart's others: the engine of one and the CPU
    request of the other come from the chart, not from a default of mlscale's own."""
    from mlscale.autoscaling.config import load_values

    chart = load_values(None)["inference"]
    engine_only, cpu_only = tmp_path / "engine.yaml", tmp_path / "cpu.yaml"
    engine_only.write_text("inference:\n  engine: onnx\n")
    cpu_only.write_text("inference:\n  resources:\n    requests:\n      cpu: 750m\n")
    by_engine = local_options(UpOptions(values=engine_only))
    assert (by_engine.engine, by_engine.cpu_request) == ("onnx", str(chart["resources"]["requests"]["cpu"]))
    by_cpu = local_options(UpOptions(values=cpu_only))
    assert (by_cpu.engine, by_cpu.cpu_request) == (chart["engine"], "750m")


def test_up_options_check_the_autoscaling_section_with_its_overrides() -> None:
    with pytest.raises(InputError, match="maxReplicas"):
        local_options(UpOptions(min_replicas=4, max_replicas=2))


def test_schedule_options_refuse_bad_values_and_describe_themselves() -> None:
    with pytest.raises(InputError, match="step seconds"):
        ScheduleOptions(step_seconds=0)
    with pytest.raises(InputError, match="scale"):
        ScheduleOptions(scale=float("inf"))
    with pytest.raises(ValueError, match="gaussian"):
        ScheduleOptions(arrival="gaussian")  # type: ignore[arg-type]
    schedule = ScheduleOptions(arrival="poisson", random_seed=3, max_images=4)  # type: ignore[arg-type]
    assert schedule.arrival is Arrival.POISSON
    assert schedule.describe()["arrival"] == "poisson"
    assert schedule.planned(Workload("w", (10, 10))) == 4
    assert len(schedule.offsets(Workload("w", (10, 10)))) == 4


def test_load_test_options_trim_the_url_and_refuse_bad_values() -> None:
    assert LoadTestOptions(dispatcher_url="http://d:8000/").dispatcher_url == "http://d:8000"
    with pytest.raises(InputError, match="drain timeout"):
        LoadTestOptions(drain_timeout=-1)


def test_shipped_files_are_found_and_a_missing_one_is_named() -> None:
    assert values_file().name == "values.yaml"
    with pytest.raises(ResourceMissing, match=r"workloads/nope\.txt is missing"):
        resource("workloads", "nope.txt")
    assert local_or_shipped(Path("elsewhere/demo.txt"), "workloads") == resource("workloads", "demo.txt")
    assert local_or_shipped(Path("elsewhere/nope.txt"), "workloads") == Path("elsewhere/nope.txt")
