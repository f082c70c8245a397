"""A funnel search's request: its prefix dims, shortlists, first tier and beam, checked against
the collection's dimension and the encoder's nested dims (index.funnel runs it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from index.errors import IndexError_

TIERS = ("hnsw", "flat")
# The first tier's default: at equal recall@10 an HNSW graph over the prefix beats the flat scan
# many times over on 50k vectors (loadtest/bench_funnel.py prints the curve).
DEFAULT_TIER = "hnsw"
# Default graph beam of the hnsw tier as a multiple of its shortlist (hnswlib never searches
# with a beam narrower than the number of results it returns).
DEFAULT_EF_FACTOR = 1
MAX_EF = 32768  # the hnsw backend's own bound on ef
SPEC_KEYS = ("dims", "shortlist", "tier", "ef")


class InvalidFunnel(IndexError_):
    code = "invalid_funnel"


class InvalidFunnelDimension(InvalidFunnel):
    code = "invalid_dimension"


@dataclass(frozen=True)
class FunnelSpec:
    """Tier dims (increasing, each below the full dim), the candidates kept after each, how the
    first tier is searched (`tier`) and the hnsw tier's beam width (`ef`; None: the default)."""

    dims: tuple[int, ...]
    shortlist: tuple[int, ...]
    tier: str = DEFAULT_TIER
    ef: int | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any], dim: int, field: str = "funnel") -> FunnelSpec:
        """Validate `{"dims": [...], "shortlist": n | [...], "tier": t, "ef": n}` against a
        collection dimension; absent or null `tier` and `ef` take the defaults."""
        unknown = sorted(str(key) for key in raw if key not in SPEC_KEYS)
        if unknown:
            raise InvalidFunnel(
                f"unknown funnel field {unknown[0]!r}; known: {', '.join(SPEC_KEYS)}",
                f"{field}.{unknown[0]}",
            )
        dims = tuple(int(d) for d in raw.get("dims") or ())
        if not dims:
            raise InvalidFunnelDimension("funnel needs at least one dim", f"{field}.dims")
        if list(dims) != sorted(set(dims)):
            raise InvalidFunnelDimension(
                f"funnel dims must be strictly increasing, got {list(dims)}", f"{field}.dims"
            )
        if dims[0] < 1 or dims[-1] >= dim:
            raise InvalidFunnelDimension(
                f"funnel dims must lie in [1, {dim - 1}] (below the collection dim {dim})",
                f"{field}.dims",
            )
        raw_short = raw.get("shortlist", 200)
        short = (raw_short,) * len(dims) if isinstance(raw_short, int) else tuple(raw_short)
        if len(short) != len(dims) or any(not _positive_int(s) for s in short):
            raise InvalidFunnel(
                "shortlist must be a positive int or one positive int per dim",
                f"{field}.shortlist",
            )
        return cls(dims, short, _parse_tier(raw, field), _parse_ef(raw, field))

    def tier_ef(self, keep: int) -> int:
        """The hnsw tier's beam width for a first shortlist of `keep` rows."""
        return max(self.ef or DEFAULT_EF_FACTOR * keep, keep)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _parse_tier(raw: dict[str, Any], field: str) -> str:
    tier = raw.get("tier")
    if tier is None:
        return DEFAULT_TIER
    if not isinstance(tier, str) or tier not in TIERS:
        raise InvalidFunnel(
            f"funnel tier must be one of {', '.join(map(repr, TIERS))}", f"{field}.tier"
        )
    return tier


def _parse_ef(raw: dict[str, Any], field: str) -> int | None:
    ef = raw.get("ef")
    if ef is None:
        return None
    if isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= MAX_EF:
        raise InvalidFunnel(f"funnel ef must be an int in [1, {MAX_EF}]", f"{field}.ef")
    return ef


def check_nested(spec: FunnelSpec, nested: Sequence[int], encoder: str, field: str) -> None:
    """A collection whose encoder declares nested dims may funnel through those only."""
    allowed = sorted(d for d in nested if d < max(nested, default=0))
    bad = [d for d in spec.dims if d not in allowed]
    if bad:
        listed = ", ".join(map(str, allowed)) or "none (it is not Matryoshka-trained)"
        raise InvalidFunnelDimension(
            f"encoder {encoder!r} cannot funnel through dims {bad}; allowed: {listed}",
            f"{field}.dims",
        )
