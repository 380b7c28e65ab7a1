#!/bin/sh
# Installs the fbp-spec CLI (0.8.0, pinned by spec/testdata/npm/fbp-spec's
# package-lock.json) into the cache and prints the folder: the npm
# cross-check of the Go runner (scripts/fbp-spec.sh, spec's differential
# tests, which find it in MSGFLO_FBP_SPEC_DIR).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec "$ROOT/scripts/npm-pinned.sh" "$ROOT/spec/testdata/npm/fbp-spec" fbp-spec-0.8.0-1
