"""The files API's DRF permission: the files policy asked for the action the HTTP method stands for."""

from rest_framework.permissions import BasePermission

from files import conf
from files.models import File
from files.policy import ADD, DELETE, VIEW


class FilePermission(BasePermission):
    """DRF permission asking the files policy; the action follows the HTTP method."""

    # Replacing a file's content (PUT) follows the delete rule: the old content stops being the file.
    actions = {"GET": VIEW, "HEAD": VIEW, "OPTIONS": VIEW, "POST": ADD, "PUT": DELETE, "DELETE": DELETE}

    def has_permission(self, request, view) -> bool:
        action = self.actions.get(request.method)
        if action is None:
            # No file action: allowed only where the view has no handler, so that it answers 405.
            return not hasattr(view, request.method.lower())
        return conf.permission_policy().user_has_permission(request.user, action)

    def has_object_permission(self, request, view, obj) -> bool:
        policy = conf.permission_policy()
        action = self.actions[request.method]
        if isinstance(obj, File):
            return policy.user_has_permission_for_file(request.user, action, obj)
        return policy.user_has_permission_for_owner(request.user, action, obj)
