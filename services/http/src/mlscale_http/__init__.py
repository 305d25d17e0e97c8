"""Uvicorn with a production server's limits (``guarded_protocol``), shared by mlscale's servers."""

from mlscale_http.limits import HttpLimits, guarded_protocol, open_file_limit

__all__ = ["HttpLimits", "guarded_protocol", "open_file_limit"]
