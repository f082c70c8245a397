"""Analysis of collections (intrinsic dimension, insertion order, recall, funnel tiers) with PNG
plots: the application layer that REST (`service/routers/analysis.py`) and the CLI
(`nestvec analyze`) both call. The algorithms themselves live in `index/analysis/`."""
