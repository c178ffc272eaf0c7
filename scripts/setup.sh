#!/usr/bin/env bash
# Installs the Debian packages the BUILD needs (nothing else): the XSD validation of invoices
# (crates/ksef-invoice) links the system libxml2 through the `libxml` crate, whose build script
# runs bindgen (libclang) and pkg-config. Safe to re-run; installs only what is missing.
set -euo pipefail
need_apt=()
dpkg -s libxml2-dev >/dev/null 2>&1 || need_apt+=(libxml2-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages needed to build: ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi
