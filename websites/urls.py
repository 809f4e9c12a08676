from __future__ import annotations

from django.urls import path

from websites import views

app_name = "websites"
urlpatterns = [
    path("websites/", views.website_list, name="list"),
    path("websites/add/", views.website_add, name="add"),
    path("websites/<int:pk>/settings/", views.website_edit, name="edit"),
    path("websites/<int:pk>/delete/", views.website_delete_view, name="delete"),
    path("websites/<int:pk>/snippet/", views.website_snippet, name="snippet"),
    path("websites/<int:pk>/status.json", views.website_status, name="status"),
]
