#!/usr/bin/env bash
# Schema-driven fuzzing of the emulator with schemathesis against the official open-api.json
# (vendored in spec/): positive and negative (invalid) data for every one of the 78 operations, checks
# not_a_server_error, status_code_conformance (but for 415 without a Content-Type: hooks.py),
# content_type_conformance and response_schema_conformance. Exit code 0 only when no check
# failed in either pass.
#
#   tests/fuzz/run.sh                  # builds the release `ksef`, starts `ksef emulator` on a free
#                                      # port with a temp data dir, logs in, fuzzes, stops it
#   tests/fuzz/run.sh --max-examples 50 --seed 1     # extra schemathesis options
#
# Environment:
#   KSEF_BIN        the `ksef` binary (default: `cargo build --release -p ksef-cli` and use it)
#   KSEF_FUZZ_VENV  virtualenv for schemathesis + the pinned third-party client (which logs in);
#                   default: $CARGO_TARGET_DIR/fuzz-venv or target/fuzz-venv; (re)created from
#                   requirements.txt when missing or changed
#   PYTHON          interpreter used to create the venv (default: python3; needs >= 3.10)
#   MAX_EXAMPLES    test cases per operation and phase (default: 50)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
VENV=${KSEF_FUZZ_VENV:-$target/fuzz-venv}
PYTHON=${PYTHON:-python3}
MAX_EXAMPLES=${MAX_EXAMPLES:-50}

if [[ -z "${KSEF_BIN:-}" ]]; then
  echo "== building the release emulator (cargo build --release -p ksef-cli)"
  (cd "$root" && cargo build --release --locked -p ksef-cli)
  KSEF_BIN=$target/release/ksef
fi

stamp="$VENV/.requirements.sha256"
want=$(cat "$here/requirements.txt" "$root/tests/third_party/requirements.txt" | sha256sum | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "== creating $VENV from tests/fuzz/requirements.txt"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi
PY="$VENV/bin/python"

run_dir=$(mktemp -d /tmp/ksef-fuzz.XXXXXX)
chmod 700 "$run_dir"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== starting $KSEF_BIN emulator --port $PORT --data $run_dir/data"
"$KSEF_BIN" emulator --port "$PORT" --data "$run_dir/data" >"$run_dir/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$run_dir"' EXIT

base="http://127.0.0.1:$PORT/v2"
for _ in $(seq 1 300); do
  if "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/security/public-key-certificates', timeout=1)" "$base" 2>/dev/null; then
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$run_dir/server.log" >&2; exit 1; }
  sleep 0.1
done

nip=$("$PY" "$here/login.py" "$base" "$run_dir/token")
echo "== logged in as the owner of NIP $nip (XAdES, through the third-party client)"
KSEF_FUZZ_TOKEN=$(cat "$run_dir/token")
export KSEF_FUZZ_TOKEN

# The checks: schemathesis' own, with status_code_conformance exempting only 415 for a request
# without a Content-Type (hooks.py explains why).
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
checks=not_a_server_error,status_code_conformance_ksef,content_type_conformance,response_schema_conformance
fuzz() {
  "$VENV/bin/schemathesis" --config-file "$here/schemathesis.toml" run \
    "$root/spec/ksef-docs/open-api.json" \
    --url "$base" \
    --mode all \
    --phases examples,coverage,fuzzing \
    --checks "$checks" \
    --max-examples "$MAX_EXAMPLES" \
    --workers 1 \
    --generation-database none \
    --no-color \
    "$@"
}
# Pass 1: every operation but the three that set the context's rate limits on (they would
# turn the rest of the run into 429s). Pass 2: those three, last.
limits='^/testdata/rate-limits'
echo "== schemathesis $("$VENV/bin/schemathesis" --version | awk '{print $NF}') against $base (pass 1: all but the rate-limit test data)"
set +e
fuzz --exclude-path-regex "$limits" --report junit --report-dir "$run_dir/report1" "$@"
status1=$?
echo "== pass 2: the rate-limit test-data operations"
fuzz --include-path-regex "$limits" --report junit --report-dir "$run_dir/report2" "$@"
status2=$?
set -e
status=$(( status1 != 0 ? status1 : status2 ))
exit $status
