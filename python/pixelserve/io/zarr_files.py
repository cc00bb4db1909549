"""Zarr directories (v2 and v3 through the zarr package), including OME-Zarr multiscale groups."""

from __future__ import annotations

import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.axes import axes_from_names, default_axes, parse_axistags
from pixelserve.io.source import ArraySource


def _zarr():
    import zarr  # imported lazily: only zarr inputs pay for it

    return zarr


def _open_node(container: str, internal_path: str | None):
    zarr = _zarr()
    path = container + ("/" + internal_path if internal_path else "")
    try:
        return zarr.open(path, mode="r")
    except (FileNotFoundError, KeyError, ValueError) as error:
        raise UserError(f"Cannot open {path} as zarr ({error}); check the path inside the zarr folder.") from None
    except Exception as error:  # zarr raises its own NodeNotFound/metadata errors across versions
        raise UserError(f"Cannot open {path} as zarr ({error}); check the path inside the zarr folder.") from None


def _is_array(node) -> bool:
    return hasattr(node, "shape") and hasattr(node, "dtype")


def list_zarr_arrays(container: str) -> dict[str, int]:
    node = _open_node(container, None)
    if _is_array(node):
        return {"": len(node.shape)}
    return dict(sorted((name, len(member.shape)) for name, member in node.members(max_depth=None) if _is_array(member)))


def _multiscales(attrs) -> list | None:
    # OME-Zarr 0.4 keeps "multiscales" at the top of the attributes; 0.5 nests it under "ome".
    found = attrs.get("multiscales") or (attrs.get("ome") or {}).get("multiscales")
    return found if isinstance(found, list) and found else None


def resolve_ome_zarr(container: str, internal_path: str | None) -> tuple[str | None, dict | None]:
    """For an OME-Zarr image, pick the scale to read: the named one, else (like ilastik) the lowest resolution.

    Returns (array path, multiscale entry) or (internal_path, None) for plain zarr.
    """
    root = _open_node(container, None)
    if _is_array(root):
        return internal_path, None
    multiscales = _multiscales(dict(root.attrs))
    if not multiscales:
        return internal_path, None
    entry = multiscales[0]
    scale_paths = [str(d.get("path")) for d in entry.get("datasets", [])]
    if internal_path is None and scale_paths:
        # ilastik reads the lowest resolution unless a scale is named (OpOMEZarrMultiscaleReader).
        return scale_paths[-1], entry
    return internal_path, entry if internal_path in scale_paths else None


class ZarrSource(ArraySource):
    def __init__(self, container: str, internal_path: str | None, multiscale: dict | None = None):
        self.container, self.internal_path = container, internal_path
        array = self._array()
        if not _is_array(array):
            raise UserError(
                f"'{internal_path}' in {container} is a zarr group, not an array; append the array's path, "
                f"e.g. {container}/{next(iter(list_zarr_arrays(container)), 'name')}."
            )
        self.shape, self.dtype = tuple(array.shape), np.dtype(array.dtype)
        self.axes, self.axes_from_file, self.resolution = self._axes(array, multiscale)

    def _array(self):
        return self._handle("zarr", lambda: _open_node(self.container, self.internal_path))

    def _axes(self, array, multiscale):
        ndim = len(self.shape)
        if multiscale is not None:
            names = [a.get("name") if isinstance(a, dict) else a for a in multiscale.get("axes", [])]
            axes = axes_from_names(names)
            if axes and len(axes) == ndim:
                return axes, True, self._ome_resolution(multiscale, axes)
        attrs = dict(array.attrs)
        if "axistags" in attrs:
            parsed = parse_axistags(attrs["axistags"])
            if parsed and len(parsed[0]) == ndim:
                return parsed[0], True, parsed[1]
        names = attrs.get("_ARRAY_DIMENSIONS") or getattr(getattr(array, "metadata", None), "dimension_names", None)
        axes = axes_from_names(names) if names else None
        if axes and len(axes) == ndim:
            return axes, True, {}
        return default_axes(self.shape), False, {}

    def _ome_resolution(self, multiscale: dict, axes: str) -> dict[str, tuple[float, str]]:
        units = [a.get("unit", "") if isinstance(a, dict) else "" for a in multiscale.get("axes", [])]
        for dataset in multiscale.get("datasets", []):
            if str(dataset.get("path")) != self.internal_path:
                continue
            for transform in dataset.get("coordinateTransformations", []):
                if transform.get("type") == "scale" and len(transform.get("scale", [])) == len(axes):
                    return {a: (float(v), str(u)) for a, v, u in zip(axes, transform["scale"], units)
                            if a != "c" and float(v) > 0}
        return {}

    def _read(self, region):
        return np.asarray(self._array()[region])
