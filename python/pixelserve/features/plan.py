"""What to compute for a list of specs: groups of specs sharing a pre-smoothing, the distinct
filter responses each group needs, and the writer program that combines responses into
output columns.

A *response* is a source (the pre-smoothed image "P", or a structure tensor product) run
through a sequence of 1D passes, listed z, y, x. Features name the responses they combine;
identical responses (e.g. the Hessian diagonal, shared by the Laplacian) are computed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import combine
from .kernels import (
    FILTER_WINDOW,
    difference_of_gaussians_sigmas,
    filter_sigma,
    kernel_radius,
    structure_tensor_sigmas,
)
from .spec import filter_chain_radius, filter_in_2d, presmooth_in_2d, presmooth_radius, subchannel_count

PRESMOOTHED = "P"


@dataclass(frozen=True)
class Response:
    source: object  # PRESMOOTHED or ("tensor", gradient sigma, i, j)
    passes: tuple  # ((axis, sigma, derivative order, window), ...) in z, y, x order


@dataclass(frozen=True)
class TensorSource:
    """Product of two gradient components, needed ``pad`` pixels beyond the tile."""

    gradient_i: tuple  # passes of the first gradient component
    gradient_j: tuple
    pad: int


@dataclass
class Group:
    """Specs sharing one scale and 2D/3D mode (so one pre-smoothing and shared passes)."""

    scale: float
    presmooth_2d: bool
    filter_2d: bool
    presmooth_radius: int
    margin: int = 0  # reach of the group's filters along each filtered axis
    members: list = field(default_factory=list)  # (spec, first output column, sub-channels)
    responses: list = field(default_factory=list)  # distinct Responses, in order of first use
    tensors: dict = field(default_factory=dict)  # tensor source name -> TensorSource
    operations: list = field(default_factory=list)  # (opcode, member index, response indices)

    @property
    def filter_axes(self) -> tuple:
        return (1, 2) if self.filter_2d else (0, 1, 2)

    @property
    def presmooth_axes(self) -> tuple:
        return (1, 2) if self.presmooth_2d else (0, 1, 2)

    def response_index(self, response: Response) -> int:
        if response not in self.responses:
            self.responses.append(response)
        return self.responses.index(response)


def _passes(axes, orders, sigma):
    """A Gaussian derivative as passes: orders maps axis -> 1 or 2, other axes smoothed."""
    return tuple((a, sigma, orders.get(a, 0), FILTER_WINDOW) for a in axes)


def _feature_recipe(group: Group, spec, structure_tensor_order):
    """(opcode, [Response, ...]) of one feature; registers tensor sources on the group."""
    axes = group.filter_axes
    sigma = filter_sigma(spec.scale)
    fid = spec.feature_id

    def smoothed(orders, at_sigma=sigma):
        return Response(PRESMOOTHED, _passes(axes, orders, at_sigma))

    eigen = combine.OP_EIGEN2 if len(axes) == 2 else combine.OP_EIGEN3
    if fid == "GaussianSmoothing":
        return combine.OP_COPY, [smoothed({})]
    if fid == "DifferenceOfGaussians":
        wide, narrow = difference_of_gaussians_sigmas(spec.scale)
        return combine.OP_DIFFERENCE, [smoothed({}, wide), smoothed({}, narrow)]
    if fid == "LaplacianOfGaussian":
        return combine.OP_SUM, [smoothed({a: 2}) for a in axes]
    if fid == "GaussianGradientMagnitude":
        return combine.OP_MAGNITUDE, [smoothed({a: 1}) for a in axes]
    if fid == "HessianOfGaussianEigenvalues":
        return eigen, [
            smoothed({a: 2} if a == b else {a: 1, b: 1}) for i, a in enumerate(axes) for b in axes[i:]
        ]
    if fid == "StructureTensorEigenvalues":
        gradient_sigma, tensor_sigma = structure_tensor_sigmas(spec.scale, structure_tensor_order)
        # The gradient gets smoothed again, so it is needed beyond the tile.
        pad = kernel_radius(tensor_sigma, FILTER_WINDOW)
        gradients = [_passes(axes, {a: 1}, gradient_sigma) for a in axes]
        components = []
        for i in range(len(axes)):
            for j in range(i, len(axes)):
                name = ("tensor", gradient_sigma, i, j)
                group.tensors[name] = TensorSource(gradients[i], gradients[j], pad)
                components.append(Response(name, _passes(axes, {}, tensor_sigma)))
        return eigen, components
    raise AssertionError(fid)  # validate_specs() rejects anything else


def plan_groups(specs, n_channels: int, depth: int, structure_tensor_order: str) -> list[Group]:
    """Group specs by (scale, ComputeIn2d), assign output columns, list their responses."""
    groups: dict = {}
    column = 0
    for spec in specs:
        key = (spec.scale, spec.in_2d)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(
                scale=spec.scale,
                presmooth_2d=presmooth_in_2d(spec, depth),
                filter_2d=filter_in_2d(spec, depth),
                presmooth_radius=presmooth_radius(spec),
            )
        group.margin = max(group.margin, filter_chain_radius(spec, structure_tensor_order))
        count = subchannel_count(spec, depth)
        member = len(group.members)
        group.members.append((spec, column, count))
        opcode, responses = _feature_recipe(group, spec, structure_tensor_order)
        assert combine.OUTPUT_COLUMNS[opcode] == count
        group.operations.append((opcode, member, [group.response_index(r) for r in responses]))
        column += count * n_channels
    return list(groups.values())


def build_program(groups: list[Group], n_channels: int) -> tuple[np.ndarray, list[int]]:
    """Writer program for a tile's response stack, and each group's first stack slot.

    Stack slot of response k of group g for channel c: first_slot[g] + c * len(responses) + k.
    """
    rows = []
    first_slot = []
    slot = 0
    for group in groups:
        first_slot.append(slot)
        per_channel = len(group.responses)
        for opcode, member, inputs in group.operations:
            _, first_column, count = group.members[member]
            for c in range(n_channels):
                row = [opcode, first_column + c * count, len(inputs)]
                row += [slot + c * per_channel + k for k in inputs]
                rows.append(row + [0] * (combine.PROGRAM_WIDTH - len(row)))
        slot += per_channel * n_channels
    program = np.array(rows, dtype=np.int64).reshape(-1, combine.PROGRAM_WIDTH)
    # Fill each output row left to right.
    program = program[np.argsort(program[:, 1], kind="stable")]
    return np.ascontiguousarray(program), first_slot
