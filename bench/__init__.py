"""Benchmark of total-service against a naive baseline; its process helpers serve the tests too."""
