"""Benchmarks: ``python -m benchmarks [NAME ...]`` runs the named modules (all by default).

A benchmark is a module in this package with a ``run() -> list[Measurement]`` function.
"""
