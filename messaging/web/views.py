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
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any

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
from ..exceptions import NotFound, PermissionDenied, ValidationError
from ..models import Message
from . import fragments
from .forms import DeleteAccountForm, EditForm, MessageForm, PasswordChangeForm, SignupForm
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


def _conversation_url(username: str, message_id: int | None = None) -> str:
    url = reverse("messaging:conversation", args=[username])
    return f"{url}#m{message_id}" if message_id else url


def _partner_name(user, message) -> str:
    partner = message.receiver if message.sender_id == user.pk else message.sender
    return partner.username


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


def _send(request: AuthenticatedHttpRequest, form: MessageForm) -> Any:
    data = form.cleaned_data

    def send() -> Message:
        receiver = selectors.recipient(sender=request.user, username=data["receiver"].strip())
        parent_id = data.get("parent_message")
        return services.message_send(
            sender=request.user,
            receiver=receiver,
            content=data["content"],
            parent=selectors.reply_parent(parent_id) if parent_id is not None else None,
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

    def __init__(self, user, partner, *, before: int | None, at: int | None) -> None:
        self.user, self.partner, self.before, self.at = user, partner, before, at

    @cached_property
    def _loaded(self) -> tuple[list[Message], bool]:
        return selectors.conversation_window(
            self.user, self.partner, before=self.before, at=self.at
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
        viewer = self.user.pk
        return next((m.pk for m in self._loaded[0] if m.receiver_id == viewer and not m.read), None)

    @cached_property
    def items(self) -> list[tuple[int, bool, Any]]:
        """(id, mine, HTML) of each message, oldest first."""
        rows = self._loaded[0]
        people = {self.user.pk: self.user.username, self.partner.pk: self.partner.username}
        html = fragments.messages_html(rows, viewer=self.user, people=people)
        viewer = self.user.pk
        return [
            (message.pk, message.sender_id == viewer, fragment)
            for message, fragment in zip(rows, html, strict=True)
        ]


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


def _reply_target(request: AuthenticatedHttpRequest, partner, parent_id: int | None):
    """The message a reply answers (`?reply=` without JavaScript), if it is in this conversation."""
    if parent_id is None:
        return None
    try:
        parent = selectors.message_get_for_participant(request.user, parent_id)
    except NotFound:
        return None
    if partner.pk not in (parent.sender_id, parent.receiver_id):
        return None
    people = {request.user.pk: request.user.username, partner.pk: partner.username}
    return fragments.shape(parent, viewer=request.user, people=people)


def _conversation_context(
    request: AuthenticatedHttpRequest, partner, form: MessageForm
) -> dict[str, Any]:
    user = request.user
    # Where the window ends: before a message (scrolling up), at one (a search result,
    # a link), else at the newest.
    before = _positive_int(request.GET.get("before"))
    at = _positive_int(request.GET.get("at")) if before is None else None
    end = f"b{before}" if before else f"a{at}" if at else ""
    parent_id = form["parent_message"].value() if form.is_bound else request.GET.get("reply")
    return {
        "partner": partner,
        "window": ChatWindow(user, partner, before=before, at=at),
        "before": before or at,
        "form": form,
        "reply_to": _reply_target(request, partner, _positive_int(parent_id)),
        "blank_message": fragments.blank(),
        "message_url": fragments.message_url(),
        # From the partner's lookup (`_conversation_partner`). Blocking bumps the
        # conversation's generation, so no cached page shows an earlier state.
        "blocks_partner": bool(getattr(partner, "blocks_them", False)),
        # The messages' `{% cache %}`: per viewer and conversation generation (never
        # shared, never stale) and per window; no form in it, so no CSRF token either.
        "window_key": cache_keys.conversation_window_key(user.pk, partner.pk, end=end),
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
    context = _conversation_context(request, partner, form)
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
    context = _conversation_context(request, partner, form)
    response = render(request, "messaging/conversation.html", context, status=400)
    add_never_cache_headers(response)
    return response


@page
@require_POST
def conversation_read(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    services.conversation_mark_read(user=request.user, partner=username)
    if _is_fetch(request):
        return HttpResponse(status=204)
    return redirect(_next_or(request, _conversation_url(username)))


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
    partner = asked.receiver if asked.sender_id == user.pk else asked.sender

    def tree() -> str:
        root = selectors.thread_get(user, message_id, asked=asked)
        shape_thread(root, user, highlight=message_id)
        nodes = _flatten_tree(root)
        people = {user.pk: user.username, partner.pk: partner.username}
        html = dict(
            zip(
                (node.pk for node in nodes),
                fragments.messages_html(nodes, viewer=user, people=people),
                strict=True,
            )
        )
        actions = render_to_string(
            "messaging/_message_actions.html",
            {"target": asked, "partner": partner, "user": user},
        )
        return fragments.tree(root, html, highlight=message_id, actions=mark_safe(actions))

    # The shaped tree, per viewer and asked message, under the conversation's generation
    # (any send, edit, delete or read in it moves it): an unchanged thread is one query.
    key = cache_keys.thread_tree_key(user.pk, partner.pk, message_id)
    response = render(
        request,
        "messaging/thread.html",
        {
            "partner": partner,
            "tree": mark_safe(cache_keys.get_or_set(key, tree)),
        },
    )
    if not _navigated_here(request):
        return response
    if asked.receiver_id == user.pk and not asked.read:
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
            "partner_name": _partner_name(request.user, message),
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
            default = _conversation_url(_partner_name(request.user, message), message.pk)
            return redirect(_next_or(request, default))
    status = 400 if form.is_bound else 200
    return render(
        request,
        "messaging/message_edit.html",
        {"form": form, "message": message, "next": _next_or(request, "")},
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
    return redirect(_next_or(request, _conversation_url(_partner_name(request.user, message))))


def _message_delete_confirm(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    # As the edit page: 404 for a stranger, 403 for the receiver.
    message = selectors.message_get_for_sender(request.user, message_id)
    partner_name = message.receiver.username
    # Cancel: back where the person came from (`next`), at the message.
    back = _next_or(request, _conversation_url(partner_name)).split("#")[0]
    return render(
        request,
        "messaging/message_delete.html",
        {"message": message, "partner_name": partner_name, "back": f"{back}#m{message.pk}"},
    )


@page
@require_POST
def message_read(request: AuthenticatedHttpRequest, message_id: int) -> HttpResponse:
    services.message_mark_read(user=request.user, message=message_id)
    if _is_fetch(request):
        return HttpResponse(status=204)
    return redirect(_next_or(request, reverse("messaging:thread", args=[message_id])))


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
    if _is_fetch(request):
        return HttpResponse(status=204)
    return redirect(_next_or(request, reverse("messaging:notifications")))


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

#: Results per page of the search page.
SEARCH_PAGE_SIZE = 20


@page
@require_GET
def search(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The messages of mine that hold every word of `?q=` (the header's search box), best
    match first, each linking to its place in its conversation. No words: the box only.
    A query the search refuses (over 200 characters, NUL) shows why, with a 400."""
    raw = request.GET.get("q", "")
    context: dict[str, Any] = {"query": raw.strip(), "results": None, "error": None}
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
    context.update(
        results=results,
        hits=[
            {
                "message": message,
                "partner": _partner_name(request.user, message),
                "mine": message.sender_id == request.user.pk,
            }
            for message in results
        ],
        words=selectors.search_words(query),
        page_query=urlencode({"q": query}) + "&",
    )
    return render(request, "messaging/search.html", context)
