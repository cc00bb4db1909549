#!/usr/bin/env bash
# Build grpcurl (github.com/fullstorydev/grpcurl, MIT) from the Go module proxy into
# .venv/bin/grpcurl (or $GRPCURL_BIN), for the grpcurl examples of docs/server.md that
# tests/test_docs_server.py runs. Idempotent; about 45 s on 2 cores.
set -euo pipefail

NAME=grpcurl
VERSION=v1.9.3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${GRPCURL_BIN:-$ROOT/.venv/bin/grpcurl}"
source "$ROOT/scripts/go_tool.sh"

echo "Building grpcurl $VERSION ..."
(cd "$WORK" && GOFLAGS=-mod=mod GOTOOLCHAIN=local GOBIN="$WORK/bin" \
    go install -p 1 "github.com/fullstorydev/grpcurl/cmd/grpcurl@$VERSION")
go_tool_installed "$WORK/bin/grpcurl"
