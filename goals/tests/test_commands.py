"""The ``goal`` and ``funnel`` commands, through ``call_command`` and through the
``simple-analytics`` console script (its ``main``, in this process and database)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from goals.models import Funnel, Goal
from simple_analytics.cli import main
from simple_analytics.testing import make_website

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return make_website().tracking_id


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_goal_add_list_and_delete(site):
    assert run("goal", "add", "--site", site, "--event", "Signup") == (
        'added goal "Signup" (event Signup)\n'
    )
    assert run("goal", "add", "--site", site, "--event", "Signup", "--prop", "plan=pro") == (
        'added goal "Signup plan=pro" (event Signup plan=pro)\n'
    )
    assert run("goal", "add", "--site", site, "--page", "/blog/*", "--name", "Blog") == (
        'added goal "Blog" (page /blog/*)\n'
    )
    assert run("goal", "list", "--site", site).splitlines() == [
        "Blog             page /blog/*",
        "Signup           event Signup",
        "Signup plan=pro  event Signup plan=pro",
    ]
    assert run("goal", "delete", "--site", site, "Signup plan=pro") == (
        'deleted goal "Signup plan=pro"\n'
    )
    assert sorted(Goal.objects.values_list("name", flat=True)) == ["Blog", "Signup"]


def test_a_property_value_may_hold_an_equals_sign(site):
    run("goal", "add", "--site", site, "--event", "Search", "--prop", "q=a=b")
    assert Goal.objects.get().prop_value == "a=b"


def test_goal_list_as_json(site):
    assert json.loads(run("goal", "list", "--site", site, "--json")) == []
    run("goal", "add", "--site", site, "--event", "Signup", "--prop", "plan=pro")
    run("goal", "add", "--site", site, "--page", "/docs/**")
    rows = json.loads(run("goal", "list", "--site", site, "--json"))
    for row in rows:
        assert row.pop("created_at")
    assert rows == [
        {
            "name": "Signup plan=pro",
            "kind": "event",
            "event_name": "Signup",
            "prop_key": "plan",
            "prop_value": "pro",
            "page_pattern": "",
        },
        {
            "name": "Visit /docs/**",
            "kind": "page",
            "event_name": "",
            "prop_key": "",
            "prop_value": "",
            "page_pattern": "/docs/**",
        },
    ]


def test_an_empty_list_says_how_to_add_one(site):
    assert "goal add --site" in run("goal", "list", "--site", site)
    assert "funnel add --site" in run("funnel", "list", "--site", site)


def test_funnel_add_list_and_delete(site):
    run("goal", "add", "--site", site, "--page", "/pricing")
    run("goal", "add", "--site", site, "--event", "Signup")
    steps = ["--step", "Visit /pricing", "--step", "Signup"]
    added = run("funnel", "add", "--site", site, "--name", "Pricing to signup", *steps)
    assert added == 'added funnel "Pricing to signup": Visit /pricing -> Signup\n'
    assert run("funnel", "list", "--site", site) == (
        "Pricing to signup: Visit /pricing -> Signup\n"
    )
    [row] = json.loads(run("funnel", "list", "--site", site, "--json"))
    assert row.pop("created_at")
    assert row == {"name": "Pricing to signup", "steps": ["Visit /pricing", "Signup"]}
    assert run("funnel", "delete", "--site", site, "Pricing to signup") == (
        'deleted funnel "Pricing to signup"\n'
    )
    assert not Funnel.objects.exists()
    assert Goal.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["goal", "list", "--site", "nope"], "no website with tracking id 'nope'"),
        (["goal", "add", "--site", "SITE", "--page", "blog"], 'starts with "/"'),
        (["goal", "add", "--site", "SITE", "--event", " "], "1 to 120 characters"),
        (["goal", "add", "--site", "SITE", "--event", "S", "--prop", "plan"], "KEY=VALUE"),
        (["goal", "add", "--site", "SITE", "--event", "S", "--prop", "=pro"], "key too"),
        (["goal", "add", "--site", "SITE", "--page", "/a", "--prop", "a=b"], "goes with --event"),
        (["goal", "delete", "--site", "SITE", "Nope"], 'no goal "Nope" on example.com'),
        (["funnel", "add", "--site", "SITE", "--name", "F", "--step", "A"], "2 to 8 steps"),
        (
            ["funnel", "add", "--site", "SITE", "--name", "F", "--step", "A", "--step", "B"],
            'No goals "A", "B" on this website.',
        ),
        (["funnel", "delete", "--site", "SITE", "Nope"], 'no funnel "Nope" on example.com'),
        (["goal", "add", "--site", "SITE"], "one of the arguments --event --page is required"),
        (["goal", "add", "--site", "SITE", "--event", "S", "--page", "/"], "not allowed with"),
        (["goal"], "required"),
        (["funnel", "add", "--site", "SITE", "--name", "F"], "--step"),
    ],
)
def test_bad_input_is_a_command_error_naming_the_problem(site, args, message):
    args = [site if a == "SITE" else a for a in args]
    with pytest.raises(CommandError) as exc:
        call_command(*args, stdout=io.StringIO())
    assert message in str(exc.value)


def test_deleting_a_goal_of_a_funnel_is_refused_naming_the_funnel(site):
    run("goal", "add", "--site", site, "--event", "A")
    run("goal", "add", "--site", site, "--event", "B")
    run("funnel", "add", "--site", site, "--name", "AB", "--step", "A", "--step", "B")
    with pytest.raises(CommandError, match='step of funnel "AB": delete the funnel first'):
        call_command("goal", "delete", "--site", site, "A")
    assert Goal.objects.count() == 2


# --- the console script -------------------------------------------------------------


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    # A command run from the command line closes every connection when it is done, the
    # test's own (inside its transaction) too.
    monkeypatch.setattr(connections, "close_all", lambda: None)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``simple-analytics ARGS`` in this process: exit status, stdout, stderr."""
    try:
        main(list(args))
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_console_script_runs_goal_and_funnel(site, capsys):
    assert cli(capsys, "goal", "add", "--site", site, "--event", "Signup")[:2] == (
        0,
        'added goal "Signup" (event Signup)\n',
    )
    assert cli(capsys, "goal", "add", "--site", site, "--page", "/pricing")[0] == 0
    steps = ["--step", "Visit /pricing", "--step", "Signup"]
    status, out, _ = cli(capsys, "funnel", "add", "--site", site, "--name", "F", *steps)
    assert (status, out) == (0, 'added funnel "F": Visit /pricing -> Signup\n')
    status, out, _ = cli(capsys, "funnel", "list", "--site", site, "--json")
    assert status == 0
    assert json.loads(out)[0]["steps"] == ["Visit /pricing", "Signup"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["goal", "add", "--site", "SITE", "--page", "blog"], 'starts with "/"'),
        (["goal", "delete", "--site", "SITE", "Signup"], "is a step of funnel"),
        (["goal", "list", "--site", "nope"], "no website with tracking id"),
        (["goal", "add", "--site", "SITE"], "one of the arguments --event --page is required"),
        (["goal", "remove", "--site", "SITE"], "invalid choice: 'remove'"),
        (["funnel"], "the following arguments are required"),
        (["funnel", "add", "--site", "SITE", "--name", "F", "--step", "Signup"], "2 to 8"),
    ],
)
def test_the_console_script_ends_bad_input_with_status_1_and_a_message(site, capsys, args, message):
    cli(capsys, "goal", "add", "--site", site, "--event", "Signup")
    cli(capsys, "goal", "add", "--site", site, "--event", "Login")
    cli(
        capsys,
        "funnel",
        "add",
        "--site",
        site,
        "--name",
        "F",
        "--step",
        "Signup",
        "--step",
        "Login",
    )
    status, out, err = cli(capsys, *[site if a == "SITE" else a for a in args])
    assert status == 1
    assert message in err
    assert "Traceback" not in err + out


@pytest.mark.slow
def test_the_installed_script_ends_a_usage_error_with_status_1(tmp_path):
    script = Path(sys.executable).with_name("simple-analytics")
    env = {"PATH": os.environ.get("PATH", ""), "DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [str(script), "goal", "add", "--site", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "one of the arguments --event --page is required" in result.stderr
    assert "Traceback" not in result.stderr
    help_ = subprocess.run(
        [str(script), "funnel", "add", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert help_.returncode == 0
    assert "--step GOAL" in help_.stdout
