"""orpr-kedro: OR-guided pretrain-then-reinforce inventory replenishment."""

import os

# Idle OpenMP threads (scikit-learn's gradient boosting, torch) sleep instead of
# spinning. With spinning, a fit on a 2-core machine that shares a core with any
# other process slows down ten- to twentyfold (measured: 10.0 s against 0.8 s for
# the same HistGradientBoosting fit under load). libgomp reads the variable when it
# is first loaded, so it is set before anything imports scikit-learn or torch; a
# value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
