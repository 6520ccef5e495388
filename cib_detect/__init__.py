"""cib-detect: find coordinated inauthentic behaviour in interaction events."""

__version__ = "0.1.0"
