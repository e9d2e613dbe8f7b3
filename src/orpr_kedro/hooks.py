"""Project hooks."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from orpr_kedro.core.params import validate_parameters

logger = logging.getLogger(__name__)


class ParameterValidationHooks:
    """Validate every pipeline's parameters at start-up.

    A typo or a wrong value in ``conf/<env>/parameters_*.yml`` fails the run
    before the first node, with a message that names the key, rather than
    hours later in the node that reads it.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Validate the merged parameters of the active environment."""
        validated = validate_parameters(context.params)
        logger.info(
            "Parameters validated for environment '%s': %s",
            context.env or "local",
            ", ".join(sorted(validated)),
        )
