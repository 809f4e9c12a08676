"""System tests: the production processes driven from outside, run by ``make test``.

Each test runs by path (``.venv/bin/python systemtests/faults.py``, ``systemtests/soak.py``)
on top of one shared harness, ``systemtests/harness.py``.
"""
