"""Errors of the recommend package: IndexError_ subclasses, answered with their code (422)."""

from index.errors import IndexError_


class UnknownStrategy(IndexError_):
    code = "unknown_strategy"


class UnknownMerge(IndexError_):
    code = "unknown_merge"


class InvalidExamples(IndexError_):
    code = "invalid_examples"


class InvalidHistory(IndexError_):
    code = "invalid_history"
