"""obsbench: a terminal investigation workbench for on-call engineers."""

__version__ = "0.1.0"
