"""The load test: `python -m loadtest` (docs/performance.md, "Load test")."""
