"""The rules of goal and funnel definitions (``goals.services``)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from goals.models import Funnel, FunnelStep, Goal, GoalKind
from goals.selectors import funnel_get, funnel_list, goal_get, goal_list
from goals.services import funnel_create, funnel_delete, goal_create, goal_delete
from simple_analytics.testing import make_user, make_website
from websites.services import website_delete

pytestmark = pytest.mark.django_db

EVENT, PAGE = GoalKind.EVENT, GoalKind.PAGE


@pytest.fixture
def website():
    return make_website()


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_event_goals_get_their_default_names(website):
    signup = goal_create(website=website, kind=EVENT, event_name="  Signup ")
    pro = goal_create(
        website=website, kind=EVENT, event_name="Signup", prop_key="plan", prop_value="pro"
    )
    assert (signup.name, signup.event_name, signup.prop_key) == ("Signup", "Signup", "")
    assert (pro.name, pro.prop_key, pro.prop_value) == ("Signup plan=pro", "plan", "pro")
    assert pro.definition == "event Signup plan=pro"


def test_page_goals_get_their_default_names(website):
    blog = goal_create(website=website, kind=PAGE, page_pattern=" /blog/* ")
    assert (blog.name, blog.page_pattern, blog.definition) == (
        "Visit /blog/*",
        "/blog/*",
        "page /blog/*",
    )


def test_a_display_name_is_trimmed_and_replaces_the_default(website):
    goal = goal_create(website=website, kind=EVENT, event_name="Signup", name="  Sign-ups ")
    assert goal.name == "Sign-ups"
    assert goal_get(website, "Sign-ups") == goal
    assert goal_get(website, " Sign-ups ") == goal


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"event_name": ""}, "event_name", "1 to 120 characters"),
        ({"event_name": "   "}, "event_name", "1 to 120 characters"),
        ({"event_name": "x" * 121}, "event_name", "1 to 120 characters"),
        ({"event_name": "a\x00b"}, "event_name", "NUL"),
        ({"event_name": "\ud800"}, "event_name", "not valid Unicode"),
        ({"event_name": "S", "prop_value": "pro"}, "prop_key", "key too"),
        ({"event_name": "S", "prop_key": "k" * 301, "prop_value": "v"}, "prop_key", "300"),
        ({"event_name": "S", "prop_key": "k", "prop_value": "v" * 2001}, "prop_value", "2000"),
        ({"event_name": "S", "page_pattern": "/a"}, "page_pattern", "no page pattern"),
        ({"event_name": "S", "name": "n" * 201}, "name", "at most 200"),
    ],
)
def test_event_goals_follow_the_ingestion_limits(website, fields, field, message):
    with pytest.raises(ValidationError) as exc:
        goal_create(website=website, kind=EVENT, **fields)
    assert message in " ".join(errors(exc)[field])
    assert not Goal.objects.exists()


def test_the_longest_event_name_and_property_are_accepted(website):
    goal = goal_create(
        website=website,
        kind=EVENT,
        event_name="e" * 120,
        prop_key="k" * 300,
        prop_value="v" * 2000,
        name="Long",
    )
    goal.refresh_from_db()
    assert (len(goal.event_name), len(goal.prop_key), len(goal.prop_value)) == (120, 300, 2000)


def test_a_default_name_too_long_asks_for_a_name(website):
    with pytest.raises(ValidationError) as exc:
        goal_create(website=website, kind=EVENT, event_name="S", prop_key="k", prop_value="v" * 300)
    assert errors(exc) == {"name": ["Give this goal a name of at most 200 characters."]}


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", 'starts with "/"'),
        ("blog/*", 'starts with "/"'),
        ("https://example.com/blog", 'starts with "/"'),
        ("/pricing?plan=pro", "leave out the query"),
        ("/docs#intro", "leave out the query"),
        ("/" + "a" * 200, "at most 200"),
        ("/**/a*/**", "cannot use * between two **"),
        ("/a\x00", "NUL"),
    ],
)
def test_page_patterns_are_paths(website, pattern, message):
    with pytest.raises(ValidationError) as exc:
        goal_create(website=website, kind=PAGE, page_pattern=pattern)
    assert message in " ".join(errors(exc)["page_pattern"])


def test_a_page_goal_has_no_event_fields(website):
    with pytest.raises(ValidationError) as exc:
        goal_create(website=website, kind=PAGE, page_pattern="/a", event_name="Signup")
    assert "event_name" in errors(exc)


def test_a_goal_is_of_a_known_kind(website):
    with pytest.raises(ValidationError) as exc:
        goal_create(website=website, kind="click", event_name="Signup")
    assert "kind" in errors(exc)


def test_names_are_unique_per_website(website):
    goal_create(website=website, kind=EVENT, event_name="Signup")
    with pytest.raises(ValidationError) as exc:
        goal_create(website=website, kind=PAGE, page_pattern="/signup", name="Signup")
    assert errors(exc) == {"name": ['A goal named "Signup" exists already.']}
    # Case counts, as it does for event names; another website may use the name.
    goal_create(website=website, kind=EVENT, event_name="signup")
    goal_create(website=make_website(domain="other.example"), kind=EVENT, event_name="Signup")
    assert Goal.objects.filter(name="Signup").count() == 2


def test_the_same_definition_twice_is_refused_naming_the_first(website):
    goal_create(website=website, kind=PAGE, page_pattern="/blog/*", name="Blog")
    with pytest.raises(ValidationError) as exc:
        goal_create(website=website, kind=PAGE, page_pattern="/blog/*")
    assert exc.value.messages == ['This goal exists already, as "Blog".']


def test_the_database_refuses_goals_that_mix_kinds(website):
    with pytest.raises(IntegrityError), transaction.atomic():
        Goal.objects.create(website=website, name="x", kind=PAGE, page_pattern="/a", prop_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        Goal.objects.create(website=website, name="y", kind=EVENT, event_name="")


def make_goals(website, *names: str) -> list[Goal]:
    return [goal_create(website=website, kind=EVENT, event_name=n) for n in names]


def test_funnels_keep_their_steps_in_order(website):
    make_goals(website, "A", "B", "C")
    funnel = funnel_create(website=website, name=" Checkout ", steps=["C", " A", "B"])
    assert funnel.name == "Checkout"
    found = funnel_get(website, "Checkout")
    assert found is not None
    assert [(s.position, s.goal.name) for s in found.steps.all()] == [(1, "C"), (2, "A"), (3, "B")]
    assert list(funnel_list(website)) == [funnel]


@pytest.mark.parametrize("count", [0, 1, 9])
def test_a_funnel_has_two_to_eight_steps(website, count):
    names = [f"G{i}" for i in range(count)]
    make_goals(website, *names)
    with pytest.raises(ValidationError) as exc:
        funnel_create(website=website, name="F", steps=names)
    assert errors(exc) == {"steps": [f"A funnel has 2 to 8 steps, not {count}."]}


def test_eight_steps_are_accepted(website):
    names = [f"G{i}" for i in range(8)]
    make_goals(website, *names)
    assert funnel_create(website=website, name="F", steps=names).steps.count() == 8


def test_a_funnel_names_its_unknown_and_repeated_goals(website):
    make_goals(website, "A", "B")
    other = make_website(domain="other.example")
    make_goals(other, "Theirs")
    with pytest.raises(ValidationError) as exc:
        funnel_create(website=website, name="F", steps=["A", "Nope", "A", "Theirs"])
    assert errors(exc) == {
        "steps": [
            'A goal can be one step of a funnel only: "A".',
            'No goals "Nope", "Theirs" on this website.',
        ]
    }
    assert not Funnel.objects.exists()


def test_funnel_names_are_unique_per_website(website):
    make_goals(website, "A", "B")
    funnel_create(website=website, name="F", steps=["A", "B"])
    with pytest.raises(ValidationError) as exc:
        funnel_create(website=website, name="F", steps=["B", "A"])
    assert errors(exc) == {"name": ['A funnel named "F" exists already.']}
    with pytest.raises(ValidationError) as exc:
        funnel_create(website=website, name=" ", steps=["B", "A"])
    assert errors(exc) == {"name": ["Give the funnel a name."]}


def test_a_goal_in_a_funnel_cannot_be_deleted_and_the_message_names_the_funnels(website):
    a, b, c = make_goals(website, "A", "B", "C")
    funnel_create(website=website, name="Second", steps=["A", "B"])
    funnel_create(website=website, name="First", steps=["B", "A"])
    with pytest.raises(ValidationError) as exc:
        goal_delete(goal=a)
    assert exc.value.messages == [
        'Goal "A" is a step of funnels "First", "Second": delete the funnels first.'
    ]
    funnel_delete(funnel=Funnel.objects.get(name="First"))
    with pytest.raises(ValidationError, match='of funnel "Second": delete the funnel first'):
        goal_delete(goal=a)
    goal_delete(goal=c)
    assert [g.name for g in goal_list(website)] == ["A", "B"]


def test_deleting_a_funnel_keeps_its_goals(website):
    make_goals(website, "A", "B")
    funnel_delete(funnel=funnel_create(website=website, name="F", steps=["A", "B"]))
    assert not FunnelStep.objects.exists()
    assert Goal.objects.count() == 2


def test_deleting_the_website_deletes_its_goals_and_funnels():
    owner = make_user()
    website = make_website(owner=owner)
    make_goals(website, "A", "B")
    funnel_create(website=website, name="F", steps=["A", "B"])
    website_delete(website=website)
    assert not Goal.objects.exists()
    assert not Funnel.objects.exists()
    assert not FunnelStep.objects.exists()
