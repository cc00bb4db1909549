"""What the fork server of batch workers (process_start.py; where workers cannot be forked
from the main process) loads before forking any: the whole export pipeline, and numba set up
by one tiny feature computation (numba's first call in a process costs about 0.3-0.5 s even
with every kernel cached). Workers forked afterwards start with all of it in place."""

import numpy as np

from ..features import all_features, compute_features
from . import worker_pool  # noqa: F401  (imports everything a worker runs)

compute_features(np.zeros((1, 32, 32, 1), np.float32), all_features((1.0,), in_2d=True), depth=1)
