#!/usr/bin/env bash
# `make deb`: the package builds, lintian reports no error, it installs on
# this machine (users, token, directories, units that verify against the
# installed binaries), the binaries run, a reinstall keeps the token, and a
# purge removes it all again.  Users the test created are deleted at the end.
source "$(dirname "$0")/../lib.sh"

BINS=(jobmeter-agent jobmeter-collector jobmeter-report)
created_users=()
installed=0

deb_cleanup() {
  if [ "$installed" = 1 ]; then
    dpkg --purge jobmeter >"$T/purge-cleanup.log" 2>&1 || true
  fi
  for u in "${created_users[@]}"; do
    userdel "$u" 2>/dev/null || true
    getent group "$u" >/dev/null && groupdel "$u" 2>/dev/null || true
    rmdir "/var/lib/$u" 2>/dev/null || true   # the collector's (empty) dir outlives a purge
  done
}
trap 'deb_cleanup; cleanup' EXIT

# Never overwrite binaries that some other install put in /usr/bin.
for b in "${BINS[@]}"; do
  if [ -e "/usr/bin/$b" ] && ! dpkg -S "/usr/bin/$b" >/dev/null 2>&1; then
    fail "deb: /usr/bin/$b" "exists and belongs to no package (a 'make install'?); refusing to overwrite it"
    exit 1
  fi
done
for u in jobmeter jobmeter-collector; do
  getent passwd "$u" >/dev/null || created_users+=("$u")
done

# ---------------------------------------------------------------- build
if make -s -C "$ROOT" deb >"$T/make-deb.log" 2>&1; then
  deb=$(grep -E '/jobmeter_[^/]*\.deb$' "$T/make-deb.log" | tail -n 1)
else
  deb=
fi
arch=$(dpkg --print-architecture)
if [ -n "$deb" ] && [ -f "$deb" ] && [[ $(basename "$deb") =~ ^jobmeter_[0-9][A-Za-z0-9.+~]*_${arch}\.deb$ ]] &&
   [ "$(dirname "$deb")" = "$ROOT/build" ]; then
  pass "make deb: build/$(basename "$deb")"
else
  fail "make deb" "no build/jobmeter_<version>_$arch.deb: $(tail -n 5 "$T/make-deb.log" | tr '\n' ' ')"
  exit 1
fi
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
# Depends comes from the binaries' real libraries, not a hand-written list.
for lib in libc6 libbpf libcurl libsqlite3 libmicrohttpd adduser; do
  [[ $depends == *"$lib"* ]] || fail "deb: Depends has $lib" "Depends: $depends"
done
[[ $depends == *libbpf* && $depends == *libc6* ]] && pass "deb: Depends from dpkg-shlibdeps ($depends)"
check_eq "deb: conffiles" "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | tr '\n' ' ')" \
  "/etc/default/jobmeter-collector /etc/jobmeter/agent.yaml "
files=$(dpkg-deb -c "$deb" | awk '{print $NF}')
missing=
for f in ./usr/bin/jobmeter-agent ./usr/bin/jobmeter-collector ./usr/bin/jobmeter-report \
         ./lib/systemd/system/jobmeter-agent.service ./lib/systemd/system/jobmeter-collector.service \
         ./usr/lib/sysusers.d/jobmeter.conf ./usr/lib/tmpfiles.d/jobmeter.conf \
         ./usr/share/doc/jobmeter/copyright ./usr/share/doc/jobmeter/changelog.gz \
         ./etc/jobmeter/agent.yaml ./usr/share/man/man8/jobmeter-agent.8.gz \
         ./usr/share/man/man8/jobmeter-collector.8.gz ./usr/share/man/man1/jobmeter-report.1.gz; do
  grep -qx "$f" <<<"$files" || missing+="$f "
done
check_eq "deb: contents" "$missing" ""
owners=$(dpkg-deb -c "$deb" | awk '{print $2}' | sort -u | tr '\n' ' ')
check_eq "deb: every file owned by root" "$owners" "root/root "

# ---------------------------------------------------------------- lintian
if command -v lintian >/dev/null; then
  lintian --no-tag-display-limit "$deb" >"$T/lintian.log" 2>/dev/null
  errs=$(grep -c '^E: ' "$T/lintian.log")
  warns=$(grep '^W: ' "$T/lintian.log" | sed -E 's/^W: [^:]+: ([^ ]+).*/\1/' | sort | uniq -c | awk '{printf "%s(%s) ", $2, $1}')
  if [ "$errs" -eq 0 ]; then
    pass "lintian: no errors (warnings: ${warns:-none})"
  else
    fail "lintian" "$errs error(s): $(grep '^E: ' "$T/lintian.log" | head -n 5 | tr '\n' ' ')"
  fi
