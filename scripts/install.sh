#!/usr/bin/env bash
# Install jobmeter's binaries, systemd units, users/dirs snippets and the
# example agent configuration.  Called by `make install`; also used by
# scripts/mkdeb.sh to lay out the package tree.
#
# Environment:
#   DESTDIR   staging root (default: empty = this machine)
#   PREFIX    binaries go to $PREFIX/bin, snippets to $PREFIX/lib (default /usr)
#   BUILD     build directory holding bin/ (default: build)
#   UNITDIR   systemd system unit directory (default /lib/systemd/system)
#   DOCDIR    documentation directory (default $PREFIX/share/doc/jobmeter)
#   REQUIRE_ALL=1  fail unless the collector and report are built too
#
# Existing configuration is never overwritten: a changed example is installed
# next to it as *.dist and the difference is reported.  With an empty DESTDIR
# and root privileges the script also creates the users and directories
# (systemd-sysusers/systemd-tmpfiles, or adduser) and reloads systemd.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
BUILD=${BUILD:-build}
UNITDIR=${UNITDIR:-/lib/systemd/system}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/jobmeter}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
BINS=(jobmeter-agent jobmeter-collector jobmeter-report)
UNITS=(jobmeter-agent.service jobmeter-collector.service)

die() { echo "install.sh: error: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

case $PREFIX in
  /*) ;;
  *) die "PREFIX must be an absolute path (got '$PREFIX')" ;;
esac

# ---- check every input first, so a failed install leaves nothing half-done.
# The agent is the product; the collector and report are built only when
# their sources exist (see the Makefile), so they are installed when present
# (REQUIRE_ALL=1, as scripts/mkdeb.sh sets, makes them mandatory too).
[ -x "$BUILD/bin/jobmeter-agent" ] || die "$BUILD/bin/jobmeter-agent is missing: run 'make' first"
present=()
for b in "${BINS[@]}"; do
  if [ -x "$BUILD/bin/$b" ]; then
    present+=("$b")
  elif [ "${REQUIRE_ALL:-0}" = 1 ]; then
    die "$BUILD/bin/$b is missing: run 'make' first"
  else
    say "warning: $BUILD/bin/$b not built; not installing it"
  fi
done
BINS=("${present[@]}")
units=()
for u in "${UNITS[@]}"; do
  [ -f "$ROOT/deploy/systemd/$u" ] || die "deploy/systemd/$u is missing"
  # A unit is useless without its binary.
  [ -x "$BUILD/bin/${u%.service}" ] && units+=("$u")
done
UNITS=("${units[@]}")
[ -f "$ROOT/deploy/config/agent.yaml" ] ||
  die "deploy/config/agent.yaml is missing: the example agent configuration must exist before installing"

# install_conf SRC DEST MODE: configuration the admin may have edited.
install_conf() {
  local src=$1 dst=$DESTDIR$2 mode=$3
  if [ -e "$dst" ] && ! cmp -s "$src" "$dst"; then
    install -D -m "$mode" "$src" "$dst.dist"
    say "kept existing $2; the new example is $2.dist"
  else
    install -D -m "$mode" "$src" "$dst"
  fi
}

# ---- binaries
for b in "${BINS[@]}"; do
  install -D -m 0755 "$BUILD/bin/$b" "$DESTDIR$PREFIX/bin/$b"
done

# ---- systemd units: the repository's units name /usr/bin; follow PREFIX.
install -d -m 0755 "$DESTDIR$UNITDIR"
for u in "${UNITS[@]}"; do
  sed -e "s|/usr/bin/jobmeter-|$PREFIX/bin/jobmeter-|g" "$ROOT/deploy/systemd/$u" \
    > "$DESTDIR$UNITDIR/$u.tmp"
  chmod 0644 "$DESTDIR$UNITDIR/$u.tmp"
  mv -f "$DESTDIR$UNITDIR/$u.tmp" "$DESTDIR$UNITDIR/$u"
done

# ---- users and directories (read from $PREFIX/lib by systemd for /usr and /usr/local)
install -D -m 0644 "$ROOT/deploy/systemd/jobmeter.sysusers" "$DESTDIR$PREFIX/lib/sysusers.d/jobmeter.conf"
install -D -m 0644 "$ROOT/deploy/systemd/jobmeter.tmpfiles" "$DESTDIR$PREFIX/lib/tmpfiles.d/jobmeter.conf"

# ---- configuration
install -d -m 0755 "$DESTDIR/etc/jobmeter"
install_conf "$ROOT/deploy/config/agent.yaml" /etc/jobmeter/agent.yaml 0644
install_conf "$ROOT/deploy/systemd/jobmeter-collector.default" /etc/default/jobmeter-collector 0644

# ---- documentation
install -D -m 0644 "$ROOT/deploy/README.md" "$DESTDIR$DOCDIR/README.deploy.md"
[ -f "$ROOT/README.md" ] && install -D -m 0644 "$ROOT/README.md" "$DESTDIR$DOCDIR/README.md"

say "installed into ${DESTDIR:-/} (PREFIX=$PREFIX)"

# ---- live system only: users, directories, systemd
if [ -n "$DESTDIR" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  say "not root: create the users and directories yourself (see $DOCDIR/README.deploy.md)"
  exit 0
fi
if command -v systemd-sysusers >/dev/null; then
  systemd-sysusers "$PREFIX/lib/sysusers.d/jobmeter.conf"
else
  for u in jobmeter jobmeter-collector; do
    getent passwd "$u" >/dev/null ||
      adduser --system --group --no-create-home --home "/var/lib/$u" --shell /usr/sbin/nologin "$u"
  done
fi
if command -v systemd-tmpfiles >/dev/null; then
  systemd-tmpfiles --create "$PREFIX/lib/tmpfiles.d/jobmeter.conf"
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
if [ ! -e /etc/jobmeter/token ]; then
  say "no /etc/jobmeter/token yet: the collector will not start without it (see README.deploy.md)"
fi
