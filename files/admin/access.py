"""What every admin page of files and records shares: only what the user reaches, and legal holds.

The files policy (``FILES_PERMISSION_POLICY``) decides, as it does for the
API: each admin narrows its queryset with it, so lists, search, filters,
change, history and delete pages, and every action's selection hold only
objects the user reaches; others are 404, like objects that do not exist.
"""

from django.contrib import admin, messages
from django.http import Http404

from files import conf
from files.exceptions import HoldNotPermitted
from files.services import legal_hold_set


class ReachedOnly:
    """An object the user does not reach is 404 on every page that names it (change, history, delete)."""

    def get_object(self, request, object_id, from_field=None):
        # Django answers a missing object with a redirect; an unreached one is just as missing.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj


class LegalHoldActions:
    """Actions placing and releasing legal holds, each through ``legal_hold_set`` (policy checked, audited)."""

    def has_hold_permission(self, request) -> bool:
        return conf.permission_policy().user_may_hold(request.user)

    @admin.action(description="Place selected %(verbose_name_plural)s on legal hold", permissions=["hold"])
    def hold_selected(self, request, queryset) -> None:
        self._hold_each(request, queryset, held=True)

    @admin.action(description="Release selected %(verbose_name_plural)s from legal hold", permissions=["hold"])
    def release_selected(self, request, queryset) -> None:
        self._hold_each(request, queryset, held=False)

    def _hold_each(self, request, queryset, *, held: bool) -> None:
        changed = 0
        for target in queryset:
            try:
                changed += legal_hold_set(target=target, held=held, by=request.user)
            except HoldNotPermitted as refusal:
                self.message_user(request, f"{target}: {refusal}", messages.WARNING)
        done = "placed on" if held else "released from"
        self.message_user(request, f"{changed} {self.opts.verbose_name_plural} {done} legal hold.")
