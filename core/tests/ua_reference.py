"""The User-Agent classifier as it was before issue 12, the reference ``core.ua`` must agree
with: crawlerdetect's own matcher (one case-insensitive alternation) on the whole agent.
``bench/ua_cost.py`` measures it as the "before" side."""

from __future__ import annotations

import re

from crawlerdetect import CrawlerDetect

from core import ua as ua_mod
from core.ua import ParsedAgent

_CRAWLERS = CrawlerDetect()
EXTRA_BOTS = re.compile(
    r"headlesschrome|phantomjs|electron/|puppeteer|playwright|selenium|webdriver|lighthouse"
    r"|curl/|wget/|python-|python/|aiohttp|httpx|requests/|urllib|go-http-client|okhttp"
    r"|node-fetch|axios/|undici|^node$|^node/|java/|libwww|scrapy|postman|insomnia|httpie"
    r"|datadog|synthetics|pingdom|uptime|statuscake|newrelic|gtmetrix|pagespeed|chrome-lighthouse"
)
_TABLET_HINTS = re.compile(r"ipad|tablet|kindle|silk/|playbook|sm-t\d|nexus (7|9|10)", re.I)
_MOBILE_HINTS = re.compile(
    r"mobi|iphone|ipod|android.*mobile|windows phone|blackberry|opera mini", re.I
)


def reference_is_crawler(ua: str) -> bool:
    return bool(_CRAWLERS.is_crawler(ua))


def reference_parse(ua: str) -> ParsedAgent:
    ua = ua.strip()
    if not ua:
        return ParsedAgent("", "", "desktop", True)
    bot = bool(EXTRA_BOTS.search(ua.lower())) or reference_is_crawler(ua)
    result = ua_mod._PARSER.parse(ua)
    browser = result.user_agent.family if result.user_agent else "Other"
    os_family = result.os.family if result.os else "Other"
    device_family = result.device.family if result.device else "Other"
    if result.device and result.device.family == "Spider":
        bot = True
    return ParsedAgent(
        browser=ua_mod._clean_browser(browser)[:64],
        os=ua_mod._clean_os(os_family)[:64],
        device=_device_type(ua, os_family, device_family),
        is_bot=bot,
    )


def _device_type(ua: str, os_family: str, device_family: str) -> str:
    if _TABLET_HINTS.search(ua) or _TABLET_HINTS.search(device_family):
        return "tablet"
    if os_family == "Android" and "mobile" not in ua.lower():
        return "tablet"
    if _MOBILE_HINTS.search(ua) or os_family in ("iOS", "Android", "Windows Phone", "KaiOS"):
        return "mobile"
    return "desktop"
