"""The goals page of a website's settings: owner-only, CSRF-safe, server-rendered forms."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from goals.models import Funnel, Goal, GoalKind
from goals.services import funnel_create, goal_create
from simple_analytics.testing import make_user, make_website

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return make_user("owner@example.com")


@pytest.fixture
def website(owner):
    return make_website(owner=owner, domain="example.com")


@pytest.fixture
def client(owner):
    client = Client()
    client.force_login(owner)
    return client


def page_url(website) -> str:
    return reverse("goals:index", args=[website.pk])


def add_url(website) -> str:
    return reverse("goals:goal_add", args=[website.pk])


def event_goal(website, event: str, **fields) -> Goal:
    return goal_create(website=website, kind=GoalKind.EVENT, event_name=event, **fields)


def test_the_page_lists_goals_and_funnels(client, website):
    event_goal(website, "Signup", prop_key="plan", prop_value="pro")
    goal_create(website=website, kind=GoalKind.PAGE, page_pattern="/blog/*")
    funnel_create(
        website=website, name="Blog to signup", steps=["Visit /blog/*", "Signup plan=pro"]
    )
    response = client.get(page_url(website))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Signup plan=pro" in html
    assert "<code>plan</code> = <code>pro</code>" in html
    assert "visits of <code>/blog/*</code>" in html
    assert "<li>Visit /blog/*</li><li>Signup plan=pro</li>" in html
    assert 'aria-current="page">Goals</a>' in html
    # Three forms to add, three to delete (two goals, a funnel), and the top bar's log-out
    # and team switcher (one team).
    assert html.count('name="csrfmiddlewaretoken"') == 8
    assert 'aria-label="Delete the goal Signup plan=pro"' in html
    assert 'aria-label="Delete the funnel Blog to signup"' in html
    assert 'name="kind" value="event"' in html and 'name="kind" value="page"' in html


def test_the_settings_page_links_to_the_goals_page(client, website):
    response = client.get(reverse("websites:edit", args=[website.pk]))
    assert f'href="{page_url(website)}"' in response.content.decode()


def test_an_empty_page_explains_and_hides_the_funnel_form_until_two_goals_exist(client, website):
    html = client.get(page_url(website)).content.decode()
    assert "No goals yet" in html
    assert f"goal add --site {website.tracking_id}" in html
    assert "add at least two goals first" in html
    assert reverse("goals:funnel_add", args=[website.pk]) not in html


def test_adding_an_event_goal(client, website):
    data = {
        "kind": "event",
        "event-event_name": " Signup ",
        "event-prop_key": "plan",
        "event-prop_value": "pro",
        "event-name": "",
    }
    response = client.post(add_url(website), data, follow=True)
    assert response.redirect_chain == [(page_url(website), 302)]
    goal = Goal.objects.get()
    assert (goal.website, goal.name, goal.event_name) == (website, "Signup plan=pro", "Signup")
    assert "Added the goal “Signup plan=pro”." in response.content.decode()


def test_adding_a_page_goal(client, website):
    data = {"kind": "page", "page-page_pattern": "/docs/**", "page-name": "Docs"}
    assert client.post(add_url(website), data).status_code == 302
    goal = Goal.objects.get()
    assert (goal.kind, goal.page_pattern, goal.name) == ("page", "/docs/**", "Docs")


def test_a_bad_goal_shows_the_rule_beside_its_field_and_stores_nothing(client, website):
    response = client.post(add_url(website), {"kind": "page", "page-page_pattern": "blog"})
    assert response.status_code == 200
    form = response.context["page_form"]
    assert form.errors == {
        "page_pattern": ['A page pattern is a path: it starts with "/", like /blog/*.']
    }
    assert 'value="blog"' in response.content.decode()
    assert not Goal.objects.exists()


def test_a_taken_name_is_an_error_on_the_name(client, website):
    event_goal(website, "Signup")
    response = client.post(add_url(website), {"kind": "event", "event-event_name": "Signup"})
    assert response.context["event_form"].errors == {
        "name": ['A goal named "Signup" exists already.']
    }


def test_a_property_without_key_is_an_error_on_the_key(client, website):
    data = {"kind": "event", "event-event_name": "Signup", "event-prop_value": "pro"}
    response = client.post(add_url(website), data)
    assert response.context["event_form"].errors == {"prop_key": ["Give the property's key too."]}


def test_an_empty_post_shows_required_fields(client, website):
    response = client.post(add_url(website))
    assert response.status_code == 200
    assert response.context["event_form"].errors == {"event_name": ["This field is required."]}


def test_deleting_a_goal(client, website):
    goal = event_goal(website, "Signup")
    url = reverse("goals:goal_delete", args=[website.pk, goal.pk])
    response = client.post(url, follow=True)
    assert response.redirect_chain == [(page_url(website), 302)]
    assert not Goal.objects.exists()
    assert "Deleted the goal “Signup”." in response.content.decode()


def test_deleting_a_goal_of_a_funnel_is_refused_naming_the_funnel(client, website):
    a, _ = event_goal(website, "A"), event_goal(website, "B")
    funnel_create(website=website, name="AB", steps=["A", "B"])
    url = reverse("goals:goal_delete", args=[website.pk, a.pk])
    response = client.post(url, follow=True)
    assert 'Goal "A" is a step of funnel "AB": delete the funnel first.' in (
        response.content.decode().replace("&quot;", '"')
    )
    assert Goal.objects.count() == 2


def test_adding_and_deleting_a_funnel(client, website):
    event_goal(website, "A")
    event_goal(website, "B")
    url = reverse("goals:funnel_add", args=[website.pk])
    event_goal(website, "C")
    data = {"funnel-name": "ABC", "funnel-step_1": "B", "funnel-step_2": "A", "funnel-step_4": "C"}
    assert client.post(url, data).status_code == 302
    funnel = Funnel.objects.get()
    assert [s.goal.name for s in funnel.steps.order_by("position")] == ["B", "A", "C"]

    delete = reverse("goals:funnel_delete", args=[website.pk, funnel.pk])
    assert client.post(delete).status_code == 302
    assert not Funnel.objects.exists()
    assert Goal.objects.count() == 3


def test_funnel_errors_show_above_the_form(client, website):
    event_goal(website, "A")
    event_goal(website, "B")
    url = reverse("goals:funnel_add", args=[website.pk])
    data = {"funnel-name": "F", "funnel-step_1": "A", "funnel-step_2": "A"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["funnel_form"].non_field_errors() == [
        'A goal can be one step of a funnel only: "A".'
    ]
    data = {"funnel-name": "F", "funnel-step_1": "A", "funnel-step_2": "Nope"}
    assert "step_2" in client.post(url, data).context["funnel_form"].errors
    assert not Funnel.objects.exists()


def test_names_are_escaped(client, website):
    event_goal(website, "Signup", name="<script>alert(1)</script>")
    html = client.get(page_url(website)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_another_websites_goal_or_funnel_is_a_404(client, website):
    theirs = make_website(owner=make_user(), domain="theirs.example")
    goal = event_goal(theirs, "A")
    event_goal(theirs, "B")
    funnel = funnel_create(website=theirs, name="AB", steps=["A", "B"])
    assert (
        client.post(reverse("goals:funnel_delete", args=[website.pk, funnel.pk])).status_code == 404
    )
    assert client.post(reverse("goals:goal_delete", args=[website.pk, goal.pk])).status_code == 404
    # Their website itself, whatever the ids.
    for url in (
        page_url(theirs),
        add_url(theirs),
        reverse("goals:goal_delete", args=[theirs.pk, goal.pk]),
        reverse("goals:funnel_delete", args=[theirs.pk, funnel.pk]),
    ):
        method = client.get if url == page_url(theirs) else client.post
        assert method(url).status_code == 404, url
    assert Goal.objects.count() == 2
    assert Funnel.objects.count() == 1


def test_anonymous_visitors_are_sent_to_log_in(website):
    response = Client().get(page_url(website))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_forms_need_the_csrf_token(owner, website):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    data = {"kind": "event", "event-event_name": "Signup"}
    assert client.post(add_url(website), data).status_code == 403
    assert not Goal.objects.exists()
    client.get(page_url(website))
    token = client.cookies["csrftoken"].value
    assert client.post(add_url(website), {**data, "csrfmiddlewaretoken": token}).status_code == 302
    assert Goal.objects.filter(name="Signup").exists()


def test_changes_need_a_post(client, website):
    goal = event_goal(website, "Signup")
    assert client.get(add_url(website)).status_code == 405
    assert client.get(reverse("goals:goal_delete", args=[website.pk, goal.pk])).status_code == 405
    assert Goal.objects.exists()
