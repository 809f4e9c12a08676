"""Generate the dashboard's world map, ``dashboard/static/dashboard/world.svg``, once.

    python scripts/make_world_map.py [--tarball world-atlas-2.0.2.tgz] [--out PATH]

The shapes are Natural Earth's 1:110m Admin 0 countries (public domain), as the TopoJSON
of the npm package ``world-atlas`` (ISC). Without ``--tarball`` the script runs
``npm pack world-atlas@VERSION`` in a temporary directory and checks the tarball's
SHA-256. It decodes the arcs, projects them with the Equal Earth projection, simplifies
each shared arc once (neighbours keep a common border), rounds to whole units and writes
one ``<path id="c-XX">`` per ISO 3166-1 alpha-2 code (pycountry maps the numeric ids).

Features without a numeric id: Kosovo becomes ``XK`` (the code geolocation databases
use), Northern Cyprus joins ``CY`` and Somaliland ``SO`` (ISO 3166 counts them so).
Antarctica is left out. docs/decisions.md ("World map") records why.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pycountry

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "dashboard" / "static" / "dashboard" / "world.svg"
PACKAGE = "world-atlas"
VERSION = "2.0.2"
TARBALL_SHA256 = "032e7765f2ce00edaeafec23ff22bc3b77e42987c257da944cc585b452c05b97"
COUNTRIES = "package/countries-110m.json"
# Where the small countries the 1:110m file lacks (Singapore, Malta, ...) are, for a dot.
SMALL_COUNTRIES = "package/countries-50m.json"

WIDTH = 1000  # viewBox units across; the page scales the map to its box
TOLERANCE = 1.0  # Douglas-Peucker tolerance, in viewBox units
DOT_RADIUS = 3  # the countries too small for the 1:110m shapes
BY_NAME = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}
LEFT_OUT = {"AQ"}  # Antarctica: a third of the height for almost no visitors

Point = tuple[float, float]

# Equal Earth (Šavrič, Patterson, Jenny 2018): equal-area, so large countries do not
# look more important than they are.
A1, A2, A3, A4 = 1.340264, -0.081106, 0.000893, 0.003796
M = math.sqrt(3) / 2


def equal_earth(lon: float, lat: float) -> Point:
    """Degrees -> projected (x, y), y growing north; x in about ±2.71, y in ±1.32."""
    lam, phi = math.radians(lon), math.radians(lat)
    theta = math.asin(M * math.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * math.cos(theta) / (M * (A1 + 3 * A2 * t2 + t6 * (7 * A3 + 9 * A4 * t2)))
    y = theta * (A1 + A2 * t2 + t6 * (A3 + A4 * t2))
    return x, y


def decode_arcs(topology: dict[str, Any]) -> list[list[Point]]:
    """A quantized topology's arcs in degrees: positions are deltas from the previous one,
    scaled and translated by ``transform`` (TopoJSON specification, 2.1.2 and 2.2)."""
    transform = topology.get("transform")
    out = []
    for arc in topology["arcs"]:
        if transform is None:
            out.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (kx, ky), (dx, dy) = transform["scale"], transform["translate"]
        x = y = 0
        points = []
        for p in arc:
            x += p[0]
            y += p[1]
            points.append((x * kx + dx, y * ky + dy))
        out.append(points)
    return out


def simplify(points: Sequence[Point], tolerance: float) -> list[Point]:
    """Douglas-Peucker; the two ends always stay, so arcs still meet."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = points[first], points[last]
        length = math.hypot(bx - ax, by - ay)
        worst, index = 0.0, 0
        for i in range(first + 1, last):
            px, py = points[i]
            if length == 0:
                d = math.hypot(px - ax, py - ay)
            else:
                d = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
            if d > worst:
                worst, index = d, i
        if worst > tolerance:
            keep[index] = True
            stack.extend([(first, index), (index, last)])
    return [p for p, k in zip(points, keep, strict=True) if k]


