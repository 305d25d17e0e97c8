"""``mlscale tune``: the cheapest autoscaling settings that meet an SLO on a workload, searched by
simulation (Optuna's TPE over each policy's knobs, named as values.yaml names them)."""
