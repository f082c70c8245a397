"""Insertion orders for the index built at the end of an offline build.

Every order goes through `Collection.rebuild`, which holds the collection's write lock; for
`category:FIELD` it groups points by the payload field's value.
"""

from __future__ import annotations

from dataclasses import dataclass

from index.analysis import AnalysisError, available_orders
from index.collection import Collection
from ingest.errors import InvalidOption

AS_IS = "as-is"
CATEGORY = "category"


@dataclass(frozen=True)
class OrderSpec:
    """An `index.analysis` order name, plus the payload field for `category:FIELD`."""

    name: str = AS_IS
    field: str | None = None

    @classmethod
    def parse(cls, text: str) -> OrderSpec:
        """Read `random`, `lid-desc`, `cluster`, `category:FIELD`, `as-is`, ..."""
        name, _, field = text.partition(":")
        known = [o for o in available_orders() if o != CATEGORY] + [f"{CATEGORY}:FIELD"]
        if name not in available_orders() or (name == CATEGORY) != bool(field):
            raise InvalidOption(
                f"unknown insertion order {text!r}; use one of {', '.join(known)}",
                "insertion_order",
            )
        return cls(name, field or None)

    def __str__(self) -> str:
        return f"{self.name}:{self.field}" if self.field else self.name


def build_index(collection: Collection, order: OrderSpec, seed: int) -> None:
    """Give `collection` an index built in `order` (it was opened with one in label order)."""
    if order.name == AS_IS:
        return  # labels ascend in source order, and Collection.open inserted by label
    try:
        collection.rebuild(order.name, seed=seed, category_field=order.field)
    except AnalysisError as exc:  # every point is committed: only the order needs changing
        raise InvalidOption(
            f"{exc.message}; the points are kept: run again with --insertion-order as-is (the "
            "source order) or another order",
            "insertion_order",
        ) from None
