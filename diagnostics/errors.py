"""Errors of the analysis layer: IndexError_ subclasses, answered with their code."""

from index.errors import IndexError_


class InvalidPlotName(IndexError_):
    code = "invalid_plot_name"


class PlotNotFound(IndexError_):
    code = "plot_not_found"
