#!/usr/bin/env bash
# Runs every test of the workspace on a fresh Debian machine: installs the system tools the tests
# use as oracles (xmlsec1, xmllint, openssl; poppler-utils and zbar-tools read back the PDFs of
# ksef-pdf), the browser of the web app's tests (chromium,
# chromium-driver) and the pinned third-party Python KSeF client; checks the gates (rustfmt,
# clippy and rustdoc without warnings, cargo-deny); runs `cargo test`, then the schema-driven fuzzing of the
# release emulator (tests/fuzz); ends with one `N passed, M failed` line.
# Safe to re-run; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build dependencies (libxml2 for the invoice XSD validation).
scripts/setup.sh

need_apt=()
command -v xmlsec1 >/dev/null 2>&1 || need_apt+=(xmlsec1)
command -v xmllint >/dev/null 2>&1 || need_apt+=(libxml2-utils)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# ksef-pdf's tests (crates/ksef-pdf/tests/oracles.rs): pdftotext, pdfinfo, pdffonts, pdftoppm
# and zbarimg read back the text, pages, fonts and QR codes of the generated PDFs.
for tool in pdftotext pdfinfo pdffonts pdftoppm; do
  command -v "$tool" >/dev/null 2>&1 || { need_apt+=(poppler-utils); break; }
done
command -v zbarimg >/dev/null 2>&1 || need_apt+=(zbar-tools)
# The web app's browser tests (crates/ksef-web/tests/browser*.rs) drive headless Chromium through
# chromedriver (W3C WebDriver).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# The third-party client used by the interoperability test (tests/third_party).
VENV="${KSEF_THIRD_PARTY_VENV:-${CARGO_TARGET_DIR:-target}/third-party-venv}"
if [ -f tests/third_party/requirements.txt ]; then
  if [ ! -x "$VENV/bin/python" ] || ! cmp -s tests/third_party/requirements.txt "$VENV/.requirements"; then
    echo "preparing the third-party client venv in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/third_party/requirements.txt
    cp tests/third_party/requirements.txt "$VENV/.requirements"
  fi
  export KSEF_THIRD_PARTY_PYTHON="$VENV/bin/python"
fi

# Gates: formatting, lints and documentation must be clean before anything is tested.
echo "== gates: cargo fmt --check, clippy -D warnings, cargo doc -D warnings, cargo deny check"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
scripts/deny.sh

# The Rust tests; their per-binary results are summed into the closing line below.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --no-fail-fast: every test binary runs, so the closing line counts them all.
test_rc=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || test_rc=$?
read -r passed failed < <(awk '/^test result: /{
    for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
  } END { print p + 0, f + 0 }' "$log")
# A failure that no test reported (a build error, a crashed test binary) still counts.
if [ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "cargo test failed (exit $test_rc) without a failing test: counted as one failure"
  failed=1
fi

# Schema-driven fuzzing of the release emulator against the official OpenAPI (tests/fuzz).
# KSEF_FUZZ=0 leaves it out (a local shortcut; CI never sets it) and says so.
if [ "${KSEF_FUZZ:-1}" = "0" ]; then
  echo "NOTE: KSEF_FUZZ=0 — the schemathesis run (tests/fuzz/run.sh) was left out"
else
  export KSEF_FUZZ_VENV="${KSEF_FUZZ_VENV:-${CARGO_TARGET_DIR:-target}/fuzz-venv}"
  if tests/fuzz/run.sh --seed 20261207; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
fi
echo "${passed:-0} passed, ${failed:-0} failed"
[ "${failed:-0}" -eq 0 ]
