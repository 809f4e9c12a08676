from __future__ import annotations

import ipaddress

import pytest

from core.net import client_ip
from core.referrers import SPAM_LIST, host_to_source, is_referrer_spam, referrer_host
from core.ua import parse_agent

UAS = {
    "chrome_windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "safari_iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "safari_ipad": "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "chrome_android_phone": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "chrome_android_tablet": "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "firefox_linux": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "safari_mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "edge_windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "samsung": "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
}


@pytest.mark.parametrize(
    "key, browser, os, device",
    [
        ("chrome_windows", "Chrome", "Windows", "desktop"),
        ("safari_iphone", "Safari", "iOS", "mobile"),
        ("safari_ipad", "Safari", "iOS", "tablet"),
        ("chrome_android_phone", "Chrome", "Android", "mobile"),
        ("chrome_android_tablet", "Chrome", "Android", "tablet"),
        ("firefox_linux", "Firefox", "Linux", "desktop"),
        ("safari_mac", "Safari", "macOS", "desktop"),
        ("edge_windows", "Edge", "Windows", "desktop"),
        ("samsung", "Samsung Internet", "Android", "mobile"),
    ],
)
def test_it_parses_browser_os_and_device(key, browser, os, device):
    agent = parse_agent(UAS[key])
    assert (agent.browser, agent.os, agent.device, agent.is_bot) == (browser, os, device, False)


BOT_UAS = [
    "",
    "   ",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.32.3",
    "Python-urllib/3.11",
    "Go-http-client/2.0",
    "node",
    "axios/1.7.2",
    "Datadog/Synthetics",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
]


@pytest.mark.parametrize("ua", BOT_UAS)
def test_it_flags_bots_and_http_clients(ua):
    assert parse_agent(ua).is_bot is True


@pytest.mark.parametrize(
    "referrer, host, source",
    [
        ("https://www.google.com/search?q=x", "google.com", "Google"),
        ("https://www.google.co.uk/", "google.co.uk", "Google"),
        ("https://l.facebook.com/l.php?u=x", "l.facebook.com", "Facebook"),
        ("https://t.co/abc", "t.co", "X (Twitter)"),
        ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com", "Hacker News"),
        ("https://duckduckgo.com/", "duckduckgo.com", "DuckDuckGo"),
        ("https://WWW.Blog.Example.ORG/post", "blog.example.org", "blog.example.org"),
        ("android-app://com.google.android.gm/", "com.google.android.gm", "com.google.android.gm"),
    ],
)
def test_referrer_to_source(referrer, host, source):
    assert referrer_host(referrer) == host
    assert host_to_source(host) == source


@pytest.mark.parametrize("referrer", ["", "not a url", "javascript:alert(1)", "http://[::1"])
def test_unusable_referrers_have_no_host(referrer):
    assert referrer_host(referrer) == ""


PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]


@pytest.mark.parametrize(
    "remote, xff, proxies, expected",
    [
        ("198.51.100.1", "", PROXIES, "198.51.100.1"),
        # A client that is not a trusted proxy cannot choose its IP with the header.
        ("198.51.100.1", "1.2.3.4", PROXIES, "198.51.100.1"),
        ("10.0.0.5", "203.0.113.9", PROXIES, "203.0.113.9"),
        # Spoofed left-most entries are skipped: the first untrusted hop from the right wins.
        ("10.0.0.5", "6.6.6.6, 203.0.113.9, 10.1.1.1", PROXIES, "203.0.113.9"),
        ("10.0.0.5", "garbage", PROXIES, "10.0.0.5"),
        ("10.0.0.5", "203.0.113.9", [], "10.0.0.5"),
        ("127.0.0.1", "2001:db8::1", PROXIES, "2001:db8::1"),
    ],
)
def test_client_ip_believes_only_trusted_proxies(remote, xff, proxies, expected):
    assert client_ip(remote, xff, proxies) == expected


@pytest.mark.parametrize(
    "host, spam",
    [
        ("semalt.com", True),
        ("www.semalt.com", True),
        ("a.b.semalt.com", True),
        ("darodar.com", True),
        ("xn--c1acygb.xn--p1ai", True),  # listed in punycode, as browsers send it
        ("anal-acrobats.hol.es", True),  # a listed subdomain ...
        ("mysite.hol.es", False),  # ... does not list its parent's other hosts
        ("notsemalt.com", False),
        ("semalt.com.example.org", False),
        ("semalt", False),
        ("com", False),
        ("", False),
        ("google.com", False),
        ("mysite.ucoz.ru", False),  # shared hosting domains were curated out
        ("kharkov.ua", False),
    ],
)
def test_referrer_spam_matches_listed_hosts_and_their_subdomains(host, spam):
    assert is_referrer_spam(host) is spam


def test_the_referrer_spam_list_is_clean():
    lines = SPAM_LIST.read_text(encoding="utf-8").splitlines()
    hosts = [line for line in lines if line and not line.startswith("#")]
    assert len(hosts) > 1000
    assert hosts == sorted(set(hosts)), "keep it sorted and without duplicates"
    for host in hosts:
        assert host == host.strip().lower() and "." in host and "/" not in host, host
    assert "Source:" in SPAM_LIST.read_text(encoding="utf-8")  # where it comes from
