"""Random-forest classifiers as ilastik stores them (vigra's format), and fast prediction.

- `VigraForest`, `read_vigra_forest`, `write_vigra_forest`: the HDF5 layout of one forest.
- `forest_from_sklearn`: a trained scikit-learn forest as a vigra forest.
- `ForestEnsemble`: all forests of one classifier compiled for prediction.
"""

from .ensemble import ForestEnsemble
from .from_sklearn import forest_from_sklearn
from .vigra_forest import VigraForest, read_vigra_forest, write_vigra_forest

__all__ = ["ForestEnsemble", "VigraForest", "forest_from_sklearn", "read_vigra_forest",
           "write_vigra_forest"]
