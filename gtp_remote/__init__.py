"""gtp-remote: run work on the machines that hold the data, over pooled SSH."""

__version__ = "0.1.0"
