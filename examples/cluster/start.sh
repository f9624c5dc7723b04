#!/usr/bin/env bash
# A three-node Ringleader cluster on one machine: one etcd member and three controllers,
# each in a folder of its own under examples/cluster/run/ with its TLS listener, state
# file and logs. Needs etcd (Debian: apt-get install etcd-server) and openssl.
#
#   bash examples/cluster/start.sh      # start everything, apply jobs.toml, show status
#   bash examples/cluster/stop.sh       # stop the three controllers and etcd
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run="$here/run"
root=$(cd "$here/../.." && pwd)
rl=$(command -v ringleader || echo "$root/.venv/bin/ringleader")
py=$(dirname "$rl")/python
[ -x "$rl" ] || { echo "error: no ringleader (pip install -e . first)" >&2; exit 1; }
command -v etcd >/dev/null || { echo "error: etcd is not installed" >&2; exit 1; }
[ -e "$run/etcd.pid" ] && { echo "error: already running (stop.sh first)" >&2; exit 1; }
mkdir -p "$run" && chmod 700 "$run"

# etcd on loopback ports of its own (not 2379: a system etcd may have it)
etcd --name demo --data-dir "$run/etcd" --listen-client-urls http://127.0.0.1:23790 \
  --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
  --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster demo=http://127.0.0.1:23800 --log-level warn >"$run/etcd.log" 2>&1 &
echo $! >"$run/etcd.pid"
for _ in $(seq 100); do  # healthy within 10 s, or say why not
  "$py" -c 'import urllib.request as u; u.urlopen("http://127.0.0.1:23790/health", timeout=1)' \
    2>/dev/null && break
  if ! kill -0 "$(cat "$run/etcd.pid")" 2>/dev/null; then
    rm -f "$run/etcd.pid"
    echo "error: etcd did not start:" >&2; tail -2 "$run/etcd.log" >&2; exit 1
  fi
  sleep 0.1
done

# a throw-away CA and a certificate for 127.0.0.1, and the console's token
"$py" - "$run" <<'PY'
import os, sys
from ringleader.api.auth import hash_token, new_token
from ringleader.testing import make_test_pki
run = sys.argv[1]
if not os.path.exists(f"{run}/pki/ca.pem"):
    os.makedirs(f"{run}/pki", mode=0o700, exist_ok=True)
    for path in make_test_pki(f"{run}/pki").values():
        os.chmod(path, 0o600)
token = new_token()
with open(f"{run}/token", "w", opener=lambda p, f: os.open(p, f, 0o600)) as f:
    f.write(token)
with open(f"{run}/token.hash", "w") as f:
    f.write(hash_token(token))
PY

zones=(a a b); disks=(ssd hdd ssd)
for i in 1 2 3; do
  node="$run/node$i"; mkdir -p "$node"
  cat >"$node/ringleader.toml" <<TOML
[ringleader.tcp]                 # the API the cluster console reaches (TLS + token)
listen = "127.0.0.1:555$i"
tls_cert = "$run/pki/server.pem"
tls_key = "$run/pki/server.key"

[[ringleader.tokens]]
name = "demo-console"
role = "admin"
hash = "$(cat "$run/token.hash")"

[cluster]
etcd = ["http://127.0.0.1:23790"]
name = "node$i"
labels = { zone = "${zones[i-1]}", disk = "${disks[i-1]}" }
ttl = 10
TOML
  "$rl" up "$node/ringleader.toml" >/dev/null
  echo "node$i up: $node (zone ${zones[i-1]}, disk ${disks[i-1]})"
done

export RINGLEADER_ETCD=http://127.0.0.1:23790 RINGLEADER_TOKEN=$(cat "$run/token")
cluster() { "$rl" cluster "$@" --cafile "$run/pki/ca.pem"; }
cluster apply "$here/jobs.toml"
for _ in $(seq 50); do  # until every job runs as placed (exit 0), at most 10 s
  cluster status >/dev/null 2>&1 && break
  sleep 0.2
done
cluster status || true
cat <<TXT

Try (in this shell: export RINGLEADER_ETCD=$RINGLEADER_ETCD RINGLEADER_TOKEN=\$(cat $run/token)):
  $rl cluster status --cafile $run/pki/ca.pem
  $rl cluster logs web -f --cafile $run/pki/ca.pem
  $rl cluster drain node1 ; $rl cluster undrain node1
  $rl cluster reload web --cafile $run/pki/ca.pem
  kill -9 \$(cat $run/node2/ringleader.pid)     # its share moves within ttl + 2 s
  $rl -c $run/node1/ringleader.toml status       # one node's own view
Stop everything: bash $here/stop.sh
TXT
