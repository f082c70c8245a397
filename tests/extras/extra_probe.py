"""A real encoder module whose optional dependency is not installed (the missing-extra tests)."""

from __future__ import annotations

import nestvec_probe_dependency  # noqa: F401 - never installed: importing this module fails

from encoders.fake import FakeEncoder


class ProbeEncoder(FakeEncoder):
    """Would embed like the fake encoder, if its dependency were installed."""
