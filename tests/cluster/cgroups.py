"""A pod's CPU time from its cgroup, on cgroup v1 or v2 and with either cgroup driver.

The kubelet puts each pod in a cgroup named for its UID: under ``kubepods`` with the cgroupfs driver
(``kubepods/burstable/pod<uid>``), under ``kubepods.slice`` with the systemd one
(``kubepods-burstable-pod<uid with _ for ->.slice``). cgroup v1 counts CPU time in nanoseconds in
the cpuacct hierarchy (``cpuacct.usage``); v2 in microseconds in the unified one (``cpu.stat``'s
``usage_usec``). This machine is v1; most users' are v2.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def cgroup_version(root: Path = ROOT) -> int:
    return 2 if (root / "cgroup.controllers").exists() else 1


def _pod_dir(top: Path, uid: str) -> Path | None:
    names = {f"pod{uid}", f"pod{uid.replace('-', '_')}"}
    for path in top.rglob("*pod*"):
        if path.is_dir() and (path.name in names or path.name.removesuffix(".slice").split("-")[-1] in names):
            return path
    return None


def pod_cpu_seconds(uid: str, root: Path = ROOT) -> float | None:
    """The pod's cumulative CPU time in seconds, None if no cgroup of it is found."""
    if cgroup_version(root) == 1:
        for top in (root / "cpuacct" / "kubepods", root / "cpu,cpuacct" / "kubepods",
                    root / "cpuacct" / "kubepods.slice"):  # fmt: skip
            found = _pod_dir(top, uid) if top.is_dir() else None
            if found is not None:
                return int((found / "cpuacct.usage").read_text()) / 1e9
        return None
    for top in (root / "kubepods", root / "kubepods.slice"):
        found = _pod_dir(top, uid) if top.is_dir() else None
        if found is not None:
            stat = dict(line.split() for line in (found / "cpu.stat").read_text().splitlines() if line)
            return int(stat["usage_usec"]) / 1e6
    return None
