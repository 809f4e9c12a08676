"""User-Agent parsing: browser, OS, device type and bot detection, cached per UA string.

Only the first ``MAX_AGENT_CHARS`` characters are read, and the bot rules run as prefix
trees, so an agent costs little CPU however long or new it is: a client sending a new long
agent with every request cannot keep a core busy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from itertools import pairwise
from typing import NamedTuple

import ua_parser
from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns
from ua_parser.regex import Resolver as RegexResolver

# Browsers send less (in-app browsers, the longest, about 300); the rest is not read.
MAX_AGENT_CHARS = 512

# The Rust-backed resolver (ua-parser-rs) is pinned explicitly: ~100x the pure-Python one,
# and results differ slightly between resolvers, so every process must use the same one.
_PARSER = ua_parser.Parser(RegexResolver(ua_parser.load_builtins()))

# Agents crawlerdetect does not flag: automation, HTTP libraries and monitoring products.
_EXTRA_BOT_PATTERNS = (
    r"headlesschrome|phantomjs|electron/|puppeteer|playwright|selenium|webdriver|lighthouse"
    r"|curl/|wget/|python-|python/|aiohttp|httpx|requests/|urllib|go-http-client|okhttp"
    r"|node-fetch|axios/|undici|^node$|^node/|java/|libwww|scrapy|postman|insomnia|httpie"
    r"|datadog|synthetics|pingdom|uptime|statuscake|newrelic|gtmetrix|pagespeed|chrome-lighthouse"
)

# Matched against the lower-cased agent: under re.IGNORECASE sre cannot skip a branch by
# its first character. "mobi" also finds Android phones' "Mobile".
_TABLET_HINTS = re.compile(r"ipad|tablet|kindle|silk/|playbook|sm-t\d|nexus (7|9|10)")
_MOBILE_HINTS = re.compile(r"mobi|iphone|ipod|windows phone|blackberry|opera mini")


class ParsedAgent(NamedTuple):
    browser: str
    os: str
    device: str  # "desktop" | "mobile" | "tablet"
    is_bot: bool


def parse_agent(ua: str) -> ParsedAgent:
    """Parse a User-Agent string (its first ``MAX_AGENT_CHARS`` characters). Pure and
    cached: a site's traffic repeats few agents."""
    return _parse(ua[:MAX_AGENT_CHARS].strip())


@functools.lru_cache(maxsize=32768)
def _parse(ua: str) -> ParsedAgent:
    if not ua:
        return ParsedAgent("", "", "desktop", True)
    result = _PARSER.parse(ua)
    browser = result.user_agent.family if result.user_agent else "Other"
    os_family = result.os.family if result.os else "Other"
    device_family = result.device.family if result.device else "Other"
    lowered = ua.lower()
    # Cheapest first: crawlerdetect's rules run only when ua-parser and our list found none.
    bot = (
        device_family == "Spider"
        or _matches(_EXTRA_BOTS_AT_START, _EXTRA_BOTS, lowered)
        or is_crawler(ua)
    )
    return ParsedAgent(
        browser=_clean_browser(browser)[:64],
        os=_clean_os(os_family)[:64],
        device=_device_type(lowered, os_family, device_family),
        is_bot=bot,
    )


def _device_type(lowered: str, os_family: str, device_family: str) -> str:
    """Device type from a small rule set on top of ua-parser (which has no device type)."""
    if _TABLET_HINTS.search(lowered) or _TABLET_HINTS.search(device_family.lower()):
        return "tablet"
    # Android tablets drop the "Mobile" token that Android phones send.
    if os_family == "Android" and "mobile" not in lowered:
        return "tablet"
    if _MOBILE_HINTS.search(lowered) or os_family in ("iOS", "Android", "Windows Phone", "KaiOS"):
        return "mobile"
    return "desktop"


_BROWSER_NAMES = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome WebView",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari (in-app)",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
}
_OS_NAMES = {"Mac OS X": "macOS", "Ubuntu": "Linux", "Fedora": "Linux"}


def _clean_browser(name: str) -> str:
    return _BROWSER_NAMES.get(name, name)


def _clean_os(name: str) -> str:
    return _OS_NAMES.get(name, name)


def is_crawler(ua: str) -> bool:
    """crawlerdetect's answer: with its exclusions (browser tokens) removed, does any of its
    crawler patterns match ``ua``, ignoring case?"""
    text = _EXCLUSIONS.sub("", ua.strip().lower())
    return bool(text) and _matches(_CRAWLERS_AT_START, _CRAWLERS, text)


# Rule lists compiled for lower-cased text as prefix trees, with the same answers (the tests
# compare with crawlerdetect). crawlerdetect's own form, one case-insensitive alternation of
# ~1,500 patterns, makes sre enter every branch at every position of the agent.


