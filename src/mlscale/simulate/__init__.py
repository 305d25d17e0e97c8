"""``mlscale simulate``: the system as a model in simulated time, driven by the backends' own
policy code, calibrated from a measured run (issue 19; the engine first)."""
