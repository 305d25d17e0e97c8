"""Scaling policies (pure functions of metrics, state and config) and the loop that applies them."""
