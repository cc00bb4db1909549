"""Which pixel features a new classifier uses: `--features default | all | <selection>`.

- `default`: ilastik's feature grid as its Feature Selection dialog offers it: the six
  features at ilastik's default scales 0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0, where the dialog
  allows derivative filters (everything but Gaussian smoothing) from 0.7 only.
- `all`: `default` plus the derivative filters at 0.3 that can be sampled there (ilastik
  before 1.3.3 offered them; the structure tensor's inner gradient cannot be at 0.3).
- a selection: entries separated by `;` or spaces, each `FEATURE:SCALES` with comma-separated
  scales (any positive numbers) or `FEATURE` alone for the default scales it is offered at.
  FEATURE is ilastik's id or a short name, case-insensitive, e.g.
  `"gaussian:0.3,1,3.5 hessian:1,3.5"`.

Specs always come out in the order ilastik's stored selection matrix gives them (feature id
row by row, scales ascending), which is the order the features are computed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import UserError
from ..features import DEFAULT_SCALES, FEATURE_IDS, FeatureSpec
from ..features.kernels import FILTER_WINDOW, filter_sigma, kernel_radius, structure_tensor_sigmas

ALIASES = {
    "GaussianSmoothing": ("gaussian", "gs", "smoothing", "gaussiansmoothing"),
    "LaplacianOfGaussian": ("laplacian", "log", "laplacianofgaussian"),
    "GaussianGradientMagnitude": ("gradient", "ggm", "gradientmagnitude",
                                  "gaussiangradientmagnitude"),
    "DifferenceOfGaussians": ("dog", "difference", "differenceofgaussians"),
    "StructureTensorEigenvalues": ("structure", "st", "structuretensor",
                                   "structuretensoreigenvalues"),
    "HessianOfGaussianEigenvalues": ("hessian", "hog", "hessianofgaussian",
                                     "hessianofgaussianeigenvalues"),
}
_BY_NAME = {alias: fid for fid, names in ALIASES.items() for alias in names}
# ilastik's dialog (featureTableWidget's minimum_scale): derivatives from 0.7.
DIALOG_MINIMUM_SCALE = {fid: (0.3 if fid == "GaussianSmoothing" else 0.7) for fid in FEATURE_IDS}
_HELP = ("Fix: use 'default', 'all', or entries like 'gaussian:0.3,1,3.5 hessian:1,3.5' (features: "
         + ", ".join(names[0] for names in ALIASES.values()) + ").")


def ordered(specs: Iterable[FeatureSpec]) -> list[FeatureSpec]:
    """Specs in ilastik's computation order, duplicates removed."""
    unique = {(s.feature_id, float(s.scale)): s for s in specs}
    return [unique[key] for key in sorted(unique, key=lambda k: (FEATURE_IDS.index(k[0]), k[1]))]


def _computable(feature_id: str, scale: float) -> bool:
    """Whether the filter's kernels can be sampled at this scale (pixelserve and ilastik)."""
    if feature_id == "GaussianSmoothing":
        return True
    if feature_id == "StructureTensorEigenvalues":
        sigma = min(structure_tensor_sigmas(scale, "fastfilters"))
    else:
        sigma = filter_sigma(scale)
    return kernel_radius(sigma, FILTER_WINDOW) > 0


def choose_features(selection, *, in_2d: bool, max_scale: float | None = None) -> list[FeatureSpec]:
    """Specs for `selection` (a keyword, a selection text, a {feature: scales} mapping or a
    list of FeatureSpec). `in_2d` is ilastik's ComputeIn2d for every scale."""
    if selection is None:
        selection = "default"
    if isinstance(selection, (list, tuple)) and all(isinstance(s, FeatureSpec) for s in selection):
        specs = [FeatureSpec(s.feature_id, float(s.scale), in_2d or s.in_2d) for s in selection]
    elif isinstance(selection, dict):
        specs = _from_mapping(selection, in_2d)
    elif isinstance(selection, str):
        keyword = selection.strip().lower()
        if keyword in ("default", "all"):
            specs = [FeatureSpec(fid, float(s), in_2d) for fid in FEATURE_IDS
                     for s in DEFAULT_SCALES
                     if (s >= DIALOG_MINIMUM_SCALE[fid] if keyword == "default"
                         else _computable(fid, s))]
        else:
            specs = _from_mapping(_parse_text(selection), in_2d)
    else:
        raise UserError(f"Cannot read the feature selection {selection!r}. {_HELP}")
    if max_scale is not None:
        specs = [s for s in specs if s.scale <= max_scale]
    if not specs:
        raise UserError(f"The feature selection {selection!r} selects no features"
                        + (f" at scales up to {max_scale:g}" if max_scale is not None else "")
                        + f". {_HELP}")
    return ordered(specs)


def _feature_id(name: str) -> str:
    key = re.sub(r"[\s_-]", "", str(name)).lower()
    if key not in _BY_NAME:
        raise UserError(f"Unknown feature '{name}'. {_HELP}")
    return _BY_NAME[key]


def _parse_text(text: str) -> dict[str, list[float] | None]:
    mapping: dict[str, list[float] | None] = {}
    for entry in re.split(r"[;\s]+", text.strip()):
        if not entry:
            continue
        name, _, scales = entry.partition(":")
        if not scales.strip() or scales.strip() == "*":
            mapping[name] = None
            continue
        try:
            mapping[name] = [float(s) for s in scales.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"Cannot read the scales in '{entry}': give numbers separated by "
                            f"commas, e.g. 'gaussian:0.3,1,3.5'. {_HELP}") from None
    return mapping


def _from_mapping(mapping: dict, in_2d: bool) -> list[FeatureSpec]:
    specs = []
    for name, scales in mapping.items():
        feature_id = _feature_id(name)
        if scales is None:
            scales = [s for s in DEFAULT_SCALES if s >= DIALOG_MINIMUM_SCALE[feature_id]]
        for scale in scales:
            scale = float(scale)
            if not scale > 0:
                raise UserError(f"Feature scale {scale:g} of {name} must be positive.")
            if not _computable(feature_id, scale):
                raise UserError(
                    f"{feature_id} cannot be computed at scale {scale:g}: its derivative kernel "
                    f"is too small to sample there. Fix: use scales of "
                    f"{DIALOG_MINIMUM_SCALE[feature_id]:g} or more for it.")
            specs.append(FeatureSpec(feature_id, scale, in_2d))
    return specs
