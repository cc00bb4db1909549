"""Generates the Python modules of the gRPC protocol (python/pixelserve/protocol/v1/*_pb2*.py)
from the .proto files next to them. The generated modules are committed, so that an installed
pixelserve needs neither the sources nor grpcio-tools; tests/test_protocol_package.py fails
when they are out of date. Run after editing a .proto file:

    .venv/bin/python scripts/generate_protocol.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "python"
PROTOCOL = ROOT / "pixelserve" / "protocol" / "v1"


def generate(target: Path) -> None:
    """Write the generated modules under `target` (a folder standing for python/)."""
    from grpc_tools import protoc

    include = Path(protoc.__file__).parent / "_proto"
    sources = sorted(str(path.relative_to(ROOT)) for path in PROTOCOL.glob("*.proto"))
    code = protoc.main(["protoc", f"-I{ROOT}", f"-I{include}", f"--python_out={target}",
                        f"--grpc_python_out={target}", f"--pyi_out={target}", *sources])
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
