#!/usr/bin/env bash
# Build the DVID server (github.com/janelia-flyem/dvid, BSD-licensed) from the Go module proxy,
# for tests/test_export_dvid.py, into .venv/bin/dvid (or $DVID_BIN).
#
# Only the Go module proxy is used: DVID v1.0.0 and its dependencies as Go modules. The badger
# storage engine is pure Go; a few dependencies use cgo, so a C compiler is needed (gcc).
# Needs Go >= 1.18. Idempotent: does nothing when the binary of this version is there.
# Takes about 2.5 minutes and 0.4 GB of memory on 2 cores (one package at a time, -p 1).
set -euo pipefail

NAME=DVID
VERSION=v1.0.0
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${DVID_BIN:-$ROOT/.venv/bin/dvid}"
source "$ROOT/scripts/go_tool.sh"

if ! command -v "${CC:-gcc}" >/dev/null 2>&1; then
    echo "install_dvid.sh: no C compiler (${CC:-gcc}) for DVID's cgo dependencies: apt-get install gcc" >&2
    exit 1
fi
cat > "$WORK/go.mod" <<EOF
module pixelserve.local/dvidbuild

go 1.18

require github.com/janelia-flyem/dvid $VERSION
EOF

echo "Building DVID $VERSION (github.com/janelia-flyem/dvid/cmd/dvid, storage engine badger) ..."
# `go install module@version` is not used: it asks the proxy for the module's version list,
# which the proxy may refuse; a throwaway module that requires DVID asks only for this version.
(cd "$WORK" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=1 \
    go build -p 1 -tags badger -o "$WORK/dvid" github.com/janelia-flyem/dvid/cmd/dvid)
go_tool_installed "$WORK/dvid"
