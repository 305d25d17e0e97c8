"""What the one-node cluster changes on this machine, recorded before and undone after.

dockerd, containerd, the kubelet and kube-proxy change the host: kernel sysctls (the kubelet sets
``vm.overcommit_memory=1``, ``kernel.panic=10``, ``kernel.panic_on_oops=1``; dockerd turns on IP
forwarding; kube-proxy sets ``route_localnet``), iptables (dockerd's chains and its FORWARD policy
DROP, kube-proxy's KUBE-* chains), kernel modules (br_netfilter, overlay), cgroups, network
devices, network namespaces (one per pod, made by containerd's CNI) and a few directories the
kubelet, containerd and libcni create at fixed paths. ``HostGuard`` takes a
snapshot of each before anything starts, writes it to a journal on disk, and puts every one back
at teardown; a run killed before its teardown is cleaned up by the next one, from the journal.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

KUBELET_TUNABLES = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
"""What the kubelet sets at start; put back as soon as it has (it does not set them again)."""
SYSCTLS = (
    *KUBELET_TUNABLES,
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
)
"""Every sysctl the cluster's programs are known to set."""
TABLES = ("filter", "nat", "mangle", "raw")
PATHS = (
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/var/lib/kubelet",
    "/usr/libexec/kubernetes",
    "/etc/cni",
    "/run/containerd",
    "/var/lib/containerd",
    "/opt/containerd",
    "/etc/containerd",
    "/var/lib/nri",
    "/run/nri",
    "/etc/nri",
    "/run/netns",
)
"""Directories the kubelet, containerd (its shims' sockets go to /run/containerd/s whatever its
``state`` says) and libcni may create at fixed paths, whatever their flags say."""
NETNS = Path("/run/netns")
PROGRAMS = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
    "containerd", "containerd-shim-runc-v2", "runc", "dockerd", "docker-proxy", "docker-registry",
    "coredns", "metrics-server", "kubectl", "pause",
)  # fmt: skip
"""Programs the session starts, or that a package it installs would start as a service (Debian's
etcd-server, containerd, docker.io and docker-registry have units): none may outlive it."""
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUPS = ("kubepods", "docker")
JOURNAL = Path("/run/mlscale-cluster/journal.json")
METADATA_CIDR = "169.254.0.0/16"
"""Cloud metadata addresses: nothing started here may reach them (see the REJECT rule)."""


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, check=False)


def _modules() -> list[str]:
    """Loaded kernel modules; none where the kernel does not list them (no /proc/modules)."""
    try:
        listed = Path("/proc/modules").read_text()
    except OSError:
        return []
    return sorted(line.split()[0] for line in listed.splitlines() if line)


def _programs() -> list[str]:
    """Which of ``PROGRAMS`` run now, by the name the kernel keeps (15 characters at most)."""
    running = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            running.add(comm.read_text().strip())
    return sorted(name for name in PROGRAMS if name[:15] in running)


def _netns() -> list[str]:
    return sorted(p.name for p in NETNS.iterdir()) if NETNS.is_dir() else []


def _links() -> list[str]:
    return sorted(p.name for p in Path("/sys/class/net").iterdir())


def _cgroup_dirs() -> list[str]:
    found = []
    if CGROUP_ROOT.is_dir():
        for hierarchy in CGROUP_ROOT.iterdir():
            for name in CGROUPS:
                if (hierarchy / name).is_dir():
                    found.append(str(hierarchy / name))
    return sorted(found)


@dataclass
class Snapshot:
    sysctls: dict[str, str] = field(default_factory=dict)
    iptables: dict[str, str] = field(default_factory=dict)
    """iptables-save's and ip6tables-save's output, per command."""
    modules: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    """Which of ``PROGRAMS`` were running (a machine's own Docker service, say: left alone)."""
    pids: dict[str, list[int]] = field(default_factory=dict)
    """Processes started since, by name: [pid, start time in clock ticks]. Stopped at teardown if
    that very process still runs (a recycled PID has another start time and is left alone)."""

    @classmethod
    def take(cls) -> Snapshot:
        sysctls = {}
        for name in SYSCTLS:
            with contextlib.suppress(OSError):
                sysctls[name] = _sysctl_path(name).read_text().strip()
        iptables = {}
        for command in ("iptables-save", "ip6tables-save"):
            if shutil.which(command):
                saved = _run(command)
                if saved.returncode == 0:
                    iptables[command] = saved.stdout
        return cls(
            sysctls=sysctls,
            iptables=iptables,
            modules=_modules(),
            links=_links(),
            paths=[p for p in PATHS if os.path.lexists(p)],
            cgroups=_cgroup_dirs(),
            netns=_netns(),
            programs=_programs(),
        )


