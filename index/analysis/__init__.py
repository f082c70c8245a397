"""HNSW diagnostics: intrinsic dimension, insertion order and recall against exact kNN.

Pure functions over numpy arrays; plotting lives in ``index.analysis.plots`` (needs matplotlib).
"""

from .errors import (
    AnalysisError,
    InvalidParameterError,
    InvalidVectorsError,
    TooFewPointsError,
    UnknownOrderError,
)
from .hnsw_builders import HNSW_LIBRARIES, HnswParams, register_library
from .insertion_order import (
    ORDERS,
    available_orders,
    compare_orders,
    insertion_order,
    register_order,
)
from .intrinsic_dimension import (
    IntrinsicDimension,
    estimate_intrinsic_dimension,
    lid_from_distances,
    lid_mle,
    mle_global,
    pca_dimension,
    twonn,
)
from .knn import exact_knn
from .order_report import OrderRecall, OrderReport, OrderSpread
from .recall import AutotuneResult, AutotuneRow, RankSweep, autotune, recall_at_k, sweep_rank
from .synthetic import subspace_vectors

__all__ = [
    "HNSW_LIBRARIES",
    "ORDERS",
    "AnalysisError",
    "AutotuneResult",
    "AutotuneRow",
    "HnswParams",
    "IntrinsicDimension",
    "InvalidParameterError",
    "InvalidVectorsError",
    "OrderRecall",
    "OrderReport",
    "OrderSpread",
    "RankSweep",
    "TooFewPointsError",
    "UnknownOrderError",
    "autotune",
    "available_orders",
    "compare_orders",
    "estimate_intrinsic_dimension",
    "exact_knn",
    "insertion_order",
    "lid_from_distances",
    "lid_mle",
    "mle_global",
    "pca_dimension",
    "recall_at_k",
    "register_library",
    "register_order",
    "subspace_vectors",
    "sweep_rank",
    "twonn",
]
