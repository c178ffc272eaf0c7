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
#   KSEF_FUZZ_REPORT_DIR  where the JUnit reports and the emulator's log are kept
#                   (default: $CARGO_TARGET_DIR/fuzz-report or target/fuzz-report)
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

# The run's secrets (the data dir with the emulator's keys, the access token) live in a private
# temp dir removed at exit; its reports and the emulator's log are kept in $REPORT_DIR.
REPORT_DIR=${KSEF_FUZZ_REPORT_DIR:-$target/fuzz-report}
rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"
server_pid=""
run_dir=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [[ -n "$run_dir" ]] && rm -rf "$run_dir"
}
trap cleanup EXIT
run_dir=$(mktemp -d /tmp/ksef-fuzz.XXXXXX)
chmod 700 "$run_dir"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== starting $KSEF_BIN emulator --port $PORT (log: $REPORT_DIR/server.log)"
# An access token that outlives any run: a long run must not degrade into 401s.
"$KSEF_BIN" emulator --port "$PORT" --data "$run_dir/data" --access-token-secs 86400 \
  >"$REPORT_DIR/server.log" 2>&1 &
server_pid=$!

base="http://127.0.0.1:$PORT/v2"
up=""
for _ in $(seq 1 300); do
  if "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/security/public-key-certificates', timeout=1)" "$base" 2>/dev/null; then
    up=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { echo "the emulator exited:" >&2; cat "$REPORT_DIR/server.log" >&2; exit 1; }
  sleep 0.1
done
if [[ -z "$up" ]]; then
  echo "the emulator did not answer on $base within 30 s; its log: $REPORT_DIR/server.log" >&2
  exit 1
fi

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
fuzz --exclude-path-regex "$limits" --report junit --report-dir "$REPORT_DIR/pass1" "$@"
status1=$?
echo "== pass 2: the rate-limit test-data operations"
fuzz --include-path-regex "$limits" --report junit --report-dir "$REPORT_DIR/pass2" "$@"
status2=$?
set -e
status=$(( status1 != 0 ? status1 : status2 ))
# The token must have been accepted: an owner's run answers far more than 401s (the emulator
# logs one line per request: method, path, status; never headers or bodies).
total=$(grep -c 'ksef_emulator::request: request ' "$REPORT_DIR/server.log" || true)
unauthorized=$(grep -c 'ksef_emulator::request: request .* status=401 ' "$REPORT_DIR/server.log" || true)
echo "== emulator answered $total requests, $unauthorized of them 401; reports in $REPORT_DIR"
if [[ "$total" -eq 0 || $(( unauthorized * 2 )) -gt "$total" ]]; then
  echo "most requests were refused as unauthorized: the run did not test the API behind the login" >&2
  status=1
fi
if [[ "$status" -ne 0 ]]; then
  echo "== last lines of the emulator log:" >&2
  tail -n 40 "$REPORT_DIR/server.log" >&2
fi
exit $status
