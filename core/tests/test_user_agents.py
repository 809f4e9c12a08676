"""A User-Agent costs little whatever it is (issue 12): ``core.ua`` reads its first
``MAX_AGENT_CHARS`` characters and runs crawlerdetect's rules in a faster form. The answers
must be the ones of the classifier before (``ua_reference``): for every labelled agent, for
samples of every crawlerdetect pattern, and for long new agents."""

from __future__ import annotations

import random
import re
import string

import pytest
from crawlerdetect.providers.crawlers import data as crawler_patterns

from core import ua as ua_mod
from core.tests.labelled_agents import BOTS, HIDDEN_BOTS, PEOPLE
from core.tests.test_enrichment import BOT_UAS, UAS
from core.tests.ua_reference import EXTRA_BOTS, reference_is_crawler, reference_parse
from core.ua import MAX_AGENT_CHARS, is_crawler, parse_agent

LABELLED_PEOPLE = [*UAS.values(), *PEOPLE]
LABELLED_BOTS = [*BOT_UAS, *BOTS, *HIDDEN_BOTS]


@pytest.mark.parametrize("ua", LABELLED_PEOPLE + LABELLED_BOTS)
def test_every_labelled_agent_is_classified_as_before(ua):
    assert parse_agent(ua) == reference_parse(ua)


def test_labelled_people_are_people_and_bots_are_bots():
    assert [ua for ua in LABELLED_PEOPLE if parse_agent(ua).is_bot] == []
    assert [ua for ua in LABELLED_BOTS if not parse_agent(ua).is_bot] == []


def _sample(pattern: str) -> str:
    """A string close to what ``pattern`` matches: classes, escapes and quantifiers
    flattened (it need not match; the two classifiers must agree on it either way)."""
    text = pattern.removeprefix("^").removesuffix("$").split("|")[0]
    text = re.sub(r"\(\?[!=<][^)]*\)", "", text)
    text = re.sub(r"\\d|\[0-9[^\]]*\]", "7", text)
    text = re.sub(r"\[\^?\\?(.)[^\]]*\]", r"\1", text)
    text = re.sub(r"\\(.)", r"\1", text)
    return re.sub(r"[()?*+]|\{\d+(,\d*)?\}", "", text)


def _variants(sample: str, rng: random.Random) -> list[str]:
    cut = rng.randrange(len(sample))
    return [
        sample,
        sample.upper(),
        f"Mozilla/5.0 (compatible; {sample}/2.1; +https://example.org/)",
        f"{UAS['chrome_windows']} {sample.swapcase()}",
        sample[:cut] + sample[cut + 1 :],  # one character short: usually no longer a match
        f"x{sample}x",
    ]


def test_crawler_rules_agree_with_crawlerdetect_on_samples_of_every_pattern():
    rng = random.Random(12)
    disagree = [
        text
        for pattern in crawler_patterns
        for text in _variants(_sample(pattern), rng)
        if is_crawler(text) != reference_is_crawler(text)
    ]
    assert disagree == []
    # The samples exercise both answers, or the comparison above would prove little.
    answers = [is_crawler(_sample(p)) for p in crawler_patterns]
    assert answers.count(True) > 0.9 * len(answers)


