"""Model instances from the rows of a plain SQL statement, without compiling a query.

For the few statements that run on every request or every batch, where the ORM's compiling
costs more than the statement itself (a primary-key read: about 330 µs through the ORM against
115 µs as a plain statement, measured here). Each value goes through the converters the ORM's
compiler would apply, so the instances are what `Model.from_db` makes of the same row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init


class Columns:
    """One model read by a statement: its table's alias, the fields selected (in model order),
    and each field's converters from the database value."""

    def __init__(
        self,
        model: type[Model],
        alias: str,
        *,
        skip: Iterable[str] = (),
        only: Iterable[str] | None = None,
    ):
        skip, only = set(skip), None if only is None else set(only)
        self.model = model
        self.alias = alias
        self.fields = [
            f
            for f in model._meta.concrete_fields
            if f.name not in skip and (only is None or f.name in only)
        ]
        self.names = {f.attname for f in self.fields}
        self.attnames = [f.attname for f in self.fields]
        self.converters = []
        for field in self.fields:
            col = field.get_col(alias)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            self.converters.append(found)
        # Only the fields that have converters are gone through for each row.
        self.converting = [(at, found) for at, found in enumerate(self.converters) if found]

    def __len__(self) -> int:
        return len(self.fields)

    def select(self) -> str:
        """The select list: `alias."column", ...`."""
        return ", ".join(f'{self.alias}."{f.column}"' for f in self.fields)

    def build(self, values: Sequence) -> Model:
        """The instance `from_db` makes of these values (the fields not read are deferred)."""
        return self.builder()(values)

    def builder(self) -> Callable[[Sequence], Model]:
        """`build`, for the rows of one statement: what it asks once (the connection, whether
        anything listens for the model's init signals) asked once. Without listeners an
        instance is made without `Model.__init__`'s pass over every field by keyword and
        descriptor (12-20 µs a row down to 5 µs); otherwise through `from_db` itself, which
        sends them."""
        db = connections[DEFAULT_DB_ALIAS]
        model, converting, attnames = self.model, self.converting, self.attnames

        def convert(values: Sequence) -> Sequence:
            if not converting:
                return values
            values = list(values)
            for at, found in converting:
                value = values[at]
                for converter in found:
                    value = converter(value, None, db)
                values[at] = value
            return values

        if pre_init.has_listeners(model) or post_init.has_listeners(model):
            return lambda values: model.from_db(db.alias, self.names, convert(values))

        def build(values: Sequence) -> Model:
            instance = model.__new__(model)
            instance.__dict__.update(zip(attnames, convert(values), strict=True))
            instance._state = ModelState()
            instance._state.adding = False
            instance._state.db = db.alias
            return instance

        return build
