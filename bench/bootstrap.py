"""What the benchmark scripts share: where the checkout is, Django set up, the revision.

A script runs by path (``.venv/bin/python bench/<name>.py``) and starts with

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

    from bench.bootstrap import setup_django

    setup_django()

so that ``bench``, ``systemtests`` and the product are imported from the tree the script
sits in (a checkout or an exported snapshot), whatever the venv's editable install
points to.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    """The project's settings (unless DJANGO_SETTINGS_MODULE names others), then
    ``django.setup()``; the database and cache come from the environment."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simple_analytics.settings")
    import django

    django.setup()


def revision() -> str:
    """The revision measured: the git commit (noting uncommitted changes), or the stamp an
    exported snapshot carries in ``REVISION``."""
    stamp = ROOT / "REVISION"  # written next to an exported snapshot (git archive)
    if stamp.exists():
        return stamp.read_text().strip() + " (exported snapshot)"
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")