else
  fail "lintian" "not installed (scripts/deps.sh installs it)"
fi

# ---------------------------------------------------------------- install
if dpkg -i "$deb" >"$T/dpkg-i.log" 2>&1; then
  installed=1
  pass "dpkg -i jobmeter $version"
else
  installed=1   # half-installed: still purge at exit
  fail "dpkg -i" "$(tail -n 5 "$T/dpkg-i.log" | tr '\n' ' ')"
  exit 1
fi
check_eq "dpkg: status" "$(dpkg-query -W -f='${Status} ${Version}' jobmeter)" "install ok installed $version"
for u in jobmeter jobmeter-collector; do
  check_eq "postinst: system user $u" "$(getent passwd "$u" | cut -d: -f6,7)" "/var/lib/$u:/usr/sbin/nologin"
done
tok_before=$(md5sum </etc/jobmeter/token 2>/dev/null)
check_eq "postinst: /etc/jobmeter/token root:jobmeter 0640" "$(stat -c '%U:%G %a' /etc/jobmeter/token 2>/dev/null)" "root:jobmeter 640"
[ "$(wc -c </etc/jobmeter/token 2>/dev/null || echo 0)" -ge 32 ] && pass "postinst: token has 32+ characters" ||
  fail "postinst: token" "empty or missing"
check_eq "postinst: /var/lib/jobmeter/spool" "$(stat -c '%U %a' /var/lib/jobmeter/spool 2>/dev/null)" "jobmeter 750"
check_eq "postinst: /var/lib/jobmeter-collector" "$(stat -c '%U %a' /var/lib/jobmeter-collector 2>/dev/null)" "jobmeter-collector 700"
# Installed units against the installed binaries at their real paths.
out=$(systemd-analyze verify /lib/systemd/system/jobmeter-agent.service \
        /lib/systemd/system/jobmeter-collector.service 2>&1); rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then pass "installed units: systemd-analyze verify clean"
else fail "installed units: systemd-analyze verify" "rc=$rc: $out"; fi
for b in "${BINS[@]}"; do
  out=$("/usr/bin/$b" --help 2>&1); rc=$?
  if [ "$rc" -eq 0 ] && [ -n "$out" ]; then pass "installed /usr/bin/$b --help"
  else fail "installed /usr/bin/$b --help" "rc=$rc: $(head -n 2 <<<"$out" | tr '\n' ' ')"; fi
done
# The installed example configuration is accepted by the installed agent.
out=$(/usr/bin/jobmeter-agent --check-config --config /etc/jobmeter/agent.yaml 2>&1); rc=$?
if [ "$rc" -eq 0 ]; then pass "installed agent accepts /etc/jobmeter/agent.yaml (--check-config)"
else fail "installed agent accepts /etc/jobmeter/agent.yaml" "rc=$rc: $(head -n 3 <<<"$out" | tr '\n' ' ')"; fi

# Reinstalling (same version) keeps the generated token and edited config.
echo "# edited $UNIQ" >>/etc/jobmeter/agent.yaml
if dpkg -i --force-confold "$deb" >"$T/dpkg-i2.log" 2>&1; then
  check_eq "reinstall keeps the token" "$(md5sum </etc/jobmeter/token)" "$tok_before"
  grep -q "$UNIQ" /etc/jobmeter/agent.yaml && pass "reinstall keeps the edited agent.yaml (conffile)" ||
    fail "reinstall keeps agent.yaml" "edit lost"
else
  fail "reinstall" "$(tail -n 3 "$T/dpkg-i2.log" | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- purge
if dpkg --purge jobmeter >"$T/purge.log" 2>&1; then
  installed=0
  left=
  for f in /usr/bin/jobmeter-agent /usr/bin/jobmeter-collector /usr/bin/jobmeter-report \
           /lib/systemd/system/jobmeter-agent.service /etc/jobmeter /var/lib/jobmeter; do
    [ -e "$f" ] && left+="$f "
  done
  check_eq "dpkg --purge removes binaries, units, /etc/jobmeter, agent state" "$left" ""
else
  fail "dpkg --purge" "$(tail -n 3 "$T/purge.log" | tr '\n' ' ')"
fi
