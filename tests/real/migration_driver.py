#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of test_migration.py, run inside the L1 next to the VMMs.

    migration_driver.py [--fw] [--disk PATH --disk-at BYTES --disk-len BYTES] -- VMM ARGV...
    migration_driver.py [--fw] --savevm QCOW2 [--img VMM-IMG] -- VMM ARGV...

Moves one running guest through four VMM processes (A, B, C, E; D is the
destination of a cancelled migration), all started with the same command
line (the same disk files, shared) plus a QMP socket and, for a
destination, -incoming:

1. A runs until the guest says MIG-RUNNING and has counted a while.
2. A -> B live over unix:PATH (B waits with -incoming unix:PATH),
   downtime-limit set with migrate-set-parameters; query-migrate polled to
   the end; A, postmigrate, quits.
3. B -> C live over tcp:127.0.0.1:PORT, after bringing the L1's loopback
   up (`ip link set lo up`; the L1 brings none up); without a loopback,
   over unix: and "@@mig loopback unavailable" says why.
4. C -> D at 64 KiB/s, cancelled with migrate_cancel while pre-copy runs:
   C must run on and the guest count on there; D sees its stream end.
5. C -> file:PATH (cold), C quits, E starts with -incoming file:PATH.
6. E: the guest is told to verify ("mig-verify PORT" on the console: E's
   stdin) and prints its verdict, fetches /blob from our HTTP server on
   127.0.0.1:PORT through -netdev user, prints the kit's final marker and
   powers off.

Output: the guest console (all VMMs in turn; whole lines only, so a
driver line never splits a console line), "@@mig ..." lines with the
figures, "@@vmm rc=N" at the end (E's exit status, or 1 when the driver
failed: "@@mig driver error ..."). Every console line is timestamped as
it arrives, so the gap the guest's counter shows at each switch (last
line from the source to the first from the destination) is measured in
host time, and so is the guest's own uptime jump.

