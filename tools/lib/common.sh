# SPDX-License-Identifier: MIT
# Shared by tools/run, tools/test and tools/bench: the packages Pigeon needs
# and installing the missing ones with apt (Debian 12, as root).

PIGEON_PACKAGES=(
  # build
  gcc meson ninja-build pkg-config
  libnng-dev libprotobuf-c-dev protobuf-c-compiler libhiredis-dev
  libmicrohttpd-dev libjansson-dev libcmocka-dev
  # identity: usernames (PRECIS, UTS #39 confusables) and passwords, tokens
  libicu-dev libsodium-dev
  # run
  redis-server
  # test and measure
  curl nng-utils python3 valgrind wrk gnuplot-nox clang libclang-rt-14-dev
  # the learning spam filter's yardstick (tools/spam-eval)
  bogofilter
  # systemd-analyze, for the install suite's check of the units
  systemd
  # promtool, which checks the Prometheus text of both /metrics endpoints
  prometheus
)

pigeon_missing_packages() {
  local p missing=()
  for p in "${PIGEON_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$p")
    fi
  done
  echo "${missing[@]}"
}

pigeon_ensure_packages() {
  local missing
  missing=$(pigeon_missing_packages)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing packages: $missing" >&2
    echo "Install them with: sudo apt-get install -y $missing" >&2
    return 1
  fi
  echo "Installing: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
}

# Waits until a command succeeds, up to $1 seconds.
pigeon_wait_for() {
  local seconds=$1; shift
  local end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$end" ]; then
      return 1
    fi
    sleep 0.1
  done
}
