"""tests/cluster's reading of a pod's CPU time, on fake cgroup trees of v1 and v2 and both drivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.cgroups import cgroup_version, pod_cpu_seconds

UID = "6f1c2d3e-aaaa-bbbb-cccc-0123456789ab"


def _file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v1_with_the_cgroupfs_driver(tmp_path: Path) -> None:
    _file(tmp_path / "cpuacct" / "kubepods" / "burstable" / f"pod{UID}" / "cpuacct.usage", "2500000000\n")
    _file(tmp_path / "cpuacct" / "kubepods" / "burstable" / "podother" / "cpuacct.usage", "1\n")
    assert cgroup_version(tmp_path) == 1
    assert pod_cpu_seconds(UID, tmp_path) == 2.5


@pytest.mark.parametrize(
    "pod_dir",
    [
        Path("kubepods") / "burstable" / f"pod{UID}",  # cgroupfs driver
        Path("kubepods.slice")
        / "kubepods-burstable.slice"
        / f"kubepods-burstable-pod{UID.replace('-', '_')}.slice",
    ],
    ids=["cgroupfs", "systemd"],
)
def test_cgroup_v2_with_either_driver(tmp_path: Path, pod_dir: Path) -> None:
    _file(tmp_path / "cgroup.controllers", "cpuset cpu io memory pids\n")
    _file(tmp_path / pod_dir / "cpu.stat", "usage_usec 1750000\nuser_usec 1500000\nsystem_usec 250000\n")
    assert cgroup_version(tmp_path) == 2
    assert pod_cpu_seconds(UID, tmp_path) == 1.75


def test_a_pod_without_a_cgroup_has_no_cpu_time(tmp_path: Path) -> None:
    _file(tmp_path / "cgroup.controllers", "cpu\n")
    (tmp_path / "kubepods").mkdir()
    assert pod_cpu_seconds(UID, tmp_path) is None
    assert pod_cpu_seconds(UID, tmp_path / "nothing") is None
