from __future__ import annotations

from django.urls import path

from dashboard import consolidated, details, export, segments, share, sites, views

app_name = "dashboard"
urlpatterns = [
    path("websites/", sites.website_list, name="websites"),
    path("websites/all/", consolidated.all_websites, name="all_websites"),
    path("websites/<int:pk>/snippet/", sites.website_snippet, name="snippet"),
    path("websites/<int:pk>/status.json", sites.website_status, name="status"),
    path("websites/<int:pk>/", views.overview, name="overview"),
    path("websites/<int:pk>/live.json", views.live, name="live"),
    path("websites/<int:pk>/export.csv", export.export_csv, name="export"),
    path("websites/<int:pk>/filter/", views.add_filter, name="filter"),
    path("websites/<int:pk>/details/<str:breakdown>/", details.details, name="details"),
    path("websites/<int:pk>/segments/", segments.segment_save, name="segment_save"),
    path(
        "websites/<int:pk>/segments/<int:segment_pk>/rename/",
        segments.segment_rename_view,
        name="segment_rename",
    ),
    path(
        "websites/<int:pk>/segments/<int:segment_pk>/delete/",
        segments.segment_delete_view,
        name="segment_delete",
    ),
    # A share link's read-only dashboard (dashboard.share): the same pages under its token.
    path("share/<str:token>/", share.share_overview, name="share"),
    path("share/<str:token>/live.json", share.share_live, name="share_live"),
    path("share/<str:token>/export.csv", share.share_export, name="share_export"),
    path("share/<str:token>/filter/", share.share_filter, name="share_filter"),
    path("share/<str:token>/details/<str:breakdown>/", share.share_details, name="share_details"),
]
