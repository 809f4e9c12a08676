"""The Locations panel: the world map, its country links and filter, its asset and the
script that made it (``scripts/make_world_map.py``, pure parts on a tiny topology)."""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import math
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pycountry
import pytest
from django.urls import reverse

from dashboard import worldmap
from dashboard.presenters import PANEL_LIMIT
from simple_analytics.testing import record_events
from tracking.models import Session

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
DAY = {"period": "custom", "from": "2026-01-15", "to": "2026-01-15"}
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_world_map.py"


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


def visits_from(website, countries):
    """One session of one page view per entry of ``countries``, given that country."""
    record_events(
        website,
        [
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/",
                "at": D + dt.timedelta(seconds=i),
                "ip": f"198.51.100.{i + 1}",
            }
            for i in range(len(countries))
        ],
    )
    sessions = Session.objects.filter(website=website).order_by("started_at")
    assert len(sessions) == len(countries)
    for session, country in zip(sessions, countries, strict=True):
        session.country = country
        session.save(update_fields=["country"])


def get(client, website, **query):
    return client.get(reverse("dashboard:overview", args=[website.pk]), {**DAY, **query})


def locations(response):
    return next(p for p in response.context["panels"] if p.key == "locations")


def map_links(html):
    """(href, title, class) of each country link of the map."""
    return re.findall(r'<a href="([^"]+)"[^>]*><title>([^<]+)</title><path class="([^"]+)"', html)


def test_the_map_colours_and_links_the_countries_with_visitors(client, website):
    visits_from(website, ["DE", "DE", "DE", "FR", ""])
    response = get(client, website)
    panel = locations(response)
    assert [t.title for t in panel.tabs] == ["Countries", "Regions", "Cities"]
    countries = panel.tabs[0]
    assert [(r.label, r.visitors) for r in countries.rows] == [
        ("Germany", "3"),
        ("Unknown", "1"),  # ties sort by value, and "" comes first
        ("France", "1"),
    ]
    world_map = panel.world_map
    assert [(c.code, c.level) for c in world_map.countries] == [("DE", 5), ("FR", 3)]
    assert [s.text for s in world_map.legend] == ["1", "3"]

    html = response.content.decode()
    assert 'class="map-svg"' in html and not re.search(r"\sstyle=", html)  # CSP
    links = map_links(html)
    assert [(title, cls) for _, title, cls in links] == [
        ("Germany: 3 visitors (60%)", "m5"),
        ("France: 1 visitor (20%)", "m3"),
    ]
    # The same filter link as the Countries tab's row, period kept.
    href = links[0][0].replace("&amp;", "&")
    assert href == countries.rows[0].url
    assert parse_qs(urlsplit(href).query) == {
        **{k: [v] for k, v in DAY.items()},
        "country": ["DE"],
    }


def test_the_unknown_country_reads_unknown_and_is_not_on_the_map(client, website):
    visits_from(website, ["", "", "GB"])
    response = get(client, website)
    rows = locations(response).tabs[0].rows
    assert [(r.label, r.value) for r in rows] == [("Unknown", ""), ("United Kingdom", "GB")]
    assert [c.code for c in locations(response).world_map.countries] == ["GB"]
    [(href, title, _)] = map_links(response.content.decode())
    assert "country=GB" in href and title == "United Kingdom: 1 visitor (33%)"


def test_no_map_when_no_country_is_known(client, website):
    visits_from(website, ["", ""])
    response = get(client, website)
    assert locations(response).world_map is None
    assert "map-svg" not in response.content.decode()
    assert [r.label for r in locations(response).tabs[0].rows] == ["Unknown"]


def test_filtering_by_a_country_shows_only_its_visits(client, website):
    visits_from(website, ["DE", "DE", "FR", "US", ""])
    response = get(client, website, country="DE")
    cards = {c.key: c.value for c in response.context["cards"]}
    assert (cards["visitors"], cards["sessions"], cards["pageviews"]) == ("2", "2", "2")
    [chip] = response.context["chips"]
    assert (chip.label, chip.value) == ("Country", "Germany")
    panel = locations(response)
    assert panel.by_filter and panel.tabs[0].selected
    [germany] = panel.world_map.countries
    assert germany.active and germany.level == worldmap.LEVELS
    html = response.content.decode()
    assert 'class="on" aria-current="true"><title>Germany: 2 visitors (100%)</title>' in html


def test_the_map_shows_every_country_not_only_the_listed_ones(client, website):
    codes = ["DE", "FR", "US", "GB", "IT", "ES", "NL", "BE", "PL", "SE", "NO", "JP"]
    visits_from(website, [c for i, c in enumerate(codes) for _ in range(len(codes) - i)])
    panel = locations(get(client, website))
    assert len(panel.tabs[0].rows) == PANEL_LIMIT
    assert sorted(c.code for c in panel.world_map.countries) == sorted(codes)
    assert {c.level for c in panel.world_map.countries} == set(range(1, worldmap.LEVELS + 1))


