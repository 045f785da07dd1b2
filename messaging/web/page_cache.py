"""The conversation views' whole-response cache: Django's `cache_page`, keyed per request.

`cache_page` fixes its key prefix when applied, so `cache_conversation_page` applies it
on every request with the prefix `cache.conversation_page_key_prefix` builds for the
viewer and the conversation (its generation moves with every write in it). Used by the
conversation page and by the API's conversation endpoint.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.cache import cache_page

from ..cache import conversation_page_key_prefix, hashed, user_generation


def cache_conversation_page(
    timeout: int = 60, *, vary_on_csrf: bool = False, vary_on_user: bool = False
):
    """`cache_page(timeout)` for a view of one conversation, keyed per request.

    `cache_page` fixes its key prefix when applied, so this applies it on every
    request with `conversation_page_key_prefix`. The view takes the partner as a
    `username` keyword argument; `request.user` must be authenticated already
    (decorate DRF's `get` method, after its authentication has run). Pages that
    embed a CSRF token (`vary_on_csrf`) are also keyed by the CSRF cookie, so a
    rotated token never comes back from the cache. Pages that also show the
    viewer's own counts from elsewhere (`vary_on_user`: the web pages' header
    badges) are keyed by the viewer's generation too. Browsers are told not to
    keep a copy: freshness is decided here.
    """
    user_model = get_user_model()

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = getattr(request, "user", None)
            partner_id = (
                user_model.objects.filter(username=kwargs.get("username"))
                .values_list("pk", flat=True)
                .first()
                if user is not None and user.is_authenticated
                else None
            )
            if user is None or partner_id is None:  # anonymous or no such partner: the view answers
                return view(request, *args, **kwargs)
            csrf_cookie = request.COOKIES.get(settings.CSRF_COOKIE_NAME, "")
            extra = [hashed(csrf_cookie)] if vary_on_csrf else []
            if vary_on_user:
                extra.append(f"u{user_generation(user.pk)}")
            prefix = conversation_page_key_prefix(user.pk, partner_id, *extra)
            response = cache_page(timeout, key_prefix=prefix)(view)(request, *args, **kwargs)
            patch_vary_headers(response, ("Authorization", "Cookie"))
            if getattr(response, "is_rendered", True):
                add_never_cache_headers(response)
            else:
                # cache_page stores a DRF/template response once it is rendered and skips a
                # `private` one: mark it uncacheable for browsers only after that.
                response.add_post_render_callback(add_never_cache_headers)
            return response

        return wrapped

    return decorator
