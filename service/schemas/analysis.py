"""Bodies of the analysis endpoints; defined in `diagnostics.requests`, which the CLI uses too."""

from diagnostics.requests import *  # noqa: F403
