"""Recommendation and ranking: strategies over examples, multi-interest users, ranking.

A layer above `index/` and `encoders/`, used by `service/` as `ingest/` uses them.
"""
