#!/usr/bin/env bash
# Build build/jobmeter_<version>_<arch>.deb from the binaries of `make` with
# dpkg-deb (no debian/ source tree: this is a native binary package).
# Called by `make deb`.
#
# Environment:
#   BUILD           build directory holding bin/ (default: build)
#   DEB_VERSION     package version (default: from git, see below)
#   DEB_MAINTAINER  "Name <email>" for the control file (default: HEAD's author)
#
# Layout comes from scripts/install.sh (DESTDIR=staging, PREFIX=/usr); this
# script adds what makes it a Debian package: stripped binaries, Depends from
# dpkg-shlibdeps, conffiles, maintainer scripts, copyright and changelog.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
PKG=jobmeter
BASE_VERSION=0.1.0
# Default maintainer: the author of the commit being packaged.
MAINTAINER=${DEB_MAINTAINER:-$(git -C "$ROOT" log -1 --format='%an <%ae>' 2>/dev/null || true)}
[ -n "$MAINTAINER" ] || MAINTAINER="jobmeter developers <root@localhost>"
ARCH=$(dpkg --print-architecture)

die() { echo "mkdeb.sh: error: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt-get install dpkg-dev)"
command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps not found (apt-get install dpkg-dev)"

# Version: a tag vX.Y.Z on HEAD gives X.Y.Z; otherwise the next release
# with the commit date and hash, which sorts by time:
# 0.1.0~git20251126.8ca83c9 (< 0.1.0, so the real 0.1.0 upgrades it).
# A dirty tree is marked so such a package is never mistaken for a commit.
git_version() {
  local tag date hash dirty=
  if tag=$(git -C "$ROOT" describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
    echo "${tag#v}"
    return
  fi
  date=$(git -C "$ROOT" log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null) || { echo "$BASE_VERSION"; return; }
  hash=$(git -C "$ROOT" rev-parse --short=7 HEAD)
  git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || dirty=.dirty
  echo "$BASE_VERSION~git$date.$hash$dirty"
}
VERSION=${DEB_VERSION:-$(git_version)}
[[ $VERSION =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "bad version '$VERSION' (native: digits first, no '-')"

WORK=$BUILD/deb
STAGE=$WORK/$PKG
OUT=$BUILD/${PKG}_${VERSION}_${ARCH}.deb
rm -rf "$WORK"
mkdir -p "$STAGE/DEBIAN"

# ---- files (install.sh checks all binaries and deploy/config/agent.yaml exist)
REQUIRE_ALL=1 DESTDIR=$STAGE PREFIX=/usr BUILD=$BUILD "$ROOT/scripts/install.sh" >/dev/null
for b in "$STAGE"/usr/bin/*; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$b"
done

# Manual pages generated from each binary's --help, so they cannot drift
# from the program: daemons in section 8, the report tool in section 1.
man_page() {   # man_page BINARY SECTION SUMMARY
  local b=$1 sec=$2 summary=$3 dir=$STAGE/usr/share/man/man$2 help
  help=$("$STAGE/usr/bin/$b" --help 2>&1) || die "$b --help failed"
  mkdir -p "$dir"
  {
    printf '.TH %s %s "%s" "jobmeter %s" "jobmeter"\n' "$(echo "$b" | tr a-z A-Z)" "$sec" \
      "$(git -C "$ROOT" log -1 --format=%cd --date=short 2>/dev/null || date +%F)" "$VERSION"
    printf '.SH NAME\n%s \\- %s\n' "$b" "$summary"
    printf '.SH DESCRIPTION\nThe text below is the output of\n.B %s \\-\\-help\n.PP\n.nf\n' "$b"
    # Escape backslashes, and lines that would read as requests.
    printf '%s\n' "$help" | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"
    printf '.fi\n.SH FILES\n/etc/jobmeter/agent.yaml, /etc/jobmeter/token, /var/lib/jobmeter, /var/lib/jobmeter-collector\n'
    printf '.SH SEE ALSO\n/usr/share/doc/jobmeter/README.deploy.md\n'
  } | gzip -9n >"$dir/$b.$sec.gz"
  chmod 0644 "$dir/$b.$sec.gz"
}
man_page jobmeter-agent 8 "measure ETL jobs from kernel tracepoints"
man_page jobmeter-collector 8 "store jobmeter agents' batches in SQLite"
man_page jobmeter-report 1 "report per-job cost and SLIs from the collector database"

DOC=$STAGE/usr/share/doc/$PKG
mkdir -p "$DOC"
# Debian changelog of a native package: one entry for this build, dated by
# the commit so the package is reproducible.
date_rfc=$(git -C "$ROOT" log -1 --format=%cd --date=rfc2822 2>/dev/null || date -R)
subject=$(git -C "$ROOT" log -1 --format=%s 2>/dev/null || echo "local build")
{
  echo "$PKG ($VERSION) unstable; urgency=medium"
  echo
  echo "  * Build of $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo 'an unversioned tree')."
  echo "    Last change: ${subject:0:60}"
  echo
  echo " -- $MAINTAINER  $date_rfc"
} | gzip -9n >"$DOC/changelog.gz"

year=$(date -d "$date_rfc" +%Y 2>/dev/null || date +%Y)
if [ -f "$ROOT/LICENSE" ]; then
  license_text=$(sed -e 's/^$/./' -e 's/^/ /' "$ROOT/LICENSE")
  license_name=$(head -n 1 "$ROOT/LICENSE" | sed 's/[[:space:]]*$//')
else
  license_name=not-yet-chosen
  license_text=" The project has not published a license yet; until it does, all rights
 are reserved by the copyright holders.  The eBPF programs declare
 \"Dual BSD/GPL\" to the kernel."
fi
cat >"$DOC/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: jobmeter

Files: *
Copyright: $year jobmeter developers
License: $license_name

License: $license_name
$license_text
EOF
chmod 0644 "$DOC/copyright" "$DOC/changelog.gz"

# ---- Depends from the ELF files' real shared libraries.  dpkg-shlibdeps
# wants to run in a source tree: give it a minimal debian/control.
SHL=$WORK/shlibdeps
mkdir -p "$SHL/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" >"$SHL/debian/control"
shlibs=$(cd "$SHL" && dpkg-shlibdeps -O -e"$STAGE"/usr/bin/jobmeter-agent \
           -e"$STAGE"/usr/bin/jobmeter-collector -e"$STAGE"/usr/bin/jobmeter-report 2>"$WORK/shlibdeps.log" |
         sed -n 's/^shlibs:Depends=//p') || die "dpkg-shlibdeps failed: $(cat "$WORK/shlibdeps.log")"
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no dependencies"

installed_kb=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat >"$STAGE/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $installed_kb
Depends: $shlibs, adduser
Section: admin
Priority: optional
Description: per-job cost and SLIs for ETL jobs, measured with eBPF
 jobmeter-agent attributes CPU, memory, I/O, network and database queries
 to the ETL and analytics jobs running on a host, using kernel tracepoints
 (no kprobes, no code changes to the jobs), and reports per-run cost,
 duration, outcome and data freshness.  jobmeter-collector stores the
 agents' batches in SQLite; jobmeter-report turns them into reports.
 .
 The agent runs as the unprivileged user "jobmeter" with CAP_BPF,
 CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH only; the collector
 runs as "jobmeter-collector" with no capabilities.
EOF

# Everything under /etc is configuration the admin owns.
(cd "$STAGE" && find etc -type f | sort | sed 's|^|/|') >"$STAGE/DEBIAN/conffiles"

cat >"$STAGE/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	# System users first: the token's group and the tmpfiles owners need them.
	for u in jobmeter jobmeter-collector; do
		if ! getent passwd "$u" >/dev/null; then
			adduser --system --group --quiet --no-create-home \
				--home "/var/lib/$u" --shell /usr/sbin/nologin "$u"
		fi
	done
	# The shared agent<->collector token: generated once, never replaced.
	if [ ! -e /etc/jobmeter/token ]; then
		umask 077
		od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >/etc/jobmeter/token.new
		echo >>/etc/jobmeter/token.new
		chown root:jobmeter /etc/jobmeter/token.new
		chmod 0640 /etc/jobmeter/token.new
		mv /etc/jobmeter/token.new /etc/jobmeter/token
	fi
	if command -v systemd-tmpfiles >/dev/null 2>&1; then
		systemd-tmpfiles --create /usr/lib/tmpfiles.d/jobmeter.conf || true
	else
		install -d -o jobmeter -g jobmeter -m 0750 /var/lib/jobmeter /var/lib/jobmeter/spool
		install -d -o jobmeter-collector -g jobmeter-collector -m 0700 /var/lib/jobmeter-collector
	fi
	# Only on hosts booted with systemd (not in chroots or containers without it).
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		echo "jobmeter: enable with 'systemctl enable --now jobmeter-agent' (and jobmeter-collector on the collector host)"
	fi
fi
exit 0
EOF

cat >"$STAGE/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	deb-systemd-invoke stop jobmeter-agent.service jobmeter-collector.service >/dev/null || true
fi
exit 0
EOF

cat >"$STAGE/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	# Generated by postinst (not a conffile) and the agents' state.  The
	# collector database is kept: deleting measurements needs a human.
	rm -f /etc/jobmeter/token
	rmdir /etc/jobmeter 2>/dev/null || true
	rm -rf /var/lib/jobmeter
	# System users stay (Debian policy: their uids may own files elsewhere).
fi
exit 0
EOF
chmod 0755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/prerm" "$STAGE/DEBIAN/postrm"
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/conffiles"

(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
   xargs -d '\n' md5sum) >"$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums"

# Reproducible: normalised owner, permissions and timestamps.
find "$STAGE" -type d -exec chmod 0755 {} +
ts=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)
find "$STAGE" -exec touch -h -d "@$ts" {} +
SOURCE_DATE_EPOCH=$ts dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$OUT" >/dev/null
echo "$OUT"
