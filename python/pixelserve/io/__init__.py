"""Reading input images with ilastik's input conventions (paths, globs, internal paths, axes).

Formats: TIFF (plain, multipage, ImageJ, OME), PNG/JPEG/BMP/GIF/PNM, HDF5 (.h5/.hdf5/.ilp),
.npy/.npz, N5, zarr, and OME-Zarr images from folders, file:// and http(s):// addresses.
Several files stack along one axis. Reads are lazy.

Public API:
    AXES, Dataset, input_files, open_dataset, split_internal_path, guess_axes, list_datasets
"""

from pixelserve.io.axes import AXES, guess_axes
from pixelserve.io.dataset import Dataset, input_files, open_dataset
from pixelserve.io.formats import list_datasets
from pixelserve.io.paths import split_internal_path

__all__ = ["AXES", "Dataset", "input_files", "open_dataset", "split_internal_path", "guess_axes", "list_datasets"]
