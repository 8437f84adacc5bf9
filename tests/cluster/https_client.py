#!/usr/bin/env python3
"""HTTPS clients for tests/cluster/test_https.cpp, on Python's standard library only: what a user
of the HTTPS API would write (http.client, ssl, email, json, base64), plus raw sockets for the
abuse tests.

Every subcommand is bounded in time and prints one fact per line, "NAME VALUE", for the C++ side:
  status N, header NAME: VALUE, body HEX, part HEX (each part of a multipart body, split by
  Python's email parser), json-valid 0|1, json-oneline 0|1, json-keys A,B, json-str NAME HEX
  (string members of a JSON object), json-sibling HEX (each base64 "siblings" entry, decoded),
  elapsed_ms N, error TEXT.

  request             one request; a JSON spec on stdin: host, port, ca, cert, key, method, path,
                      headers [[name, value]...], body_hex, timeout (s)
  decode CONTENT-TYPE decodes the body on stdin as a user would (multipart parts, JSON fields)
  raw                 a connection that sends chosen bytes; JSON spec on stdin: host, port, tls,
                      ca, cert, key, send_hex, read_s (how long to wait for the server's answer
                      and close); prints sent, send_error, received HEX, closed 0|1 (the server
                      closed or reset the connection), elapsed_ms (from the connect until the
                      close, or until read_s ran out), status (of an HTTP answer)
  slow                a TLS connection that sends send_hex one byte every interval_s (JSON spec on
                      stdin as for raw, plus max_s); prints sent, closed, elapsed_ms (from connect)
  idle N HOST PORT HOLD_S READY_FILE
                      opens N plain TCP connections (RLIMIT_NOFILE raised as far as allowed),
                      writes "connected C failed F open_ms T" to READY_FILE, holds them HOLD_S
                      seconds, then counts those the server closed meanwhile and closes them all
"""
import base64
import email.parser
import email.policy
import http.client
import json
import os
import resource
import select
import socket
import ssl
import sys
import time


def out(name, value):
    sys.stdout.write(f"{name} {value}\n")


def context_for(spec):
    ctx = ssl.create_default_context(cafile=spec["ca"])
    if spec.get("cert"):
        ctx.load_cert_chain(spec["cert"], spec["key"])
    return ctx


def decode(content_type, body):
    """What a user's code would make of a body: the parts of multipart/mixed, JSON members."""
    if content_type.lower().startswith("multipart/"):
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in msg.iter_parts():
            out("part", part.get_payload(decode=True).hex())
    if content_type.lower().startswith("application/json"):
        text = body.decode("utf-8", "replace")
        out("json-oneline", int(text.endswith("\n") and text.count("\n") == 1))
        try:
            doc = json.loads(text)
        except ValueError:
            out("json-valid", 0)
            return
        out("json-valid", 1)
        if isinstance(doc, dict):
            out("json-keys", ",".join(sorted(doc)))
            for name, value in doc.items():
                if isinstance(value, str):
                    out("json-str", f"{name} {value.encode().hex()}")
            for sibling in doc.get("siblings", []):
                out("json-sibling", base64.b64decode(sibling, validate=True).hex())


def request():
    spec = json.load(sys.stdin)
    body = bytes.fromhex(spec.get("body_hex", ""))
    start = time.monotonic()
    conn = http.client.HTTPSConnection(spec["host"], spec["port"], context=context_for(spec),
                                       timeout=spec.get("timeout", 10))
    try:
        # http.client adds Content-Length (0 for an empty PUT or POST body).
        with_body = spec["method"] in ("PUT", "POST") or body
        conn.request(spec["method"], spec["path"], body=body if with_body else None,
                     headers=dict(spec.get("headers", [])))
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as e:
        out("error", f"{type(e).__name__}: {e}".replace("\n", " "))
        out("elapsed_ms", int((time.monotonic() - start) * 1000))
        return
    finally:
        conn.close()
    out("status", resp.status)
    for name, value in resp.getheaders():
        out("header", f"{name}: {value}")
    out("body", data.hex())
    out("elapsed_ms", int((time.monotonic() - start) * 1000))
    decode(resp.getheader("Content-Type", ""), data)


