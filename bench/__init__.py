"""Benchmarks. Each script runs by path (``.venv/bin/python bench/<name>.py``) and starts
as ``bench/bootstrap.py`` shows; the other modules are shared parts (``traffic``,
``ingest_*``).
"""
