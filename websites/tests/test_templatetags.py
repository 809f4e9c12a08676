from __future__ import annotations

from websites.templatetags.websites_tags import sparkline, thousands


def test_sparkline_scales_to_the_highest_value():
    svg = str(sparkline([0, 5, 10], "Visitors"))
    assert 'points="0.0,33.0 70.0,18.0 140.0,3.0"' in svg
    assert "<title>Visitors</title>" in svg
    assert "style=" not in svg


def test_sparkline_of_nothing_is_a_flat_line():
    assert 'points="0.0,33.0 140.0,33.0"' in str(sparkline([]))
    assert 'points="0.0,33.0 140.0,33.0"' in str(sparkline([0, 0]))
    assert 'class="sparkline is-empty"' in str(sparkline([0, 0]))
    assert 'class="sparkline"' in str(sparkline([0, 1]))


def test_sparkline_escapes_its_label():
    assert "<b>" not in str(sparkline([1, 2], "<b>x</b>"))


def test_thousands():
    assert thousands(1234567) == "1,234,567"
    assert thousands(None) == "–"
