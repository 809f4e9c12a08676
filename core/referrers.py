"""Referrer URL -> traffic source: a host without ``www.``, named for well-known sites;
and whether a referrer host is known referrer spam."""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import urlsplit

SPAM_LIST = Path(__file__).parent / "referrer_spam.txt"

# Host suffix -> display name. Matched on the host and each parent domain, so
# "l.facebook.com" and "news.google.co.uk"-style hosts resolve too.
_NAMED_SOURCES: dict[str, str] = {
    "google.com": "Google",
    "bing.com": "Bing",
    "duckduckgo.com": "DuckDuckGo",
    "search.yahoo.com": "Yahoo",
    "yahoo.com": "Yahoo",
    "yandex.ru": "Yandex",
    "yandex.com": "Yandex",
    "baidu.com": "Baidu",
    "ecosia.org": "Ecosia",
    "search.brave.com": "Brave Search",
    "startpage.com": "Startpage",
    "qwant.com": "Qwant",
    "kagi.com": "Kagi",
    "naver.com": "Naver",
    "facebook.com": "Facebook",
    "fb.com": "Facebook",
    "fb.me": "Facebook",
    "instagram.com": "Instagram",
    "t.co": "X (Twitter)",
    "twitter.com": "X (Twitter)",
    "x.com": "X (Twitter)",
    "linkedin.com": "LinkedIn",
    "lnkd.in": "LinkedIn",
    "reddit.com": "Reddit",
    "youtube.com": "YouTube",
    "youtu.be": "YouTube",
    "pinterest.com": "Pinterest",
    "tiktok.com": "TikTok",
    "news.ycombinator.com": "Hacker News",
    "github.com": "GitHub",
    "mastodon.social": "Mastodon",
    "bsky.app": "Bluesky",
    "threads.net": "Threads",
    "wikipedia.org": "Wikipedia",
    "stackoverflow.com": "Stack Overflow",
    "producthunt.com": "Product Hunt",
    "chatgpt.com": "ChatGPT",
    "perplexity.ai": "Perplexity",
    "mail.google.com": "Gmail",
    "outlook.live.com": "Outlook",
}
# Google runs country domains (google.de, google.co.uk, ...); any "google.<tld>" is Google.
_COUNTRY_ENGINES = {"google": "Google", "bing": "Bing", "yandex": "Yandex", "yahoo": "Yahoo"}


def clean_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


@functools.lru_cache(maxsize=4096)
def host_to_source(host: str) -> str:
    """A display name for a well-known host, else the host itself (without ``www.``)."""
    host = clean_host(host)
    labels = host.split(".")
    for i in range(len(labels) - 1):
        name = _NAMED_SOURCES.get(".".join(labels[i:]))
        if name:
            return name
    # google.de, google.co.uk, de.search.yahoo.com ...: engine name followed by a short TLD.
    for i, label in enumerate(labels[:-1]):
        if label in _COUNTRY_ENGINES and all(len(rest) <= 3 for rest in labels[i + 1 :]):
            return _COUNTRY_ENGINES[label]
    return host


def referrer_host(referrer: str) -> str:
    """The host of a referrer URL without ``www.``, or "" when it has none (or is not http)."""
    if not referrer:
        return ""
    try:
        parts = urlsplit(referrer)
        host = parts.hostname or ""
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https", "android-app"):
        return ""
    return clean_host(host)[:255]


@functools.cache
def _spam_hosts() -> frozenset[str]:
    lines = SPAM_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(
        clean_host(line) for line in lines if line.strip() and not line.lstrip().startswith("#")
    )


def is_referrer_spam(host: str) -> bool:
    """True when ``host`` (as ``referrer_host`` returns it) or a parent domain of it is on the
    referrer spam list (``core/referrer_spam.txt``): ``x.semalt.com`` matches ``semalt.com``.
    """
    if not host:
        return False
    spam = _spam_hosts()
    labels = host.split(".")
    return any(".".join(labels[i:]) in spam for i in range(len(labels) - 1))
