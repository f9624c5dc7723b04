#!/usr/bin/env bash
# Stop the demo of start.sh: each controller (gracefully: `quit`), then etcd; keeps run/
# (its logs) until the next start. `rm -rf examples/cluster/run` to forget everything.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run="$here/run"
root=$(cd "$here/../.." && pwd)
rl=$(command -v ringleader || echo "$root/.venv/bin/ringleader")
for i in 1 2 3; do  # the controllers still running (one may have been SIGKILLed)
  pid=$(cat "$run/node$i/ringleader.pid" 2>/dev/null) || continue
  kill -0 "$pid" 2>/dev/null && "$rl" -c "$run/node$i/ringleader.toml" quit
done
if [ -e "$run/etcd.pid" ]; then
  kill "$(cat "$run/etcd.pid")" 2>/dev/null && echo "etcd stopped"
  rm -f "$run/etcd.pid"
fi
