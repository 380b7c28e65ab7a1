#!/bin/sh
# Runs the project's fbp-spec suites (spec/*.yaml) with the pinned npm
# fbp-spec CLI (the cross-check of the Go runner, `msgflo-runtime test`)
# against the runtime binary given as $1. Fails unless exactly EXPECT
# cases pass (fbp-spec marks each with a check mark), so that a suite file
# or case that silently stops running is noticed.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# Cases in spec/*.yaml: chain 3, json-fixture 2, repeat 8.
EXPECT=13
PORT=${FBP_SPEC_PORT:-3572}
# The pinned fbp-spec 0.8.0 (scripts/npm-fbp-spec.sh).
DIR=$("$ROOT/scripts/npm-fbp-spec.sh")

WORK=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# Start the runtime as fbp-spec's --command would, but keep hold of it: the
# suite must end with the runtime shutting down cleanly. The runtime
# requires a secret: a fresh one per run, passed to fbp-spec.
SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
"$BIN" --port "$PORT" --host localhost --secret "$SECRET" >"$WORK/stdout" 2>"$WORK/stderr" &
pid=$!
tries=0
until grep -q "ready on ws://" "$WORK/stdout"; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "fbp-spec: runtime exited before it was ready:" >&2
		cat "$WORK/stderr" >&2
		exit 1
	fi
	tries=$((tries + 1))
	[ $tries -gt 300 ] && { echo "fbp-spec: runtime not ready after 30 s" >&2; exit 1; }
	sleep 0.1
done
if [ -s "$WORK/stderr" ]; then
	echo "fbp-spec: runtime wrote on stderr while starting (fbp-spec treats that as a failed start):" >&2
	cat "$WORK/stderr" >&2
	exit 1
fi

status=0
# All suites in one run, one graph per suite.
if ! timeout 300 "$DIR/node_modules/.bin/fbp-spec" --address "ws://localhost:$PORT" --secret "$SECRET" "$ROOT/spec" >"$WORK/spec.log" 2>&1; then
	echo "fbp-spec: FAILED" >&2
	status=1
fi
cat "$WORK/spec.log"
passing=$(grep -c ': ✓$' "$WORK/spec.log" || true)
if [ "$passing" -ne "$EXPECT" ]; then
	echo "fbp-spec: FAILED ($passing cases passed; want $EXPECT)" >&2
	status=1
fi

kill -TERM "$pid"
if ! wait "$pid"; then
	echo "fbp-spec: runtime did not exit cleanly on SIGTERM" >&2
	status=1
fi
pid=
if [ $status -ne 0 ]; then
	echo "== runtime log" >&2
	cat "$WORK/stderr" >&2
	exit 1
fi
echo "fbp-spec: all $EXPECT cases pass${MSGFLO_BROKER:+ on ${MSGFLO_BROKER%%://*}}"
