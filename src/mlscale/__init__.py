"""mlscale: run and study autoscaled ML inference."""

__version__ = "0.1.0"
