from __future__ import annotations

from django.urls import path

from goals import views

# Under the website's URLs: the goals page belongs to its settings.
app_name = "goals"
urlpatterns = [
    path("websites/<int:pk>/goals/", views.goals_page, name="index"),
    path("websites/<int:pk>/goals/add/", views.goal_add, name="goal_add"),
    path(
        "websites/<int:pk>/goals/<int:goal_pk>/delete/", views.goal_delete_view, name="goal_delete"
    ),
    path("websites/<int:pk>/funnels/add/", views.funnel_add, name="funnel_add"),
    path(
        "websites/<int:pk>/funnels/<int:funnel_pk>/delete/",
        views.funnel_delete_view,
        name="funnel_delete",
    ),
]