BUILT_IN_CHAINS = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}


def _rules(saved: str) -> list[str]:
    """iptables-save output without its comments and packet counters: the rules themselves. A table
    with nothing in it (built-in chains, policy ACCEPT, no rule) counts as no table: on a machine
    where nothing had loaded the iptables modules before, the cluster leaves them loaded and empty
    (seen on a fresh machine: `*filter`, `*nat` and `*mangle` with only their chains)."""
    import re

    lines = [re.sub(r"\[\d+:\d+\]", "", ln).strip() for ln in saved.splitlines() if not ln.startswith("#")]
    kept: list[str] = []
    table: list[str] = []
    for line in lines:
        table.append(line)
        if line != "COMMIT":
            continue
        body = table[1:-1]
        if not all(ln.startswith(":") and ln.split()[0][1:] in BUILT_IN_CHAINS and ln.split()[1] == "ACCEPT"
                   for ln in body):  # fmt: skip
            kept += table
        table = []
    return kept + table


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """What is not as it was: each recorded part of the host, compared."""
    found = []
    for name in sorted(set(before.sysctls) | set(after.sysctls)):
        if before.sysctls.get(name) != after.sysctls.get(name):
            found.append(f"sysctl {name}: {before.sysctls.get(name)} -> {after.sysctls.get(name)}")
    for command in sorted(set(before.iptables) | set(after.iptables)):
        was, now = _rules(before.iptables.get(command, "")), _rules(after.iptables.get(command, ""))
        if was != now:
            found.append(
                f"{command}: added {sorted(set(now) - set(was))}, removed {sorted(set(was) - set(now))}"
            )
    for part in ("modules", "links", "paths", "cgroups", "netns", "programs"):
        had, has = set(getattr(before, part)), set(getattr(after, part))
        if had != has:
            found.append(f"{part}: added {sorted(has - had)}, removed {sorted(had - has)}")
    return found


class HostGuard:
    """Record the host, let the cluster change it, put it back. Every step of ``restore`` runs even
    if an earlier one failed; what could not be undone is returned, so a test can fail on it."""

    def __init__(self, journal: Path = JOURNAL) -> None:
        self.journal = journal
        self.snapshot = Snapshot()

    def begin(self) -> list[str]:
        """Undo what a killed earlier run left (its journal), then record the host as it is now."""
        leftovers: list[str] = []
        if self.journal.exists():
            previous = Snapshot(**json.loads(self.journal.read_text()))
            leftovers = restore(previous)
            self.journal.unlink()
        self.snapshot = Snapshot.take()
        self._write()
        return leftovers

    def started(self, name: str, pid: int) -> None:
        self.snapshot.pids[name] = [pid, _start_ticks(pid)]
        self._write()

    def _write(self) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        self.journal.write_text(json.dumps(self.snapshot.__dict__))

    def restore_sysctls(self, names: tuple[str, ...]) -> list[str]:
        """Put these sysctls back now (the kubelet sets its tunables once, at start)."""
        return _restore_sysctls(self.snapshot, names)

    def end(self) -> list[str]:
        problems = restore(self.snapshot)
        if not problems:
            self.journal.unlink(missing_ok=True)
        return problems


GUARDED_CHAINS = ("OUTPUT", "FORWARD")
"""OUTPUT: the node's own programs; FORWARD: pods and image-build containers (dockerd's bridge)."""


def metadata_rules() -> list[list[str]]:
    """iptables arguments that refuse every packet to a cloud metadata address, from the node and
    from anything routed through it."""
    return [
        [chain, "-d", METADATA_CIDR, "-j", "REJECT", "--reject-with", "icmp-net-unreachable"]
        for chain in GUARDED_CHAINS
    ]


def metadata_counters() -> dict[str, int]:
    """Packets each chain's metadata rule has refused so far; a chain without the rule is missing."""
    counters = {}
    for chain in GUARDED_CHAINS:
        listed = _run("iptables", "-L", chain, "-v", "-n", "-x").stdout
        rules = [line for line in listed.splitlines() if METADATA_CIDR in line and "REJECT" in line]
        if rules:
            counters[chain] = sum(int(line.split()[0]) for line in rules)
    return counters


