"""Outputs: clusters.json (and, later, HTML evidence pages and exports)."""
