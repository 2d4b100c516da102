#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of test_nics.py, run inside the L1 next to the VMM.

usage: nics_driver.py HTTP_PORT BLOB_BYTES KEY=FWD_PORT[,LINK]... [--smb] -- VMM ARGV...

KEY is a card's PCI vendor:device as the guest prints it ("isa" for an
ISA card), FWD_PORT its hostfwd port, LINK the name QMP's set_link takes
for it (its netdev's id or QEMU's MODEL.N).

Serves BLOB_BYTES of random data as /blob and "pong" as /ping on
127.0.0.1:HTTP_PORT (the guest reaches it as 10.0.2.2 through each card's
slirp), prints the blob's sha256 as "@@blob sha=.." and "@@ping MAC" for
each /ping?MAC served. Runs the VMM and
copies its stdout (the guest console) to ours. The guest takes its cards
one at a time:

- at "VMM-FWD-READY MAC KEY" it listens on port 8080 behind that card,
  and we fetch http://127.0.0.1:FWD_PORT/ (the card's hostfwd) and print
  "@@fwd MAC BODY" (or "@@fwd MAC error ..");
- at "VMM-LINK-OFF MAC KEY" / "VMM-LINK-ON MAC KEY" we send QMP
  set_link LINK false / true (the VMM gets a QMP socket when any card has
  a LINK) and print "@@link MAC off|on -> REPLY".

--smb: a share directory for -netdev user,smb=: every "@SMBDIR@" in the
VMM's argv becomes a fresh directory holding from-host.bin (1 MiB of
random data, "@@smb host sha=.. size=.." printed), the VMM runs with a
TMPDIR of its own, and after it ends we print "@@smb guest sha=.. size=.."
for the from-guest.bin the guest wrote there (or "@@smb guest missing")
and "@@smb leftover N" for what vmm left in its TMPDIR (its private smbd
directory must be gone). Ends with "@@vmm rc=N"."""
import hashlib
import http.server
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import qmp_client

# An optional round tag (" r3") lets a guest take the same card again
# (tools/reset_repro.py --rounds).
KEY = rb"([0-9a-f]{4}:[0-9a-f]{4}|isa)"
READY = re.compile(rb"VMM-FWD-READY ([0-9a-f:]{17}) " + KEY + rb"( r\d+)?\r?\n")
LINK = re.compile(rb"VMM-LINK-(OFF|ON) ([0-9a-f:]{17}) " + KEY + rb"\r?\n")
SMB_HOST_BYTES = 1 << 20
LOCK = threading.Lock()


def out(data):
    with LOCK:
        sys.stdout.buffer.write(data if isinstance(data, bytes) else data.encode() + b"\n")
        sys.stdout.buffer.flush()


def serve_blob(port, blob):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path, _, query = self.path.partition("?")
            body = {"/blob": blob, "/ping": b"pong\n"}.get(path)
            if path == "/ping":
                out("@@ping %s" % query)  # when each GET of the link round got through
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def fetch_forwarded(mac, port):
    """The guest's one-shot listener may not be up yet when its READY line
    arrives, and slirp then closes our connection: try again, for a minute."""
    end, why = time.monotonic() + 60, "no attempt"
    while time.monotonic() < end:
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=20).read()
            if body.strip():
                out("@@fwd %s %s" % (mac, body.decode(errors="replace").strip()))
                return
            why = "empty reply"
        except Exception as e:
            why = repr(e)
        time.sleep(1)
    out("@@fwd %s error %s" % (mac, why))


def parse_cards(specs):
    """{KEY: (fwd port, link name or None)} from KEY=PORT[,LINK] arguments."""
    cards = {}
    for spec in specs:
        key, rest = spec.split("=", 1)
        port, _, link = rest.partition(",")
        cards[key] = (int(port), link or None)
    return cards


class Smb:
    """The --smb share directory and the VMM's own TMPDIR."""

    def __init__(self):
        base = tempfile.mkdtemp(prefix="nsmb")  # short: smbd.sock must fit a sun_path
        self.share = os.path.join(base, "share")
        self.tmp = os.path.join(base, "tmp")
        os.mkdir(self.share)
        os.mkdir(self.tmp)
        data = os.urandom(SMB_HOST_BYTES)
        with open(os.path.join(self.share, "from-host.bin"), "wb") as f:
            f.write(data)
        out("@@smb host sha=%s size=%d" % (hashlib.sha256(data).hexdigest(), len(data)))
        self.base = base

    def report(self):
        path = os.path.join(self.share, "from-guest.bin")
        if os.path.exists(path):
            data = open(path, "rb").read()
            out("@@smb guest sha=%s size=%d" % (hashlib.sha256(data).hexdigest(), len(data)))
        else:
            out("@@smb guest missing (share holds %s)" % sorted(os.listdir(self.share)))
        left = os.listdir(self.tmp)
        out("@@smb leftover %d %s" % (len(left), " ".join(sorted(left))))
        shutil.rmtree(self.base, ignore_errors=True)


