#!/usr/bin/env bash
# `make run`: a working vault on https://127.0.0.1:8443 with keys and data
# under ./var. Keys are made once; later runs reuse them and the store.
# As root, rsvaultd reads the keys as root and then switches to an
# unprivileged account ($RSVAULT_USER, default nobody), which must own
# var/data and be able to reach it: var is then 0711 (searchable, not
# listable), var/keys stays root's and 0700.
set -euo pipefail
cd "$(dirname "$0")/../.."
VAR=${RSVAULT_VAR:-./var}
BIN=${RSVAULT_BIN:-./bin}
mkdir -p "$VAR"
chmod 700 "$VAR"
if [ ! -e "$VAR/keys/master.key" ]; then
	"$BIN/rsvault-keys" init --dir "$VAR/keys"
fi
AS=()
if [ "$(id -u)" -eq 0 ]; then
	RUN_USER=${RSVAULT_USER:-nobody}
	RUN_GROUP=$(id -gn "$RUN_USER")
	chmod 711 "$VAR"
	if [ -d "$VAR/data" ] && [ "$(stat -c %U "$VAR/data")" != "$RUN_USER" ]; then
		# A store made by an earlier version that ran as root.
		echo "rsvault: giving $VAR/data to $RUN_USER (the server no longer runs as root)"
		chown -R "$RUN_USER:$RUN_GROUP" "$VAR/data"
	fi
	install -d -m 700 -o "$RUN_USER" -g "$RUN_GROUP" "$VAR/data"
	AS=(--user "$RUN_USER")
	echo "rsvault: running as root: the server switches to $RUN_USER after reading its keys"
fi
echo "rsvault: CA certificate: $VAR/keys/ca.pem"
echo "rsvault: admin token:    $VAR/data/admin.token (made on first start)"
LISTEN=${RSVAULT_LISTEN:-127.0.0.1:8443}
echo "rsvault: try: curl --cacert $VAR/keys/ca.pem https://$LISTEN/v1/health"
exec "$BIN/rsvaultd" --data "$VAR/data" --keys "$VAR/keys" --listen "$LISTEN" "${AS[@]}"
