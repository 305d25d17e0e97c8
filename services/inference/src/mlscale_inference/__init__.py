"""mlscale's inference service: Keras MobileNetV2 behind Starlette, one inference thread per process."""

__version__ = "0.1.0"
