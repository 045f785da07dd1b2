"""The web pages: server-rendered HTML over the same services and selectors as the API.

An interface only. Every write is a service call and every read a selector; the
domain's refusals become HTTP in `domain_errors` (404, 403) or form errors
(`_apply`). Each form posts to its own URL and redirects back (POST/redirect/GET),
so every page works without JavaScript; `static/messaging/live.js` adds the live
updates from the socket on top.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required as django_login_required
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import auth_tokens, selectors, services
from .. import cache as cache_keys
from ..api.throttling import (
    AccountRateThrottle,
    AuthRateThrottle,
    SearchRateThrottle,
    SendRateThrottle,
)
from ..content import clean_idempotency_key
from ..exceptions import NotFound, PermissionDenied, ValidationError
from ..models import Message
from ..selectors.messages import unread_by
from . import fragments
from .forms import (
    DeleteAccountForm,
    EditForm,
    GroupForm,
    GroupRenameForm,
    MemberAddForm,
    MessageForm,
    PasswordChangeForm,
    ReplyForm,
    SignupForm,
)
from .page_cache import cache_conversation_page

#: Conversations per inbox page, notifications per page.
INBOX_PAGE_SIZE = 20
NOTIFICATIONS_PAGE_SIZE = 30
#: Blocked people per page of the account page.
BLOCKED_PAGE_SIZE = 50
#: Nesting shown as indentation; deeper replies are listed flat at this depth.
MAX_DEPTH = 4
#: A branch with more replies than this under it starts collapsed (<details>).
COLLAPSE_BRANCH_OVER = 3
#: A thread's first message shows its newest direct replies; earlier ones fold away.
ROOT_REPLIES_SHOWN = 3

login_required = django_login_required(login_url=reverse_lazy("messaging:login"))

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import QuerySet

    from ..models import Group

    class AuthenticatedHttpRequest(HttpRequest):
        """The request of a page behind `@page` (`login_required`): a signed-in user's."""

        user: User


# Errors: the one place domain refusals become HTTP ----------------------------


def domain_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """NotFound -> 404 and PermissionDenied -> 403 (the friendly pages); a ValidationError
    that no form took -> 400."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from None
        except PermissionDenied as error:
            raise HttpPermissionDenied(error.message) from None
        except ValidationError as error:
            return render(request, "400.html", {"error": error.message}, status=400)

    return wrapped


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of a logged-in person: log-in redirect for anyone else, domain errors mapped."""
    return login_required(domain_errors(view))


def rate_limited(*throttles: type) -> Callable:
    """POSTs beyond the configured rates get a friendly 429 with `Retry-After`.

    The API's own throttles, so the pages and the API share one budget:
    RATE_LIMIT_AUTH per IP for sign-up and log-in, RATE_LIMIT_SEND per user for sends.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST" and (refused := _throttled(request, throttles)):
                return refused
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _throttled(request: HttpRequest, throttles: tuple[type, ...]) -> HttpResponse | None:
    """The friendly 429 (with `Retry-After`) if one of `throttles` refuses the request."""
    for throttle_class in throttles:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            wait = math.ceil(throttle.wait() or 1)
            response = render(request, "429.html", {"wait": wait}, status=429)
            response["Retry-After"] = str(wait)
            return response
    return None


#: Where passwords are tried (log-in, the admin's log-in, password change, account
#: deletion): RATE_LIMIT_AUTH per IP and per account.
login_throttled = rate_limited(AuthRateThrottle, AccountRateThrottle)

_FAILED = object()


def _apply(form, action: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a service for a valid form; its ValidationError becomes the form's error."""
    try:
        return action(**kwargs)
    except ValidationError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _FAILED


def _posted(request: HttpRequest) -> Any:
    """A form's data on POST, else None (unbound). Not `request.POST or None`: an empty
    POST must bind the form, so that it answers with its "required" errors."""
    return request.POST if request.method == "POST" else None


def _navigated_here(request: HttpRequest) -> bool:
    """Whether a GET is the person's own navigation, so it may mark what it shows read.

    A page of another site can make a browser GET ours (a link, an image, a frame);
    reading must not change state then. Browsers say where a request comes from in
    `Sec-Fetch-Site`: `same-origin` for our own links and scripts, `none` for a typed
    address or a bookmark. Without the header (an old browser, a script) nothing is
    marked: the page offers a "Mark read" button, and the page's script posts the read.
    """
    return request.headers.get("Sec-Fetch-Site") in {"same-origin", "none"}


