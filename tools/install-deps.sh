#!/usr/bin/env bash
# Installs what gemma4 needs to build and test on Debian 12, from Debian's
# packages only. Idempotent: when everything is present it does nothing, fast.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libfmt-dev nlohmann-json3-dev libxsimd-dev libcli11-dev libsentencepiece-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  tmux                      # the test suite drives `gemma4 chat` in a real terminal
  clang libclang-rt-14-dev  # the test suite fuzzes every parser with libFuzzer + ASan/UBSan
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
