# Shared by the install_*.sh scripts that build a test tool from the Go module proxy; sourced
# after setting NAME, VERSION and TARGET. Exits when TARGET already is that version, checks
# that Go is there, and provides WORK (a temporary folder, removed on exit) and
# go_tool_installed BINARY, which moves the built binary into place and records its version.
STAMP="$TARGET.version"
if [[ -x "$TARGET" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
    echo "$NAME $VERSION already installed at $TARGET"
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "$(basename "$0"): Go is not installed (needs Go >= 1.18): install it, then run this script again" >&2
    exit 1
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$(dirname "$TARGET")"
GO_TOOL_STARTED=$SECONDS

go_tool_installed() {
    # through a .part name, so that an interrupted copy never passes for the tool
    mv "$1" "$TARGET.part"
    mv "$TARGET.part" "$TARGET"
    echo "$VERSION" > "$STAMP"
    echo "Installed $NAME $VERSION at $TARGET in $((SECONDS - GO_TOOL_STARTED)) s"
}
