#!/usr/bin/env bash
# `make run`: a working vault on https://127.0.0.1:8443 with keys and data
# under ./var. Keys are made once; later runs reuse them and the store.
set -euo pipefail
cd "$(dirname "$0")/../.."
VAR=${RSVAULT_VAR:-./var}
BIN=${RSVAULT_BIN:-./bin}
mkdir -p "$VAR"
chmod 700 "$VAR"
if [ ! -e "$VAR/keys/master.key" ]; then
	"$BIN/rsvault-keys" init --dir "$VAR/keys"
fi
echo "rsvault: CA certificate: $VAR/keys/ca.pem"
echo "rsvault: admin token:    $VAR/data/admin.token (made on first start)"
LISTEN=${RSVAULT_LISTEN:-127.0.0.1:8443}
echo "rsvault: try: curl --cacert $VAR/keys/ca.pem https://$LISTEN/v1/health"
exec "$BIN/rsvaultd" --data "$VAR/data" --keys "$VAR/keys" --listen "$LISTEN"
