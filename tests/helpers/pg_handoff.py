#!/usr/bin/env python3
"""One PostgreSQL connection (Unix socket, peer auth) used three ways, so a
test can check that the agent follows a connection, not a file descriptor:
  1. "select 1" through a dup2()'d copy of the socket (write/read),
  2. "select 2" from a forked child (send/recv on the inherited socket),
  3. "select 3" from the parent again, then Terminate.
Usage: pg_handoff.py SOCKET_PATH USER DATABASE"""
import os
import socket
import struct
import sys


def msg(kind, body):
    return kind + struct.pack("!I", len(body) + 4) + body


def until_ready(read):
    """Read messages until ReadyForQuery; fail on ErrorResponse."""
    buf = b""
    while True:
        while len(buf) >= 5:
            kind, n = buf[:1], struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            if kind == b"E":
                sys.exit("server error: %r" % buf[5:1 + n])
            if kind == b"Z":
                return
            buf = buf[1 + n:]
        chunk = read()
        if not chunk:
            sys.exit("connection closed early")
        buf += chunk


def main():
    path, user, db = sys.argv[1:4]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    params = b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
    s.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
    until_ready(lambda: s.recv(65536))

    os.dup2(s.fileno(), 50)
    os.write(50, msg(b"Q", b"select 1\0"))
    until_ready(lambda: os.read(50, 65536))
    os.close(50)

    pid = os.fork()
    if pid == 0:
        s.sendall(msg(b"Q", b"select 2\0"))
        until_ready(lambda: s.recv(65536))
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        sys.exit("child failed")

    s.sendall(msg(b"Q", b"select 3\0"))
    until_ready(lambda: s.recv(65536))
    s.sendall(msg(b"X", b""))
    s.close()


if __name__ == "__main__":
    main()
