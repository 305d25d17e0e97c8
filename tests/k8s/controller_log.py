"""What the real HPA controller decided at each sync, and when, from its own log.

The testbed runs kube-controller-manager with ``--vmodule=horizontal=4``: for every sync of an HPA
it logs "Proposing desired replicas" once per metric (right before it stabilizes the proposal, at
the moment Go's ``stabilizeRecommendationWithBehaviors`` takes as ``now``), then "Decided not to
scale" or "Successfully rescaled" (right after it stored the scale event). klog stamps each line to
the microsecond. With 1,000 pods a sync takes over a second from its metrics request to that
moment, enough to move a recommendation across a window's edge, so the replay takes its times from
here rather than from when the metrics were served or when the Deployment was seen to change.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r'^[IWE](\d{4} \d\d:\d\d:\d\d\.\d{6})\s+\d+ horizontal\.go:\d+\] "([^"]+)" (.*)$')
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


@dataclass(frozen=True)
class Decision:
    at: float
    """Epoch seconds of the sync's stabilization (its last "Proposing desired replicas")."""
    desired: int
    rescaled: bool
    """True: "Successfully rescaled", logged right after the scale event was stored (at ``at``
    or within microseconds of ``logged_at``)."""
    logged_at: float
    """When the decision line was logged: the scale event's time for a rescale."""


def _epoch(stamp: str, year: int) -> float:
    """klog's ``MMDD hh:mm:ss.uuuuuu`` in the machine's local time, as epoch seconds."""
    return datetime.datetime.strptime(f"{year}{stamp}", "%Y%m%d %H:%M:%S.%f").timestamp()


def decisions(log: Path, namespace: str, name: str, year: int | None = None) -> list[Decision]:
    """Every decision the controller logged for the HPA ``namespace/name``, in order."""
    year = year or datetime.datetime.now().year
    target = f"{namespace}/{name}"
    found: list[Decision] = []
    proposed: float | None = None
    for line in log.read_text(errors="replace").splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        stamp, message, rest = match.groups()
        fields = {k: v.strip('"') for k, v in _FIELD.findall(rest)}
        at = _epoch(stamp, year)
        if message.startswith("Proposing desired replicas") and fields.get("scaleTarget", "").endswith(
            "/" + target
        ):
            proposed = at
        elif message == "Decided not to scale" and fields.get("scaleTarget", "").endswith("/" + target):
            found.append(Decision(proposed or at, int(fields["desiredReplicas"]), False, at))
            proposed = None
        elif message == "Successfully rescaled" and fields.get("HPA") == target:
            found.append(Decision(proposed or at, int(fields["desiredReplicas"]), True, at))
            proposed = None
    return found


def decision_of_sync(found: list[Decision], began: float, next_began: float | None) -> Decision | None:
    """The decision of the sync whose metrics were asked for at ``began``: the first logged after it
    and before the next sync's request. None: the sync decided nothing (its metrics failed)."""
    for decision in found:
        if decision.logged_at > began and (next_began is None or decision.logged_at < next_began):
            return decision
    return None
