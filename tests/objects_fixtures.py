"""Shared by the test_objects_* modules: ilastik's Object Classification fixtures, opened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import tifffile
from scipy import ndimage

from conftest import fixtures_dir
from pixelserve.io.dataset import open_dataset
from pixelserve.objects.segmentation import label_segmentation, threshold
from pixelserve.project.ilp import open_h5, read_project_file
from pixelserve.project.object_classification import ObjectClassificationProject, read_object_classification
from pixelserve.synthetic import shapes_image
from pixelserve.workflows.volume import Box, Volume

# Projects of test_projects.zip whose inputs exist (the label-image one's was never published).
PREDICTION_PROJECTS = ["ObjectClassification2d_wPred.ilp", "ObjectClassification2d3c_wPred.ilp",
                       "ObjectClassification5t2d1c_wPred.ilp", "ObjectClassification5t2d2c_wPred.ilp",
                       "ObjectClassification5t3d2c_wPred.ilp"]
SEGMENTATION_PROJECTS = ["ObjectClassification2d_wSeg.ilp", "ObjectClassification2d3c_wSeg.ilp",
                         "ObjectClassification5t2d1c_wSeg.ilp", "ObjectClassification5t2d2c_wSeg.ilp",
                         "ObjectClassification5t3d2c_wSeg.ilp"]
LABEL_PROJECT = "ObjectClassification2d3c_wLabels.ilp"
# ilastik 1.2.2 cached a LabelImage_v2 that no longer matches its own RegionFeatures in these
# (shared/notes/object-classification.md §7); only 2d_wSeg's is current.
STALE_LABEL_IMAGES = {"ObjectClassification2d3c_wSeg.ilp", "ObjectClassification5t2d1c_wSeg.ilp",
                      "ObjectClassification5t2d2c_wSeg.ilp", "ObjectClassification5t3d2c_wSeg.ilp"}


@dataclass
class OpenProject:
    file: h5py.File
    model: ObjectClassificationProject
    raw: Volume
    segmentation: Volume

    def frame(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(raw (z, y, x, c), object labels (z, y, x)) of frame t, segmented as ilastik does."""
        box = Box.whole(self.raw.spatial_shape)
        source = self.segmentation.read(t, box)
        if self.model.threshold is not None:
            labels = threshold(source, self.model.threshold)
        else:
            labels = label_segmentation(source)
        return self.raw.read(t, box), labels


def open_project(test_projects: Path, name: str) -> OpenProject:
    path = test_projects / name
    file = open_h5(path)
    model = read_object_classification(file, read_project_file(file, path))
    lane = model.project.lanes[0]

    def volume(role):
        info = lane[role]
        return Volume.from_dataset(open_dataset(info.file_path, base_dir=str(fixtures_dir())), info.axes)

    return OpenProject(file, model, volume("Raw Data"), volume(model.segmentation_role))


def with_inputs(folder: Path) -> Path:
    """`folder` (the extracted test_projects.zip) with the projects' stored relative input
    paths (inputdata/...) resolving."""
    link = folder / "inputdata"
    if not link.exists():
        link.symlink_to(fixtures_dir() / "inputdata", target_is_directory=True)
    return folder


def write_shapes(folder: Path, images: dict[str, int], *, maps: bool = False) -> None:
    """Round and elongated objects (`synthetic.shapes_image`, 320 x 320) per name and seed:
    `<name>.tif`, `<name>_seg.tif` (1 inside objects), `<name>_truth.npy` (1 round, 2
    elongated) and with `maps` `<name>_maps.h5/probabilities` (background and object)."""
    for name, seed in images.items():
        image, truth = shapes_image((320, 320), seed=seed)
        tifffile.imwrite(folder / f"{name}.tif", image)
        tifffile.imwrite(folder / f"{name}_seg.tif", (truth > 0).astype(np.uint8))
        np.save(folder / f"{name}_truth.npy", truth)
        if maps:
            with h5py.File(folder / f"{name}_maps.h5", "w") as file:
                file["probabilities"] = object_probabilities(truth)


def object_probabilities(truth: np.ndarray) -> np.ndarray:
    """Prediction maps of a truth image: (background, object) probabilities, smoothed."""
    objects = ndimage.gaussian_filter((truth > 0).astype(np.float32), 1.5)
    return np.stack([1 - objects, objects], axis=-1)
