#!/usr/bin/env bash
# Runs the third-party client acceptance scenario against a freshly started emulator.
#
#   tests/third_party/run.sh [scenario.py options...]      e.g.  --subject seal --key ec
#
# Environment:
#   KSEF_BIN  emulator binary (default: <repo>/target/debug/ksef; build it first with
#             `cargo build -p ksef-cli`). KSEF_BIN=stub runs stub_server.py instead, which only
#             self-tests scenario.py and says nothing about the emulator.
#   VENV      virtualenv for the pinned client (default: /tmp/ksef-third-party-venv; created and
#             filled from requirements.txt when missing or when requirements.txt changed)
#   PYTHON    interpreter used to create the venv (default: python3; needs >= 3.10)
#   PORT      port to use (default: a free one)
# Exit code: the scenario's (0 only if every step passed). Its last line is `N passed, M failed`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
VENV=${VENV:-/tmp/ksef-third-party-venv}
PYTHON=${PYTHON:-python3}
KSEF_BIN=${KSEF_BIN:-$root/target/debug/ksef}

stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "== creating $VENV from requirements.txt"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi
PY="$VENV/bin/python"

PORT=${PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
run_dir=$(mktemp -d /tmp/ksef-third-party-run.XXXXXX)
mkdir -p "$run_dir/data" "$run_dir/work"
log="$run_dir/server.log"

if [[ "$KSEF_BIN" == stub ]]; then
  echo "== starting stub_server.py (self-test of scenario.py only) on port $PORT"
  "$PY" "$here/stub_server.py" --port "$PORT" --log "$run_dir/requests.jsonl" >"$log" 2>&1 &
else
  if [[ ! -x "$KSEF_BIN" ]]; then
    echo "emulator binary $KSEF_BIN not found; run 'cargo build -p ksef-cli' first" >&2
    exit 2
  fi
  echo "== starting $KSEF_BIN emulator --port $PORT --data $run_dir/data"
  "$KSEF_BIN" emulator --port "$PORT" --data "$run_dir/data" >"$log" 2>&1 &
fi
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

base="http://127.0.0.1:$PORT/v2"
# Wait (max 30 s) until the server answers anything on the public-key endpoint.
if ! "$PY" - "$base" <<'EOF'
import sys, time, urllib.request, urllib.error
url = sys.argv[1] + "/security/public-key-certificates"
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # it answers; the scenario will judge the answer
    except OSError:
        time.sleep(0.2)
sys.exit(1)
EOF
then
  echo "server did not start listening on $base within 30 s; its log:" >&2
  tail -n 50 "$log" >&2
  exit 2
fi

set +e
"$PY" "$here/scenario.py" --base-url "$base" --workdir "$run_dir/work" "$@"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  echo "== last 40 lines of the server log ($log):"
  tail -n 40 "$log"
fi
exit $rc
