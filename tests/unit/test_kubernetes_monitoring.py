"""`up --backend kubernetes --monitoring stack|prometheus|off` and the queue policy's KEDA HPA, with
the adapters faked (the real cluster runs them in tests/cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlscale.backends.kubernetes.backend import KubernetesBackend, chart_without_subcharts
from mlscale.backends.kubernetes.options import KubernetesOptions
from mlscale.backends.state import read_state
from mlscale.errors import InputError
from tests.kube_fakes import FakeAdapters, healthy_minikube
from tests.unit.test_kubernetes_backend import up_state, watching


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))


def test_monitoring_prometheus_renders_the_charts_own_and_fetches_no_subchart() -> None:
    adapters = healthy_minikube(
        helm_upgrade_install=None, deployment_status=(1, 1), minikube_service_url="http://192.168.49.2:30080",
        **watching(),
    )  # fmt: skip
    options = KubernetesOptions(build=False, load=False, monitoring="prometheus")
    status = KubernetesBackend(options, adapters, sleep=lambda _: None).up()
    assert adapters.called("helm_dependency_build") == []
    ((_, chart, _, _, values, _),) = adapters.called("helm_upgrade_install")
    assert "dependencies" not in yaml.safe_load((Path(chart) / "Chart.yaml").read_text())
    assert values["monitoring.prometheus.enabled"] == "true"
    assert {values[k] for k in ("kube-prometheus-stack.enabled", "loki.enabled", "promtail.enabled")} == {
        "false"
    }
    assert status.cluster is not None
    assert status.cluster.prometheus == "kubectl -n mlscale port-forward svc/mlscale-prometheus 9090:9090"


def test_monitoring_off_and_stack_and_a_wrong_word() -> None:
    assert "dependencies" not in yaml.safe_load((chart_without_subcharts() / "Chart.yaml").read_text())
    off = KubernetesBackend(KubernetesOptions(monitoring="off"), FakeAdapters()).chart_values()
    assert (off["monitoring.prometheus.enabled"], off["kube-prometheus-stack.enabled"]) == ("false", "false")
    stack = KubernetesBackend(KubernetesOptions(monitoring="stack"), FakeAdapters()).chart_values()
    assert (stack["monitoring.prometheus.enabled"], stack["kube-prometheus-stack.enabled"]) == (
        "false",
        "true",
    )
    with pytest.raises(InputError, match="--monitoring takes stack, prometheus, off, not 'grafana'"):
        KubernetesOptions(monitoring="grafana")


def test_the_queue_policy_waits_for_no_replica_and_reads_kedas_hpa(tmp_path: Path) -> None:
    """KEDA may have scaled the inference tier to zero before up looks; status reads the HPA KEDA
    made (keda-hpa-<ScaledObject>), and says where Prometheus is."""
    values = tmp_path / "queue.yaml"
    values.write_text("autoscaling:\n  policy: queue\n")
    answers = iter([(1, 1), (0, 0)])  # dispatcher ready; inference at zero
    adapters = healthy_minikube(
        helm_upgrade_install=None, deployment_status=lambda *_: next(answers),
        minikube_service_url="http://192.168.49.2:30080", **watching(),
    )  # fmt: skip
    options = KubernetesOptions(build=False, load=False, monitoring="prometheus", values_files=[values])
    KubernetesBackend(options, adapters, sleep=lambda _: None).up()
    assert read_state()["policy"] == "queue"  # type: ignore[index]
    assert {name for name, _ in adapters.called("hpa")} == {"keda-hpa-mlscale-inference"}


def test_policy_set_on_the_command_line_beats_the_values_file(tmp_path: Path) -> None:
    values = tmp_path / "queue.yaml"
    values.write_text("autoscaling:\n  policy: queue\n")
    options = KubernetesOptions(values_files=[values], set_values={"autoscaling.policy": "cpu"})
    assert KubernetesBackend(options, FakeAdapters())._policy() == "cpu"
    assert KubernetesBackend(KubernetesOptions(values_files=[values]), FakeAdapters())._policy() == "queue"
    assert KubernetesBackend(KubernetesOptions(), FakeAdapters())._policy() == "cpu"


def test_status_without_monitoring_names_no_prometheus() -> None:
    up_state()  # a state file from before `monitoring` was recorded: none
    status = KubernetesBackend(None, FakeAdapters(**watching())).status()
    assert status.cluster is not None
    assert status.cluster.prometheus is None
