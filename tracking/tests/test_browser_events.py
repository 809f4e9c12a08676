"""End to end: custom events from the real tracking script in Debian's Chromium.

``sa("event", ...)`` and the stub's queue (``/pixel.js``), and the automatic events of
``/pixel.full.js``: tagged elements, outbound links, file downloads. As in
``test_browser``, the host page, the script and ``/api/event`` all come from the live test
server (``browser_urls``), and what counts is what the server stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simple_analytics.testing import DESKTOP_UA
from simple_analytics.tests.browser import TIMEOUT_S, wait_for
from tracking.models import DropCount, Event, Session
from tracking.tests import browser_urls
from tracking.tests.test_browser import localhost_website, wait_until_page_gone

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tracking.tests.browser_urls"),
]

# The documented one-line stub: calls made before the script has loaded wait in sa.q.
STUB = "window.sa=window.sa||function(){(sa.q=sa.q||[]).push(arguments)}"

Row = tuple[str, str, str | None, dict[str, str] | None]


def view(path: str) -> Row:
    return ("PAGE_VIEW", path, None, None)


def exit_(path: str) -> Row:
    return ("PAGE_EXIT", path, None, None)


def event(name: str, props: dict[str, str] | None = None, path: str = "/landing") -> Row:
    return ("EVENT", path, name, props)


def stored(website) -> list[Row]:
    rows = Event.objects.filter(website=website).order_by("id")
    return [(e.type, e.path, e.name, e.props) for e in rows]


def wait_for_events(website, expected: list[Row]) -> None:
    """Wait until exactly ``expected`` is stored, in order; fail at once on anything else."""

    def probe() -> bool:
        events = stored(website)
        assert events == expected[: len(events)], f"unexpected events {events}"
        return events == expected

    wait_for(probe, f"events {expected}")


def wait_for_beacons(website, before: list[Row], beacons: list[Row]) -> None:
    """``before`` in order, then ``beacons`` in any order: two beacons sent one after the
    other travel on separate connections and may be committed either way round."""

    def probe() -> bool:
        events = stored(website)
        assert events[: len(before)] == before[: len(events)], f"unexpected events {events}"
        rest = events[len(before) :]
        assert all(row in beacons for row in rest), f"unexpected events {events}"
        return len(rest) == len(beacons) and sorted(map(repr, rest)) == sorted(map(repr, beacons))

    wait_for(probe, f"events {before} then {beacons}")


def wait_for_requests(count: int) -> None:
    # A request is noted after its event is stored: wait for the notes too.
    wait_for(lambda: len(browser_urls.COLLECTED) >= count, f"{count} requests noted")


def sent(kind: str = "EVENT") -> list[dict[str, Any]]:
    """The bodies of one type the server was sent, in arrival order."""
    return [body for body in browser_urls.BODIES if body.get("type") == kind]


@pytest.fixture
def context(browser) -> Iterator[Any]:
    ctx = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(TIMEOUT_S * 1000)
    yield ctx
    ctx.close()


@pytest.fixture
def host_page() -> Iterator[Callable[..., None]]:
    """Set what the host page embeds (head) and shows (body); what the server saw starts
    empty."""

    def embed(snippet: str, body: str = "") -> None:
        browser_urls.PAGE.update(snippet=snippet, body=body)

    def reset() -> None:
        browser_urls.PAGE.update(snippet="", body="")
        browser_urls.SINK.clear()
        browser_urls.COLLECTED.clear()
        browser_urls.BODIES.clear()
        browser_urls.FAULTS.update(before=0, after=0)

    reset()
    yield embed
    reset()


@pytest.fixture
def watched_page(context) -> Iterator[Any]:
    """A new page; at the end, no script error may have reached it."""
    page = context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda exc: errors.append(exc))
    yield page
    assert errors == []


def script(live_server, website, build: str = "pixel.js", attrs: str = "") -> str:
    return (
        f'<script defer src="{live_server.url}/{build}" data-site="{website.tracking_id}" '
        f"data-allow-localhost {attrs}></script>"
    )


@pytest.mark.parametrize("build", ["pixel.js", "pixel.full.js"])
def test_calls_queued_by_the_stub_arrive_in_order_after_the_page_view(
    live_server, host_page, watched_page, build
):
    website = localhost_website()
    host_page(
        f"<script>{STUB};"
        'sa("event", "Opened", {step: 1});'
        'sa("event", "Signup", {plan: "pro", seats: 3, trial: true, price: 9.5})'
        f"</script>{script(live_server, website, build)}"
    )
    page = watched_page
    page.goto(f"{live_server.url}/landing")
    # The real function replaced the stub, so a call now goes out at once.
    assert page.evaluate("typeof sa === 'function' && sa.q === undefined")
    page.evaluate('sa("event", "Clicked")')
    page.click("#push")
    expected = [
        view("/landing"),
        event("Opened", {"step": "1"}),
        event("Signup", {"plan": "pro", "seats": "3", "trial": "true", "price": "9.5"}),
        event("Clicked"),
        ("PATH_CHANGE", "/pricing", None, None),
    ]
    wait_for_events(website, expected)
    wait_for_requests(len(expected))

    first = sent("EVENT")[0]
    assert first["name"] == "Opened" and first["props"] == {"step": 1}
    assert first["url"] == f"{live_server.url}/landing" and first["site"] == website.tracking_id
    # Only the landing page view carries the referrer; only the page left reports engagement.
    assert {"screen", "id"} <= first.keys()
    assert not {"referrer", "engaged_ms", "scroll_pct"} & first.keys()
    assert "props" not in sent("EVENT")[2]  # no props: none sent, none stored
    assert [kind for kind, _ in browser_urls.COLLECTED] == [e[0] for e in expected]
    assert {status for _, status in browser_urls.COLLECTED} == {202}
    # One visit: the events joined the session the page view opened.
    session = Session.objects.get()
    assert set(Event.objects.values_list("session_id", flat=True)) == {session.id}
    assert session.pageviews == 2


def test_bad_calls_are_ignored_and_never_reach_the_page(live_server, host_page, watched_page):
    website = localhost_website()
    host_page(
        f'<script>{STUB}; sa(); sa("event"); sa("event", 42); sa("view", "Home");'
        f'sa("event", "Queued")</script>{script(live_server, website)}'
    )
    page = watched_page
    page.goto(f"{live_server.url}/landing")
    wait_for_events(website, [view("/landing"), event("Queued")])

    returned = page.evaluate(
        """() => {
          const circular = {};
          circular.self = circular;
          const calls = [
            [], ["event"], ["event", null], ["event", {name: "x"}], ["pageview", "Home"],
            ["event", "Circular", circular],
            ["event", "Getter", {get boom() { throw new Error("boom"); }}],
            ["event", "BigInt", {n: 10n}],
          ];
          return calls.map((args) => String(sa(...args)));
        }"""
    )
    assert returned == ["undefined"] * 8
    # What the server refuses (a nested value, a blank name): a 400, nothing stored.
    page.evaluate('sa("event", "Nested", {a: {b: 1}}); sa("event", " ", {})')
    wait_for(lambda: len(sent("EVENT")) == 3, "the refused events' requests")
    # The tracker's history wrapper hands the page its own errors, unchanged.
    error = page.evaluate(
        "() => { try { history.pushState({}, '', 'https://elsewhere.example/'); }"
        " catch (e) { return e.name; } }"
    )
    assert error == "SecurityError"
    page.evaluate('sa("event", "After", {ok: true})')
    page.click("#push")
    wait_for_events(
        website,
        [
            view("/landing"),
            event("Queued"),
            event("After", {"ok": "true"}),
            ("PATH_CHANGE", "/pricing", None, None),
        ],
    )
    wait_for_requests(6)
    assert browser_urls.COLLECTED == [
        ("PAGE_VIEW", 202),
        ("EVENT", 202),
        ("EVENT", 400),
        ("EVENT", 400),
        ("EVENT", 202),
        ("PATH_CHANGE", 202),
    ]


TAGGED = """
<button id="signup" data-sa-event="Signup" data-sa-prop-plan="pro" data-sa-prop-Seats="3">
  <span id="signup-label">Sign up</span>
