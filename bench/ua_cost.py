"""What classifying a User-Agent costs, before and after issue 12, and how accurate both are.

    .venv/bin/python bench/ua_cost.py
    .venv/bin/python bench/ua_cost.py --agents 10000 --before-agents 200 --shape-agents 200

"Before" is ``core/tests/ua_reference.py``: crawlerdetect's own matcher on the whole agent,
as ``core.ua`` classified until issue 12 (cached per agent the same way); "after" is
``core.ua.parse_agent``. In-process, one thread, CPU time. Prints:

1. parses/s of unique 1 KB agents (a browser's agent and one random hex word, what
   ``bench/ingest.py --unique-agents`` sends) against one fixed agent (cached), both sides;
   "before" parses fewer unique agents (``--before-agents``), each costs ~0.1 s;
2. per hostile shape of 1 KB agent (each one new), the median and the costliest parse;
3. bots vs people on the labelled agents (``core/tests/test_enrichment.py``,
   ``core/tests/labelled_agents.py``, the agents of ``bench/traffic.py``): people, bots,
   and "hidden" bots (a full browser agent plus the bot's name), for before, after, and a
   shortcut not taken (skip crawlerdetect when ua-parser names a mainstream browser).
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from crawlerdetect.providers.crawlers import data as crawler_patterns

from bench.traffic import AGENTS, with_unique_agents
from core import ua as ua_mod
from core.tests.labelled_agents import BOTS, HIDDEN_BOTS, PEOPLE
from core.tests.test_enrichment import BOT_UAS, UAS
from core.tests.ua_reference import EXTRA_BOTS, reference_parse

Parse = Callable[[str], ua_mod.ParsedAgent]
FIXED = UAS["chrome_windows"]


def before() -> Parse:
    """The old ``parse_agent``: cached per whole agent string."""
    return functools.lru_cache(maxsize=32768)(reference_parse)


def after() -> Parse:
    ua_mod._parse.cache_clear()
    return ua_mod.parse_agent


def rate(parse: Parse, agents: list[str]) -> float:
    """Parses per CPU second."""
    start = time.process_time()
    for agent in agents:
        parse(agent)
    return len(agents) / max(time.process_time() - start, 1e-9)


def costs(parse: Parse, agents: list[str]) -> list[float]:
    """CPU seconds of each parse."""
    out = []
    for agent in agents:
        t = time.process_time()
        parse(agent)
        out.append(time.process_time() - t)
    return out


def unique_agents(n: int, seed: int) -> list[str]:
    base = [(a, "", "") for _, a, _ in AGENTS]
    return [ua for ua, _, _ in with_unique_agents(base * (n // len(base) + 1), seed=seed)[:n]]


def shapes(n: int, seed: int = 2) -> dict[str, list[str]]:
    """Hostile 1 KB agents by shape, ``n`` of each, each made new by a counter in front."""
    rng = random.Random(seed)
    printable = "".join(chr(c) for c in range(32, 127))
    near_misses = " ".join(p.rstrip("$")[:-1].lstrip("^") for p in crawler_patterns)
    makers: dict[str, Callable[[int], str]] = {
        "random hex word": lambda i: rng.randbytes(512).hex(),
        "random printable": lambda i: "".join(rng.choices(printable, k=1024)),
        "one letter": lambda i: "s" * 1024,
        "near misses of crawler names": lambda i: near_misses[i % 500 :],
        "'android' repeated": lambda i: "android " * 128,
        "'java' repeated (java.*outbrain)": lambda i: "java" * 256,
        "'(like ' repeated": lambda i: "(like " * 171,
        "'mozilla/' repeated": lambda i: "mozilla/" * 128,
        "'safari/1.' + digits": lambda i: "Safari/1." + "1." * 510,
    }
    return {
        name: [f"{seed}.{i} {make(i)}"[:1024] for i in range(n)] for name, make in makers.items()
    }


MAINSTREAM = {"Chrome", "Safari", "Firefox", "Edge", "Opera", "Samsung Internet"}


def shortcut(ua: str) -> bool:
    """The shortcut not taken: trust ua-parser when it names a mainstream browser."""
    agent = ua_mod.parse_agent(ua)
    result = ua_mod._PARSER.parse(ua[: ua_mod.MAX_AGENT_CHARS].strip())
    spider = bool(result.device and result.device.family == "Spider")
    if agent.browser in MAINSTREAM and not spider:
        return bool(EXTRA_BOTS.search(ua.lower()))
    return agent.is_bot


def accuracy() -> list[str]:
    people = [*UAS.values(), *PEOPLE, *(a for _, a, _ in AGENTS)]
    groups = {"people": people, "bots": [*BOT_UAS, *BOTS], "hidden bots": HIDDEN_BOTS}
    classifiers: dict[str, Callable[[str], bool]] = {
        "before": lambda ua: reference_parse(ua).is_bot,
        "after": lambda ua: ua_mod.parse_agent(ua).is_bot,
        "shortcut (not taken)": shortcut,
    }
    lines = ["| classifier | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for name, is_bot in classifiers.items():
        cells = []
        for group, agents in groups.items():
            right = sum(is_bot(a) is (group != "people") for a in agents)
            cells.append(f"{right}/{len(agents)}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=10_000, help="unique 1 KB agents, after")
    ap.add_argument("--before-agents", type=int, default=200, help="unique agents, before")
    ap.add_argument("--shape-agents", type=int, default=200, help="agents per hostile shape")
    ap.add_argument("--before-shape-agents", type=int, default=5)
    args = ap.parse_args()

    print("parses per CPU second:")
    print("| code | fixed agent, cached | unique 1 KB agents | unique / fixed |")
    print("|---|---|---|---|")
    for name, make, n in (("before", before, args.before_agents), ("after", after, args.agents)):
        parse = make()
        parse(FIXED)
        fixed = rate(parse, [FIXED] * 200_000)
        unique = rate(parse, unique_agents(n, seed=7))
        print(f"| {name} | {fixed:,.0f} | {unique:,.0f} ({n:,} agents) | {unique / fixed:.5f} |")

    # ua-parser-rs builds parts of its regexes on first use: not a cost of any one agent.
    warm = after()
    for agents in shapes(50, seed=3).values():
        costs(warm, agents)
    print("\nhostile shapes, 1 KB each and each new: median / costliest parse, ms of CPU")
    print("| shape | before | after |")
    print("|---|---|---|")
    for name, agents in shapes(args.shape_agents).items():
        cells = []
        for make, n in ((before, args.before_shape_agents), (after, len(agents))):
            times = costs(make(), agents[:n])
            cells.append(f"{statistics.median(times) * 1000:.3f} / {max(times) * 1000:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")

    print("\nbots vs people on the labelled agents (classified right / all):")
    print("\n".join(accuracy()))


if __name__ == "__main__":
    main()
