from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from simple_analytics.env import (
    ConfigError,
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_seconds,
    env_secret,
)


def test_env_bool_accepts_only_true_and_false(monkeypatch):
    monkeypatch.setenv("X_FLAG", "True")
    assert env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "False")
    assert env_bool("X_FLAG", True) is False
    monkeypatch.setenv("X_FLAG", "yes")
    with pytest.raises(ConfigError, match="X_FLAG must be True or False"):
        env_bool("X_FLAG", False)
    monkeypatch.delenv("X_FLAG")
    assert env_bool("X_FLAG", True) is True


def test_env_int_names_the_variable_when_malformed(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ConfigError, match="X_NUM must be an integer"):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ConfigError, match="at least 1"):
        env_int("X_NUM", 1, minimum=1)


def test_env_list_and_secret_file(monkeypatch, tmp_path):
    monkeypatch.setenv("X_LIST", " a.com, b.com ,")
    assert env_list("X_LIST", []) == ["a.com", "b.com"]
    secret = tmp_path / "key"
    secret.write_text("s3cret-from-file\n")
    monkeypatch.delenv("X_KEY", raising=False)
    monkeypatch.setenv("X_KEY_FILE", str(secret))
    assert env_secret("X_KEY") == "s3cret-from-file"


def test_env_seconds_accepts_only_durations_up_to_an_hour(monkeypatch):
    monkeypatch.delenv("X_WAIT", raising=False)
    assert env_seconds("X_WAIT", 1.5) == 1.5
    monkeypatch.setenv("X_WAIT", "0.25")
    assert env_seconds("X_WAIT", 1.5) == 0.25
    monkeypatch.setenv("X_WAIT", "3600")
    assert env_seconds("X_WAIT", 1.5) == 3600
    monkeypatch.setenv("X_WAIT", "soon")
    with pytest.raises(ConfigError, match="X_WAIT must be a number of seconds, not 'soon'"):
        env_seconds("X_WAIT", 1.5)
    for out_of_range in ("0", "-1", "3601"):
        monkeypatch.setenv("X_WAIT", out_of_range)
        with pytest.raises(ConfigError, match="X_WAIT must be between 0 and 3600 seconds"):
            env_seconds("X_WAIT", 1.5)


def test_env_networks_reads_cidrs_and_names_the_variable_when_malformed(monkeypatch):
    monkeypatch.delenv("X_NETS", raising=False)
    assert env_networks("X_NETS") == []
    monkeypatch.setenv("X_NETS", "10.0.0.0/8, 127.0.0.1,2001:db8::1/64")
    assert [str(net) for net in env_networks("X_NETS")] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "2001:db8::/64",
    ]
    monkeypatch.setenv("X_NETS", "10.0.0.0/8,proxy")
    with pytest.raises(ConfigError, match="X_NETS must be a comma-separated list of CIDRs"):
        env_networks("X_NETS")


def test_the_app_refuses_to_start_with_a_short_secret_key(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "simple_analytics", "check"],
        env={"SECRET_KEY": "short", "DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 32 characters" in result.stderr


def _env_reads_in_settings() -> dict[str, ast.expr | None]:
    """Each variable settings.py reads through an env_* helper, with its default expression."""
    source = (Path(__file__).parents[1] / "settings.py").read_text()
    reads: dict[str, ast.expr | None] = {}
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id.startswith("env_")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            reads[node.args[0].value] = node.args[1] if len(node.args) > 1 else None
    return reads


def test_env_example_lists_every_variable_with_its_default():
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = dict(re.findall(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", example, flags=re.MULTILINE))
    reads = _env_reads_in_settings()
    assert "DATABASE_URL" in reads and "INGEST_TIMEOUT_SECONDS" in reads
    assert sorted(set(reads) - set(documented)) == []
    for name, default in reads.items():
        if default is None or not isinstance(default, ast.Constant | ast.List):
            continue  # env_secret, or a default computed from other settings
        value = ast.literal_eval(default)
        expected = (
            ",".join(value) if isinstance(value, list) else "" if value is None else str(value)
        )
        assert documented[name] == expected, name