</button>
<button id="untagged">Nothing</button>
"""


@pytest.mark.parametrize("switched_on", [True, False], ids=["data-tagged-events", "without"])
def test_a_click_on_a_tagged_element_sends_its_event_with_props(
    live_server, host_page, watched_page, switched_on
):
    website = localhost_website()
    attrs = "data-tagged-events" if switched_on else ""
    host_page(script(live_server, website, "pixel.full.js", attrs), TAGGED)
    page = watched_page
    page.goto(f"{live_server.url}/landing")
    wait_for_events(website, [view("/landing")])

    page.click("#signup-label")  # inside the tagged element: the event is the ancestor's
    page.click("#untagged")
    page.close(run_before_unload=True)
    wait_until_page_gone()
    # Attribute names are lower case in HTML: data-sa-prop-Seats is the prop "seats".
    signup = event("Signup", {"plan": "pro", "seats": "3"})
    wait_for_beacons(
        website,
        [view("/landing")],
        [signup, exit_("/landing")] if switched_on else [exit_("/landing")],
    )
    wait_for_requests(3 if switched_on else 2)
    assert [body["name"] for body in sent("EVENT")] == (["Signup"] if switched_on else [])
    assert DropCount.objects.count() == 0


def test_an_outbound_click_that_leaves_the_page_still_arrives(live_server, host_page, watched_page):
    website = localhost_website()
    # Another host (127.0.0.1 instead of localhost), served by the same live server.
    elsewhere = live_server.url.replace("//localhost:", "//127.0.0.1:") + "/healthz"
    host_page(
        script(live_server, website, "pixel.full.js", "data-outbound-links"),
        f'<a id="out" href="{elsewhere}">Elsewhere</a> <a id="mail" href="mailto:a@b.example">'
        "Mail</a>",
    )
    page = watched_page
    page.goto(f"{live_server.url}/landing")
    wait_for_events(website, [view("/landing")])

    page.evaluate(
        "document.getElementById('mail').addEventListener('click', (e) => e.preventDefault())"
    )
    page.click("#mail")  # no host: not an outbound link
    page.click("#out")
    page.wait_for_url(elsewhere)
    wait_until_page_gone()
    outbound = event("Outbound Link: Click", {"url": elsewhere})
    wait_for_beacons(website, [view("/landing")], [outbound, exit_("/landing")])
    wait_for_requests(3)
    assert sorted(browser_urls.COLLECTED) == [
        ("EVENT", 202),
        ("PAGE_EXIT", 202),
        ("PAGE_VIEW", 202),
    ]

    session = Session.objects.get()
    assert set(Event.objects.values_list("session_id", flat=True)) == {session.id}
    # One page view and a custom event: not a bounce.
    assert (session.pageviews, session.is_bounce) == (1, False)
    assert DropCount.objects.count() == 0


@pytest.mark.parametrize(
    "attribute",
    ['data-file-downloads="PDF, zip"', "data-file-downloads"],
    ids=["listed", "default"],
)
def test_a_file_download_click_sends_its_url(live_server, host_page, watched_page, attribute):
    website = localhost_website()
    host_page(
        script(live_server, website, "pixel.full.js", attribute),
        '<a id="pdf" href="/files/report.Pdf?v=2" download>Report</a>'
        '<a id="md" href="/files/notes.md" download>Notes</a>',
    )
    page = watched_page
    page.goto(f"{live_server.url}/landing")
    wait_for_events(website, [view("/landing")])

    with page.expect_download():
        page.click("#md")  # not a listed extension
    with page.expect_download():
        page.click("#pdf")
    url = f"{live_server.url}/files/report.Pdf?v=2"
    wait_for_events(website, [view("/landing"), event("File Download", {"url": url})])
    page.close(run_before_unload=True)
    wait_until_page_gone()
    wait_for_beacons(
        website, [view("/landing"), event("File Download", {"url": url})], [exit_("/landing")]
    )
    wait_for_requests(3)
    assert [body["props"] for body in sent("EVENT")] == [{"url": url}]


def test_the_default_script_leaves_the_automatic_events_out(live_server, host_page, watched_page):
    website = localhost_website()
    elsewhere = live_server.url.replace("//localhost:", "//127.0.0.1:") + "/healthz"
    attrs = "data-tagged-events data-outbound-links data-file-downloads"
    host_page(
        script(live_server, website, "pixel.js", attrs),
        f'{TAGGED}<a id="pdf" href="/report.pdf" download>Report</a>'
        f'<a id="out" href="{elsewhere}">Out</a>',
    )
    page = watched_page
    page.goto(f"{live_server.url}/landing")
    wait_for_events(website, [view("/landing")])
    page.click("#signup")
    with page.expect_download():
        page.click("#pdf")
    page.click("#out")
    page.wait_for_url(elsewhere)
    wait_until_page_gone()
    wait_for_events(website, [view("/landing"), exit_("/landing")])
    wait_for_requests(2)
    assert browser_urls.COLLECTED == [("PAGE_VIEW", 202), ("PAGE_EXIT", 202)]
