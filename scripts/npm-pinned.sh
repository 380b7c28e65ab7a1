#!/bin/sh
# npm-pinned.sh SRC NAME: installs the npm packages of SRC's package.json
# and package-lock.json (npm ci) into the cache folder NAME, unless they
# are there already, and prints the folder.
set -eu
SRC=$1
CACHE=${MSGFLO_CACHE_DIR:-$HOME/.cache/msgflo-runtime}
DIR=$CACHE/$2
STAMP=$(cat "$SRC/package.json" "$SRC/package-lock.json" | cksum)
if [ ! -f "$DIR/.installed" ] || [ "$(cat "$DIR/.installed")" != "$STAMP" ]; then
	mkdir -p "$DIR"
	cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
	(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
	echo "$STAMP" > "$DIR/.installed"
fi
echo "$DIR"
