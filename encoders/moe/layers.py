"""The mixture-of-experts pieces that replace a BERT layer's MLP: experts, gates, router.

A BERT layer's feed-forward block is `LayerNorm(out_dense(act(in_dense(x))) + x)`. Here the two
dense layers are copied into one expert per domain, each scaled by its own gate `w·x + b`
initialised to w = 0, b = 1, so an untrained mixture computes exactly what the base model does.
The residual LayerNorm stays shared. Which expert a row uses is decided once per forward and kept
in a fresh `Routing` object of that call, which every mixture layer of the model reads.

Why a context variable: HF's `BertModel.forward` passes no extra argument down to
`layer.intermediate`, so the call's routing cannot travel as an argument without copying BERT's
forward (mask building, attention dispatch) out of transformers. `routed()` binds the call's
own `Routing` for the extent of that one forward; a context variable is private to its thread and
asyncio task, so concurrent calls never see each other's routing and no shared module is written.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Routing:
    """Routing of one forward call, read by every mixture layer of the model it runs.

    `domain_ids` is set before the forward for enforced routing and left None for the router to
    fill in at the first mixture layer; `probs` holds the router's softmax when it ran.
    """

    domain_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    probs: torch.Tensor | None = None


_ROUTING: ContextVar[Routing | None] = ContextVar("moe_routing", default=None)


@contextmanager
def routed(routing: Routing) -> Iterator[Routing]:
    """Bind `routing` to the mixture layers for the forward run inside this block."""
    token = _ROUTING.set(routing)
    try:
        yield routing
    finally:
        _ROUTING.reset(token)


def current_routing() -> Routing:
    """The routing of the forward call running in this thread or task."""
    routing = _ROUTING.get()
    if routing is None:
        raise RuntimeError("mixture layer called outside MoEBert.forward (no routing bound)")
    return routing


class Router(nn.Module):
    """Linear classifier over the mean token state entering the first mixture layer."""

    def __init__(self, hidden: int, n_domains: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, n_domains)

    def forward(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.linear(masked_mean(states, mask))


def masked_mean(states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over real tokens (padding excluded), shape (batch, hidden)."""
    if mask is None:
        return states.mean(dim=1)
    weights = mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class Expert(nn.Module):
    """One copy of the MLP (both dense layers and the activation) plus its scalar gate."""

    def __init__(self, intermediate: nn.Module, out_dense: nn.Linear) -> None:
        super().__init__()
        self.up = copy.deepcopy(intermediate.dense)
        self.act = intermediate.intermediate_act_fn
        self.down = copy.deepcopy(out_dense)
        self.gate = nn.Linear(out_dense.out_features, 1)
        # w = 0, b = 1: the gate is exactly 1 until training moves it, so expert == base MLP.
        nn.init.zeros_(self.gate.weight)
        nn.init.ones_(self.gate.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(x) * self.down(self.act(self.up(x)))


class MoEFeedForward(nn.Module):
    """Stands in for `layer.intermediate`: runs only the chosen expert on each row."""

    def __init__(
        self,
        intermediate: nn.Module,
        out_dense: nn.Linear,
        n_experts: int,
        router: Router | None = None,
    ) -> None:
        super().__init__()
        self.experts = nn.ModuleList(Expert(intermediate, out_dense) for _ in range(n_experts))
        self.router = router  # only the first mixture layer routes; the rest follow its choice

    @property
    def routing(self) -> Routing:
        """The routing of the call now running (not state of this module)."""
        return current_routing()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self.routing
        if state.domain_ids is None:
            if self.router is None:
                raise RuntimeError("no domain given and no router to choose one")
            # float32: under bfloat16 autocast the probabilities would sum to 1 only within 1e-3
            logits = self.router(x, state.attention_mask).float()
            state.probs = torch.softmax(logits, dim=-1)
            state.domain_ids = state.probs.argmax(dim=-1)
        ids = state.domain_ids
        first = int(ids[0])
        if bool((ids == first).all()):  # the usual case: callers batch by domain
            return self.experts[first](x)
        out: torch.Tensor | None = None
        for domain in torch.unique(ids).tolist():
            rows = (ids == domain).nonzero(as_tuple=True)[0]
            part = self.experts[domain](x[rows])
            if out is None:  # the experts' dtype: bfloat16 under autocast, not the input's
                out = x.new_empty(x.shape, dtype=part.dtype)
            out[rows] = part
        assert out is not None
        return out


class ResidualNorm(nn.Module):
    """Stands in for `layer.output`: the dense layer moved into the experts, the rest kept."""

    def __init__(self, output: nn.Module) -> None:
        super().__init__()
        self.LayerNorm = output.LayerNorm
        self.dropout = output.dropout

    def forward(self, hidden: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(hidden) + input_tensor)


def moe_layer_indices(n_layers: int, which: str) -> list[int]:
    """Indices of the layers that get experts: all of them, or only the middle one."""
    return list(range(n_layers)) if which == "all" else [n_layers // 2]


def convert_to_moe(bert: nn.Module, n_experts: int, which: str) -> Router:
    """Replace the MLP of the chosen layers of a `BertModel` in place; return the router."""
    layers = bert.encoder.layer
    indices = moe_layer_indices(len(layers), which)
    router = Router(bert.config.hidden_size, n_experts)
    for position, i in enumerate(indices):
        layer = layers[i]
        layer.intermediate = MoEFeedForward(
            layer.intermediate,
            layer.output.dense,
            n_experts,
            router if position == 0 else None,
        )
        layer.output = ResidualNorm(layer.output)
    return router