def _is_fetch(request: HttpRequest) -> bool:
    """A request from the pages' own script, which wants no redirect."""
    return request.headers.get("X-Requested-With") == "fetch"


def _next_or(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    # A path of this site only: `redirect()` reads anything else without a "/" or a "."
    # ("0", "inbox") as a view name, and an unknown one is a server error.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _answered(request: HttpRequest, default: str) -> HttpResponse:
    """After a POST that only changes state: 204 for the pages' script, else back to
    `next` (or `default`)."""
    if _is_fetch(request):
        return HttpResponse(status=204)
    return redirect(_next_or(request, default))


def _conversation_url(username: str, message_id: int | None = None) -> str:
    url = reverse("messaging:conversation", args=[username])
    return f"{url}#m{message_id}" if message_id else url


@dataclass(frozen=True)
class Chat:
    """The conversation a chat page shows, or a message belongs to: with one person
    (`partner`), or a group the viewer is a member of (`group`)."""

    name: str
    url: str
    partner: Any = None
    group: Any = None

    @classmethod
    def with_partner(cls, partner) -> Chat:
        return cls(partner.username, _conversation_url(partner.username), partner=partner)

    @classmethod
    def of_group(cls, group) -> Chat:
        return cls(group.name, reverse("messaging:group", args=[group.pk]), group=group)

    @property
    def other(self):
        """Whom `selectors.conversation_window` reads the conversation with."""
        return self.group if self.group is not None else self.partner

    def at(self, message_id: int | None) -> str:
        return f"{self.url}#m{message_id}" if message_id else self.url

    def holds(self, message) -> bool:
        """Whether `message` (one the viewer may see) belongs to this conversation."""
        if self.group is not None:
            return message.group_id == self.group.pk
        return message.group_id is None and self.partner.pk in (
            message.sender_id,
            message.receiver_id,
        )

    def window_key(self, user, *, end: str) -> str:
        if self.group is not None:
            return cache_keys.group_window_key(user.pk, self.group.pk, end=end)
        return cache_keys.conversation_window_key(user.pk, self.partner.pk, end=end)


def _chat_of(user, message) -> Chat:
    """The conversation of a message `user` may see (a group message's group: one query
    unless loaded with it)."""
    if message.group_id is not None:
        return Chat.of_group(message.group)
    return Chat.with_partner(message.receiver if message.sender_id == user.pk else message.sender)


# Accounts ---------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@rate_limited(AuthRateThrottle)
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("messaging:inbox")
    form = SignupForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        user = _apply(form, services.user_register, **form.cleaned_data)
        if user is not _FAILED:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            flash.success(request, f"Welcome, {user.username}! Start a conversation below.")
            return redirect("messaging:inbox")
    return render(request, "messaging/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "messaging/login.html"
    redirect_authenticated_user = True


login_view = login_throttled(LoginView.as_view())


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("messaging:login")  # type: ignore[assignment]  # Django takes a lazy URL


@page
@require_GET
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    summary = selectors.user_data_summary(request.user)
    paginator = Paginator(selectors.block_list(request.user), BLOCKED_PAGE_SIZE)
    blocks = paginator.get_page(request.GET.get("page"))
    return render(request, "messaging/account.html", {"summary": summary, "blocks": blocks})


@page
@require_GET
def account_export(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Everything stored about the person, as the API's export document, to download."""
    response = JsonResponse(selectors.user_export(request.user), json_dumps_params={"indent": 2})
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = (
        f'attachment; filename="messaging-export-{request.user.pk}-{stamp}.json"'
    )
    add_never_cache_headers(response)
    return response


@page
@require_http_methods(["GET", "HEAD", "POST"])
@login_throttled
def delete_user(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Delete my account: first what will go (counts), then the password, then everything."""
    form = DeleteAccountForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        user = request.user
        done = _apply(form, services.delete_user, user=user, password=form.cleaned_data["password"])
        if done is not _FAILED:
            logout(request)
            flash.success(request, "Your account and everything tied to it have been deleted.")
            return redirect("messaging:login")
    summary = selectors.user_data_summary(request.user)
    return render(request, "messaging/account_delete.html", {"form": form, "summary": summary})


@page
@require_http_methods(["GET", "HEAD", "POST"])
@login_throttled
def password_change(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Change my password: every other session, token and socket of mine ends; this
    session stays signed in (under a new session key)."""
    form = PasswordChangeForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        done = _apply(
            form,
            services.user_change_password,
            user=request.user,
            old_password=form.cleaned_data["old_password"],
            new_password=form.cleaned_data["new_password"],
            keep_login=auth_tokens.session_login_id(request.session.session_key),
        )
        if done is not _FAILED:
            update_session_auth_hash(request, request.user)
            flash.success(
                request, "Your password has been changed. You are signed out everywhere else."
            )
            return redirect("messaging:account")
    status = 400 if form.is_bound else 200
    return render(request, "messaging/account_password.html", {"form": form}, status=status)


# Inbox and sending --------------------------------------------------------------


class InboxPage:
    """A page of the inbox, loaded only when the template's `{% cache %}` of it misses."""

    def __init__(self, user, number: Any) -> None:
        self.user, self.number = user, number

    @cached_property
    def key(self) -> str:
        return cache_keys.inbox_list_key(self.user.pk, page=str(self.number or "1"))

    @cached_property
    def page(self):
        paginator = Paginator(selectors.conversation_list(self.user), INBOX_PAGE_SIZE)
        return paginator.get_page(self.number)


@page
@require_GET
def inbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(
        request,
        "messaging/inbox.html",
        {
            "inbox": InboxPage(request.user, request.GET.get("page")),
            "form": MessageForm(auto_id="compose-%s"),
        },
    )


def _send(request: AuthenticatedHttpRequest, form: ReplyForm, *, group: int | None = None) -> Any:
    """Send what `form` holds: to its `receiver`, or to `group`. A script's send carries
    an `Idempotency-Key` (a retry answers the first message)."""
    data = form.cleaned_data

    def send() -> Message:
        key = request.headers.get("Idempotency-Key")
        to: dict[str, Any] = {"group": group}
        if group is None:
            to = {
                "receiver": selectors.recipient(
                    sender=request.user, username=data["receiver"].strip()
                )
            }
        parent_id = data.get("parent_message")
        return services.message_send(
            sender=request.user,
            content=data["content"],
            parent=selectors.reply_parent(parent_id) if parent_id is not None else None,
            idempotency_key=clean_idempotency_key(key) if key is not None else None,
            **to,
        )

    return _apply(form, send)


@page
@require_http_methods(["GET", "HEAD", "POST"])
@rate_limited(SendRateThrottle)
def compose(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new message to anyone (the inbox's form posts here too)."""
    form = MessageForm(
        _posted(request), initial={"receiver": request.GET.get("to", "")}, auto_id="compose-%s"
    )
    if request.method == "POST" and form.is_valid():
        message = _send(request, form)
        if message is not _FAILED:
            return redirect(_conversation_url(message.receiver.username, message.pk))
    return render(request, "messaging/compose.html", {"form": form})


# The conversation page ----------------------------------------------------------


class ChatWindow:
    """The messages a conversation page shows, loaded only when the template's
    `{% cache %}` of them misses; each message's HTML from `fragments`."""

    def __init__(self, user, chat: Chat, *, before: int | None, at: int | None) -> None:
        self.user, self.chat, self.before, self.at = user, chat, before, at

    @cached_property
    def _loaded(self) -> tuple[list[Message], bool]:
        return selectors.conversation_window(
            self.user, self.chat.other, before=self.before, at=self.at
        )

    @property
    def has_older(self) -> bool:
        return self._loaded[1]

    @property
    def oldest_id(self) -> int | None:
        rows = self._loaded[0]
        return rows[0].pk if rows else None

    @cached_property
    def first_unread(self) -> int | None:
        return next((m.pk for m in self._loaded[0] if unread_by(m, self.user)), None)

    @cached_property
    def items(self) -> list[tuple[int, bool, Any]]:
        """(id, mine, HTML) of each message, oldest first."""
        rows = self._loaded[0]
        html = fragments.messages_html(rows, viewer=self.user, people=self._people(rows))
        viewer = self.user.pk
        return [
            (message.pk, message.sender_id == viewer, fragment)
            for message, fragment in zip(rows, html, strict=True)
        ]

    def _people(self, rows: list[Message]) -> dict[int, str]:
        """Who wrote what the window shows: the partner, or (a group's window loads each
        sender's name) every sender and every sender of a message answered."""
        people = {self.user.pk: self.user.username}
        if self.chat.partner is not None:
            people[self.chat.partner.pk] = self.chat.partner.username
            return people
        for message in rows:
            people[message.sender_id] = message.sender.username
            if message.parent_message_id and message.parent_message is not None:
                people[message.parent_message.sender_id] = message.parent_message.sender.username
        return people


def shape_thread(root, viewer, *, highlight: int | None = None):
    """Decide how a thread tree is shown: indentation depth, flattened deep replies,
    collapsed long branches (kept open when they hold something new or highlighted).

    Presentation only; works on what a selector loaded, without queries or recursion.
    """
    root.depth, root.reply_to = 0, None
    order = [root]
    for node in order:  # parents before children
        if node.depth == MAX_DEPTH:
            node.replies_list = _flatten(node)
        for child in node.replies_list:
            child.depth = node.depth + 1
            child.__dict__.setdefault("reply_to", None)
            order.append(child)
    for node in reversed(order):
        node.is_new = node.receiver_id == viewer.pk and not node.read
        node.is_highlighted = node.pk == highlight
        node.descendant_count = sum(1 + child.descendant_count for child in node.replies_list)
        node.holds_attention = any(
            child.is_new or child.is_highlighted or child.holds_attention
            for child in node.replies_list
        )
        node.mine = node.sender_id == viewer.pk
        hidden_count = 0
        if node.depth == 0 and len(node.replies_list) > ROOT_REPLIES_SHOWN + 1:
            hidden_count = len(node.replies_list) - ROOT_REPLIES_SHOWN
        node.replies_folded = node.replies_list[:hidden_count]
        node.replies_shown = node.replies_list[hidden_count:]
        node.fold_open = any(
            child.is_new or child.is_highlighted or child.holds_attention
            for child in node.replies_folded
        )
        node.collapsed = node.depth > 0 and node.descendant_count > COLLAPSE_BRANCH_OVER
    return root


def _flatten(node) -> list:
    """Every descendant of `node`, oldest first, each naming the message it answers."""
    flat, stack = [], [(child, None) for child in reversed(node.replies_list)]
    while stack:
        child, parent = stack.pop()
        child.reply_to = parent
        flat.append(child)
        grandchildren, child.replies_list = child.replies_list, []
        stack.extend((grandchild, child) for grandchild in reversed(grandchildren))
    return sorted(flat, key=lambda message: (message.timestamp, message.pk))


def _positive_int(value: Any) -> int | None:
    """An id from a query string or a form, else None (absent, or not an id)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _reply_target(request: AuthenticatedHttpRequest, chat: Chat, parent_id: int | None):
    """The message a reply answers (`?reply=` without JavaScript), if it is in this conversation."""
    if parent_id is None:
        return None
    try:
        parent = selectors.message_get_for_participant(request.user, parent_id)
    except NotFound:
        return None
    if not chat.holds(parent):
        return None
    people = {request.user.pk: request.user.username, parent.sender_id: parent.sender.username}
    return fragments.shape(parent, viewer=request.user, people=people)


def _chat_context(request: AuthenticatedHttpRequest, chat: Chat, form: ReplyForm) -> dict[str, Any]:
    user = request.user
    # Where the window ends: before a message (scrolling up), at one (a search result,
    # a link), else at the newest.
    before = _positive_int(request.GET.get("before"))
    at = _positive_int(request.GET.get("at")) if before is None else None
    end = f"b{before}" if before else f"a{at}" if at else ""
    parent_id = form["parent_message"].value() if form.is_bound else request.GET.get("reply")
    return {
        "chat": chat,
        "partner": chat.partner,
        "group": chat.group,
        "window": ChatWindow(user, chat, before=before, at=at),
        "before": before or at,
        "form": form,
        "reply_to": _reply_target(request, chat, _positive_int(parent_id)),
        "blank_message": fragments.blank(),
        "message_url": fragments.message_url(),
        # From the partner's lookup (`_conversation_partner`). Blocking bumps the
        # conversation's generation, so no cached page shows an earlier state.
        "blocks_partner": bool(getattr(chat.partner, "blocks_them", False)),
        # The messages' `{% cache %}`: per viewer and conversation (or group) generation
        # (never shared, never stale) and per window; no form in it, so no CSRF token.
        "window_key": chat.window_key(user, end=end),
    }


def _conversation_partner(request: AuthenticatedHttpRequest, username: str):
    partner = selectors.user_get_by_username(username, viewer=request.user)
    if partner.pk == request.user.pk:
        raise NotFound("There is no conversation with yourself.")
    return partner


def _conversation_show(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    partner = _conversation_partner(request, username)
    form = MessageForm(initial={"receiver": partner.username}, auto_id="compose-%s")
    navigated = _navigated_here(request)
    context = _chat_context(request, Chat.with_partner(partner), form)
    context["offer_mark_read"] = not navigated
    response = render(request, "messaging/conversation.html", context)
    # The page differs (and marks read or not) by where the request came from.
    patch_vary_headers(response, ["Sec-Fetch-Site"])
    if navigated:
        # Seen: one UPDATE after rendering, so the page still marks what was new. The
        # conversation's generation moves on commit, so the next view misses the cache
        # (the page cache and the fragments) and shows them read.
        services.conversation_mark_read(user=request.user, partner=partner)
    return response


_conversation_cached = cache_conversation_page(60, vary_on_csrf=True, vary_on_user=True)(
    _conversation_show
)


@page
@require_http_methods(["GET", "HEAD", "POST"])
@rate_limited(SendRateThrottle)
def conversation(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    """GET: the conversation with `username` as a chat, oldest at the top, the newest
    window (or the one `?before=` a message, or `?at=` one). POST: send to them (a
    message or a reply)."""
    if request.method == "POST":
        return _conversation_send(request, username)
    if settings.CSRF_COOKIE_NAME not in request.COOKIES:
        # A first visit without a CSRF cookie gets a new token: nothing to cache it under.
        response = _conversation_show(request, username=username)
        add_never_cache_headers(response)
        return response
    return _conversation_cached(request, username=username)


def _conversation_send(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    data = request.POST.copy()
    data.setdefault("receiver", username)  # this page's partner unless said otherwise
    # To this page's partner, the send's own lookup of the receiver is the only one.
    partner = _conversation_partner(request, username) if data["receiver"] != username else None
    form = MessageForm(data, auto_id="compose-%s")
    if form.is_valid():
        message = _send(request, form)
        if message is not _FAILED:
            if _is_fetch(request):
                return JsonResponse({"id": message.pk}, status=201)
            back = _next_or(request, reverse("messaging:conversation", args=[username]))
            if message.receiver.username != username:
                back = reverse("messaging:conversation", args=[message.receiver.username])
            return redirect(f"{back.split('#')[0]}#m{message.pk}")
    partner = partner or _conversation_partner(request, username)
    context = _chat_context(request, Chat.with_partner(partner), form)
    response = render(request, "messaging/conversation.html", context, status=400)
    add_never_cache_headers(response)
    return response


@page
@require_POST
def conversation_read(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    services.conversation_mark_read(user=request.user, partner=username)
    return _answered(request, _conversation_url(username))


# Groups -------------------------------------------------------------------------


@page
@require_http_methods(["GET", "HEAD", "POST"])
@rate_limited(SendRateThrottle)
def group_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new group: its name and the people in it (the creator is in it too). Nothing is
    stored unless every name is someone the creator may add."""
    form = GroupForm(_posted(request), auto_id="group-%s")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def create() -> Group:
            people = selectors.addable_people(request.user, data["members"], field="members")
            return services.group_create(creator=request.user, name=data["name"], members=people)

        created = _apply(form, create)
        if created is not _FAILED:
            return redirect("messaging:group", created.pk)
    status = 400 if form.is_bound else 200
    return render(request, "messaging/group_new.html", {"form": form}, status=status)


def _group_chat(request: AuthenticatedHttpRequest, group_id: int) -> Chat:
    """The group of the page with its members' names; 404 for anyone not a member."""
    return Chat.of_group(selectors.group_get(request.user, group_id))


def _group_page(
    request: AuthenticatedHttpRequest,
    chat: Chat,
    form: ReplyForm | None = None,
    *,
    status: int = 200,
    panel: dict[str, Any] | None = None,
    offer_mark_read: bool = False,
) -> HttpResponse:
    """The group's chat page (conversation.html, as a direct conversation's) with its
    members panel; `panel` holds a panel form that was refused, or an `error`."""
    group = chat.group
    context = _chat_context(request, chat, form or ReplyForm(auto_id="compose-%s"))
    context.update(
        rename_form=GroupRenameForm(initial={"name": group.name}, auto_id="rename-%s"),
        add_form=MemberAddForm(auto_id="add-%s"),
        is_creator=group.created_by_id == request.user.pk,
        panel_open=bool(panel),
        offer_mark_read=offer_mark_read,
    )
    context.update(panel or {})
    response = render(request, "messaging/conversation.html", context, status=status)
    add_never_cache_headers(response)
    return response


@page
@require_http_methods(["GET", "HEAD", "POST"])
@rate_limited(SendRateThrottle)
def group(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    """GET: the group's conversation as a chat (`?before=`, `?at=` as for a direct one),
    marked read when the person opened it. POST: send to the group (a message or a
    reply) without JavaScript; the page's script sends through the API."""
    chat = _group_chat(request, group_id)
    if request.method == "POST":
        return _group_send(request, chat)
    navigated = _navigated_here(request)
    response = _group_page(request, chat, offer_mark_read=not navigated)
    patch_vary_headers(response, ["Sec-Fetch-Site"])
    if navigated:
        # Seen: after rendering, so the page still marks what was new.
        services.group_mark_read(user=request.user, group=chat.group.pk)
    return response


def _group_send(request: AuthenticatedHttpRequest, chat: Chat) -> HttpResponse:
    form = ReplyForm(request.POST, auto_id="compose-%s")
    if form.is_valid():
        message = _send(request, form, group=chat.group.pk)
        if message is not _FAILED:
            back = _next_or(request, chat.url).split("#")[0]
            return redirect(f"{back}#m{message.pk}")
    return _group_page(request, chat, form, status=400)


@page
@require_POST
def group_read(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    services.group_mark_read(user=request.user, group=group_id)
    return _answered(request, reverse("messaging:group", args=[group_id]))


@page
@require_POST
def group_rename(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    chat = _group_chat(request, group_id)
    form = GroupRenameForm(request.POST, auto_id="rename-%s")
    if form.is_valid():
        name = form.cleaned_data["name"]
        done = _apply(form, services.group_rename, user=request.user, group=chat.group, name=name)
        if done is not _FAILED:
            flash.success(request, f"The group is called {name} now.")
            return redirect(f"{chat.url}#members")
    return _group_page(request, chat, status=400, panel={"rename_form": form})


@page
@require_POST
def group_member_add(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    chat = _group_chat(request, group_id)
    form = MemberAddForm(request.POST, auto_id="add-%s")
    if form.is_valid():
        username = form.cleaned_data["username"].strip()

        def add() -> Group:
            [person] = selectors.addable_people(request.user, [username], field="username")
            return services.group_add_member(user=request.user, group=chat.group, member=person)

        if _apply(form, add) is not _FAILED:
            flash.success(request, f"You added {username} to the group.")
            return redirect(f"{chat.url}#members")
    return _group_page(request, chat, status=400, panel={"add_form": form})


@page
@require_POST
def group_member_remove(
    request: AuthenticatedHttpRequest, group_id: int, username: str
) -> HttpResponse:
    """The creator removes someone else from the group (anyone else: 403, on the page)."""
    return _group_remove(request, group_id, username)


@page
@require_POST
def group_leave(request: AuthenticatedHttpRequest, group_id: int) -> HttpResponse:
    """The person leaves the group: back to the inbox, where it is gone."""
    return _group_remove(request, group_id, request.user.username)


def _group_remove(request: AuthenticatedHttpRequest, group_id: int, username: str) -> HttpResponse:
    chat = _group_chat(request, group_id)
    try:
        services.group_remove_member(user=request.user, group=chat.group, username=username)
    except (PermissionDenied, NotFound) as error:
        status = 403 if isinstance(error, PermissionDenied) else 404
        return _group_page(request, chat, status=status, panel={"panel_error": error.message})
    if username == request.user.username:
        flash.success(request, f"You left {chat.name}.")
        return redirect("messaging:inbox")
    flash.success(request, f"You removed {username} from the group.")
    return redirect(f"{chat.url}#members")


# Blocking -----------------------------------------------------------------------


@page
@require_POST
def block(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    """Block `username`: no messages either way, and the conversation leaves the inbox."""
    target = services.user_block(user=request.user, target=username)
    return _after_block_change(request, target, f"You blocked {target.username}.")


@page
@require_POST
def unblock(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    target = services.user_unblock(user=request.user, target=username)
    return _after_block_change(request, target, f"You unblocked {target.username}.")


def _after_block_change(request: HttpRequest, target, done: str) -> HttpResponse:
    """Back to the conversation, which shows the block and its button, or to `next`
    with a flash message (the conversation page shows none: it is cached)."""
    if _is_fetch(request):
        return HttpResponse(status=204)
    default = _conversation_url(target.username)
    back = _next_or(request, default)
    if back != default:
        flash.success(request, done)
    return redirect(back)


# One message --------------------------------------------------------------------


@page
@require_GET
def thread(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    """The whole thread holding the message, the message highlighted with what one can do
    with it (notifications and each message's "⋯" without JavaScript link here)."""
    user = request.user
    asked = selectors.message_get_for_participant(user, message_id)
    chat = _chat_of(user, asked)

    def tree() -> str:
        root = selectors.thread_get(user, message_id, asked=asked)
        shape_thread(root, user, highlight=message_id)
        nodes = _flatten_tree(root)
        people = {node.sender_id: node.sender.username for node in nodes}  # loaded with them
        html = dict(
            zip(
                (node.pk for node in nodes),
                fragments.messages_html(nodes, viewer=user, people=people),
                strict=True,
            )
        )
        actions = render_to_string(
            "messaging/_message_actions.html",
            {"target": asked, "chat": chat, "user": user},
        )
        return fragments.tree(root, html, highlight=message_id, actions=mark_safe(actions))

    # The shaped tree, per viewer and asked message, under the conversation's (or the
    # group's) generation (any send, edit, delete or read in it moves it): an unchanged
    # thread is one query.
    if chat.group is not None:
        key = cache_keys.group_thread_tree_key(user.pk, chat.group.pk, message_id)
    else:
        key = cache_keys.thread_tree_key(user.pk, chat.partner.pk, message_id)
    response = render(
        request,
        "messaging/thread.html",
        {"chat": chat, "tree": mark_safe(cache_keys.get_or_set(key, tree))},
    )
    if not _navigated_here(request):
        return response
    # A group's read pointer only moves forward: reading an old message costs nothing.
    if (asked.receiver_id == user.pk and not asked.read) or (
        asked.group_id is not None and asked.sender_id != user.pk
    ):
        services.message_mark_read(user=user, message=asked.pk)
    if request.GET.get("notification"):
        # Opened from a notification: that notification is read now (if it is the viewer's).
        with contextlib.suppress(NotFound):
            services.notification_mark_read(user=user, notification=request.GET["notification"])
    return response


def _flatten_tree(root) -> list:
    """Every message of a shaped thread, parents first."""
    nodes = [root]
    for node in nodes:
        nodes.extend(node.replies_list)
    return nodes


@page
@require_GET
def history(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    """The texts a message had before its edits, newest first (the "edited" mark's target)."""
    message = selectors.message_get_for_participant(request.user, message_id)
    entries = selectors.history_list(request.user, message_id)
    return render(
        request,
        "messaging/history.html",
        {
            "message": message,
            "entries": entries,
            "chat": _chat_of(request.user, message),
        },
    )


@page
@require_http_methods(["GET", "HEAD", "POST"])
def message_edit(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    message = selectors.message_get_for_sender(request.user, message_id)
    form = EditForm(_posted(request), initial={"content": message.content})
    if request.method == "POST" and form.is_valid():
        edited = _apply(
            form,
            services.message_edit,
            user=request.user,
            message=message.pk,
            content=form.cleaned_data["content"],
        )
        if edited is not _FAILED:
            if _is_fetch(request):
                return JsonResponse({"id": edited.pk, "content": edited.content})
            default = _chat_of(request.user, message).at(message.pk)
            return redirect(_next_or(request, default))
    status = 400 if form.is_bound else 200
    return render(
        request,
        "messaging/message_edit.html",
        {
            "form": form,
            "message": message,
            "chat": _chat_of(request.user, message),
            "next": _next_or(request, ""),
        },
        status=status,
    )


@page
@require_http_methods(["GET", "HEAD", "POST"])
def message_delete(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    """GET: "Delete this message?", the sender's page (each message's Delete links here,
    so deleting asks first with or without JavaScript). POST: delete; replies stay."""
    if request.method != "POST":
        return _message_delete_confirm(request, message_id)
    message = selectors.message_get_for_participant(request.user, message_id)
    services.message_delete(user=request.user, message=message.pk)
    if _is_fetch(request):
        return HttpResponse(status=204)
    return redirect(_next_or(request, _chat_of(request.user, message).url))


def _message_delete_confirm(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    # As the edit page: 404 for a stranger, 403 for the receiver.
    message = selectors.message_get_for_sender(request.user, message_id)
    chat = _chat_of(request.user, message)
    # Cancel: back where the person came from (`next`), at the message.
    back = _next_or(request, chat.url).split("#")[0]
    return render(
        request,
        "messaging/message_delete.html",
        {"message": message, "chat": chat, "back": f"{back}#m{message.pk}"},
    )


@page
@require_POST
def message_read(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    services.message_mark_read(user=request.user, message=message_id)
    return _answered(request, reverse("messaging:thread", args=[message_id]))


# Notifications ------------------------------------------------------------------


@page
@require_GET
def notifications(request: AuthenticatedHttpRequest) -> HttpResponse:
    only_unread = request.GET.get("unread") == "1"
    queryset = selectors.notification_list(request.user, unread=True if only_unread else None)
    notes = Paginator(queryset, NOTIFICATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "messaging/notifications.html", {"notes": notes, "only_unread": only_unread}
    )


@page
@require_POST
def notification_read(request: AuthenticatedHttpRequest, notification_id: int) -> HttpResponse:
    services.notification_mark_read(user=request.user, notification=notification_id)
    return _answered(request, reverse("messaging:notifications"))


@page
@require_POST
def notification_read_all(request: AuthenticatedHttpRequest) -> HttpResponse:
    changed = services.notification_mark_all_read(user=request.user)
    if _is_fetch(request):
        return HttpResponse(status=204)
    if changed:
        flash.success(request, f"Marked {changed} notification{'s' if changed != 1 else ''} read.")
    return redirect(_next_or(request, reverse("messaging:notifications")))


# Live support -------------------------------------------------------------------


@page
@require_GET
def counts(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The header's badges, for the pages' script to catch up after a socket drop."""
    response = JsonResponse(
        {
            "notifications": selectors.notification_unread_count(request.user),
            "messages": selectors.unread_count(request.user),
        }
    )
    add_never_cache_headers(response)
    return response


# Search -------------------------------------------------------------------------


def _with_groups(user, messages: list[Message]) -> None:
    """Each group message of a page with its group, in two queries whatever the page."""
    ids = {message.group_id for message in messages if message.group_id is not None}
    if not ids:
        return
    mine = cast("QuerySet[Group]", selectors.group_list(user))
    groups = {group.pk: group for group in mine.filter(pk__in=ids)}
    for message in messages:
        if message.group_id is not None:
            message.group = groups[message.group_id]


#: Results per page of the search page.
SEARCH_PAGE_SIZE = 20


@page
@require_GET
def search(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The messages of mine that hold every word of `?q=` (the header's search box), best
    match first, each linking to its place in its conversation. No words: the box only.
    A query the search refuses (over 200 characters, NUL) shows why, with a 400."""
    raw = request.GET.get("q", "")
    context: dict[str, Any] = {
        "query": raw.strip(),
        "results": None,
        "error": None,
        "window": selectors.search.SEARCH_WINDOW,
    }
    if not raw.strip():
        return render(request, "messaging/search.html", context)
    try:
        query = selectors.clean_query(raw)
    except ValidationError as error:
        context["error"] = error.message
        return render(request, "messaging/search.html", context, status=400)
    # The API's throttle: the page and the API share one budget of searches.
    if refused := _throttled(request, (SearchRateThrottle,)):
        return refused
    found = selectors.message_search(user=request.user, query=query)
    results = Paginator(found, SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))
    _with_groups(request.user, list(results))
    context.update(
        results=results,
        hits=[
            {
                "message": message,
                "chat": _chat_of(request.user, message),
                "mine": message.sender_id == request.user.pk,
            }
            for message in results
        ],
        words=selectors.search_words(query),
        page_query=urlencode({"q": query}) + "&",
    )
    return render(request, "messaging/search.html", context)
