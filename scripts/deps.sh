#!/usr/bin/env bash
# Install what jobmeter needs to build, test and demo on Debian 12.  Idempotent:
# it only calls apt-get when a package is missing, so a second run costs ~0.1 s.
set -euo pipefail
PKGS=(
  # build
  clang llvm make gcc pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
  protobuf-c-compiler libprotobuf-c-dev libyaml-dev libcurl4-openssl-dev
  libmicrohttpd-dev libsqlite3-dev
  # tests and demo: real services and independent oracles
  sqlite3 postgresql postgresql-contrib mariadb-server mariadb-client prometheus
  bpftrace time jq curl openssl iproute2 util-linux libcap2-bin procps strace python3
  systemd lintian dpkg-dev chromium
)
# Node.js: this image ships node+npm outside apt; Debian's npm would conflict.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# tracefs is where tracepoints live; some minimal hosts do not mount it.
if [ ! -d /sys/kernel/tracing/events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
# npm packages used only by tests (schema validation, OTLP decoding).
if [ -f tests/js/package.json ] && { [ ! -d tests/js/node_modules/kubernetes-models ] ||
   [ ! -d tests/js/node_modules/@opentelemetry/otlp-transformer ]; }; then
  (cd tests/js && npm install --no-audit --no-fund --silent >/dev/null)
fi
exit 0
