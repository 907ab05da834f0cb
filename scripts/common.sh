# Shared by demo.sh and test.sh: install missing Debian packages, configure, build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${STIMRANK_BUILD_DIR:-$ROOT/build}"
PYTHON=/usr/bin/python3
JOBS="$(nproc 2>/dev/null || echo 2)"

# What the demo needs (the command line and its libraries), then what the tests add.
DEMO_PACKAGES=(g++ cmake make pkg-config libboost1.81-dev nlohmann-json3-dev libssl-dev
               libsqlite3-dev libsimdjson-dev libcpp-httplib-dev)
PACKAGES=("${DEMO_PACKAGES[@]}" clang libclang-rt-14-dev openssl chromium libbenchmark-dev locales
          catch2 pybind11-dev python3-pybind11 python3-dev python3-pytest
          python3-pip python3-venv python3-setuptools python3-pandas python3-matplotlib
          python3-nbclient python3-nbformat python3-ipykernel python3-dask python3-distributed
          bash-completion man-db)

# install_packages [demo]: the demo's packages, or everything the tests need.
install_packages() {
  local wanted=("${PACKAGES[@]}")
  if [ "${1:-}" = "demo" ]; then wanted=("${DEMO_PACKAGES[@]}"); fi
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  echo "== installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build DIR [cmake args...]
configure_and_build() {
  local dir="$1"; shift
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}
