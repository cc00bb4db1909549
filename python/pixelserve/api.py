"""The Python API every front door uses: open a project, predict on numpy arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .blocks import compute_array
from .errors import UserError
from .workflows import Volume, Workflow, load_workflow


class Project:
    """A loaded project: what it expects and what it can export, and `predict`."""

    def __init__(self, path, *, structure_tensor_order: str | None = None):
        self.path = Path(path)
        self.workflow: Workflow = load_workflow(self.path,
                                                structure_tensor_order=structure_tensor_order)

    @property
    def workflow_name(self) -> str:
        return self.workflow.workflow_name

    @property
    def input_roles(self):
        return self.workflow.input_roles

    @property
    def export_sources(self) -> list[str]:
        return self.workflow.export_sources

    @property
    def label_names(self) -> list[str]:
        return self.workflow.label_names

    @property
    def min_image_size(self) -> int:
        """Smallest image side (pixels) the project's filters accept."""
        return self.workflow.min_image_size

    def predict(self, image: np.ndarray | None = None, axes: str | None = None, *,
                export_source: str | None = None, inputs: dict | None = None,
                threads: int | None = None) -> np.ndarray:
        """Compute an export source for in-memory images.

        `image` with `axes` (letters of "tzyxc", e.g. "yx", "zyxc") is the raw data; other roles
        go in `inputs` as {role name: (array, axes)}. The result's axes are the raw axes without
        c, followed by c (e.g. "yx" -> "yxc").
        """
        volumes = {}
        roles = dict(inputs or {})
        if image is not None:
            roles[self.workflow.input_roles[0].name] = (image, axes)
        for role, value in roles.items():
            array, role_axes = value
            if role_axes is None:
                raise UserError(f"Give the axes of the {role} array, e.g. axes='yx' or 'zyxc'.")
            volumes[role] = Volume.from_array(array, role_axes, name=f"{role} array")
        source = self.workflow.result_source(volumes, export_source)
        return compute_array(source, threads)


def open_project(path, *, structure_tensor_order: str | None = None) -> Project:
    """Load an ilastik (or pixelserve) project file for prediction."""
    return Project(path, structure_tensor_order=structure_tensor_order)
