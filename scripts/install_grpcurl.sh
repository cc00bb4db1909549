#!/usr/bin/env bash
# Build grpcurl (github.com/fullstorydev/grpcurl, MIT) from the Go module proxy into
# .venv/bin/grpcurl (or $GRPCURL_BIN), for the grpcurl examples of docs/server.md that
# tests/test_docs_server.py runs. Idempotent; about 45 s on 2 cores.
set -euo pipefail

VERSION=v1.9.3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${GRPCURL_BIN:-$ROOT/.venv/bin/grpcurl}"
STAMP="$TARGET.version"

if [[ -x "$TARGET" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
    echo "grpcurl $VERSION already installed at $TARGET"
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install_grpcurl.sh: Go is not installed: install Go, then run this script again" >&2
    exit 1
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "Building grpcurl $VERSION ..."
(cd "$WORK" && GOFLAGS=-mod=mod GOTOOLCHAIN=local GOBIN="$WORK/bin" \
    go install -p 1 "github.com/fullstorydev/grpcurl/cmd/grpcurl@$VERSION")
mkdir -p "$(dirname "$TARGET")"
mv "$WORK/bin/grpcurl" "$TARGET"
echo "$VERSION" > "$STAMP"
echo "Installed grpcurl $VERSION at $TARGET"
