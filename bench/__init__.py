"""Benchmark of total-service against a naive baseline."""
