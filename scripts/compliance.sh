#!/bin/sh
# Runs the official FBP protocol compliance suite (npm fbp-protocol, pinned)
# against the runtime binary given as $1, on the broker given by
# MSGFLO_BROKER (empty: the embedded one). Fails unless all tests pass.
set -eu
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
VERSION=0.9.8
EXPECT=22
PORT=${COMPLIANCE_PORT:-3571}
CACHE=${MSGFLO_CACHE_DIR:-$HOME/.cache/msgflo-runtime}
DIR=$CACHE/fbp-protocol-$VERSION

if [ ! -x "$DIR/node_modules/.bin/fbp-test" ] || [ ! -x "$DIR/node_modules/.bin/_mocha" ]; then
	echo "compliance: installing fbp-protocol@$VERSION into $DIR"
	mkdir -p "$DIR"
	(cd "$DIR" && [ -f package.json ] || echo '{"name":"msgflo-runtime-compliance","private":true}' > package.json)
	(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error "fbp-protocol@$VERSION" >/dev/null)
fi

# The runtime requires a secret: a fresh one per run, which fbp-test sends
# with every message (FBP_PROTOCOL_SECRET).
FBP_PROTOCOL_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export FBP_PROTOCOL_SECRET

# fbp-test reads fbp-config.json from its working directory, as fbp-init
# writes it, and runs mocha from ./node_modules there.
cat > "$DIR/fbp-config.json" <<JSON
{
  "name": "msgflo",
  "command": "exec '$BIN' --port $PORT --host localhost --secret $FBP_PROTOCOL_SECRET",
  "host": "localhost",
  "port": $PORT,
  "collection": "core",
  "version": "0.8"
}
JSON

LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
set +e
(cd "$DIR" && ./node_modules/.bin/fbp-test) >"$LOG" 2>&1
rc=$?
set -e
cat "$LOG"
passing=$(sed -n 's/^ *\([0-9][0-9]*\) passing.*/\1/p' "$LOG" | tail -1)
failing=$(sed -n 's/^ *\([0-9][0-9]*\) failing.*/\1/p' "$LOG" | tail -1)
if [ "$rc" -ne 0 ] || [ "${passing:-0}" -ne "$EXPECT" ] || [ -n "$failing" ]; then
	echo "compliance: FAILED (exit $rc, ${passing:-0} passing, ${failing:-0} failing; want $EXPECT passing)" >&2
	exit 1
fi
echo "compliance: all $EXPECT tests pass${MSGFLO_BROKER:+ on ${MSGFLO_BROKER%%://*}}"
