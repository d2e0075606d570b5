#!/usr/bin/env bash
# bench §2's "mincap" variant (bench/floor.bpf.c built with MINCAP_PORT, the
# least exact payload capture) must copy every payload of the client end of
# a connection to that port and nothing of the server end: were it to copy
# nothing, the bound RESULTS.md draws from it would be the floor's cost, not
# the capture's.  Built and loaded as bench/run.sh does.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=200                                  # request/response pairs
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
check "mincap object builds" \
  clang -g -O2 -target bpf -Wall -I"/usr/include/$(cc -dumpmachine)" -I"$ROOT/bpf" \
    -D__TARGET_ARCH_x86 -DMINCAP_PORT="$PORT" -c "$ROOT/bench/floor.bpf.c" -o "$T/mincap.bpf.o"
check "floor loader builds" \
  cc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE "$ROOT/bench/floor_loader.c" -o "$T/jm-floor" -lbpf
"$T/jm-floor" "$T/mincap.bpf.o" "$T/ready" > "$T/floor.log" 2>&1 &
LOADER=$!
_bg_pids+=("$LOADER")
for _ in $(seq 1 100); do [ -f "$T/ready" ] && break; sleep 0.05; done
check "mincap loads and attaches" test -f "$T/ready" || cat "$T/floor.log"
# The map this loader just created: the newest of the name.
MAP=$(bpftool map show --json | jq '[.[] | select(.name == "mincap_buf") | .id] | max')
totals() { bpftool map dump id "$MAP" -j | jq -c '[([.[].formatted.values[].value.copies] | add), ([.[].formatted.values[].value.bytes] | add)]'; }
before=$(totals)
# A client sends N 100-byte requests, the server answers each with 300 bytes
# (the copy is capped at 512: every byte here is under it).
python3 - "$PORT" "$N" <<'EOF'
import socket, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(1)
def recv_exact(s, k):
    b = b""
    while len(b) < k:
        c = s.recv(k - len(b))
        if not c: raise SystemExit("short read")
        b += c
    return b
def serve():
    c, _ = srv.accept()
    for _ in range(n):
        recv_exact(c, 100); c.sendall(b"r" * 300)
    c.close()
t = threading.Thread(target=serve); t.start()
cl = socket.create_connection(("127.0.0.1", port))
for _ in range(n):
    cl.sendall(b"q" * 100); recv_exact(cl, 300)
cl.close(); t.join()
EOF
after=$(totals)
copies=$(( $(jq '.[0]' <<<"$after") - $(jq '.[0]' <<<"$before") ))
bytes=$(( $(jq '.[1]' <<<"$after") - $(jq '.[1]' <<<"$before") ))
check_eq "mincap copied the client end's bytes, none of the server's" "$bytes" $((N * 400))
check "mincap copied each send and receive of the client (≥ $((2 * N)) copies: $copies)" \
  test "$copies" -ge $((2 * N)) -a "$copies" -le $((N * 400 / 100))
kill -TERM "$LOADER"; wait "$LOADER"
check_eq "the loader stops cleanly" $? 0
