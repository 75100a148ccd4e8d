#!/usr/bin/env bash
# `make bench`: measurements against a reference, same machine, same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
d=$(mktemp -d "${TMPDIR:-/tmp}/rsvault-bench.XXXXXX")
trap 'rm -rf "$d"' EXIT
echo "== store: group commit vs one commit per write (16000 writes each)"
build/release/tests/bench_store "$d"
echo
echo "== HTTPS end to end: audited requests vs GET /v1/health (${BENCH_SECONDS:-5} s each)"
RSVAULT_BIN=$PWD/bin python3 tests/bench/bench_http.py
