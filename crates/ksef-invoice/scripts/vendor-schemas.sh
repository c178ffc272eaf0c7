#!/usr/bin/env bash
# Vendor the official KSeF XSDs verbatim into crates/ksef-invoice/schemas/.
#
# Source: the vendored MF documentation files in spec/ksef-docs at the repository root (override
# with KSEF_DOCS=...).
# The files are copied byte for byte (cp); the URL -> local rewrite of the FA/RR import happens only
# in the copy materialised at run time (src/schema.rs), never here. The test `vendored_schemas`
# checks that the vendored files are still identical to the source.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
crate="$(dirname "$here")"
src="${KSEF_DOCS:-$crate/../../spec/ksef-docs}/faktury"
dst="$crate/schemas"
if [ ! -d "$src/schemy" ]; then
  echo "source not found: $src/schemy" >&2
  exit 1
fi
rm -rf "$dst/FA" "$dst/RR" "$dst/PEF" "$dst/upo-v4-3.xsd"
mkdir -p "$dst"
for d in FA RR PEF; do
  cp -R "$src/schemy/$d" "$dst/$d"
done
cp "$src/upo/schemy/upo-v4-3.xsd" "$dst/upo-v4-3.xsd"
( cd "$dst" && find . -type f -name '*.xsd' | LC_ALL=C sort )