def _matches(at_start: re.Pattern[str], anywhere: re.Pattern[str], lowered: str) -> bool:
    return bool(at_start.match(lowered) or anywhere.search(lowered))


_SPECIAL = frozenset("\\.^$*+?{}[]|()")
_QUANTIFIERS = frozenset("*+?{")
_LEADING_CLASS_STAR = re.compile(r"\[[^\]]*\]\*")


def _lower(pattern: str) -> str:
    """The pattern for lower-cased text: letters lower-cased, escapes (``\\D``, ``\\S``)
    kept. A case-sensitive literal lets sre skip a branch on its first character."""
    out: list[str] = []
    escaped = False
    for ch in pattern:
        out.append(ch if escaped else ch.lower())
        escaped = not escaped and ch == "\\"
    return "".join(out)


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives, a group spanning the whole pattern opened:
    ``a|b(c|d)`` -> ``a``, ``b(c|d)``; ``(?:a|b)`` -> ``a``, ``b``."""
    bars: list[int] = []
    first_close = -1  # where the group opened at 0 (if any) closes
    depth, in_class, escaped = 0, False, False
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and first_close < 0:
                first_close = i
        elif ch == "|" and depth == 0:
            bars.append(i)
    if bars:
        edges = [-1, *bars, len(pattern)]
        return [p for a, b in pairwise(edges) for p in _alternatives(pattern[a + 1 : b])]
    if first_close == len(pattern) - 1 and pattern.startswith("(?:"):
        return _alternatives(pattern[3:-1])
    if first_close == len(pattern) - 1 and pattern.startswith("(") and pattern[1:2] != "?":
        return _alternatives(pattern[1:-1])  # no pattern refers back to a group
    return [pattern]


def _literal_prefix(pattern: str) -> tuple[str, str]:
    """The characters every match starts with, and the rest of the pattern:
    ``ab\\/c?d`` -> (``ab/``, ``c?d``)."""
    chars: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and pattern[i + 1 : i + 2] and not pattern[i + 1].isalnum():
            ch, width = pattern[i + 1], 2
        elif pattern[i] not in _SPECIAL:
            ch, width = pattern[i], 1
        else:
            break
        if pattern[i + width : i + width + 1] in _QUANTIFIERS:
            break
        chars.append(ch)
        i += width
    return "".join(chars), pattern[i:]


def _trie(entries: list[tuple[str, str]]) -> list[str]:
    """Branches matching any of (literal prefix, rest), shared prefixes factored out: at
    each position sre then tries only the branches whose next character fits."""
    if any(not literal and not rest for literal, rest in entries):
        return [""]  # one pattern is complete here: whatever else follows, it matched
    branches = [rest for literal, rest in entries if not literal]
    children: dict[str, list[tuple[str, str]]] = {}
    for literal, rest in entries:
        if literal:
            children.setdefault(literal[0], []).append((literal[1:], rest))
    for ch, sub in children.items():
        inner = _trie(sub)
        branches.append(re.escape(ch) + (inner[0] if len(inner) == 1 else f"(?:{'|'.join(inner)})"))
    return branches


def _rules(patterns: Iterable[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes for "does any of ``patterns`` match, ignoring case" on lower-cased text: one
    matched at the start (the ``^`` patterns), one searched."""
    at_start: list[str] = []
    anywhere: list[str] = []
    for pattern in patterns:
        for alternative in _alternatives(_lower(pattern)):
            if alternative.startswith("^"):
                at_start.append(alternative[1:])
                continue
            # A search finds ``[...]*x`` exactly where it finds ``x``, without retrying the
            # class run from every start (quadratic on a long word).
            star = _LEADING_CLASS_STAR.match(alternative)
            if star and alternative[star.end() : star.end() + 1] not in _QUANTIFIERS | {""}:
                anywhere.extend(_alternatives(alternative[star.end() :]))
            else:
                anywhere.append(alternative)
    return _compile(at_start), _compile(anywhere)


def _compile(patterns: list[str]) -> re.Pattern[str]:
    if not patterns:
        return re.compile("(?!)")
    return re.compile("(?:" + "|".join(_trie([_literal_prefix(p) for p in patterns])) + ")")


# Kept as it is: which exclusion matches first decides what is removed.
_EXCLUSIONS = re.compile("|".join(_lower(p) for p in exclusion_patterns))
_CRAWLERS_AT_START, _CRAWLERS = _rules(crawler_patterns)
_EXTRA_BOTS_AT_START, _EXTRA_BOTS = _rules([_EXTRA_BOT_PATTERNS])
