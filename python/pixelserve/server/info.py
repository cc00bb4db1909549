"""ProjectService and ServerService: what a project expects, what the server offers."""

from __future__ import annotations

import time

from .. import __version__, protocol
from ..export.settings import EXPORT_DTYPES
from ..protocol import ProtocolError, RequestTooLarge, option_message
from ..workflows import workflow_types


class ProjectServicer(protocol.projects_grpc.ProjectServiceServicer):
    def __init__(self, server):
        self.server = server

    def GetProjectInfo(self, request, context):
        return project_info(self.server.load_project(request.project))


def project_info(project):
    """The ProjectInfo message of a loaded project."""
    workflow = project.workflow
    messages = protocol.projects
    return messages.ProjectInfo(
        project=str(project.path),
        workflow=project.workflow_name,
        input_roles=[messages.InputRole(
            name=role.name, required=role.required, training_axes=role.training_axes or "",
            channels=role.channels or 0, spatial_dims=role.spatial_dims or 0, flag=role.flag,
        ) for role in project.input_roles],
        export_sources=project.export_sources,
        default_export_source=workflow.default_export_source,
        labels=[messages.Label(name=name, color=protocol.arrays.Color(red=int(r), green=int(g), blue=int(b)))
                for name, (r, g, b) in zip(workflow.label_names, workflow.label_colors)],
        min_image_size=workflow.min_image_size,
        title=workflow.title,
        options=[option_message(option) for option in workflow.options],
        tables=list(workflow.table_names),
        export_defaults={flag: _text(value) for flag, value in workflow.export_defaults.items()},
    )


def _text(value) -> str:
    """An export setting as the headless flag would give it, e.g. "(0, 255)" for a range."""
    return str(tuple(value)) if isinstance(value, (list, tuple)) else str(value)


class ServerServicer(protocol.server_grpc.ServerServiceServicer):
    def __init__(self, server):
        self.server = server

    def SendProbe(self, chunks, context):
        received, first, last = 0, None, None
        for chunk in chunks:
            last = time.monotonic()
            first = first or last
            if len(chunk.data) > self.server.limits.max_chunk_bytes:
                raise ProtocolError(f"A chunk has {len(chunk.data)} bytes, more than the limit of "
                                    f"{self.server.limits.max_chunk_bytes}: send chunks of at most that size")
            received += len(chunk.data)
        return protocol.server.ProbeSummary(bytes=received, seconds=(last - first) if first else 0.0)

    def ReceiveProbe(self, request, context):
        if request.bytes > self.server.limits.max_request_bytes:
            raise RequestTooLarge(f"{request.bytes} bytes asked, more than this server's limit of "
                                  f"{self.server.limits.max_request_bytes}: ask for fewer")
        size = self.server.limits.max_chunk_bytes
        zeros = bytes(size)
        for begin in range(0, request.bytes, size):
            if not context.is_active():
                return
            yield protocol.arrays.Chunk(data=zeros if begin + size <= request.bytes else zeros[:request.bytes - begin])

    def GetServerInfo(self, request, context):
        limits = self.server.limits
        return protocol.server.ServerInfo(
            version=__version__, max_chunk_bytes=limits.max_chunk_bytes, max_request_bytes=limits.max_request_bytes,
            max_streams=limits.max_streams, idle_timeout_seconds=limits.idle_timeout,
            max_inflight_bytes=limits.max_inflight_bytes,
            workflows=[name for kind in workflow_types() for name in kind.project_names],
            export_dtypes=list(EXPORT_DTYPES),
            workflow_types=[protocol.server.WorkflowType(title=kind.title, project_names=list(kind.project_names),
                                                         options=[option_message(o) for o in kind.options])
                            for kind in workflow_types()],
        )
