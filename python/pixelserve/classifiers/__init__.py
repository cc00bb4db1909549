"""Random-forest classifiers as ilastik stores them (vigra's format), and fast prediction.

- `VigraForest`, `read_vigra_forest`, `write_vigra_forest`: the HDF5 layout of one forest.
- `forest_from_sklearn`: a trained scikit-learn forest as a vigra forest.
- `ForestEnsemble`: all forests of one classifier compiled for prediction.
- `RegressionTree`, `trees_from_sklearn`, `read_regression_forest`, `write_regression_forest`:
  regression trees (counting's regressors) as plain arrays, in HDF5 without pickles.
- `RegressionForests`: several regressors compiled for prediction through the same kernel.
"""

from .ensemble import ForestEnsemble
from .from_sklearn import forest_from_sklearn
from .regression import RegressionForests
from .regression_trees import (
    RegressionTree,
    read_regression_forest,
    trees_from_sklearn,
    write_regression_forest,
)
from .vigra_forest import VigraForest, read_vigra_forest, write_vigra_forest

__all__ = ["ForestEnsemble", "RegressionForests", "RegressionTree", "VigraForest",
           "forest_from_sklearn", "read_regression_forest", "read_vigra_forest",
           "trees_from_sklearn", "write_regression_forest", "write_vigra_forest"]