def _start_ticks(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return -1


def _stop_pids(pids: dict[str, list[int]]) -> None:
    """SIGTERM, 20 s to exit, then SIGKILL: the programs a killed run left behind."""
    import signal
    import time

    alive = {}
    for name, (pid, started) in pids.items():
        if _start_ticks(pid) != started:
            continue  # gone, or the PID now belongs to another process
        try:
            os.kill(pid, signal.SIGTERM)
            alive[name] = pid
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 20
    while alive and time.monotonic() < deadline:
        for name, pid in list(alive.items()):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not Path(f"/proc/{pid}").exists() or _zombie(pid):
                del alive[name]
        time.sleep(0.1)
    for pid in alive.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def _restore_sysctls(snapshot: Snapshot, names: tuple[str, ...] = SYSCTLS) -> list[str]:
    problems = []
    for name, value in snapshot.sysctls.items():
        if name not in names:
            continue
        path = _sysctl_path(name)
        try:
            if path.exists() and path.read_text().strip() != value:
                path.write_text(value)
        except OSError as exc:
            problems.append(f"sysctl {name}: could not restore {value!r}: {exc}")
    return problems


def _restore_iptables(snapshot: Snapshot) -> list[str]:
    problems = []
    for save, saved in snapshot.iptables.items():
        command = save.replace("-save", "")
        present = {line[1:].strip() for line in saved.splitlines() if line.startswith("*")}
        restored = _run(f"{command}-restore", stdin=saved)
        if restored.returncode != 0:
            problems.append(f"{command}-restore: {restored.stderr.strip()}")
        for table in TABLES:  # a table the snapshot lacked was empty: empty it again
            if table in present:
                continue
            listed = _run(command, "-t", table, "-S")
            if listed.returncode != 0 or not any(
                not ln.startswith("-P") for ln in listed.stdout.splitlines()
            ):
                continue
            for args in (("-F",), ("-X",)):
                _run(command, "-t", table, *args)
            for line in listed.stdout.splitlines():
                if line.startswith("-P "):
                    _run(command, "-t", table, "-P", line.split()[1], "ACCEPT")
    return problems


def _remove_cgroups(snapshot: Snapshot) -> list[str]:
    problems = []
    for top in set(_cgroup_dirs()) - set(snapshot.cgroups):
        for directory in sorted(Path(top).rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir():
                with contextlib.suppress(OSError):
                    directory.rmdir()
        try:
            Path(top).rmdir()
        except OSError as exc:
            problems.append(f"cgroup {top}: {exc}")
    return problems


def mounts_under(path: str) -> list[str]:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [m for m in mounts if m == path or m.startswith(path.rstrip("/") + "/")]


def unmount_under(paths: list[str]) -> None:
    """Unmount everything at or below these paths, deepest first."""
    for mount in sorted({m for p in paths for m in mounts_under(p)}, key=len, reverse=True):
        _run("umount", "-l", mount)


def restore(snapshot: Snapshot) -> list[str]:
    _stop_pids(snapshot.pids)
    problems: list[str] = []
    for name in set(_netns()) - set(snapshot.netns):  # a pod's, left by a killed run
        _run("umount", str(NETNS / name))
        with contextlib.suppress(OSError):
            (NETNS / name).unlink()
        if (NETNS / name).exists():
            problems.append(f"network namespace {name} could not be removed")
    created = [p for p in PATHS if os.path.lexists(p) and p not in snapshot.paths]
    unmount_under(created)
    for path in created:
        shutil.rmtree(path, ignore_errors=True)
        if os.path.lexists(path):
            problems.append(f"{path}: could not be removed")
    for link in set(_links()) - set(snapshot.links):
        deleted = _run("ip", "link", "delete", link)
        if deleted.returncode != 0 and link in _links():
            problems.append(f"network device {link}: {deleted.stderr.strip()}")
    problems += _restore_iptables(snapshot)
    problems += _remove_cgroups(snapshot)
    problems += _restore_sysctls(snapshot)
    for module in sorted(set(_modules()) - set(snapshot.modules)):
        _run("modprobe", "-r", module)  # best effort: one still in use by another stays
    return problems
