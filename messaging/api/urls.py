"""API routes under /api/v1/ (see ../shared/API.md). Unknown paths answer a JSON 404."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path, re_path
from drf_spectacular.views import SpectacularSwaggerSplitView

from . import views

app_name = "api"
urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="register"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("auth/token/refresh/", views.TokenRefreshAccessView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("users/", views.PeopleSearchView.as_view(), name="people-search"),
    path("users/me/", views.MeView.as_view(), name="me"),
    path("users/me/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("users/me/export/", views.ExportView.as_view(), name="me-export"),
    path("users/me/blocked/", views.BlockedListView.as_view(), name="blocked-list"),
    path("users/<str:username>/block/", views.BlockView.as_view(), name="block"),
    path("messages/", views.MessageCreateView.as_view(), name="message-create"),
    path("messages/unread/", views.UnreadListView.as_view(), name="unread-list"),
    path("messages/unread/count/", views.UnreadCountView.as_view(), name="unread-count"),
    path("messages/search/", views.MessageSearchView.as_view(), name="message-search"),
    path("messages/<int:pk>/", views.MessageDetailView.as_view(), name="message-detail"),
    path("messages/<int:pk>/history/", views.MessageHistoryView.as_view(), name="message-history"),
    path("messages/<int:pk>/thread/", views.MessageThreadView.as_view(), name="message-thread"),
    path("messages/<int:pk>/read/", views.MessageReadView.as_view(), name="message-read"),
    path("conversations/", views.ConversationListView.as_view(), name="conversation-list"),
    path(
        "conversations/<str:username>/messages/",
        views.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<str:username>/read/",
        views.ConversationReadView.as_view(),
        name="conversation-read",
    ),
    path("groups/", views.GroupListView.as_view(), name="group-list"),
    path("groups/<int:pk>/", views.GroupDetailView.as_view(), name="group-detail"),
    path("groups/<int:pk>/members/", views.GroupMembersView.as_view(), name="group-members"),
    path(
        "groups/<int:pk>/members/<str:username>/",
        views.GroupMemberView.as_view(),
        name="group-member",
    ),
    path("groups/<int:pk>/messages/", views.GroupMessagesView.as_view(), name="group-messages"),
    path("groups/<int:pk>/read/", views.GroupReadView.as_view(), name="group-read"),
    path("notifications/", views.NotificationListView.as_view(), name="notification-list"),
    path(
        "notifications/unread-count/",
        views.NotificationUnreadCountView.as_view(),
        name="notification-unread-count",
    ),
    path(
        "notifications/<int:pk>/read/",
        views.NotificationReadView.as_view(),
        name="notification-read",
    ),
    path(
        "notifications/read-all/",
        views.NotificationReadAllView.as_view(),
        name="notification-read-all",
    ),
    path("schema/", views.SchemaView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script for a CSP to allow.
    path(
        "docs/",
        # Swagger UI sets inline styles; its scripts still come only from our static files.
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    # Any other path, newlines included: a JSON 404 rather than the pages' HTML one.
    re_path(r"^[\s\S]*$", views.not_found, name="not-found"),
]
