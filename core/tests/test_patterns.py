"""Path patterns shared by goals and websites' exclusions: one expression for a whole list,
and the rule that keeps slow patterns out. The syntax itself is tested at length in
``goals/tests/test_matching.py``."""

from __future__ import annotations

import re

import pytest

from core import patterns
from goals import matching


def test_goals_matching_reexports_the_same_functions():
    for name in ("tokens", "pattern_regex", "path_matches", "star_between_anys"):
        assert getattr(matching, name) is getattr(patterns, name)


def test_no_patterns_make_no_expression():
    assert patterns.patterns_regex([]) == ""


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/a/b",
        "/blog/x/edit",
        "/exact",
        "/a\nb/end",
        "/",
        "/exact/",
        "/blog/x/y/edit",
    ],
)
def test_a_list_matches_a_path_when_one_of_its_patterns_does(path):
    listed = ["/admin/**", "/blog/*/edit", "/exact", "/a**/end"]
    combined = re.compile(patterns.patterns_regex(listed))
    one_matches = any(patterns.path_matches(p, path) for p in listed)
    assert (combined.match(path) is not None) is one_matches
    assert (combined.search(path) is not None) is one_matches


@pytest.mark.parametrize(
    "pattern, slow",
    [
        ("/**/*/**", True),
        ("/**/a*b/**", True),
        ("/*/**/*", False),
        ("/**/a/**", False),
        ("/**", False),
        ("/a/*", False),
    ],
)
def test_a_star_between_two_anys_is_flagged(pattern, slow):
    assert patterns.star_between_anys(pattern) is slow