def test_levels_are_quantiles_and_ties_share_one():
    assert worldmap.levels([1]) == [5]
    assert worldmap.levels([10, 1, 5, 5, 100]) == [4, 1, 3, 3, 5]
    assert worldmap.levels([7, 7, 7]) == [5, 5, 5]
    assert worldmap.levels(list(range(1, 11))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_the_map_asset_is_small_and_names_countries_by_alpha_2():
    raw = worldmap.ASSET.read_bytes()
    assert len(raw) < 40_000 and len(gzip.compress(raw)) < 12_000
    atlas = worldmap.atlas()
    assert re.fullmatch(r"0 0 1000 \d+", atlas.view_box)
    known = {c.alpha_2 for c in pycountry.countries} | {"XK"}
    assert set(atlas.shapes) <= known and len(atlas.shapes) > 200
    assert {"DE", "US", "BR", "IN", "CN", "AU", "XK"} <= set(atlas.shapes)
    assert atlas.shapes["SG"].dot and not atlas.shapes["DE"].dot  # too small for 1:110m
    assert "AQ" not in atlas.shapes
    for shape in atlas.shapes.values():
        assert re.fullmatch(r"(M-?\d+ -?\d+[la][-\d ]+(?:a[-\d ]+)*z)+", shape.d), shape.code


# --- scripts/make_world_map.py -----------------------------------------------------------


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_world_map", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_topology():
    """Two unit squares side by side sharing one arc, quantized at 1 unit = 10 degrees:
    Germany (276) on the left, France (250) on the right, plus Kosovo without an id."""
    return {
        "type": "Topology",
        "transform": {"scale": [10, 10], "translate": [-10, -10]},
        "arcs": [
            [[1, 1], [0, 1]],  # 0: shared border, (0,0) -> (0,10) in degrees
            [[1, 2], [-1, 0], [0, -1], [1, 0]],  # 1: Germany's other sides
            [[1, 1], [1, 0], [0, 1], [-1, 0]],  # 2: France's other sides
            [[3, 3], [0, 1], [1, 0], [-1, -1]],  # 3: a triangle
        ],
        "objects": {
            "countries": {
                "type": "GeometryCollection",
                "geometries": [
                    {"type": "Polygon", "arcs": [[0, 1]], "id": "276"},
                    {"type": "Polygon", "arcs": [[2, -1]], "id": "250"},
                    {"type": "Polygon", "arcs": [[3]], "properties": {"name": "Kosovo"}},
                    {"type": "Polygon", "arcs": [[3]], "id": "010"},  # Antarctica: left out
                ],
            }
        },
    }


def test_arcs_are_delta_decoded_then_scaled_and_translated(script):
    arcs = script.decode_arcs(tiny_topology())
    assert arcs[0] == [(0, 0), (0, 10)]
    assert arcs[1] == [(0, 10), (-10, 10), (-10, 0), (0, 0)]
    assert arcs[2] == [(0, 0), (10, 0), (10, 10), (0, 10)]
    assert script.decode_arcs({"arcs": [[[1.5, 2.5]]]}) == [[(1.5, 2.5)]]


def test_rings_join_arcs_and_reverse_negative_ones(script):
    arcs = script.decode_arcs(tiny_topology())
    germany = script.ring(arcs, [0, 1])
    assert germany == [(0, 0), (0, 10), (-10, 10), (-10, 0), (0, 0)]
    france = script.ring(arcs, [2, ~0])
    assert france == [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]


def test_equal_earth_matches_its_published_extent(script):
    assert script.equal_earth(0, 0) == (0, 0)
    x, y = script.equal_earth(180, 0)
    assert math.isclose(x, 2.7066297, rel_tol=1e-6) and y == 0
    x, y = script.equal_earth(0, 90)
    assert x == 0 and math.isclose(y, 1.3173627, rel_tol=1e-6)
    # Symmetric about both axes; meridians converge towards the poles.
    assert script.equal_earth(-30, -40) == tuple(-v for v in script.equal_earth(30, 40))
    assert script.equal_earth(100, 60)[0] < script.equal_earth(100, 0)[0]


def test_simplify_keeps_the_ends_and_drops_points_within_the_tolerance(script):
    line = [(0, 0), (1, 0.1), (2, -0.1), (3, 5), (4, 0)]
    assert script.simplify(line, 0.5) == [(0, 0), (2, -0.1), (3, 5), (4, 0)]
    assert script.simplify(line, 10) == [(0, 0), (4, 0)]


def test_a_ring_across_the_antimeridian_becomes_one_ring_per_side(script):
    arc = [(170, 0), (-170, 10), (-170, 20), (170, 20), (170, 0)]
    cut = script.cut_antimeridian(arc)
    assert cut[:3] == [(170, 0), (180, 5), (-180, 5)]
    assert (-180, 20) in cut and (180, 20) in cut
    east, west = script.split_ring(cut, 180)
    assert all(x >= 170 for x, _ in east) and all(x <= -170 for x, _ in west)
    assert east[0] == (180, 20) and west == [(-180, 5), (-170, 10), (-170, 20), (-180, 20)]


def test_path_data_is_relative_and_compact(script):
    assert script.path_data([[(10, 10), (20, 10), (20, 5), (10, 10)]]) == "M10 10l10 0 0-5z"
    # A ring that rounds to a line or a point is dropped; repeated points go.
    assert script.path_data([[(1, 1), (1, 1), (2, 2)], [(0, 0), (0, 0), (3, 0), (3, 3)]]) == (
        "M0 0l3 0 0 3z"
    )
    assert script.dot(10, 20, 3) == "M7 20a3 3 0 1 0 6 0a3 3 0 1 0 -6 0z"


def test_build_svg_writes_one_path_per_alpha_2_code(script):
    svg = script.build_svg(tiny_topology(), tiny_topology(), width=100, tolerance=0)
    ids = re.findall(r'<path id="c-(\w+)"', svg)
    assert ids == ["DE", "FR", "XK"]  # sorted; no dots, every code has a shape
    assert 'viewBox="0 0 100 ' in svg
    # Both rings start where their shared border does.
    de, fr = (re.search(rf'id="c-{c}" d="M(\d+) (\d+)', svg).groups() for c in ("DE", "FR"))
    assert de == fr
