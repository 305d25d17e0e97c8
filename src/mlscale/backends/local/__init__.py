"""The local backend: replicas are Uvicorn processes on this machine, scaled by the HPA algorithm.

backend     the CLI side: start the supervisor detached, talk to its control API, stop it
options     what it is asked to run (``LocalOptions``)
supervisor  the detached process that owns the system
system      the dispatcher and replicas as managed processes; the controller's ScaleTarget
processes   one process kept running as a kubelet keeps a container (restarts, probes)
health      probe settings from values.yaml and the kubelet's probe and back-off rules
calibration what one replica serves, measured at ``up``
control     the supervisor's control API (/status, /decisions, /shutdown)
metrics     what it tells Prometheus (/metrics, /sd)
"""

from mlscale.backends.local.backend import LocalBackend
from mlscale.backends.local.options import LocalOptions

__all__ = ["LocalBackend", "LocalOptions"]
