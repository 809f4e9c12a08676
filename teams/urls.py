from __future__ import annotations

from django.urls import path

from teams import views

app_name = "teams"
urlpatterns = [
    path("teams/", views.team_list, name="list"),
    path("teams/<int:pk>/switch/", views.team_switch, name="switch"),
    path("teams/<int:pk>/members/", views.members_page, name="members"),
    path("teams/<int:pk>/invite/", views.invite, name="invite"),
    path("teams/<int:pk>/members/<int:member_pk>/role/", views.member_role, name="member_role"),
    path(
        "teams/<int:pk>/members/<int:member_pk>/remove/",
        views.member_remove_view,
        name="member_remove",
    ),
    path("teams/<int:pk>/members/<int:member_pk>/transfer/", views.transfer, name="transfer"),
    path(
        "teams/<int:pk>/invitations/<int:invitation_pk>/revoke/",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
    path("teams/<int:pk>/leave/", views.leave, name="leave"),
    path("teams/<int:pk>/delete/", views.team_delete_view, name="delete"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("invitations/<str:token>/decline/", views.invitation_decline_view, name="decline"),
]