def cut_antimeridian(arc: Sequence[Point]) -> list[Point]:
    """Where a line crosses longitude ±180 (Russia's and Fiji's rings do), put a point on
    each edge of the map, so the projected line leaves by one side and comes back by the
    other instead of crossing the whole map."""
    out: list[Point] = []
    for i, b in enumerate(arc):
        if i and abs(b[0] - arc[i - 1][0]) > 180:
            a = arc[i - 1]
            side = 180.0 if a[0] > 0 else -180.0
            if abs(a[0]) == 180:
                lat = a[1]
            elif abs(b[0]) == 180:
                lat = b[1]
            else:
                b_lon = b[0] + 2 * side  # b seen from a's side
                lat = a[1] + (side - a[0]) / (b_lon - a[0]) * (b[1] - a[1])
            out.extend(p for p in ((side, lat), (-side, lat)) if p != out[-1])
            if b == out[-1]:
                continue
        out.append(b)
    return out


def pieces(points: Sequence[Point], jump: float) -> list[list[Point]]:
    """``points`` split where consecutive x differ by more than ``jump`` (an edge crossing)."""
    out = [[points[0]]] if points else []
    for a, b in itertools.pairwise(points):
        if abs(b[0] - a[0]) > jump:
            out.append([])
        out[-1].append(b)
    return out


def split_ring(points: Sequence[Point], jump: float) -> list[list[Point]]:
    """A ring that crosses the map's edge twice as two rings, one on each side (the
    closing ``z`` runs along the edge). The data has no ring crossing more often."""
    parts = pieces(points, jump)
    if len(parts) == 1:
        return parts
    if len(parts) != 3:
        raise ValueError(f"a ring crossing the antimeridian {len(parts) - 1} times")
    first, middle, last = parts
    return [last + first, middle]


def ring(arcs: Sequence[Sequence[Point]], indices: Iterable[int]) -> list[Point]:
    """Join a ring's arcs; a negative index ``~i`` is arc ``i`` reversed."""
    out: list[Point] = []
    for index in indices:
        arc = list(arcs[index]) if index >= 0 else list(reversed(arcs[~index]))
        out.extend(arc[1:] if out else arc)
    return out


def path_data(rings: Iterable[Sequence[tuple[int, int]]]) -> str:
    """Rings of whole-unit points as compact SVG path data: an absolute move, then
    relative lines; repeated points and rings that collapse below a triangle go."""
    parts = []
    for points in rings:
        pts = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
        if len(pts) > 1 and pts[-1] == pts[0]:
            pts.pop()
        if len(pts) < 3:
            continue
        out = [f"M{pts[0][0]} {pts[0][1]}"]
        out.append("l" + _pairs((b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(pts)))
        parts.append("".join(out) + "z")
    return "".join(parts)


def _pairs(deltas: Iterable[tuple[int, int]]) -> str:
    text = ""
    for dx, dy in deltas:
        for n in (dx, dy):
            # A minus sign separates numbers by itself.
            text += str(n) if n < 0 or not text else f" {n}"
    return text


def alpha2(geometry: dict[str, Any]) -> str | None:
    """A feature's ISO 3166-1 alpha-2 code, from its numeric id or, without one, its name."""
    numeric = geometry.get("id")
    if numeric is None:
        return BY_NAME.get(geometry.get("properties", {}).get("name", ""))
    country = pycountry.countries.get(numeric=str(numeric).zfill(3))
    return None if country is None else str(country.alpha_2)


def polygons(geometry: dict[str, Any]) -> list[list[list[int]]]:
    if geometry["type"] == "Polygon":
        return [geometry["arcs"]]
    if geometry["type"] == "MultiPolygon":
        return list(geometry["arcs"])
    return []


def build_svg(
    topology: dict[str, Any],
    small: dict[str, Any] | None = None,
    *,
    width: int = WIDTH,
    tolerance: float = TOLERANCE,
) -> str:
    """The map as an SVG document: one path per country code of ``topology``, sorted by
    code, then a dot for each further code of ``small`` (drawn last, so on top)."""
    geometries = _geometries(topology)
    used = {i if i >= 0 else ~i for _, g in geometries for p in polygons(g) for r in p for i in r}
    projected = [[equal_earth(*p) for p in cut_antimeridian(a)] for a in decode_arcs(topology)]
    points = [p for i in used for p in projected[i]]
    left, right = min(x for x, _ in points), max(x for x, _ in points)
    bottom, top = min(y for _, y in points), max(y for _, y in points)
    scale = width / (right - left)
    height = math.ceil((top - bottom) * scale)
    jump = width / 2

    def to_view(p: Point) -> Point:
        return (p[0] - left) * scale, (top - p[1]) * scale  # SVG's y grows down

    arcs = [
        [q for piece in pieces([to_view(p) for p in arc], jump) for q in simplify(piece, tolerance)]
        if i in used
        else []
        for i, arc in enumerate(projected)
    ]
    shapes: dict[str, list[list[tuple[int, int]]]] = {}
    for code, geometry in geometries:
        for polygon in polygons(geometry):
            for indices in polygon:
                for part in split_ring(ring(arcs, indices), jump):
                    shapes.setdefault(code, []).append([(round(x), round(y)) for x, y in part])
    paths = [
        f'<path id="c-{code}" d="{d}"/>'
        for code in sorted(shapes)
        if (d := path_data(shapes[code]))
    ]
    if small is not None:
        small_arcs = [[equal_earth(*p) for p in arc] for arc in decode_arcs(small)]
        dots = {}
        for code, geometry in _geometries(small):
            if code not in shapes:
                rings = [ring(small_arcs, polygon[0]) for polygon in polygons(geometry)]
                x, y = to_view(centroid(max(rings, key=lambda r: abs(area(r)))))
                x = min(max(x, DOT_RADIUS), width - DOT_RADIUS)  # inside the view box
                y = min(max(y, DOT_RADIUS), height - DOT_RADIUS)
                dots[code] = dot(round(x), round(y), DOT_RADIUS)
        paths += [f'<path id="c-{code}" class="dot" d="{dots[code]}"/>' for code in sorted(dots)]
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}">\n'
        f"<!-- Natural Earth 1:110m and 1:50m (public domain) via {PACKAGE}@{VERSION} (ISC); "
        "Equal Earth projection; scripts/make_world_map.py -->\n"
    )
    return head + "\n".join(paths) + "\n</svg>\n"


