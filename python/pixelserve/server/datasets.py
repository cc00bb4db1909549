"""DatasetService: list, read and write datasets in files on the server (Fiji's HDF5 import,
list and export go through here, so Fiji needs no native HDF5 library)."""

from __future__ import annotations

import os

from .. import protocol
from ..export import ExportSettings, InMemoryResult, export_result
from ..io import list_datasets, split_internal_path
from ..protocol import ProtocolError, describe_header
from ..protocol.buffers import byte_count
from .prediction import region_of


class DatasetServicer(protocol.datasets_grpc.DatasetServiceServicer):
    def __init__(self, server):
        self.server = server

    def ListDatasets(self, request, context):
        path = self.server.resolve_file(request.path, "file")
        found = []
        for internal in list_datasets(path):
            dataset = self.server.open_dataset(f"{path}/{internal}" if internal else path)
            found.append(protocol.datasets.DatasetInfo(
                internal_path=internal, array=protocol.array_header(dataset.shape, dataset.dtype, dataset.axes)))
        return protocol.datasets.ListDatasetsResponse(datasets=found)

    def ReadDataset(self, request, context):
        dataset = self.server.open_dataset(request.path, axes=request.axes or None)
        region = (region_of(request.subregion, dataset.shape, request.path) if request.HasField("subregion")
                  else tuple((0, n) for n in dataset.shape))
        shape = tuple(stop - start for start, stop in region)
        nbytes = byte_count(shape, dataset.dtype)
        if nbytes > self.server.limits.max_request_bytes:
            raise protocol.RequestTooLarge(f"{request.path} has {nbytes} bytes to send, more than this server's limit "
                                           f"of {self.server.limits.max_request_bytes}: read a subregion")
        first = protocol.datasets.ReadDatasetResponse(header=protocol.array_header(shape, dataset.dtype, dataset.axes))
        for axis, (size, unit) in dataset.resolution.items():
            first.resolution[axis] = float(size)
            if unit:
                first.units[axis] = unit
        yield first
        # Slabs along the first axis are consecutive in C order: read and send one at a time.
        max_chunk = self.server.limits.max_chunk_bytes
        slab_bytes = max(1, nbytes // max(1, shape[0]))
        rows = max(1, max_chunk // slab_bytes)
        (start0, stop0), rest = region[0], region[1:]
        for begin in range(start0, stop0, rows):
            if not context.is_active():
                return
            slab = dataset.read((slice(begin, min(begin + rows, stop0)), *(slice(a, b) for a, b in rest)))
            for chunk in protocol.iter_chunks(slab, max_chunk):
                yield protocol.datasets.ReadDatasetResponse(chunk=chunk)

    def WriteDataset(self, requests, context):
        first = next(requests, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise ProtocolError("The first message of WriteDataset must be a WriteDatasetHeader")
        header = first.header
        path = self.server.paths.resolve(header.path, "output file")
        external, internal = split_internal_path(path)
        if not external.endswith(".h5"):
            raise ProtocolError(f"WriteDataset writes HDF5 files ending in .h5, not {header.path!r}: name the file *.h5")
        if os.path.exists(external):  # its other datasets are kept: none may lead out of the roots
            self.server.paths.check_file(external, header.path, "output file")
        shape, dtype, axes = describe_header(header.array, "The dataset", self.server.limits.max_request_bytes)
        receiver = self.server.inflight.receiver(context, shape, dtype, "the dataset", self.server.limits.max_chunk_bytes)
        for message in requests:
            if message.WhichOneof("kind") != "chunk":
                raise ProtocolError("Only Chunk messages may follow the WriteDatasetHeader")
            receiver.add(message.chunk.data)
        data = receiver.result()
        settings = ExportSettings(
            output_format="compressed hdf5" if header.compressed else "hdf5",
            output_filename_format=external, output_internal_path=header.internal_path or internal or "exported_data",
            output_axis_order=axes,
        )
        [written] = export_result(InMemoryResult(data, axes), settings, {}, default_axis_order=axes,
                                  resolution=dict(header.resolution))
        return protocol.datasets.WriteDatasetResponse(path=os.path.abspath(written))
