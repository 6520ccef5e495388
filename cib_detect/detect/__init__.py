"""Orchestration: objects, pair signals, null model, graph, Leiden, scoring."""

from cib_detect.detect.engine import run_detection

__all__ = ["run_detection"]