def _geometries(topology: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (code, g)
        for g in topology["objects"]["countries"]["geometries"]
        if (code := alpha2(g)) is not None and code not in LEFT_OUT
    ]


def area(points: Sequence[Point]) -> float:
    """Signed area of a ring (shoelace)."""
    return (
        sum(
            a[0] * b[1] - b[0] * a[1] for a, b in zip(points, [*points[1:], points[0]], strict=True)
        )
        / 2
    )


def centroid(points: Sequence[Point]) -> Point:
    """The centre of mass of a ring; its mean point when the ring has no area."""
    a = area(points)
    if a == 0:
        n = len(points)
        return sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    pairs = list(zip(points, [*points[1:], points[0]], strict=True))
    cx = sum((p[0] + q[0]) * (p[0] * q[1] - q[0] * p[1]) for p, q in pairs) / (6 * a)
    cy = sum((p[1] + q[1]) * (p[0] * q[1] - q[0] * p[1]) for p, q in pairs) / (6 * a)
    return cx, cy


def dot(x: int, y: int, r: int) -> str:
    """A circle as path data (two half arcs), so every country is a ``<path>``."""
    return f"M{x - r} {y}a{r} {r} 0 1 0 {2 * r} 0a{r} {r} 0 1 0 {-2 * r} 0z"


def read_package(tarball: Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The 1:110m and 1:50m topologies from the package tarball, fetched by ``npm pack``
    when none is given (npm checks the registry's integrity hash; the pinned SHA-256
    checks that it is the file the committed map was built from)."""
    with tempfile.TemporaryDirectory() as tmp:
        if tarball is None:
            subprocess.run(
                ["npm", "pack", "--silent", f"{PACKAGE}@{VERSION}"],
                cwd=tmp,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            tarball = Path(tmp) / f"{PACKAGE}-{VERSION}.tgz"
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != TARBALL_SHA256:
            raise SystemExit(f"{tarball.name}: SHA-256 {digest}, expected {TARBALL_SHA256}")
        with tarfile.open(tarball) as tar:
            return _member(tar, COUNTRIES), _member(tar, SMALL_COUNTRIES)


def _member(tar: tarfile.TarFile, name: str) -> dict[str, Any]:
    member = tar.extractfile(name)
    if member is None:
        raise SystemExit(f"the tarball holds no {name}")
    data: dict[str, Any] = json.load(member)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, help=f"a local {PACKAGE}-{VERSION}.tgz (no npm)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    svg = build_svg(*read_package(args.tarball))
    args.out.write_text(svg)
    where = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"wrote {where}: {len(svg.encode()):,} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
