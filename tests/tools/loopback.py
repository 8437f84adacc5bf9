"""Loopback addresses for tests written in Python, reserved the way tests/support does it."""
import random
import socket


def reserve_octet():
    """Reserves 127.0.X.* for the caller: binds the abstract Unix socket that the C++ cluster
    fixture binds for X (tests/support/cluster_fixture.cpp), so no other test takes X while the
    returned socket stays open. Returns (X, socket)."""
    for x in random.sample(range(100, 250), 150):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind("\0actorkv-test-127.0.%d" % x)
            return x, sock
        except OSError:
            sock.close()
    raise RuntimeError("no free 127.0.X range")
