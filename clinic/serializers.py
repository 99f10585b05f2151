"""The base of the clinic's record serializers: a record links only to records its user may link to."""

from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from files import conf
from files.api.serializers import FileOwnerSerializer, UUIDField
from files.models import FileOwner


class LinkedRecordField(serializers.PrimaryKeyRelatedField):
    """A relation to a record the files policy governs (an appointment's patient), by the record's id.

    The policy decides whether the user may link the record being written
    to the one named (``user_may_link``): otherwise 403. An id that does not
    exist is 403 too, unless the user reaches every record, so that the
    answer never tells who exists to a user who may not see them.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("pk_field", UUIDField())
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        policy, user = conf.permission_policy(), self.context["request"].user
        try:
            target = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if error.get_codes() == ["does_not_exist"] and not policy.user_reaches_every_record(user):
                raise PermissionDenied from None
            raise
        if not policy.user_may_link(user, record=self.root.instance, field=self.source, target=target):
            raise PermissionDenied
        return target


class RecordSerializer(FileOwnerSerializer):
    """A record's serializer, with its ``files``, ``files_count`` and ``files_url``.

    Every relation to a record that owns files is a :class:`LinkedRecordField`.
    """

    def build_relational_field(self, field_name, relation_info):
        field_class, kwargs = super().build_relational_field(field_name, relation_info)
        if issubclass(relation_info.related_model, FileOwner) and not relation_info.to_many:
            field_class = LinkedRecordField
            kwargs.pop("pk_field", None)  # LinkedRecordField's own: the UUID error clients know
        return field_class, kwargs
