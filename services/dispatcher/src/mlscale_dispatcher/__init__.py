"""mlscale's dispatcher: a bounded queue, forwarders to the inference tier, an account of every request."""

__version__ = "0.1.0"
