from __future__ import annotations

from django.urls import path

from websites import views

# The list, the snippet page and its status show numbers: they are dashboard URLs.
app_name = "websites"
urlpatterns = [
    path("websites/add/", views.website_add, name="add"),
    path("websites/<int:pk>/settings/", views.website_edit, name="edit"),
    path("websites/<int:pk>/exclusions/", views.website_exclusions, name="exclusions"),
    path("websites/<int:pk>/sharing/", views.website_sharing, name="sharing"),
    path(
        "websites/<int:pk>/sharing/<int:link_pk>/revoke/",
        views.website_share_revoke,
        name="share_revoke",
    ),
    path("websites/<int:pk>/transfer/", views.website_transfer_view, name="transfer"),
    path("websites/<int:pk>/delete/", views.website_delete_view, name="delete"),
]
