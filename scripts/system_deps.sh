#!/usr/bin/env bash
# Install the Debian packages the test suite, the demo and the benchmarks need when they are
# missing: chromium (browser tests), CJK fonts (screenshots read in Chinese), ffmpeg (the live
# room's HLS test stream), redis-server (the demo's real-time pushes across its processes, when no
# Redis is configured), wrk (the HTTP benchmarks' load generator). As root it installs directly, otherwise through passwordless sudo; where
# neither is possible it stops before anything runs and prints the one command to run.
set -euo pipefail

PACKAGES=(chromium fonts-noto-cjk ffmpeg redis-server wrk)

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
if ! { command -v fc-list >/dev/null && fc-list :lang=zh | grep -qi noto; }; then
  missing+=(fonts-noto-cjk)
fi
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v redis-server >/dev/null || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
command -v wrk >/dev/null || missing+=(wrk)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "system packages missing: ${missing[*]} — installing ${PACKAGES[*]}" >&2
install=(apt-get install -y --no-install-recommends "${missing[@]}")
update=(apt-get update -qq)
if [[ $(id -u) -eq 0 ]]; then
  runner=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  runner=(sudo -n env DEBIAN_FRONTEND=noninteractive)
else
  echo "cannot install them without root; run once, then retry:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${runner[@]}" "${update[@]}"
"${runner[@]}" "${install[@]}"
