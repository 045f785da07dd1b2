"""Cursor pagination as the contract states it: `{next, previous, results}`, newest first
(people search: by name).

A cursor page is one query at any depth (no COUNT, no OFFSET into the history).
`page_size` defaults to 50 and is capped at 100 (people search: 20 and 20); one that is
not a whole number of at least 1 is a 400.
A cursor the server did not make (bad base64, a position that is not a time) is a
400 naming `cursor`, never a 500 from the database. Message search, ordered by how well
each message matches rather than by a column, pages by an offset in the same opaque
cursor (`RankedPagination`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.utils.urls import remove_query_param

from ..selectors import PEOPLE_SEARCH_ORDER

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
#: People search answers at most this many names a page (the contract's "at most 20").
SEARCH_PAGE_SIZE = 20


class NewestFirstPagination(CursorPagination):
    """Ordering must be the selector's, unique through its last key."""

    ordering: tuple[str, ...] = ("-timestamp", "-id")
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    invalid_cursor_message = "Invalid cursor: use the `next` or `previous` link as it was given."

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise exceptions.ValidationError(
                {self.page_size_query_param: ["A whole number of at least 1."]}
            )
        return min(size, self.max_page_size)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise self._invalid() from None

    def paginate_queryset(self, queryset, request, view=None) -> list[Any] | None:
        cursor = self.decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            self._check_position(queryset.model, cursor.position)
        return super().paginate_queryset(queryset, request, view)

    def _check_position(self, model, position: str) -> None:
        """The position is compared with a column: it must be a value of that column."""
        field = model._meta.get_field(self.ordering[0].lstrip("-"))
        if "\x00" in position:
            raise self._invalid()
        try:
            value = field.to_python(position)
        except (DjangoValidationError, TypeError, ValueError, OverflowError):
            raise self._invalid() from None
        if value is None or (
            field.get_internal_type() == "DateTimeField" and timezone.is_naive(value)
        ):
            raise self._invalid()

    def _invalid(self) -> exceptions.ValidationError:
        return exceptions.ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page: {self.page_size} by default; a value above "
                    f"{self.max_page_size} is capped at {self.max_page_size}."
                )
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = (
                    "Opaque position from a `next` or `previous` link; anything else is a 400."
                )
        return parameters


class ConversationPagination(NewestFirstPagination):
    ordering = ("-last_activity", "-id")


class GroupPagination(NewestFirstPagination):
    ordering = ("-created_at", "-id")


class NotificationPagination(NewestFirstPagination):
    ordering = ("-created_at", "-id")


class BlockPagination(NewestFirstPagination):
    """Blocks have no time: the relation's row id orders them, newest first."""

    ordering = ("-id",)


class PeoplePagination(NewestFirstPagination):
    """People search: by name with letter case ignored, at most 20 a page, as a
    suggesting field shows them; `next` goes on past the last name. The position is
    the selector's `name_key` annotation, compared in its index's order."""

    ordering = PEOPLE_SEARCH_ORDER
    page_size = SEARCH_PAGE_SIZE
    max_page_size = SEARCH_PAGE_SIZE

    def _check_position(self, model, position: str) -> None:
        # Any text compares with a name's key, but PostgreSQL refuses a NUL byte.
        if "\x00" in position:
            raise self._invalid()


class RankedPagination(NewestFirstPagination):
    """Message search, best match first: no column orders the results, so a page is the
    `page_size` results after an offset, which the cursor carries (`o=`), opaque as on
    every other list. One query a page and no COUNT: a row beyond the page says whether
    there is a next one. The search ranks its newest matches only (the selector's
    window), so the pages end with them; a cursor the server did not make is a 400."""

    def paginate_queryset(self, queryset, request, view=None) -> list[Any] | None:
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        cursor = self.decode_cursor(request)
        if cursor is not None and (cursor.reverse or cursor.position is not None):
            raise self._invalid()
        self.offset = cursor.offset if cursor is not None else 0
        rows = list(queryset[self.offset : self.offset + self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        return self.page

    def get_next_link(self) -> str | None:
        following = self.offset + self.page_size
        if not self.has_next:
            return None
        return self.encode_cursor(Cursor(offset=following, reverse=False, position=None))

    def get_previous_link(self) -> str | None:
        if self.offset == 0:
            return None
        previous = max(0, self.offset - self.page_size)
        if previous == 0:
            return remove_query_param(str(self.base_url), self.cursor_query_param)
        return self.encode_cursor(Cursor(offset=previous, reverse=False, position=None))
