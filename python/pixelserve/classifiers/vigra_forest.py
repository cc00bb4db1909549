"""vigra's random forest as ilastik stores it in project files: reading, checking, writing.

Layout of one forest group (facts from vigra's `random_forest_hdf5_impex.hxx`, checked against
the fixture projects):

- attribute `vigra_random_forest_version` (float64 array `[0.1]`);
- `_options/<name>` and `_ext_param/<name>`: small float64 arrays, except `_ext_param/labels`
  (uint32, ascending); `_ext_param/column_count_` is the feature count and `class_count_`
  the class count;
- one group per tree, `Tree_<i>` zero-padded to the digits of the last index (`Tree_0` ..
  `Tree_9` for 10 trees, `Tree_00` .. `Tree_12` for 13), each holding `topology` (int32) and
  `parameters` (float64). Groups whose name starts with `_` are not trees.

A tree's `topology` starts with `[feature count, class count]`; the root node starts at index 2.
A threshold node is `[0, parameter address, left, right, column]` with parameters
`[weight, threshold]` and goes left when `x[column] < threshold`; a leaf is
`[0x40000000, parameter address]` with parameters `[weight, p_1 .. p_K]`. Children are
topology indices of other nodes. vigra also knows hyperplane and hypersphere nodes; ilastik never
writes them, so they are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np

from ..errors import ProjectError

THRESHOLD_NODE = 0
LEAF_NODE = 0x40000000
_NODE_NAMES = {1: "hyperplane", 2: "hypersphere", 0x40000001: "logistic-regression leaf"}
FORMAT_VERSION = 0.1

# Entries that VigraForest keeps as fields instead of inside `options` / `ext_param`.
_OPTION_FIELDS = ("tree_count_",)
_EXT_FIELDS = ("column_count_", "class_count_", "labels")


@dataclass
class VigraForest:
    """One vigra random forest, exactly as stored (trees are kept in vigra's own encoding)."""

    n_features: int
    n_classes: int
    labels: np.ndarray                              # uint32, ascending (_ext_param/labels)
    trees: list[tuple[np.ndarray, np.ndarray]]      # (topology int32, parameters float64)
    options: dict = field(default_factory=dict)     # _options without tree_count_
    ext_param: dict = field(default_factory=dict)   # _ext_param without the fields above

    @property
    def tree_count(self) -> int:
        return len(self.trees)

    @property
    def nbytes(self) -> int:
        """Memory the stored trees hold."""
        return sum(topology.nbytes + parameters.nbytes for topology, parameters in self.trees)

    @property
    def predict_weighted(self) -> bool:
        value = self.options.get("predict_weighted_")
        return value is not None and bool(np.asarray(value).reshape(-1)[0])


@dataclass
class ParsedTree:
    """A tree decoded into plain arrays, nodes numbered breadth-first; node 0 is the root and
    the two children of a split are adjacent (`right == left + 1`).

    For a split node i: `feature[i]` >= 0, go to `left[i]` when x < `threshold[i]`, else to
    `right[i]`. For a leaf: `feature[i]` == -1 and `leaf_values[i]` holds p_1..p_K.
    """

    feature: np.ndarray       # int64
    threshold: np.ndarray     # float64
    left: np.ndarray          # int64, node numbers
    right: np.ndarray
    leaf_values: np.ndarray   # float64 (nodes, K); rows of split nodes are zero
    leaf_weight: np.ndarray   # float64; the weight vigra stores in front of a node's values
    levels: int               # node levels, root = 1


def parse_tree(topology: np.ndarray, parameters: np.ndarray, n_features: int, n_classes: int,
               where: str) -> ParsedTree:
    """Decode and check one tree; anything vigra could not have written is a ProjectError.

    Walks the tree level by level with numpy (trees of real projects reach 10^5 nodes), numbering
    nodes in breadth-first order.
    """
    top = np.asarray(topology).reshape(-1).astype(np.int64)
    par = np.asarray(parameters, dtype=np.float64).reshape(-1)
    fix = "Fix: retrain the classifier in ilastik and save the project again."
    if top.size < 4:
        raise ProjectError(f"{where}: the tree topology has only {top.size} entries. {fix}")
    if int(top[0]) != n_features or int(top[1]) != n_classes:
        raise ProjectError(
            f"{where}: the tree says {int(top[0])} features and {int(top[1])} classes, the forest "
            f"{n_features} and {n_classes}. {fix}")
    levels = []
    frontier = np.array([2], dtype=np.int64)
    visited = 0
    while frontier.size:
        visited += frontier.size
        if visited > top.size // 2:   # every node takes at least two entries: a cycle
            raise ProjectError(f"{where}: the tree's child links form a cycle. {fix}")
        kind = top[frontier]
        unknown = (kind != THRESHOLD_NODE) & (kind != LEAF_NODE)
        if unknown.any():
            code = int(kind[unknown][0])
            name = _NODE_NAMES.get(code, f"unknown (type {code:#x})")
            raise ProjectError(
                f"{where}: the forest uses {name} nodes, which ilastik never writes and pixelserve "
                f"does not run; only threshold splits are supported. {fix}")
        split = frontier[kind == THRESHOLD_NODE]
        if split.size and split.max() + 5 > top.size or frontier.max() + 2 > top.size:
            raise ProjectError(f"{where}: a node runs past the end of the topology. {fix}")
        levels.append(frontier)
        children = np.stack([top[split + 2], top[split + 3]], axis=1).reshape(-1)
        if children.size and (children.min() < 2 or children.max() >= top.size):
            raise ProjectError(f"{where}: a split points outside the topology. {fix}")
        frontier = children
    starts = np.concatenate(levels)
    if np.unique(starts).size != starts.size:
        raise ProjectError(f"{where}: two splits share a child (not a tree). {fix}")
    count = starts.size
    kind = top[starts]
    split = kind == THRESHOLD_NODE
    address = top[starts + 1]
    feature = np.full(count, -1, dtype=np.int64)
    feature[split] = top[starts[split] + 4]
    if split.any() and (feature[split].min() < 0 or feature[split].max() >= n_features):
        raise ProjectError(f"{where}: a split uses a feature outside 0..{n_features - 1}. {fix}")
    if split.any() and (address[split].min() < 0 or address[split].max() > par.size - 2):
        raise ProjectError(f"{where}: a split's parameters lie outside the array. {fix}")
    leaves = address[~split]
    if leaves.size and (leaves.min() < 0 or leaves.max() > par.size - 1 - n_classes):
        raise ProjectError(f"{where}: a leaf's probabilities lie outside the array. {fix}")
    # children of the k-th split (in breadth-first order) are nodes 1 + 2k and 2 + 2k
    left = np.full(count, -1, dtype=np.int64)
    right = np.full(count, -1, dtype=np.int64)
    rank = np.arange(int(split.sum()))
    left[split] = 1 + 2 * rank
    right[split] = 2 + 2 * rank
    threshold = np.zeros(count)
    threshold[split] = par[address[split] + 1]
    leaf_values = np.zeros((count, n_classes))
    if (~split).any():
        rows = address[~split][:, None] + 1 + np.arange(n_classes)[None, :]
        leaf_values[~split] = par[rows]
    return ParsedTree(feature=feature, threshold=threshold, left=left, right=right,
                      leaf_values=leaf_values, leaf_weight=par[address], levels=len(levels))


def _scalar(value, name: str, where: str) -> float:
    array = np.asarray(value).reshape(-1)
    if array.size != 1:
        raise ProjectError(f"{where}: {name} should hold one number, it holds {array.size}. "
                           "Fix: retrain the classifier in ilastik and save the project again.")
    return float(array[0])


def check_forest(forest: VigraForest, where: str = "forest") -> list[ParsedTree]:
    """Consistency of the header fields and every tree; returns the parsed trees."""
    labels = np.asarray(forest.labels).reshape(-1)
    fix = "Fix: retrain the classifier in ilastik and save the project again."
    if forest.n_features < 1 or forest.n_classes < 1:
        raise ProjectError(f"{where}: {forest.n_features} features and {forest.n_classes} "
                           f"classes. {fix}")
    if labels.size != forest.n_classes:
        raise ProjectError(f"{where}: {labels.size} labels for {forest.n_classes} classes. {fix}")
    if labels.size > 1 and np.any(np.diff(labels.astype(np.int64)) <= 0):
        raise ProjectError(f"{where}: the labels {labels.tolist()} are not ascending. {fix}")
    if not forest.trees:
        raise ProjectError(f"{where}: the forest has no trees. {fix}")
    return [parse_tree(top, par, forest.n_features, forest.n_classes, f"{where} tree {i}")
            for i, (top, par) in enumerate(forest.trees)]


def _tree_number(name: str) -> int:
    digits = name.rsplit("_", 1)[-1]
    return int(digits) if digits.isdigit() else -1


def read_vigra_forest(group: h5py.Group) -> VigraForest:
    """Read one `ForestNNNN` group; malformed or unsupported forests raise ProjectError."""
    where = f"random forest {group.name}"
    fix = "Fix: retrain the classifier in ilastik and save the project again."
    for part in ("_options", "_ext_param"):
        if not isinstance(group.get(part), h5py.Group):
            raise ProjectError(f"{where} has no {part} group; it is not a vigra random forest. "
                               + fix)
    options = {name: np.asarray(dataset[()]) for name, dataset in group["_options"].items()}
    ext = {name: np.asarray(dataset[()]) for name, dataset in group["_ext_param"].items()}
    for name in ("column_count_", "class_count_", "labels"):
        if name not in ext:
            raise ProjectError(f"{where} lacks _ext_param/{name}. {fix}")
    names = [name for name in group if not name.startswith("_")]
    numbers = [_tree_number(name) for name in names]
    if any(n < 0 for n in numbers) or sorted(numbers) != list(range(len(numbers))):
        raise ProjectError(f"{where}: the tree groups {sorted(names)} are not Tree_0 .. "
                           f"Tree_{len(names) - 1}. {fix}")
    trees = []
    for _, name in sorted(zip(numbers, names)):
        tree = group[name]
        if not isinstance(tree, h5py.Group) or "topology" not in tree or "parameters" not in tree:
            raise ProjectError(f"{where}/{name} lacks topology or parameters. {fix}")
        trees.append((np.asarray(tree["topology"][()], dtype=np.int32).reshape(-1),
                      np.asarray(tree["parameters"][()], dtype=np.float64).reshape(-1)))
    stated = options.get("tree_count_")
    if stated is not None and _scalar(stated, "tree_count_", where) != len(trees):
        raise ProjectError(f"{where}: tree_count_ says {options['tree_count_'].reshape(-1)[0]:g}, "
                           f"the group holds {len(trees)} trees. {fix}")
    forest = VigraForest(
        n_features=int(_scalar(ext["column_count_"], "column_count_", where)),
        n_classes=int(_scalar(ext["class_count_"], "class_count_", where)),
        labels=np.asarray(ext["labels"]).reshape(-1).astype(np.uint32),
        trees=trees,
        options={k: v for k, v in options.items() if k not in _OPTION_FIELDS},
        ext_param={k: v for k, v in ext.items() if k not in _EXT_FIELDS},
    )
    check_forest(forest, where)
    return forest


def tree_group_names(count: int) -> list[str]:
    """vigra's tree group names: indices zero-padded to the digits of the last index."""
    width = len(str(max(count - 1, 0)))
    return [f"Tree_{i:0{width}d}" for i in range(count)]


def write_vigra_forest(group: h5py.Group, forest: VigraForest) -> None:
    """Write `forest` into an empty group in the layout vigra (and so ilastik) reads."""
    check_forest(forest, "forest to write")
    group.attrs["vigra_random_forest_version"] = np.array([FORMAT_VERSION], dtype=np.float64)
    options = group.create_group("_options")
    for name, value in forest.options.items():
        if name not in _OPTION_FIELDS:   # written from the fields below
            options.create_dataset(name, data=_stored(value))
    options.create_dataset("tree_count_", data=np.array([forest.tree_count], dtype=np.float64))
    ext = group.create_group("_ext_param")
    for name, value in forest.ext_param.items():
        if name not in _EXT_FIELDS:
            ext.create_dataset(name, data=_stored(value))
    ext.create_dataset("column_count_", data=np.array([forest.n_features], dtype=np.float64))
    ext.create_dataset("class_count_", data=np.array([forest.n_classes], dtype=np.float64))
    ext.create_dataset("labels", data=np.asarray(forest.labels, dtype=np.uint32).reshape(-1))
    for name, (topology, parameters) in zip(tree_group_names(forest.tree_count), forest.trees):
        tree = group.create_group(name)
        tree.create_dataset("topology", data=np.asarray(topology, dtype=np.int32).reshape(-1))
        tree.create_dataset("parameters", data=np.asarray(parameters, dtype=np.float64).reshape(-1))


def _stored(value) -> np.ndarray:
    """Arrays (as read from a file) are written back unchanged; plain numbers and lists become
    1-d float64 arrays, which is how vigra stores every option."""
    if isinstance(value, np.ndarray):
        return value.reshape(1) if value.ndim == 0 else value
    return np.asarray(value, dtype=np.float64).reshape(-1)
