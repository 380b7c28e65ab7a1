#!/bin/sh
# Installs noflo-runtime-msgflo (pinned by proxy/testdata/noflo's
# package-lock.json) into the cache, for the tests that trace a NoFlo graph
# run as a participant, and prints the folder. The tests find it there, or
# in MSGFLO_NOFLO_DIR.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${MSGFLO_CACHE_DIR:-$HOME/.cache/msgflo-runtime}
DIR=$CACHE/noflo-participant-1
SRC=$ROOT/proxy/testdata/noflo
STAMP=$(cat "$SRC/package.json" "$SRC/package-lock.json" | cksum)
if [ ! -f "$DIR/.installed" ] || [ "$(cat "$DIR/.installed")" != "$STAMP" ]; then
	mkdir -p "$DIR"
	cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
	(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
	echo "$STAMP" > "$DIR/.installed"
fi
echo "$DIR"
