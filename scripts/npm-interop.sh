#!/bin/sh
# Installs the pinned Node.js msgflo stack used by the interop tests
# (msgflo-nodejs participants, the original msgflo coordinator, and the
# broker client libraries they load) into the cache, and prints the folder.
set -eu
CACHE=${MSGFLO_CACHE_DIR:-$HOME/.cache/msgflo-runtime}
DIR=$CACHE/msgflo-node-1
PACKAGES="msgflo-nodejs@0.11.1 msgflo@0.12.3 amqplib@0.5.6 mqtt@2.18.8 fbp@1.8.0"
if [ ! -f "$DIR/.installed" ] || [ "$(cat "$DIR/.installed")" != "$PACKAGES" ]; then
	mkdir -p "$DIR"
	(cd "$DIR" && [ -f package.json ] || echo '{"name":"msgflo-runtime-interop","private":true}' > package.json)
	# shellcheck disable=SC2086
	(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error $PACKAGES >&2)
	echo "$PACKAGES" > "$DIR/.installed"
fi
echo "$DIR"
