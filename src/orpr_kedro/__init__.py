"""orpr-kedro: OR-guided pretrain-then-reinforce inventory replenishment."""

import os

# Idle OpenMP threads (scikit-learn's gradient boosting, torch) spin only briefly
# before they sleep. With libgomp's default spin, two OpenMP processes on a 2-core
# machine starve each other: a HistGradientBoosting fit that takes 0.2 s alone took
# 55 s next to another one; with 1,000 spins it takes 1.0 s there and is as fast as
# the default alone (OMP_WAIT_POLICY=PASSIVE: 0.5 s next to another, but 0.8 s alone
# and foundation-model training 127 s instead of 71 s). libgomp reads the variable
# when it is first loaded, so it is set before anything imports scikit-learn or
# torch; a value set by the user wins.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
