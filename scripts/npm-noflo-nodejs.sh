#!/bin/sh
# Installs noflo-nodejs with noflo-core (pinned by
# spec/testdata/npm/noflo-nodejs's package-lock.json) into the cache and
# prints the folder: the other FBP runtime spec's differential test runs
# suites against (it finds it in MSGFLO_NOFLO_NODEJS_DIR).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec "$ROOT/scripts/npm-pinned.sh" "$ROOT/spec/testdata/npm/noflo-nodejs" noflo-nodejs-0.15.3-1
