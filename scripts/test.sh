#!/usr/bin/env bash
# Installs everything the tests need into .venv and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test bash scripts/setup_env.sh
# A real DVID server for the dvid export tests (built from the Go module proxy; they are
# skipped with the reason when it cannot be built here).
bash scripts/install_dvid.sh || echo "warning: DVID could not be built; the dvid export tests will be skipped" >&2
# grpcurl, for the grpcurl examples of docs/server.md (skipped with the reason without it).
bash scripts/install_grpcurl.sh || echo "warning: grpcurl could not be built; its doc examples will be skipped" >&2
# The linter first (configured in pyproject.toml): a failure names the file and line.
.venv/bin/python -m ruff check python tests scripts
exec .venv/bin/python -m pytest -ra "$@"
