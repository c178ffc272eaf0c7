#!/usr/bin/env bash
# Runs `cargo deny check` (advisories, licences, duplicate versions, sources; policy in
# deny.toml) offline, against the RustSec advisory database snapshot vendored in deny/.
# Installs the pinned cargo-deny once into $KSEF_TOOLS_DIR (default: $CARGO_TARGET_DIR/tools).
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_VERSION=0.20.2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
TOOLS="${KSEF_TOOLS_DIR:-$CARGO_TARGET_DIR/tools}"
DENY="$TOOLS/bin/cargo-deny"
if [ ! -x "$DENY" ] || ! "$DENY" --version 2>/dev/null | grep -q " $DENY_VERSION\$"; then
  echo "installing cargo-deny $DENY_VERSION into $TOOLS"
  cargo install --locked --quiet --no-default-features --root "$TOOLS" "cargo-deny@$DENY_VERSION"
fi

# The advisory database: unpacked from the vendored snapshot into the directory name cargo-deny
# derives from the database URL in deny.toml, as a one-commit git repository dated like the
# snapshot (cargo-deny reads that date). Re-unpacked whenever the snapshot changes.
DB_ROOT="$CARGO_TARGET_DIR/advisory-dbs"
DB="$DB_ROOT/advisory-db-3157b0e258782691"
SNAPSHOT=deny/advisory-db.tar.gz
# The snapshot is vendored unchanged: its hash must match the recorded one.
sha256sum --quiet -c deny/SHA256SUMS
SNAPSHOT_DATE=$(sed -n 's/^Snapshot date: *//p' deny/README.md)
SUM=$(sha256sum "$SNAPSHOT" | cut -d' ' -f1)
if [ ! -f "$DB/.snapshot-sha256" ] || [ "$(cat "$DB/.snapshot-sha256")" != "$SUM" ]; then
  rm -rf "$DB"
  mkdir -p "$DB"
  tar -xzf "$SNAPSHOT" -C "$DB" --strip-components=1
  git -C "$DB" init -q
  git -C "$DB" add -A
  GIT_AUTHOR_DATE="$SNAPSHOT_DATE" GIT_COMMITTER_DATE="$SNAPSHOT_DATE" \
    git -C "$DB" -c user.name=ksef-ci -c user.email=ksef-ci@localhost commit -q -m "RustSec advisory-db snapshot"
  echo "$SUM" > "$DB/.snapshot-sha256"
fi

# cargo-deny reads `cargo metadata` for every target platform; fetch those sources first (the
# registry is reachable), then check without any other network access.
cargo fetch --locked --quiet
"$DENY" --offline --locked check
