"""The JSON API of ../shared/API.md: interfaces only.

Each view validates its input with a serializer, calls one service or selector and
presents the result with a serializer. Who may see or change what is decided in the
core; its refusals become HTTP answers in `exceptions.exception_handler`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import logout, update_session_auth_hash
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from .. import auth_tokens, selectors, services
from .. import cache as cache_keys
from ..content import IDEMPOTENCY_KEY_MAX_LENGTH, MAX_GROUP_MEMBERS, clean_idempotency_key
from ..exceptions import NotFound
from ..exceptions import ValidationError as DomainValidationError
from ..models import Group, Message
from ..web.page_cache import cache_conversation_page
from . import serializers as s
from .pagination import (
    SEARCH_PAGE_SIZE,
    BlockPagination,
    ConversationPagination,
    GroupPagination,
    NewestFirstPagination,
    NotificationPagination,
    PeoplePagination,
    RankedPagination,
)
from .schema import BODY_ERRORS, THROTTLE_HEADERS, responses
from .throttling import (
    AccountRateThrottle,
    AuthRateThrottle,
    SearchRateThrottle,
    SendRateThrottle,
    UserRateThrottle,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

#: Longest username Django stores; a longer path segment names nobody.
USERNAME_MAX_LENGTH = 150
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_KEY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH},
    location=OpenApiParameter.HEADER,
    description="A key of the client's choosing that makes retries safe.",
)


def signed_in(request: Request) -> User:
    """`request.user` in a view that requires a signed-in user: every view from
    `PasswordChangeView` on has the default `IsAuthenticated` permission."""
    return cast("User", request.user)


def _validated(serializer_class: type, data: Any, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# Accounts --------------------------------------------------------------------


class RegisterView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (AuthRateThrottle,)

    @extend_schema(
        summary="Create an account",
        request=s.RegisterSerializer,
        responses=responses(201, s.UserSerializer, *BODY_ERRORS),
        parameters=THROTTLE_HEADERS,
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.RegisterSerializer, request.data)
        user = services.user_register(**data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(TokenObtainPairView):
    serializer_class = s.TokenLoginObtainSerializer
    throttle_classes = (AuthRateThrottle, AccountRateThrottle)

    @extend_schema(
        summary="Log in: an access and a refresh token",
        request=s.TokenLoginObtainSerializer,
        responses=responses(200, s.TokenPairSerializer, *BODY_ERRORS, 401),
        parameters=THROTTLE_HEADERS,
        auth=[],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class TokenRefreshAccessView(TokenRefreshView):
    serializer_class = s.TokenRefreshLoginSerializer
    throttle_classes = (AuthRateThrottle,)

    @extend_schema(
        summary="A new access token and the next refresh token, for a refresh token",
        description=(
            "Refresh tokens rotate: the answer carries the next one, and the one sent is "
            "refused from now on. A used, logged-out or pre-password-change refresh token "
            "is a 401; a used one presented again also ends the login it belongs to (it "
            "was copied), closing that login's sockets."
        ),
        request=s.TokenRefreshLoginSerializer,
        responses=responses(200, s.AccessTokenSerializer, *BODY_ERRORS, 401),
        parameters=THROTTLE_HEADERS,
        auth=[],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """The refresh token is the credential: whoever holds it may end its login."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (AuthRateThrottle,)

    def get_authenticate_header(self, request: Request) -> str:
        # A refused token is a 401 (with its challenge), as on the refresh endpoint.
        return 'Bearer realm="api"'

    @extend_schema(
        summary="Log out: end the login a refresh token belongs to",
        description=(
            "The refresh token is revoked, and so is every access token of the same "
            "log-in; the sockets opened with them close (4401). A used, expired or "
            "forged refresh token is a 401."
        ),
        request=s.LogoutSerializer,
        responses=responses(204, None, *BODY_ERRORS, 401),
        parameters=THROTTLE_HEADERS,
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.LogoutSerializer, request.data)
        try:
            refresh = RefreshToken(data["refresh"])
            services.user_logout_token(refresh=refresh)
        except TokenError as error:
            raise InvalidToken(error.args[0]) from None
        except auth_tokens.LoginEnded as error:
            raise AuthenticationFailed(str(error), code="login_ended") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    throttle_classes = (UserRateThrottle, AuthRateThrottle, AccountRateThrottle)

    @extend_schema(
        summary="Change the password",
        description=(
            "Every token issued before is refused from now on, and every other session "
            "and socket of the caller is closed; a browser session making the change "
            "stays signed in. A wrong old password or a weak new one is a 400 and "
            "changes nothing. Throttled like log-in (RATE_LIMIT_AUTH per IP and per "
            "account)."
        ),
        request=s.PasswordChangeSerializer,
        responses=responses(204, None, *BODY_ERRORS, 401, 403),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.PasswordChangeSerializer, request.data)
        django_request = request._request
        session_login = (
            auth_tokens.session_login_id(django_request.session.session_key)
            if isinstance(request.successful_authenticator, SessionAuthentication)
            else None
        )
        services.user_change_password(user=signed_in(request), keep_login=session_login, **data)
        if session_login is not None:
            update_session_auth_hash(django_request, signed_in(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    def get_throttles(self) -> list[Any]:
        # Deleting the account confirms a password: throttled like log-in too.
        throttles = super().get_throttles()
        if self.request.method == "DELETE":
            throttles += [AuthRateThrottle(), AccountRateThrottle()]
        return throttles

    @extend_schema(
        summary="The caller's account",
        responses=responses(200, s.UserSerializer, 401),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request) -> Response:
        return Response(s.UserSerializer(signed_in(request)).data)

    @extend_schema(
        summary="Delete the account and everything tied to it",
        description=(
            "Removes the user, every message they sent or received, the edit history of "
            "those messages and every notification pointing at them or at the user. A "
            "wrong password is a 400 and deletes nothing. Throttled like log-in "
            "(RATE_LIMIT_AUTH per IP and per account)."
        ),
        request=s.PasswordSerializer,
        responses=responses(204, None, *BODY_ERRORS, 401, 403),
        parameters=THROTTLE_HEADERS,
    )
    def delete(self, request: Request) -> Response:
        data = _validated(s.PasswordSerializer, request.data)
        services.delete_user(user=signed_in(request), password=data["password"])
        if isinstance(request.successful_authenticator, SessionAuthentication):
            logout(request._request)  # the session pointed at the deleted account
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportView(APIView):
    @extend_schema(
        summary="Everything stored about the caller, as one document",
        responses=responses(200, s.ExportSerializer, 401),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.user_export(signed_in(request)))


class PeopleSearchView(generics.ListAPIView):
    serializer_class = s.PersonSerializer
    pagination_class = PeoplePagination
    throttle_classes = (UserRateThrottle, SearchRateThrottle)

    def get_queryset(self):
        query = _validated(s.PeopleSearchQuerySerializer, self.request.query_params)
        return selectors.people_search(viewer=signed_in(self.request), prefix=query["q"])

    @extend_schema(
        summary="People whose username starts with `q`, to write to",
        description=(
            "Active people whose username starts with `q` in any letter case, ordered by "
            f"name with letter case ignored, at most {SEARCH_PAGE_SIZE} a page: "
            "`{id, username}`, never an email. The "
            "caller is left out, and so is anyone the caller blocked or who blocked the "
            "caller: every name offered can be written to. `q` is taken as a name is "
            "stored (NFKC); shorter than 2 characters is a 400. Throttled per user "
            "(RATE_LIMIT_SEARCH) as well as by RATE_LIMIT_USER."
        ),
        parameters=[s.PeopleSearchQuerySerializer, *THROTTLE_HEADERS],
        responses=responses(200, s.PersonSerializer(many=True), 400, 401),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# Messages --------------------------------------------------------------------


class MessageCreateView(APIView):
    throttle_classes = (UserRateThrottle, SendRateThrottle)

    @extend_schema(
        summary="Send a message",
        description=(
            "With an `Idempotency-Key` header, a retry by the same sender with the same "
            "key answers the first message (201, the same body) and stores nothing new, "
            "whatever the retry's body."
        ),
        request=s.MessageCreateSerializer,
        responses=responses(201, s.MessageSerializer, *BODY_ERRORS, 401, 403),
        parameters=[
            IDEMPOTENCY_KEY_PARAMETER,
            *THROTTLE_HEADERS,
        ],
    )
    def post(self, request: Request) -> Response:
        sender = signed_in(request)
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        key = clean_idempotency_key(key) if key is not None else None
        try:
            data = _validated(s.MessageCreateSerializer, request.data)
            parent_id = data.get("parent_message")
            receiver = selectors.recipient(sender=sender, username=data["receiver"])
            parent = selectors.reply_parent(parent_id) if parent_id is not None else None
        except (APIException, DomainValidationError):
            # A retry answers the first message whatever its body: refused only without one.
            earlier = selectors.message_for_idempotency_key(sender, key) if key else None
            if earlier is None:
                raise
            return Response(s.MessageSerializer(earlier).data, status=status.HTTP_201_CREATED)
        # A retry with a sound body collides on the key's unique index in the send, which
        # then answers the first message: a first send pays no lookup for it.
        message = services.message_send(
            sender=sender,
            receiver=receiver,
            content=data["content"],
            parent=parent,
            idempotency_key=key,
        )
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class MessageDetailView(APIView):
    @extend_schema(
        summary="A message (its sender or receiver only)",
        responses=responses(200, s.MessageSerializer, 401, 404),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, pk: int) -> Response:
        message = selectors.message_get_for_participant(signed_in(request), pk)
        return Response(s.MessageSerializer(message).data)

    @extend_schema(
        summary="Edit a message (its sender only)",
        description="The old text goes to the history; the same text changes nothing.",
        request=s.MessageEditSerializer,
        responses=responses(200, s.MessageSerializer, *BODY_ERRORS, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def patch(self, request: Request, pk: int) -> Response:
        data = _validated(s.MessageEditSerializer, request.data)
        message = services.message_edit(
            user=signed_in(request), message=pk, content=data["content"]
        )
        return Response(s.MessageSerializer(message).data)

    @extend_schema(
        summary="Delete a message (its sender only); its replies stay in the thread",
        responses=responses(204, None, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def delete(self, request: Request, pk: int) -> Response:
        services.message_delete(user=signed_in(request), message=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageHistoryView(APIView):
    @extend_schema(
        summary="A message's earlier texts, newest first",
        responses=responses(200, s.MessageHistorySerializer(many=True), 401, 404),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, pk: int) -> Response:
        history = selectors.history_list(signed_in(request), pk)
        return Response(s.MessageHistorySerializer(history, many=True).data)


class MessageThreadView(APIView):
    @extend_schema(
        summary="The whole thread holding a message, as a tree",
        description=(
            "The thread's first message, whichever of its messages was asked, with "
            "nested `replies`, oldest first at every level."
        ),
        responses=responses(200, s.ThreadMessageSerializer, 401, 404),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        root = selectors.thread_get(signed_in(request), pk)
        return HttpResponse(s.render_thread(root), content_type="application/json")


class MessageReadView(APIView):
    @extend_schema(
        summary="Mark a message read (its receiver only); idempotent",
        description=(
            "The caller's notifications about the message (its own and its edits') are "
            "read with it; every socket of the caller hears `conversation.read`."
        ),
        request=None,
        responses=responses(204, None, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request, pk: int) -> Response:
        services.message_mark_read(user=signed_in(request), message=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UnreadListView(generics.ListAPIView):
    serializer_class = s.MessageSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        return selectors.unread_list(signed_in(self.request))

    @extend_schema(
        summary="Unread messages received by the caller, newest first",
        responses=responses(200, s.MessageSerializer(many=True), 400, 401),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class UnreadCountView(APIView):
    @extend_schema(
        summary="How many messages the caller has not read",
        responses=responses(200, s.CountSerializer, 401),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request) -> Response:
        return Response({"count": selectors.unread_count(signed_in(request))})


class MessageSearchView(generics.ListAPIView):
    serializer_class = s.MessageSerializer
    pagination_class = RankedPagination
    throttle_classes = (UserRateThrottle, SearchRateThrottle)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model
            return Message.objects.none()
        query = _validated(s.MessageSearchQuerySerializer, self.request.query_params)
        return selectors.message_search(user=signed_in(self.request), query=query["q"])

    @extend_schema(
        summary="The caller's messages that hold every word of `q`, best match first",
        description=(
            "Messages the caller sent or received, or of a group they are in, in which "
            "each word of `q` starts a word, in any letter case and with or without accents "
            '("cafe" finds "Café", "deplo" finds "deploy"); best match first, then newest '
            f"first, among the newest {selectors.SEARCH_WINDOW} matches (more words reach "
            "older ones). "
            "`q` is stripped, then 1 to 200 characters, else a 400; it is words only, "
            "never query syntax, and punctuation alone finds nothing. Pages follow the "
            "`next` link. Throttled per user "
            "(RATE_LIMIT_SEARCH, shared with people search) as well as by RATE_LIMIT_USER."
        ),
        parameters=[s.MessageSearchQuerySerializer, *THROTTLE_HEADERS],
        responses=responses(200, s.MessageSerializer(many=True), 400, 401),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# Conversations ---------------------------------------------------------------


class PartnerMixin:
    """Views of one conversation, named by the partner's username in the path."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # a mixin: APIView follows
        username = kwargs.get("username", "")
        # Nobody has such a name, and a NUL byte must never reach PostgreSQL.
        if len(username) > USERNAME_MAX_LENGTH or "\x00" in username:
            raise NotFound("No such user.")


class ConversationListView(generics.ListAPIView):
    serializer_class = s.ConversationSerializer
    pagination_class = ConversationPagination

    def get_queryset(self):
        return selectors.conversation_list(signed_in(self.request))

    @extend_schema(
        summary="The inbox: one row per partner, newest last message first",
        responses=responses(200, s.ConversationSerializer(many=True), 400, 401),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The page as plain data (never a queryset), under the user's generation: any
        # send, edit, delete, read or block that changes the inbox moves it on commit.
        def page() -> dict[str, Any]:
            data = super(ConversationListView, self).get(request, *args, **kwargs).data
            return {
                "next": data["next"],
                "previous": data["previous"],
                "results": list(data["results"]),
            }

        key = cache_keys.inbox_page_key(signed_in(request).pk, request.build_absolute_uri())
        return Response(cache_keys.get_or_set(key, page))


@method_decorator(cache_conversation_page(60), name="get")
class ConversationMessagesView(PartnerMixin, generics.ListAPIView):
    """Cached per request (viewer, conversation generation): see `cache_conversation_page`."""

    serializer_class = s.MessageSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model
            return Message.objects.none()
        partner = selectors.user_get_by_username(self.kwargs["username"])
        return selectors.message_list_between(signed_in(self.request), partner)

    @extend_schema(
        summary="Messages between the caller and `username`, newest first",
        responses=responses(200, s.MessageSerializer(many=True), 400, 401, 404),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ConversationReadView(PartnerMixin, APIView):
    @extend_schema(
        summary="Mark every message from `username` to the caller read",
        description=(
            "The caller's notifications about those messages, and about `username`'s "
            "edits, are read with them; every socket of the caller hears `conversation.read`."
        ),
        request=None,
        responses=responses(204, None, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request, username: str) -> Response:
        services.conversation_mark_read(user=signed_in(request), partner=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Groups ----------------------------------------------------------------------


class GroupListView(generics.ListAPIView):
    serializer_class = s.GroupSerializer
    pagination_class = GroupPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model
            return Group.objects.none()
        return selectors.group_list(signed_in(self.request))

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        return selectors.group_named(list(page)) if page is not None else None

    @extend_schema(
        summary="The groups the caller belongs to, newest first",
        responses=responses(200, s.GroupSerializer(many=True), 400, 401),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a group of the caller and `members`",
        description=(
            "The caller is added. Every member must be an active person with no block "
            "either way with the caller; at least one besides the caller, at most "
            f"{MAX_GROUP_MEMBERS} in all. Every member's sockets hear `group.updated`."
        ),
        request=s.GroupCreateSerializer,
        responses=responses(201, s.GroupSerializer, *BODY_ERRORS, 401, 403),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        creator = signed_in(request)
        data = _validated(s.GroupCreateSerializer, request.data)
        members = selectors.addable_people(creator, data["members"], field="members")
        group = services.group_create(creator=creator, name=data["name"], members=members)
        return Response(s.GroupSerializer(group).data, status=status.HTTP_201_CREATED)


class GroupDetailView(APIView):
    @extend_schema(
        summary="A group (its members only)",
        responses=responses(200, s.GroupSerializer, 401, 404),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.GroupSerializer(selectors.group_get(signed_in(request), pk)).data)

    @extend_schema(
        summary="Rename a group (any member)",
        request=s.GroupRenameSerializer,
        responses=responses(200, s.GroupSerializer, *BODY_ERRORS, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def patch(self, request: Request, pk: int) -> Response:
        user = signed_in(request)
        selectors.membership(user, pk)  # a stranger's bad body is still a 404
        data = _validated(s.GroupRenameSerializer, request.data)
        group = services.group_rename(user=user, group=pk, name=data["name"])
        return Response(s.GroupSerializer(group).data)


class GroupMembersView(APIView):
    @extend_schema(
        summary="Add someone to a group (any member)",
        description=(
            "400 for someone unknown, inactive, blocked either way by the caller, or a "
            "member already. The newcomer sees the group's history, none of it unread."
        ),
        request=s.GroupMemberSerializer,
        responses=responses(201, s.GroupSerializer, *BODY_ERRORS, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request, pk: int) -> Response:
        user = signed_in(request)
        selectors.membership(user, pk)
        data = _validated(s.GroupMemberSerializer, request.data)
        (member,) = selectors.addable_people(user, [data["username"]], field="username")
        group = services.group_add_member(user=user, group=pk, member=member)
        return Response(s.GroupSerializer(group).data, status=status.HTTP_201_CREATED)


class GroupMemberView(APIView):
    @extend_schema(
        summary="Leave a group (your own name), or remove someone (its creator only)",
        description=(
            "Whoever leaves or is removed sees nothing of the group from then on: 404 "
            "for it and its messages; their sockets hear `group.left`."
        ),
        request=None,
        responses=responses(204, None, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def delete(self, request: Request, pk: int, username: str) -> Response:
        services.group_remove_member(user=signed_in(request), group=pk, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupMessagesView(generics.ListAPIView):
    serializer_class = s.MessageSerializer
    pagination_class = NewestFirstPagination
    throttle_classes = (UserRateThrottle,)

    def get_throttles(self) -> list[Any]:
        throttles = super().get_throttles()
        if self.request.method == "POST":
            throttles.append(SendRateThrottle())
        return throttles

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model
            return Message.objects.none()
        user = signed_in(self.request)
        row = selectors.membership(user, self.kwargs["pk"])
        return selectors.group_messages(user, row.member_group.pk)

    @extend_schema(
        summary="A group's messages, newest first (members only)",
        responses=responses(200, s.MessageSerializer(many=True), 400, 401, 404),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Write to a group",
        description=(
            "Content rules and `Idempotency-Key` as for a direct send; a `parent_message` "
            "must be a message of the same group. Every other member gets one "
            "notification (except those who blocked the sender) and the "
            "`message.created` frame."
        ),
        request=s.GroupMessageCreateSerializer,
        responses=responses(201, s.MessageSerializer, *BODY_ERRORS, 401, 403, 404),
        parameters=[IDEMPOTENCY_KEY_PARAMETER, *THROTTLE_HEADERS],
    )
    def post(self, request: Request, pk: int) -> Response:
        sender = signed_in(request)
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        key = clean_idempotency_key(key) if key is not None else None
        try:
            data = _validated(s.GroupMessageCreateSerializer, request.data)
            parent_id = data.get("parent_message")
            parent = selectors.reply_parent(parent_id) if parent_id is not None else None
        except (APIException, DomainValidationError):
            # A stranger's bad body is still a 404 (the send checks membership itself, so
            # a sound body pays no query for it here).
            selectors.membership(sender, pk)
            earlier = selectors.message_for_idempotency_key(sender, key) if key else None
            if earlier is None:
                raise
            return Response(s.MessageSerializer(earlier).data, status=status.HTTP_201_CREATED)
        message = services.message_send(
            sender=sender, group=pk, content=data["content"], parent=parent, idempotency_key=key
        )
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class GroupReadView(APIView):
    @extend_schema(
        summary="Mark every message of a group read by the caller",
        description=(
            "The caller's notifications about them are read too; the other members' "
            "sockets hear `message.read` `{group, reader, up_to}`, the caller's "
            "`conversation.read`."
        ),
        request=None,
        responses=responses(204, None, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request, pk: int) -> Response:
        services.group_mark_read(user=signed_in(request), group=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Blocking --------------------------------------------------------------------


class BlockedListView(generics.ListAPIView):
    serializer_class = s.BlockedUserSerializer
    pagination_class = BlockPagination

    def get_queryset(self):
        return selectors.block_list(signed_in(self.request))

    @extend_schema(
        summary="The people the caller has blocked, most recently blocked first",
        responses=responses(200, s.BlockedUserSerializer(many=True), 400, 401),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class BlockView(PartnerMixin, APIView):
    """The caller's block of `username`: both methods are idempotent."""

    @extend_schema(
        summary="Block `username`; idempotent",
        description=(
            "While the block lasts neither person can send the other a message (a send "
            "is a 400 on `receiver`) and the conversation leaves the caller's inbox; "
            "nothing is deleted. Blocking oneself is a 400 on `username`."
        ),
        request=None,
        responses=responses(204, None, 400, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request, username: str) -> Response:
        services.user_block(user=signed_in(request), target=username)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Unblock `username`; idempotent",
        description="Messages flow again and the conversation is back in the caller's inbox.",
        request=None,
        responses=responses(204, None, 400, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def delete(self, request: Request, username: str) -> Response:
        services.user_unblock(user=signed_in(request), target=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Notifications ---------------------------------------------------------------


class NotificationListView(generics.ListAPIView):
    serializer_class = s.NotificationSerializer
    pagination_class = NotificationPagination

    def get_queryset(self):
        query = _validated(s.NotificationQuerySerializer, self.request.query_params)
        return selectors.notification_list(signed_in(self.request), unread=query["unread"])

    @extend_schema(
        summary="The caller's notifications, newest first",
        parameters=[
            OpenApiParameter(
                "unread",
                OpenApiTypes.BOOL,
                description="`true`: only unread ones; `false`: only read ones.",
            ),
            *THROTTLE_HEADERS,
        ],
        responses=responses(200, s.NotificationSerializer(many=True), 400, 401),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class NotificationUnreadCountView(APIView):
    @extend_schema(
        summary="How many notifications the caller has not read",
        responses=responses(200, s.CountSerializer, 401),
        parameters=THROTTLE_HEADERS,
    )
    def get(self, request: Request) -> Response:
        return Response({"count": selectors.notification_unread_count(signed_in(request))})


class NotificationReadView(APIView):
    @extend_schema(
        summary="Mark one of the caller's notifications read",
        request=None,
        responses=responses(204, None, 401, 403, 404),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request, pk: int) -> Response:
        services.notification_mark_read(user=signed_in(request), notification=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationReadAllView(APIView):
    @extend_schema(
        summary="Mark all of the caller's notifications read",
        request=None,
        responses=responses(204, None, 401, 403),
        parameters=THROTTLE_HEADERS,
    )
    def post(self, request: Request) -> Response:
        services.notification_mark_all_read(user=signed_in(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# Schema and unknown paths ----------------------------------------------------


class SchemaView(SpectacularAPIView):
    """The OpenAPI document, JSON unless YAML is asked for (`?format=yaml` or `Accept`)."""

    renderer_classes = [
        *SpectacularAPIView.renderer_classes[2:],
        *SpectacularAPIView.renderer_classes[:2],
    ]


@csrf_exempt
def not_found(request, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other path under /api/v1/: a JSON 404, as a JSON client expects."""
    return JsonResponse({"detail": "Not found."}, status=404)
