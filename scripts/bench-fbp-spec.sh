#!/bin/sh
# Times spec/*.yaml run by the Go runner (msgflo-runtime test, which starts
# the runtime) and by the pinned npm fbp-spec CLI (given the same runtime to
# start with --command): a figure, never pass/fail.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
DIR=$("$ROOT/scripts/npm-fbp-spec.sh")
PORT=${FBP_SPEC_PORT:-3572}
SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
now() { date +%s.%N; }
WORK=$(mktemp -d)
# fbp-spec 0.8.0 never stops the runtime its --command started (cli.js keeps
# no handle on it): the command notes its pid, and it is stopped here.
cleanup() {
	[ -s "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
t0=$(now)
MSGFLO_BROKER= "$BIN" test "$ROOT/spec/" >/dev/null
t1=$(now)
MSGFLO_BROKER= "$DIR/node_modules/.bin/fbp-spec" --command "echo \$\$ > $WORK/pid; exec $BIN --port $PORT --host localhost --secret $SECRET" \
	--address "ws://localhost:$PORT" --secret "$SECRET" "$ROOT/spec/" >/dev/null
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	printf "fbp-spec suites (spec/, runtime start included): msgflo-runtime test %.2f s, npm fbp-spec 0.8.0 %.2f s (%.1fx)\n", b - a, c - b, (c - b) / (b - a)
}'
