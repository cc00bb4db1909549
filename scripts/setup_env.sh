#!/usr/bin/env bash
# Creates .venv (if missing) and installs pixelserve into it; EXTRAS selects optional parts.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"

# The tests read the hdr, xv and ras exports back with ImageMagick (no Python library reads
# all three). Any `convert` on PATH may be a stand-in, so every candidate is asked.
has_imagemagick() {
  local candidate
  for candidate in magick convert-im6.q16 convert-im7.q16 $(type -ap convert); do
    if "$candidate" -version 2>/dev/null | grep -q ImageMagick; then
      return 0
    fi
  done
  return 1
}
# The Fiji plugin's tests (tests/test_fiji.py) build the jar with Maven and a JDK, and drive
# ImageJ's GUI under Xvfb; each missing piece is installed when apt-get can, else its tests skip.
install_soft() {  # install_soft WHAT PACKAGE... : apt-get install, warning (not failing) when it cannot
  local what=$1
  shift
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing $what (apt-get: $*) for the Fiji plugin tests..."
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }; then
      echo "warning: apt-get could not install $what; the Fiji tests that need it will be skipped" >&2
    fi
  else
    echo "note: $what is missing and cannot be installed here (needs apt-get as root); the Fiji tests that" \
         "need it will be skipped. Install it ($*) to run them." >&2
  fi
}
case ",${EXTRAS:-}," in
  *,test,*)
    command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || install_soft "a JDK" default-jdk
    command -v mvn >/dev/null 2>&1 || install_soft "Maven" maven
    command -v Xvfb >/dev/null 2>&1 || install_soft "Xvfb" xvfb
    if ! has_imagemagick; then
      if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "Installing ImageMagick (apt-get) for the image format tests..."
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq imagemagick >/dev/null; }; then
          echo "warning: apt-get could not install ImageMagick; the hdr/xv/ras read-back tests will be skipped" >&2
        fi
      else
        echo "note: ImageMagick is missing and cannot be installed here (needs apt-get as root); the hdr/xv/ras" \
             "read-back tests will be skipped. Install ImageMagick to run them." >&2
      fi
    fi
    ;;
esac