class Links:
    """QMP set_link for the cards' VMM-LINK-OFF/ON lines."""

    def __init__(self, sock):
        self.sock, self.qmp = sock, None

    def set(self, mac, up, name):
        if not name:
            out("@@link %s %s error no link name for this card" % (mac, "on" if up else "off"))
            return
        try:
            if self.qmp is None:
                self.qmp = qmp_client.Qmp(self.sock)
                self.qmp.cmd("qmp_capabilities")
            reply = self.qmp.cmd("set_link", name=name, up=up)
        except Exception as e:
            reply = "error %r" % (e,)
        out("@@link %s %s %s -> %s" % (mac, "on" if up else "off", name, reply))


def main():
    sep = sys.argv.index("--")
    http_port, size = int(sys.argv[1]), int(sys.argv[2])
    opts = sys.argv[3:sep]
    smb = Smb() if "--smb" in opts else None
    cards = parse_cards([a for a in opts if not a.startswith("--")])
    argv = sys.argv[sep + 1:]
    env = None
    if smb:
        argv = [a.replace("@SMBDIR@", smb.share) for a in argv]
        env = dict(os.environ, TMPDIR=smb.tmp)
    links = None
    if any(link for _, link in cards.values()):
        sock = os.path.join(tempfile.mkdtemp(prefix="vmmnics"), "qmp.sock")
        argv += ["-qmp", "unix:%s,server=on,wait=off" % sock]
        links = Links(sock)
    # The L1 brings no loopback up; slirp reaches the host through it.
    subprocess.run(["ip", "link", "set", "lo", "up"], stderr=subprocess.DEVNULL)
    blob = os.urandom(size)
    serve_blob(http_port, blob)
    out("@@blob sha=%s" % hashlib.sha256(blob).hexdigest())
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
    seen, done = b"", set()
    while True:
        r, _, _ = select.select([p.stdout], [], [], 1.0)
        if not r:
            continue
        data = os.read(p.stdout.fileno(), 4096)
        if not data:
            break
        out(data)
        seen = (seen + data)[-8192:]
        for m in READY.finditer(seen):
            mac, key = m.group(1).decode(), m.group(2).decode()
            if m.group(0) in done:
                continue
            done.add(m.group(0))
            if key in cards:
                threading.Thread(target=fetch_forwarded, args=(mac, cards[key][0]),
                                 daemon=True).start()
            else:
                out("@@fwd %s error no port for %s" % (mac, key))
        for m in LINK.finditer(seen):
            if m.group(0) in done:
                continue
            done.add(m.group(0))
            mac, key = m.group(2).decode(), m.group(3).decode()
            name = cards.get(key, (0, None))[1]
            if links:
                links.set(mac, m.group(1) == b"ON", name)
            else:
                out("@@link %s error no card has a link name" % mac)
    rc = p.wait()
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    if smb:
        smb.report()
    sys.exit(rc)


if __name__ == "__main__":
    main()
