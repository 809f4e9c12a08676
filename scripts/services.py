"""Check (or start) the PostgreSQL and Redis the second test pass uses.

python scripts/services.py --check   exit 0 when both answer, 1 otherwise
python scripts/services.py --start   start whichever is down (CI, as root)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

SERVICES = {"PostgreSQL": ("127.0.0.1", 5432), "Redis": ("127.0.0.1", 6379)}


def up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start(name: str) -> None:
    if name == "PostgreSQL":
        for version in (
            sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
        ):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
            )
    else:
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=False,
        )


def main() -> int:
    if "--start" in sys.argv:
        for name, addr in SERVICES.items():
            if not up(*addr):
                print(f"starting {name}")
                start(name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(up(*a) for a in SERVICES.values()):
            time.sleep(0.5)
    missing = [name for name, addr in SERVICES.items() if not up(*addr)]
    for name in missing:
        print(f"{name} is not reachable at {SERVICES[name][0]}:{SERVICES[name][1]}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
