"""Uvicorn with a production server's limits (``guarded_protocol``) and a bounded body reader
(``read_body``), shared by mlscale's servers."""

from mlscale_http.body import BodyRefused, read_body
from mlscale_http.limits import HttpLimits, guarded_protocol, open_file_limit

__all__ = ["BodyRefused", "HttpLimits", "guarded_protocol", "open_file_limit", "read_body"]
