"""Web page routes (../shared/API.md, "Web pages"), included at the site's root."""

from django.urls import include, path

from . import views

app_name = "messaging"

#: A group's page and what its forms post to, below /groups/<id>/.
group_urls = [
    path("", views.group, name="group"),
    path("read/", views.group_read, name="group_read"),
    path("rename/", views.group_rename, name="group_rename"),
    path("members/", views.group_member_add, name="group_member_add"),
    path("members/<str:username>/remove/", views.group_member_remove, name="group_member_remove"),
    path("leave/", views.group_leave, name="group_leave"),
]
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("account/", views.account, name="account"),
    path("account/export/", views.account_export, name="account_export"),
    path("account/delete/", views.delete_user, name="delete_user"),
    path("account/password/", views.password_change, name="password_change"),
    path("messages/new/", views.compose, name="compose"),
    path("messages/<int:message_id>/", views.thread, name="thread"),
    path("messages/<int:message_id>/history/", views.history, name="history"),
    path("messages/<int:message_id>/edit/", views.message_edit, name="message_edit"),
    path("messages/<int:message_id>/delete/", views.message_delete, name="message_delete"),
    path("messages/<int:message_id>/read/", views.message_read, name="message_read"),
    path("conversations/<str:username>/", views.conversation, name="conversation"),
    path("conversations/<str:username>/read/", views.conversation_read, name="conversation_read"),
    path("groups/new/", views.group_create, name="group-create"),
    path("groups/<int:group_id>/", include(group_urls)),
    path("people/<str:username>/block/", views.block, name="block"),
    path("people/<str:username>/unblock/", views.unblock, name="unblock"),
    path("notifications/", views.notifications, name="notifications"),
    path("search/", views.search, name="search"),
    path("notifications/read-all/", views.notification_read_all, name="notification_read_all"),
    path(
        "notifications/<int:notification_id>/read/",
        views.notification_read,
        name="notification_read",
    ),
    path("live/counts/", views.counts, name="counts"),
]
