#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of test_nics.py, run inside the L1 next to the VMM.

usage: nics_driver.py HTTP_PORT BLOB_BYTES PCIID=FWD_PORT... -- VMM ARGV...

Serves BLOB_BYTES of random data as /blob on 127.0.0.1:HTTP_PORT (the guest
reaches it as 10.0.2.2 through each card's slirp) and prints its sha256 as
"@@blob sha=..". Runs the VMM and copies its stdout (the guest console) to
ours. The guest takes its cards one at a time; at each
"VMM-FWD-READY MAC PCIID" it listens on port 8080 behind that card, and we
fetch http://127.0.0.1:FWD_PORT/ (the card's hostfwd) and print
"@@fwd MAC BODY" (or "@@fwd MAC error .."). Ends with "@@vmm rc=N"."""
import hashlib
import http.server
import os
import re
import select
import subprocess
import sys
import threading
import time
import urllib.request

# An optional round tag (" r3") lets a guest take the same card again
# (tools/reset_repro.py --rounds).
READY = re.compile(rb"VMM-FWD-READY ([0-9a-f:]{17}) ([0-9a-f]{4}:[0-9a-f]{4})( r\d+)?\r?\n")
LOCK = threading.Lock()


def out(data):
    with LOCK:
        sys.stdout.buffer.write(data if isinstance(data, bytes) else data.encode() + b"\n")
        sys.stdout.buffer.flush()


def serve_blob(port, blob):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/blob":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)

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


def main():
    sep = sys.argv.index("--")
    http_port, size = int(sys.argv[1]), int(sys.argv[2])
    ports = dict(a.split("=") for a in sys.argv[3:sep])
    argv = sys.argv[sep + 1:]
    # The L1 brings no loopback up; slirp reaches the host through it.
    subprocess.run(["ip", "link", "set", "lo", "up"], stderr=subprocess.DEVNULL)
    blob = os.urandom(size)
    serve_blob(http_port, blob)
    out("@@blob sha=%s" % hashlib.sha256(blob).hexdigest())
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
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
            mac, pci = m.group(1).decode(), m.group(2).decode()
            if m.group(0) in done:
                continue
            done.add(m.group(0))
            if pci in ports:
                threading.Thread(target=fetch_forwarded, args=(mac, int(ports[pci])),
                                 daemon=True).start()
            else:
                out("@@fwd %s error no port for %s" % (mac, pci))
    rc = p.wait()
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
