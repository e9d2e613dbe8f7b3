"""The OR model of ORPR and the labels it produces.

One multiple-choice integer program per category and decision date picks one
coverage level per lane (see :mod:`~orpr_kedro.core.optimization.problem` for the
model). The modules, in the order a solve goes through them:

* :mod:`~orpr_kedro.core.optimization.licence` -- Gurobi licence parameters from the credentials;
* :mod:`~orpr_kedro.core.optimization.problem` -- :class:`MultipleChoiceProblem`, the validated data;
* :mod:`~orpr_kedro.core.optimization.reduction` -- dominated candidates and redundant rows;
* :mod:`~orpr_kedro.core.optimization.backend`, :mod:`~orpr_kedro.core.optimization.gurobi`,
  :mod:`~orpr_kedro.core.optimization.highs` -- the matrix form and the two solvers;
* :mod:`~orpr_kedro.core.optimization.solve` -- :func:`solve`: relaxation, reduction, backend
  choice with its fallbacks, the greedy min-loss choice;
* :mod:`~orpr_kedro.core.optimization.result` -- :class:`SolveResult` and its log records;
* :mod:`~orpr_kedro.core.optimization.summary` -- one log line for a stage's many solves;
* :mod:`~orpr_kedro.core.optimization.brute_force` -- exhaustive enumeration (tests);
* :mod:`~orpr_kedro.core.optimization.window` -- one decision date: simulate the candidates,
  solve the models, pick a coverage per lane (labeling and the OR policy);
* :mod:`~orpr_kedro.core.optimization.labeling` -- the labels over every decision date.
"""

from orpr_kedro.core.optimization.brute_force import brute_force
from orpr_kedro.core.optimization.errors import GurobiSizeLimitError, GurobiUnavailableError, OptimizationError
from orpr_kedro.core.optimization.licence import GurobiLicence
from orpr_kedro.core.optimization.problem import MultipleChoiceProblem
from orpr_kedro.core.optimization.reduction import Reduction, reduce_problem
from orpr_kedro.core.optimization.result import SolveResult
from orpr_kedro.core.optimization.solve import GUROBI_SIZE_LIMIT, min_loss_choice, solve

__all__ = [
    "GUROBI_SIZE_LIMIT",
    "GurobiLicence",
    "GurobiSizeLimitError",
    "GurobiUnavailableError",
    "MultipleChoiceProblem",
    "OptimizationError",
    "Reduction",
    "SolveResult",
    "brute_force",
    "min_loss_choice",
    "reduce_problem",
    "solve",
]
