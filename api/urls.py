from __future__ import annotations

from django.urls import path

from api import sites, views

app_name = "api"
urlpatterns = [
    path("api/v1/stats", views.stats, name="stats"),
    path("api/v1/timeseries", views.timeseries, name="timeseries"),
    path("api/v1/breakdown/<str:dimension>", views.breakdown, name="breakdown"),
    path("api/v1/openapi.json", views.openapi, name="openapi"),
    path("api/v1/sites", sites.sites, name="sites"),
    path("api/v1/sites/<str:site>", sites.site, name="site"),
    path("api/v1/sites/<str:site>/goals", sites.goals, name="site_goals"),
    path("api/v1/sites/<str:site>/goals/<str:goal_id>", sites.goal, name="site_goal"),
    path("api/v1/sites/<str:site>/funnels", sites.funnels, name="site_funnels"),
    path("api/v1/sites/<str:site>/funnels/<str:funnel_id>", sites.funnel, name="site_funnel"),
    path("api/v1/sites/<str:site>/share-links", sites.share_links, name="site_share_links"),
    path(
        "api/v1/sites/<str:site>/share-links/<str:link_id>",
        sites.share_link,
        name="site_share_link",
    ),
    path("api/v1/sites/<str:site>/members", sites.members, name="site_members"),
    path(
        "api/v1/sites/<str:site>/invitations/<str:invitation_id>",
        sites.invitation,
        name="site_invitation",
    ),
    path("account/api-keys/", views.keys, name="keys"),
    path("account/api-keys/create/", views.key_create, name="key_create"),
    path("account/api-keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
]
