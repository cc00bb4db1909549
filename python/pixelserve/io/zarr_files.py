"""Plain zarr directories (v2 and v3 through the zarr package); OME-Zarr images are read by
pixelserve.io.ome_zarr."""

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


class ZarrSource(ArraySource):
    def __init__(self, container: str, internal_path: str | None):
        self.container, self.internal_path = container, internal_path
        array = self._array()
        if not _is_array(array):
            raise UserError(
                f"'{internal_path}' in {container} is a zarr group, not an array; append the array's path, "
                f"e.g. {container}/{next(iter(list_zarr_arrays(container)), 'name')}."
            )
        self.shape, self.dtype = tuple(array.shape), np.dtype(array.dtype)
        self.axes, self.axes_from_file, self.resolution = self._axes(array)

    def _array(self):
        return self._handle("zarr", lambda: _open_node(self.container, self.internal_path))

    def _axes(self, array):
        ndim = len(self.shape)
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

    def _read(self, region):
        return np.asarray(self._array()[region])