def connect(spec):
    sock = socket.create_connection((spec["host"], spec["port"]), timeout=spec.get("connect_s", 5))
    if spec.get("tls", True):
        sock = context_for(spec).wrap_socket(sock, server_hostname=spec["host"])
    return sock


def read_until_close(sock, deadline):
    """Everything the server sends until it closes (True) or the deadline passes (False)."""
    received = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return received, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return received, False
        except (ConnectionError, ssl.SSLError, OSError):
            return received, True
        if not chunk:
            return received, True
        received += chunk


def raw():
    spec = json.load(sys.stdin)
    start = time.monotonic()
    try:
        sock = connect(spec)
    except (OSError, ssl.SSLError) as e:
        out("connect_error", f"{type(e).__name__}: {e}".replace("\n", " "))
        return
    data = bytes.fromhex(spec.get("send_hex", ""))
    sent = 0
    try:
        sock.settimeout(spec.get("read_s", 5))
        sock.sendall(data)
        sent = len(data)
    except (OSError, ssl.SSLError) as e:
        out("send_error", f"{type(e).__name__}: {e}".replace("\n", " "))
    out("sent", sent)
    received, closed = read_until_close(sock, time.monotonic() + spec.get("read_s", 5))
    out("elapsed_ms", int((time.monotonic() - start) * 1000))
    out("closed", int(closed))
    out("received", received.hex())
    if received.startswith(b"HTTP/1.1 "):
        out("status", received[9:12].decode())
    sock.close()


def slow():
    spec = json.load(sys.stdin)
    start = time.monotonic()
    sock = connect(spec)
    data = bytes.fromhex(spec["send_hex"])
    sent, closed = 0, False
    deadline = start + spec.get("max_s", 10)
    while not closed and time.monotonic() < deadline:
        if sent < len(data):
            try:
                sock.sendall(data[sent:sent + 1])
                sent += 1
            except (OSError, ssl.SSLError):
                closed = True
                break
        # Wait for the next byte's turn, watching for the server's close meanwhile.
        turn = time.monotonic() + spec.get("interval_s", 1.0)
        while time.monotonic() < min(turn, deadline):
            readable, _, _ = select.select([sock], [], [], max(0, min(turn, deadline) - time.monotonic()))
            if not readable:
                continue
            try:
                sock.setblocking(False)
                chunk = sock.recv(4096)
            except ssl.SSLWantReadError:
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                chunk = b""
            finally:
                sock.setblocking(True)
            if not chunk:
                closed = True
                break
    out("sent", sent)
    out("closed", int(closed))
    out("elapsed_ms", int((time.monotonic() - start) * 1000))
    sock.close()


def idle(n, host, port, hold_s, ready_file):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    socks, failed = [], 0
    start = time.monotonic()
    deadline = start + 20
    for _ in range(n):
        if time.monotonic() > deadline:
            failed += 1
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect((host, port))
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    open_ms = int((time.monotonic() - start) * 1000)
    with open(ready_file + ".tmp", "w") as f:
        f.write(f"connected {len(socks)} failed {failed} open_ms {open_ms}\n")
    os.rename(ready_file + ".tmp", ready_file)
    time.sleep(hold_s)
    closed_by_server = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(4096) == b"":
                closed_by_server += 1
        except BlockingIOError:
            pass
        except OSError:
            closed_by_server += 1
    for s in socks:
        s.close()
    out("connected", len(socks))
    out("failed", failed)
    out("open_ms", open_ms)
    out("closed_by_server", closed_by_server)


def main():
    cmd = sys.argv[1]
    if cmd == "request":
        request()
    elif cmd == "decode":
        decode(sys.argv[2], sys.stdin.buffer.read())
    elif cmd == "raw":
        raw()
    elif cmd == "slow":
        slow()
    elif cmd == "idle":
        idle(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main()
