"""The MoE training settings; torch-free, so `nestvec train moe --help` stays cheap."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    steps: int = 360  # in all; equal per domain (round-robin)
    batch_size: int = 16
    lr: float = 1e-4
    max_seq_length: int = 256  # abstracts at their length (serving uses 256 too)
    seed: int = 0
    gate_lr: float = 1e-3  # scalar gates start at 1 and need a larger step to move at all
    backbone: bool = False  # MoE: train the shared BERT too (the generalist always does)