With --savevm (the VMM's disk is the qcow2 image QCOW2) one VMM, S, runs
the guest instead: `savevm s1` (human-monitor-command), the guest counts
on and is told to overwrite its disk bytes ("mig-scribble"), `loadvm s1`
takes RAM and disk back, the guest counts on from the saved point and is
told to verify; then `vmm-img check` and `snapshot -l` of QCOW2 (--img:
vmm-img's path, default: beside the VMM).

--fw: the guest is tests/fw/migcount.S (hex counts on COM1, no uptime,
no verify step: E quits over QMP) - to try the driver's choreography on
a firmware-level guest outside the L1."""
import hashlib
import http.server
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

import qmp_client

MiB = 1 << 20
DOWNTIME_LIMIT_MS = 500
CANCEL_BANDWIDTH = 64 << 10       # pre-copy lasts long enough to cancel it
FULL_BANDWIDTH = 128 << 20        # vmm's and QEMU's default
READY = b"MIG-RUNNING"
VERIFY_LINE = b"mig-verify"      # and the HTTP port (0: none)
BLOB_BYTES = 1 * MiB
WAIT = 240                        # seconds for any one step to happen

KIT_COUNT = re.compile(r"^mig: n=(\d+) up=([\d.]+)\s*$")
FW_COUNT = re.compile(r"^([0-9a-f]{8})\s*$")

LOCK = threading.Lock()


class DriverError(Exception):
    pass


def out(line):
    with LOCK:
        sys.stdout.buffer.write(line.encode() + b"\n")
        sys.stdout.buffer.flush()


class Console:
    """The guest console of all VMMs in turn, relayed to our stdout in whole
    lines, each counter line kept as (host time, VMM name, n, uptime)."""

    def __init__(self, fw):
        self.fw = fw
        self.partial = b""
        self.counts = []          # (t, vmm, n, up or None)
        self.text = {}            # vmm name -> bytes it printed
        self.cond = threading.Condition(LOCK)
        self.vmms = []            # in the order they started
        self.wake_r, self.wake_w = os.pipe()
        threading.Thread(target=self.relay, daemon=True).start()

    def add(self, vmm):
        with self.cond:
            self.vmms.append(vmm)
        os.write(self.wake_w, b"x")

    def relay(self):
        """One thread reads every VMM's stdout, the earlier VMM first when
        several have output: a source wrote its last bytes before it
        stopped, so they are in its pipe before the destination's first,
        and are relayed first."""
        while True:
            with self.cond:
                live = [v for v in self.vmms if not v.ended.is_set()]
            fds = [v.proc.stdout.fileno() for v in live]
            ready, _, _ = select.select(fds + [self.wake_r], [], [], 5.0)
            if self.wake_r in ready:
                os.read(self.wake_r, 64)
            for v in live:
                if v.proc.stdout.fileno() not in ready:
                    continue
                data = os.read(v.proc.stdout.fileno(), 65536)
                if data:
                    self.feed(v.name, data)
                else:
                    v.ended.set()
                    with self.cond:
                        self.cond.notify_all()

    def feed(self, name, data):
        t = time.monotonic()
        with self.cond:
            self.text[name] = self.text.get(name, b"") + data
            self.partial += data
            *lines, self.partial = self.partial.split(b"\n")
            for ln in lines:
                sys.stdout.buffer.write(ln + b"\n")
                self.note(t, name, ln.decode(errors="replace").replace("\r", ""))
            sys.stdout.buffer.flush()
            self.cond.notify_all()

    def note(self, t, name, line):
        if self.fw:
            m = FW_COUNT.match(line)
            if m:
                self.counts.append((t, name, int(m.group(1), 16), None))
        else:
            m = KIT_COUNT.match(line)
            if m:
                self.counts.append((t, name, int(m.group(1)), float(m.group(2))))

    def flush(self):
        with self.cond:
            if self.partial:
                sys.stdout.buffer.write(self.partial + b"\n")
                self.partial = b""
                sys.stdout.buffer.flush()

    def counted_by(self, name):
        with LOCK:
            return [c for c in self.counts if c[1] == name]

    def wait(self, cond, what, timeout=WAIT, procs=()):
        """Waits until cond() (called with the lock held) is true."""
        end = time.monotonic() + timeout
        with self.cond:
            while not cond():
                for p in procs:
                    if p.proc.poll() is not None:
                        raise DriverError("%s exited (%s) waiting for %s" % (
                            p.name, p.proc.returncode, what))
                left = end - time.monotonic()
                if left <= 0:
                    raise DriverError("timed out waiting for %s" % what)
                self.cond.wait(min(left, 1.0))

    def seen(self, name, needle):
        return needle in self.text.get(name, b"")


class Vmm:
    def __init__(self, name, argv, console, workdir, incoming=None):
        self.name = name
        self.qmp_path = os.path.join(workdir, "%s.qmp" % name)
        self.err_path = os.path.join(workdir, "%s.err" % name)
        argv = list(argv) + ["-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        if incoming:
            argv += ["-incoming", incoming]
        self.err = open(self.err_path, "wb")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.console = console
        self.ended = threading.Event()   # the console saw its stdout close
        console.add(self)
        self.qmp = None
        out("@@mig start %s%s pid=%d" % (name, " incoming=" + incoming if incoming else "",
                                          self.proc.pid))

    def connect(self):
        end = time.monotonic() + 60
        while True:
            try:
                self.qmp = qmp_client.Qmp(self.qmp_path, timeout=60)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise DriverError("%s: no QMP socket (%s)" % (self.name, self.stderr()))
                time.sleep(0.1)
        ok(self.qmp, "qmp_capabilities")
        return self.qmp

    def stderr(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace").strip()

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def finish(self, timeout=60):
        """Waits for the process (quit over QMP first when asked) and
        reports its status and stderr."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            out("@@mig %s killed: did not exit within %ds" % (self.name, timeout))
        self.ended.wait(10)
        err = self.stderr()
        out("@@mig exit %s rc=%d stderr=%s" % (self.name, rc, json.dumps(err)))
        return rc, err

    def quit(self):
        try:
            self.qmp.cmd("quit")
        except (OSError, EOFError, ValueError):
            pass
        return self.finish()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def ok(qmp, name, **args):
    r = qmp.cmd(name, **args)
    if "return" not in r:
        raise DriverError("QMP %s %s -> %s" % (name, json.dumps(args), json.dumps(r)))
    return r["return"]


def loopback():
    """None when 127.0.0.1 takes a TCP connection (after `ip link set lo
    up` if needed), else why not."""
    def works():
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                s.listen(1)
                with socket.create_connection(s.getsockname(), timeout=5):
                    pass
            return True
        except OSError:
            return False
    if works():
        return None
    why = []
    for cmd in (["ip", "link", "set", "lo", "up"], ["busybox", "ip", "link", "set", "lo", "up"],
                ["ifconfig", "lo", "127.0.0.1", "up"]):
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=20)
            why.append("%s: rc=%d %s" % (" ".join(cmd), r.returncode,
                                         r.stderr.decode(errors="replace").strip()))
        except OSError as e:
            why.append("%s: %s" % (" ".join(cmd), e))
        if works():
            return None
    return "; ".join(why)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll_migration(src, what, until=("completed", "failed", "cancelled")):
    """Polls query-migrate on the source until its status is in `until`."""
    end = time.monotonic() + WAIT
    n = 0
    while True:
        info = ok(src.qmp, "query-migrate")
        if info.get("status") in until:
            return info
        if time.monotonic() > end:
            raise DriverError("%s: still %s after %ds" % (what, json.dumps(info), WAIT))
        n += 1
        if n % 100 == 0:
            out("@@mig polling %s: %s" % (what, json.dumps(info)))
        time.sleep(0.05)


def figures(what, info):
    """One "@@mig result" line with query-migrate's figures."""
    ram = info.get("ram", {})
    out("@@mig result %s status=%s total_ms=%s downtime_ms=%s setup_ms=%s "
        "transferred=%s ram_total=%s normal=%s duplicate=%s dirty_sync=%s remaining=%s "
        "mbps=%s" % (what, info.get("status"), info.get("total-time"), info.get("downtime"),
                     info.get("setup-time"), ram.get("transferred"), ram.get("total"),
                     ram.get("normal"), ram.get("duplicate"), ram.get("dirty-sync-count"),
                     ram.get("remaining"), ram.get("mbps")))
    if info.get("status") != "completed":
        raise DriverError("%s: %s" % (what, json.dumps(info)))


def report_switch(console, what, src, dst):
    """The counter's last line from src and first from dst: numbers, the
    host-time gap between them, and the guest uptime jump."""
    a, b = console.counted_by(src.name), console.counted_by(dst.name)
    if not a or not b:
        raise DriverError("%s: no counter lines from %s or %s" % (what, src.name, dst.name))
    la, fb = a[-1], b[0]
    jump = "%.2f" % (fb[3] - la[3]) if la[3] is not None else "-"
    out("@@mig switch %s last_n=%d first_n=%d gap_ms=%d up_last=%s up_first=%s up_jump=%s "
        "lines_src=%d" % (what, la[2], fb[2], round((fb[0] - la[0]) * 1000), la[3], fb[3],
                          jump, len(a)))


def steady_gap(console, name):
    """The largest host-time gap between two counter lines of one VMM."""
    c = console.counted_by(name)
    return max((round((y[0] - x[0]) * 1000) for x, y in zip(c, c[1:])), default=0)


def live(console, src, dst, uri, what):
    """src -> dst (waiting on uri), live; src quits afterwards."""
    ok(src.qmp, "migrate-set-parameters", **{"downtime-limit": DOWNTIME_LIMIT_MS,
                                             "max-bandwidth": FULL_BANDWIDTH})
    params = ok(src.qmp, "query-migrate-parameters")
    out("@@mig params %s %s" % (what, json.dumps(params, sort_keys=True)))
    status = ok(dst.qmp, "query-status")
    out("@@mig dst-waiting %s status=%s" % (what, status.get("status")))
    n = len(console.counted_by(src.name))
    console.wait(lambda: len([c for c in console.counts if c[1] == src.name]) >= n + 10,
                 "%s counting before %s" % (src.name, what), procs=(src,))
    t0 = time.monotonic()
    ok(src.qmp, "migrate", uri=uri)
    info = poll_migration(src, what)
    out("@@mig polled %s wall_ms=%d" % (what, round((time.monotonic() - t0) * 1000)))
    figures(what, info)
    st = ok(src.qmp, "query-status")
    out("@@mig source-after %s status=%s running=%s" % (what, st.get("status"),
                                                        st.get("running")))
    console.wait(lambda: len([c for c in console.counts if c[1] == dst.name]) >= 20,
                 "%s counting after %s" % (dst.name, what), procs=(dst,))
    st = ok(dst.qmp, "query-status")
    out("@@mig dest-after %s status=%s running=%s" % (what, st.get("status"),
                                                      st.get("running")))
    out("@@mig steady %s max_gap_ms=%d" % (src.name, steady_gap(console, src.name)))
    report_switch(console, what, src, dst)
    src.quit()


def cancel(console, src, workdir, argv, vmms):
    """A migration cancelled while pre-copy runs: the source runs on."""
    uri = "unix:" + os.path.join(workdir, "cancel.sock")
    dst = Vmm("D", argv, console, workdir, incoming=uri)
    vmms.append(dst)
    dst.connect()
    ok(src.qmp, "migrate-set-parameters", **{"max-bandwidth": CANCEL_BANDWIDTH})
    ok(src.qmp, "migrate", uri=uri)
    end = time.monotonic() + WAIT
    while True:
        info = ok(src.qmp, "query-migrate")
        if info.get("status") == "active" and info.get("ram", {}).get("transferred", 0) > 0:
            break
        if info.get("status") not in ("setup", "active") or time.monotonic() > end:
            raise DriverError("cancel: pre-copy did not start: %s" % json.dumps(info))
        time.sleep(0.05)
    n = len(console.counted_by(src.name))
    console.wait(lambda: len([c for c in console.counts if c[1] == src.name]) >= n + 10,
                 "%s counting during pre-copy" % src.name, procs=(src,))
    during = ok(src.qmp, "query-migrate")
    ok(src.qmp, "migrate_cancel")
    info = poll_migration(src, "cancel", until=("cancelled", "completed", "failed"))
    st = ok(src.qmp, "query-status")
    n = len(console.counted_by(src.name))
    console.wait(lambda: len([c for c in console.counts if c[1] == src.name]) >= n + 10,
                 "%s counting after the cancel" % src.name, procs=(src,))
    st2 = ok(src.qmp, "query-status")
    out("@@mig cancel status=%s during_status=%s during_transferred=%s during_remaining=%s "
        "src_after=%s src_later=%s counted_on=%d" % (
            info.get("status"), during.get("status"),
            during.get("ram", {}).get("transferred"), during.get("ram", {}).get("remaining"),
            st.get("status"), st2.get("status"),
            len(console.counted_by(src.name)) - n))
    rc, err = dst.finish(timeout=60)
    out("@@mig cancel-dst rc=%d" % rc)
    ok(src.qmp, "migrate-set-parameters", **{"max-bandwidth": FULL_BANDWIDTH})


def cold(console, src, workdir, argv, vmms):
    """src -> file:PATH, src quits, a new VMM loads the file."""
    path = os.path.join(workdir, "cold.mig")
    n = len(console.counted_by(src.name))
    console.wait(lambda: len([c for c in console.counts if c[1] == src.name]) >= n + 10,
                 "%s counting before the cold migration" % src.name, procs=(src,))
    t0 = time.monotonic()
    ok(src.qmp, "migrate", uri="file:" + path)
    info = poll_migration(src, "C->file")
    figures("C->file", info)
    src.quit()
    out("@@mig file bytes=%d" % os.path.getsize(path))
    dst = Vmm("E", argv, console, workdir, incoming="file:" + path)
    vmms.append(dst)
    dst.connect()
    console.wait(lambda: len([c for c in console.counts if c[1] == dst.name]) >= 20,
                 "E counting after the cold migration", procs=(dst,))
    st = ok(dst.qmp, "query-status")
    out("@@mig cold wall_ms=%d dest_status=%s" % (round((time.monotonic() - t0) * 1000),
                                                    st.get("status")))
    report_switch(console, "C->file->E", src, dst)
    return dst


def serve_blob():
    """An HTTP server on 127.0.0.1 with BLOB_BYTES of random data as /blob,
    for the guest to fetch through -netdev user (10.0.2.2) on its last VMM;
    returns its port."""
    blob = os.urandom(BLOB_BYTES)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/blob":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)
            out("@@mig http served /blob")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    out("@@mig http blob sha256=%s port=%d" % (hashlib.sha256(blob).hexdigest(),
                                               srv.server_address[1]))
    return srv.server_address[1]


def disk_digest(args):
    if not args.get("disk"):
        return
    with open(args["disk"], "rb") as f:
        f.seek(args["disk_at"])
        data = f.read(args["disk_len"])
    out("@@mig disk-image sha256=%s bytes=%d" % (hashlib.sha256(data).hexdigest(), len(data)))


def run(args, argv, console, workdir, vmms):
    a = Vmm("A", argv, console, workdir)
    vmms.append(a)
    if console.fw:
        a.connect()
        console.wait(lambda: len(console.counts) >= 20, "A counting", procs=(a,))
    else:
        console.wait(lambda: console.seen("A", READY), "the guest's " + READY.decode(),
                     procs=(a,))
        a.connect()
    # 1. A -> B over a unix socket
    uri = "unix:" + os.path.join(workdir, "ab.sock")
    b = Vmm("B", argv, console, workdir, incoming=uri)
    vmms.append(b)
    b.connect()
    live(console, a, b, uri, "A->B")
    # 2. B -> C over TCP on the loopback, if there is one
    why = loopback()
    port = 0
    if why is None:
        uri, kind = "tcp:127.0.0.1:%d" % free_port(), "tcp"
        out("@@mig loopback up")
        port = serve_blob()
    else:
        uri, kind = "unix:" + os.path.join(workdir, "bc.sock"), "unix"
        out("@@mig loopback unavailable: %s" % why)
    c = Vmm("C", argv, console, workdir, incoming=uri)
    vmms.append(c)
    c.connect()
    live(console, b, c, uri, "B->C")
    out("@@mig B->C was over %s" % kind)
    # 3. C -> D cancelled
    cancel(console, c, workdir, argv, vmms)
    # 4. C -> file -> E
    e = cold(console, c, workdir, argv, vmms)
    # 5. the guest checks itself on E and powers off
    out("@@mig steady C max_gap_ms=%d" % steady_gap(console, "C"))
    if console.fw:
        rc, _ = e.quit()
    else:
        e.send(b"%s %d\n" % (VERIFY_LINE, port))
        out("@@mig verify sent")
        rc, _ = e.finish(timeout=WAIT)
    out("@@mig steady E max_gap_ms=%d" % steady_gap(console, "E"))
    out("@@mig lines %s" % " ".join("%s=%d" % (v.name, len(console.counted_by(v.name)))
                                    for v in vmms))
    disk_digest(args)
    return rc


def hmp(vmm, line):
    """A human-monitor command over QMP; its output and how long it took."""
    t0 = time.monotonic()
    r = ok(vmm.qmp, "human-monitor-command", **{"command-line": line})
    return r, round((time.monotonic() - t0) * 1000)


def last_n(console, name):
    c = console.counted_by(name)
    return c[-1][2] if c else 0


def run_savevm(args, argv, console, workdir, vmms):
    """savevm, the guest runs on and overwrites its disk bytes, loadvm: it
    goes back to the saved RAM and disk; then it verifies both."""
    img = args["img"] or os.path.join(os.path.dirname(argv[0]), "vmm-img")
    s = Vmm("S", argv, console, workdir)
    vmms.append(s)
    if console.fw:
        s.connect()
    else:
        console.wait(lambda: console.seen("S", READY), "the guest's " + READY.decode(),
                     procs=(s,))
        s.connect()
    s.qmp.timeout = WAIT
    s.qmp.sock.settimeout(WAIT)
    console.wait(lambda: len(console.counts) >= 20, "S counting", procs=(s,))
    before = last_n(console, "S")
    r, ms = hmp(s, "savevm s1")
    after = last_n(console, "S")
    out("@@mig savevm reply=%s ms=%d before_n=%d after_n=%d" % (json.dumps(r), ms, before,
                                                                 after))
    st = ok(s.qmp, "query-status")
    out("@@mig savevm status=%s" % st.get("status"))
    n = len(console.counts)
    console.wait(lambda: len(console.counts) >= n + 20, "S counting after savevm",
                 procs=(s,))
    if not console.fw:
        s.send(b"mig-scribble 0\n")
        console.wait(lambda: console.seen("S", b"mig: scribbled"), "the guest's scribble",
                     procs=(s,))
    n = len(console.counts)
    console.wait(lambda: len(console.counts) >= n + 5, "S counting after the scribble",
                 procs=(s,))
    r, ms = hmp(s, "loadvm s1")
    out("@@mig loadvm reply=%s ms=%d at_n=%d" % (json.dumps(r), ms, last_n(console, "S")))
    st = ok(s.qmp, "query-status")
    out("@@mig loadvm status=%s" % st.get("status"))
    n = len(console.counts)
    console.wait(lambda: len(console.counts) >= n + 20, "S counting after loadvm",
                 procs=(s,))
    r, _ = hmp(s, "info snapshots")
    for ln in r.splitlines():
        out("@@mig info snapshots: %s" % ln)
    if console.fw:
        rc, _ = s.quit()
    else:
        s.send(b"%s 0\n" % VERIFY_LINE)
        out("@@mig verify sent")
        rc, _ = s.finish(timeout=WAIT)
    for cmd in ([img, "check", args["overlay"]], [img, "snapshot", "-l", args["overlay"]]):
        p = subprocess.run(cmd, capture_output=True, timeout=120)
        for ln in (p.stdout + p.stderr).decode(errors="replace").splitlines():
            out("@@mig vmm-img %s: %s" % (cmd[1], ln))
        out("@@mig vmm-img %s rc=%d" % (cmd[1], p.returncode))
    return rc


def parse(argv):
    args = {"fw": False, "disk": None, "disk_at": 0, "disk_len": 0, "overlay": None,
            "img": None}
    i = 0
    while i < len(argv) and argv[i] != "--":
        k = argv[i]
        if k == "--fw":
            args["fw"] = True
            i += 1
            continue
        if k not in ("--disk", "--disk-at", "--disk-len", "--savevm", "--img") or \
                i + 1 >= len(argv):
            sys.exit("migration_driver: bad argument %r" % k)
        key = k[2:].replace("-", "_")
        if key == "savevm":
            key = "overlay"
        args[key] = argv[i + 1] if key in ("disk", "overlay", "img") else int(argv[i + 1])
        i += 2
    if i >= len(argv) - 1:
        sys.exit("migration_driver: no VMM command line after --")
    return args, argv[i + 1:]


def main():
    args, argv = parse(sys.argv[1:])
    console = Console(args["fw"])
    workdir = tempfile.mkdtemp(prefix="vmmmig")
    vmms = []
    start = time.monotonic()
    try:
        if args["overlay"]:
            rc = run_savevm(args, argv, console, workdir, vmms)
        else:
            rc = run(args, argv, console, workdir, vmms)
    except Exception as e:  # noqa: BLE001 - any failure: say it, stop everything
        out("@@mig driver error: %r" % e)
        for v in vmms:
            if v.proc.poll() is None:
                out("@@mig %s still running: killed" % v.name)
            v.kill()
        for v in vmms:
            out("@@mig stderr %s: %s" % (v.name, json.dumps(v.stderr())))
        rc = 1
    for v in vmms:
        v.kill()
    console.flush()
    out("@@vmm rc=%d after %.1fs" % (rc, time.monotonic() - start))
    sys.exit(rc)


if __name__ == "__main__":
    main()
