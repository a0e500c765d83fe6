"""Orchestration: suites, the runner, aggregation, figures and the command line."""

__version__ = "0.1.0"
