#!/usr/bin/env bash
# `make bench`: measurements against a reference, same machine, same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
d=$(mktemp -d "${TMPDIR:-/tmp}/rsvault-bench.XXXXXX")
trap 'rm -rf "$d"' EXIT
echo "== store: group commit vs one commit per write (16000 writes each)"
build/release/tests/bench_store "$d"
