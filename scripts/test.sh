#!/usr/bin/env bash
# Installs everything the tests need into .venv and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test bash scripts/setup_env.sh
exec .venv/bin/python -m pytest -ra "$@"
