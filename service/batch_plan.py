"""How the batch handler turns a group of jobs into model calls: lengths, cuts, per-input options.

Lengths are estimated from characters (about 4 per token, capped at the encoder's maximum
sequence length), not tokenised: the encoders tokenise inside their model call, and doing it
twice would cost more than the estimate's error.
"""

from __future__ import annotations

import math
from typing import Any

CHARS_PER_TOKEN = 4  # a rough WordPiece average for English; only orders inputs and sizes calls
# A model call's fixed cost in padded tokens. Measured with minilm on 2 cores (SciFact sentences in
# arrival groups, each cut by `cut_calls` at each value): 128 encodes groups of 32 texts 1.25x and
# of 16 1.12x faster than one call per group, and groups of 8 as fast; 8 to 64 cut too finely.
CALL_OVERHEAD_TOKENS = 128


def estimated_tokens(item: Any, max_seq: int) -> int:
    """Estimated tokens of one input (non-texts: 1, they are not padded against each other)."""
    if not isinstance(item, str):
        return 1
    return min(max_seq, len(item) // CHARS_PER_TOKEN + 2)


def cut_calls(
    order: list[int], costs: list[int], max_batch: int, max_tokens: int
) -> list[list[int]]:
    """Cut length-sorted inputs (ascending) into calls of at most `max_batch` inputs and
    `max_tokens` padded tokens (count times the longest, the last), choosing the cuts that cost
    least: padded tokens plus CALL_OVERHEAD_TOKENS per call. Sixteen texts of 10 to 90 tokens
    cost less as two calls than as one that pads every text to 90."""
    n = len(order)
    best = [0.0] + [math.inf] * n  # best[j]: least cost of the first j inputs
    cut = [0] * (n + 1)  # where the last call of that best starts
    for j in range(1, n + 1):
        longest = costs[order[j - 1]]
        for i in range(j - 1, max(-1, j - 1 - max_batch), -1):
            size = j - i
            if size > 1 and size * longest > max_tokens:
                break
            cost = best[i] + size * longest + CALL_OVERHEAD_TOKENS
            if cost < best[j]:
                best[j], cut[j] = cost, i
    calls: list[list[int]] = []
    while n:
        calls.append(order[cut[n] : n])
        n = cut[n]
    return calls[::-1]


def per_input_values(value: Any, n: int) -> list[Any]:
    """An option given once for a job's n inputs, or already one per input, as n values."""
    return list(value) if isinstance(value, list | tuple) else [value] * n


def one_or_each(values: list[Any]) -> Any:
    """One value when a call's inputs all share it (the encoder's plain path), else the list."""
    return values[0] if all(v == values[0] for v in values) else values
