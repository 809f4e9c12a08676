import time, pytest
from tracking.tests.test_browser import *  # noqa
from tracking.tests.test_browser import _orm_beside_playwright  # noqa

@pytest.mark.parametrize("how", ["close_bu", "close", "goto_blank", "goto_other_origin"])
def test_probe(live_server, context, host_page, how):
    website = make_website(domain="localhost")
    host_page(f'<script defer src="{live_server.url}/pixel.js" data-site="{website.tracking_id}" data-allow-localhost></script>')
    page = context.new_page()
    page.goto(f"{live_server.url}/landing")
    wait_for_events(website, [("PAGE_VIEW", "/landing")])
    if how == "close_bu": page.close(run_before_unload=True)
    elif how == "close": page.close()
    elif how == "goto_blank": page.goto("about:blank")
    else: page.goto(live_server.url.replace("localhost", "127.0.0.1") + "/healthz")
    t=time.monotonic()
    while time.monotonic()-t < 2: time.sleep(0.05)
    browser_urls.COLLECTED.clear(); print(how, list(DropCount.objects.values_list("reason","count")), browser_urls.SINK, stored(website), list(Event.objects.values_list("engaged_ms", flat=True)))