def _long_agents(n: int, seed: int) -> list[str]:
    """1 KB agents no one sent before: a real agent followed by one long random word,
    random text (Latin-1 letters included), or words taken from crawlerdetect's patterns."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + " ;/()._-+äöüÄÖÜßÿ"
    words = [_sample(p) for p in crawler_patterns]
    agents = []
    for i in range(n):
        base = rng.choice(LABELLED_PEOPLE + LABELLED_BOTS)
        if i % 3 == 0:
            pad = rng.randbytes(512).hex()
        elif i % 3 == 1:
            pad = "".join(rng.choices(alphabet, k=1024))
        else:
            pad = " ".join(w[: rng.randrange(1, len(w) + 1)] for w in rng.sample(words, 150))
        agents.append(f"{base} {pad}"[:1024])
    return agents


def test_a_long_new_agent_is_classified_as_before_by_its_first_characters():
    agents = _long_agents(36, seed=1)
    assert [parse_agent(ua) for ua in agents] == [
        reference_parse(ua[:MAX_AGENT_CHARS]) for ua in agents
    ]
    # Both answers occur among them.
    assert {parse_agent(ua).is_bot for ua in agents} == {True, False}


@pytest.mark.parametrize("pad", ["x" * 5000, "0123456789abcdef" * 64, " " * 3000 + "a" * 3000])
def test_a_padded_browser_agent_is_still_a_browser(pad):
    agent = parse_agent(f"{UAS['chrome_windows']} {pad}")
    assert agent == ("Chrome", "Windows", "desktop", False)


def test_a_bot_name_in_a_padded_agent_is_found_within_the_classified_part():
    googlebot = HIDDEN_BOTS[0]
    assert parse_agent(f"{googlebot} {'ab' * 2000}").is_bot is True
    browser = UAS["chrome_windows"] + " "
    inside = browser + "x" * (MAX_AGENT_CHARS - len(browser) - len("Googlebot")) + "Googlebot/2.1"
    assert parse_agent(inside).is_bot is True
    # Past the part that is read, the name is not seen.
    outside = browser + "x" * (MAX_AGENT_CHARS - len(browser)) + "Googlebot/2.1"
    assert parse_agent(outside).is_bot is False


def test_the_cache_holds_only_the_classified_part():
    ua_mod._parse.cache_clear()
    parse_agent(UAS["safari_mac"] + " " + "y" * 4000)
    parse_agent(UAS["safari_mac"] + " " + "y" * 9000)
    info = ua_mod._parse.cache_info()
    assert (info.hits, info.misses) == (1, 1)


@pytest.mark.parametrize(
    "patterns, text, matches",
    [
        (["abc", "abd"], "xxabdxx", True),
        (["abc", "abd"], "xxabexx", False),
        (["ab", "abcd"], "zab", True),  # the shorter pattern completes first
        (["a[0-9]+z", "a-b"], "a12z", True),
        (["a[0-9]+z", "a-b"], "a12", False),
        (["x?yz"], "yz", True),  # an optional first character is not a literal prefix
        (["mail\\.ru", "mail/"], "mailxru", False),  # an escaped dot is a dot
        (["mail\\.ru", "mail/"], "mail.ru", True),
        (["reader", "read(?:ability|er)"], "readability", True),
    ],
)
def test_the_compiled_alternation_matches_what_the_patterns_match(patterns, text, matches):
    compiled = ua_mod._compile([p for pattern in patterns for p in ua_mod._alternatives(pattern)])
    assert bool(compiled.search(text)) is matches
    assert bool(re.search("|".join(patterns), text)) is matches


def test_pattern_helpers():
    assert ua_mod._lower(r"Foo\D\SBar[A-Z]") == r"foo\D\Sbar[a-z]"
    assert ua_mod._alternatives("^Ruby|Ruby\\/[0-9]") == ["^Ruby", "Ruby\\/[0-9]"]
    assert ua_mod._alternatives("(bot|crawl)") == ["bot", "crawl"]
    assert ua_mod._alternatives("(a)(b|c)") == ["(a)(b|c)"]
    assert ua_mod._alternatives("(?!x)y|z") == ["(?!x)y", "z"]
    assert ua_mod._literal_prefix(r"go\/[0-9]") == ("go/", "[0-9]")
    assert ua_mod._literal_prefix("daum(oa)?") == ("daum", "(oa)?")
    assert ua_mod._literal_prefix("abc?") == ("ab", "c?")
    assert ua_mod._literal_prefix(r"\d+x") == ("", r"\d+x")


def test_our_own_bot_list_matches_as_before():
    texts = []
    for alternative in EXTRA_BOTS.pattern.split("|"):
        word = alternative.strip("^$")
        texts += [word, f"x{word}", f"{word}/1.0", word[:-1], f"{UAS['safari_mac']} {word.upper()}"]
    assert [
        ua_mod._matches(ua_mod._EXTRA_BOTS_AT_START, ua_mod._EXTRA_BOTS, t.lower()) for t in texts
    ] == [bool(EXTRA_BOTS.search(t.lower())) for t in texts]
    assert True in [bool(EXTRA_BOTS.search(t.lower())) for t in texts]
    assert False in [bool(EXTRA_BOTS.search(t.lower())) for t in texts]
