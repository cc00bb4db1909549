"""TrainingService: `pixelserve train` over the wire. A request gives the images (streamed or
files inside the allowed roots), their labels and other input roles, and `pixelserve train`'s
other flags by name (TrainHeader.options); the training is `pixelserve.train`'s."""

from __future__ import annotations

import os
import queue
import uuid
from pathlib import Path

from .. import protocol
from ..api import train
from ..errors import UserError
from ..export import ExportSettings, InMemoryResult, export_result
from ..io.paths import split_path_list
from ..project.ilp import open_h5, read_project_file
from ..protocol import ProtocolError, describe_header, receive_arrays
from ..training.cli import OBJECT_INPUTS, parse_named_options, threshold_settings
from ..training.label_images import check_label_shape, label_volume
from ..workflows import Volume
from .info import project_info
from .jobs import Cancelled, Job
from .prediction import progress_of

#: The input roles a training image may have besides its raw data (TrainingImage.roles).
ROLES = frozenset(OBJECT_INPUTS.values())


class TrainingServicer(protocol.training_grpc.TrainingServiceServicer):
    def __init__(self, server):
        self.server = server

    def Train(self, requests, context):
        first = next(requests, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise ProtocolError("The first message of Train must be a TrainHeader: send the header, then the chunks")
        header = first.header
        output = Path(self.server.paths.resolve(header.output, "output project"))
        folder = output.parent / f"{output.stem}_training"
        self.server.paths.check_inside(str(folder), header.output, "training image folder")
        project = self.server.resolve_file(header.project, "project") if header.project else None
        if not header.images and project is None:
            raise ProtocolError("The TrainHeader has no images: add an image and its label image")
        raws, labels, receivers = [], [], {}
        for index, image in enumerate(header.images):
            raws.append(self._part(image, "raw", 2 * index, receivers, context))
            labels.append(self._part(image, "labels", 2 * index + 1, receivers, context))
        roles = self._roles(header.images, receivers, context)
        flags = parse_named_options(dict(header.options))
        if project is not None:
            given = {index for index, raw in enumerate(raws) if raw is not None or 2 * index in receivers}
            self._check_stored_images(project, header.project, given)
        receive_arrays(requests, receivers, name_of=lambda index: f"array {index}",
                       order="send the arrays in the order of their array_index (see TrainRequest.chunk)")
        streamed = {index: (receivers[2 * index].result(), header.images[index].raw.array.axes.lower())
                    for index in range(len(header.images)) if 2 * index in receivers}
        label_values = [receivers[2 * index + 1].result() if 2 * index + 1 in receivers else value
                        for index, value in enumerate(labels)]
        _check_streamed_labels(streamed, label_values)
        roles = {role: [(receivers[value[0]].result(), value[1]) if isinstance(value, tuple) else value
                        for value in given] for role, given in roles.items()}
        axes = [image.raw.axes or (image.raw.array.axes if image.raw.HasField("array") else "") or None
                for image in header.images]

        job = Job(f"train {output.name}")
        context.add_callback(job.cancel)
        progress: queue.Queue = queue.Queue()

        def report(done, total, phase):
            if job.cancelled.is_set():
                raise Cancelled()
            progress.put(progress_of(done, total, phase))

        def run():
            # Here rather than in the handler: whatever ends the call (a cancel, a client that
            # vanished, the server stopping), the job still runs this to the end.
            images = _SavedImages(folder)
            try:
                # A project refers to its images by path: streamed images are saved next to it.
                raw_paths = [images.save(f"image_{index}", *streamed[index]) if index in streamed else raw
                             for index, raw in enumerate(raws)]
                inputs = {role: [images.save(f"{_file_name(role)}_{index}", *value) if isinstance(value, tuple)
                                 else value for index, value in enumerate(given)]
                          for role, given in roles.items()}
                trained = train(raw_paths or None, label_values or None, output, project=project,
                                label_names=list(header.label_names) or None, features=header.features or None,
                                trees=header.trees or None, seed=header.seed if header.HasField("seed") else None,
                                workflow=header.workflow or None, axes=axes or None, in_2d=header.in_2d or None,
                                inputs=inputs or None, threshold=threshold_settings(flags), margin=flags.margin,
                                sigma=flags.sigma, max_scale=flags.max_scale, stage_labels=flags.stage_labels,
                                threads=self.server.jobs.threads, progress=report)
            except BaseException:
                images.discard()
                raise
            images.keep()
            return trained

        # raises what training raised (a UserError says what to fix)
        trained = yield from self.server.jobs.follow(
            job, run, progress, lambda message: protocol.training.TrainResponse(progress=message))
        yield protocol.training.TrainResponse(project=project_info(trained))

    def _part(self, image, part: str, array_index: int, receivers: dict, context):
        """The raw data's or labels' path (a dataset on the server) or None; arrays get a
        receiver under their index."""
        if not image.HasField(part):
            return None
        return self._data(getattr(image, part), f"the {part} of image {array_index // 2}", array_index, receivers,
                          context)

    def _roles(self, images, receivers: dict, context) -> dict[str, list]:
        """{role: per image, its path on the server, (array index, axes) of a streamed one, or
        None}; the streamed ones numbered from 2 * len(images) on, image by image, roles in name
        order."""
        roles: dict[str, list] = {}
        array_index = 2 * len(images)
        for index, image in enumerate(images):
            for role in sorted(image.roles):
                if role not in ROLES:
                    raise UserError(f"'{role}' is not an input role of training. Fix: use one of "
                                    f"{', '.join(sorted(ROLES))}.")
                data = image.roles[role]
                path = self._data(data, f"the {role.lower()} of image {index}", array_index, receivers, context)
                given = roles.setdefault(role, [None] * len(images))
                if path is None:
                    given[index] = (array_index, data.array.axes.lower())
                    array_index += 1
                elif data.axes:
                    raise UserError(f"The {role.lower()} of image {index} is read in the axes its file stores (or "
                                    f"those of the raw data), not in the axes given ({data.axes!r}). Fix: leave "
                                    "TrainingData.axes empty for it, or send it as an array with its axes.")
                else:
                    given[index] = path
        return roles

    def _data(self, data, what: str, array_index: int, receivers: dict, context):
        """The path of a DatasetRef (inside the roots) or None for an array, which gets a
        receiver under `array_index`."""
        kind = data.WhichOneof("data")
        if kind == "array":
            shape, dtype, _ = describe_header(data.array, what[0].upper() + what[1:], self.server.limits.max_request_bytes)
            receivers[array_index] = self.server.inflight.receiver(context, shape, dtype, what,
                                                                   self.server.limits.max_chunk_bytes)
            return None
        if kind == "dataset":
            self.server.open_dataset(data.dataset.path)  # exists, readable, every file inside the roots
            return self.server.resolve_file(data.dataset.path, "dataset path")
        raise ProtocolError(f"{what[0].upper()}{what[1:]} has neither an array header nor a dataset path")

    def _check_stored_images(self, project: str, name: str, given: set[int]) -> None:
        """The images that `project` refers to (every role: an Object Classification lane also
        reads its segmentation), for the lanes whose raw image the request does not give, must
        lie inside the roots too: training reads them."""
        path = Path(project)
        with open_h5(path) as file:
            stored = read_project_file(file, path)
        raw_role = stored.role_names[0] if stored.role_names else "Raw Data"
        project_dir = path.resolve().parent
        for index, lane in enumerate(stored.lanes):
            for role, info in lane.items():
                if role == raw_role and index in given:
                    continue
                for member in split_path_list(info.file_path):
                    if "://" in member:  # an address: admitted by --allowed-url, or a file:// path inside the roots
                        self.server.open_dataset(member)
                    else:
                        target = os.path.join(project_dir, member.replace("\\", "/"))
                        what = "image" if role == raw_role else role.lower()
                        self.server.resolve_file(target, f"{what} of lane {index} of {name}")


def _file_name(role: str) -> str:
    """A role's name in the names of saved images: "Segmentation Image" -> segmentation_image."""
    return role.lower().replace(" ", "_")


def _check_streamed_labels(streamed: dict, label_values: list) -> None:
    """Refuse streamed labels of another size than their streamed image before anything is
    saved (training checks it again, for every kind of input)."""
    for index, (raw, axes) in streamed.items():
        labels = label_values[index] if index < len(label_values) else None
        if labels is not None and not isinstance(labels, str):
            raw_volume = Volume.from_array(raw, axes, name=f"sent as image {index}")
            check_label_shape(label_volume(labels, raw_volume, name=f"sent with image {index}"), raw_volume)


class _SavedImages:
    """The streamed training images, saved as <project>_training/image_<n>.h5. Until `keep()`,
    `discard()` leaves the disk as it was: it deletes what was saved, puts back the files
    that were replaced, and removes the folder if it was made here."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._made_folder = not folder.exists()
        self._saved: list[Path] = []
        self._replaced: list[tuple[Path, Path]] = []  # (file, where it waits meanwhile)

    def save(self, name: str, array, axes: str) -> str:
        target = self.folder / f"{name}.h5"
        if target.exists():
            aside = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(target, aside)
            self._replaced.append((target, aside))
        self._saved.append(target)
        settings = ExportSettings(output_format="compressed hdf5", output_filename_format=str(target),
                                  output_axis_order=axes)
        [path] = export_result(InMemoryResult(array, axes), settings, {}, default_axis_order=axes)
        return f"{path}/exported_data"

    def keep(self) -> None:
        for _, aside in self._replaced:
            aside.unlink(missing_ok=True)

    def discard(self) -> None:
        for path in self._saved:
            path.unlink(missing_ok=True)
        for target, aside in self._replaced:
            os.replace(aside, target)
        if self._made_folder and self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
