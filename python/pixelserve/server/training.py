"""TrainingService: `pixelserve train` over the wire."""

from __future__ import annotations

import queue
from pathlib import Path

from .. import protocol
from ..api import train
from ..export import ExportSettings, InMemoryResult, export_result
from ..protocol import ArrayReceiver, ProtocolError, describe_header, receive_arrays
from .info import project_info
from .jobs import Cancelled, Job
from .prediction import progress_of


class TrainingServicer(protocol.training_grpc.TrainingServiceServicer):
    def __init__(self, server):
        self.server = server

    def Train(self, requests, context):
        first = next(requests, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise ProtocolError("The first message of Train must be a TrainHeader: send the header, then the chunks")
        header = first.header
        output = Path(self.server.paths.resolve(header.output, "output project"))
        project = self.server.resolve_file(header.project, "project") if header.project else None
        if not header.images and project is None:
            raise ProtocolError("The TrainHeader has no images: add an image and its label image")
        raws, labels, receivers = [], [], {}
        for index, image in enumerate(header.images):
            raws.append(self._data(image, "raw", 2 * index, receivers))
            labels.append(self._data(image, "labels", 2 * index + 1, receivers))
        receive_arrays(requests, receivers, name_of=lambda index: f"array {index}",
                       order="send the arrays one after another, each image's raw data before its labels")
        # A project refers to its images by path: streamed images are saved next to it.
        raw_paths = [self._saved_image(output, index, receivers[2 * index], header.images[index].raw.array.axes)
                     if 2 * index in receivers else raw for index, raw in enumerate(raws)]
        label_values = [receivers[2 * index + 1].result() if 2 * index + 1 in receivers else value
                        for index, value in enumerate(labels)]
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
            return train(raw_paths or None, label_values or None, output, project=project,
                         label_names=list(header.label_names) or None, features=header.features or None,
                         trees=header.trees or None, seed=header.seed if header.HasField("seed") else None,
                         workflow=header.workflow or None, axes=axes or None, in_2d=header.in_2d or None,
                         threads=self.server.jobs.threads, progress=report)

        # raises what training raised (a UserError says what to fix)
        trained = yield from self.server.jobs.follow(
            job, run, progress, lambda message: protocol.training.TrainResponse(progress=message))
        yield protocol.training.TrainResponse(project=project_info(trained))

    def _data(self, image, part: str, array_index: int, receivers: dict):
        """The path (a dataset on the server) or None; arrays get a receiver under their index."""
        if not image.HasField(part):
            return None
        data = getattr(image, part)
        kind = data.WhichOneof("data")
        if kind == "array":
            shape, dtype, _ = describe_header(data.array, f"The {part} of image {array_index // 2}",
                                              self.server.limits.max_request_bytes)
            receivers[array_index] = ArrayReceiver(shape, dtype, f"the {part} of image {array_index // 2}",
                                                   self.server.limits.max_chunk_bytes)
            return None
        if kind == "dataset":
            self.server.open_dataset(data.dataset.path)  # exists, readable, every file inside the roots
            return self.server.resolve_file(data.dataset.path, "dataset path")
        raise ProtocolError(f"The {part} of image {array_index // 2} has neither an array header nor a dataset path")

    def _saved_image(self, output: Path, index: int, receiver: ArrayReceiver, axes: str) -> str:
        folder = output.parent / f"{output.stem}_training"
        settings = ExportSettings(output_format="compressed hdf5", output_filename_format=str(folder / f"image_{index}.h5"),
                                  output_axis_order=axes)
        [path] = export_result(InMemoryResult(receiver.result(), axes), settings, {}, default_axis_order=axes)
        return f"{path}/exported_data"
