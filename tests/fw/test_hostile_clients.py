# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile control clients against a running vmm (issue 12): many clients
connecting to the QMP and monitor sockets at once and dropping, mid-message
or without reading, huge lines, deep nesting, random bytes. vmm must stay
alive, keep serving the next well-behaved client, and stay bounded in
memory (its RSS after hundreds of such clients is within a few MiB of what
it was after the first few)."""
import os
import random
import socket
import time

from test_qmp import Qmp, sock_path, vm, wait_for  # noqa: F401 (vm is a fixture)

# What the abuse may cost in resident memory, in KiB, once the allocator is
# warm. A leak of a session buffer (64 KiB) per client would be ~13 MiB here.
RSS_SLACK_KIB = 6 * 1024


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def connect(path, timeout=20):
    """Connects, waiting while the listen backlog is full: vmm serves one
    client at a time and takes the queued ones (dead or not) in turn."""
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(path)
            return s
        except (BlockingIOError, ConnectionRefusedError, socket.timeout):
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.02)


def send_quietly(s, data):
    """Sends what the peer takes; a peer that drops us mid-way is fine."""
    try:
        s.sendall(data)
    except OSError:
        pass


def abuse_round(rng, qmp_path, mon_path):
    """One round of bad clients on both sockets; returns when all are gone."""
    kinds = ["drop", "garbage", "huge", "deep", "half", "flood", "crowd", "monitor-huge",
             "monitor-garbage"]
    kind = rng.choice(kinds)
    if kind == "crowd":
        # More clients than the listen backlog, all at once; only one is
        # served, the rest wait or are refused, then all vanish.
        socks = []
        for _ in range(12):
            try:
                socks.append(connect(qmp_path, timeout=0))
            except OSError:
                pass  # the backlog is full: that is the point
        for s in socks:
            send_quietly(s, b'{"execute": "qmp_capabilities"}\n')
            s.close()
        return kind
    path = mon_path if kind.startswith("monitor") else qmp_path
    s = connect(path)
    if kind == "drop":
        pass
    elif kind == "garbage":
        send_quietly(s, rng.randbytes(rng.randrange(1, 20000)))
    elif kind == "huge":
        # 2 MiB without a newline, then a newline: one "too long" error.
        send_quietly(s, b'{"execute": "query-status", "id": "' + b"x" * (2 << 20))
        send_quietly(s, b"\n")
    elif kind == "deep":
        send_quietly(s, b"[" * 100000 + b"{" * 1000 + b"\n")
    elif kind == "half":
        send_quietly(s, b'{"execute": "qmp_capabilities"}\n{"execute": "sto')
    elif kind == "flood":
        # Many commands whose answers it never reads.
        send_quietly(s, b'{"execute": "qmp_capabilities"}\n' +
                     b'{"execute": "query-commands"}\n' * 2000)
    elif kind == "monitor-huge":
        send_quietly(s, b"info " + b"A" * (1 << 20) + b"\ninfo status\n")
    elif kind == "monitor-garbage":
        send_quietly(s, bytes(rng.randrange(256) for _ in range(4000)) + b"\n")
    s.close()
    return kind


def healthy(qmp_path, mon_path):
    q = Qmp(qmp_path, timeout=30).negotiate()
    assert q.ok("query-status")["running"]
    q.close()
    m = connect(mon_path)
    m.settimeout(30)
    m.sendall(b"info status\n")
    data = b""
    while b"VM status" not in data:
        d = m.recv(4096)
        assert d, data
        data += d
    m.close()


def test_many_hostile_clients_leave_vmm_alive_and_bounded(vm, tmp_path):
    qmp_path = sock_path(tmp_path)
    mon_path = sock_path(tmp_path, "mon.sock")
    v = vm("-qmp", f"unix:{qmp_path},server=on,wait=off",
           "-monitor", f"unix:{mon_path},server=on,wait=off")
    v.wait_serial("VMM-BOOT-OK")
    wait_for(lambda: os.path.exists(mon_path), 30, "the monitor socket")
    rng = random.Random(12)

    # Warm-up: every kind once, so the allocator has its arenas.
    for _ in range(30):
        abuse_round(rng, qmp_path, mon_path)
    healthy(qmp_path, mon_path)
    time.sleep(0.5)
    base_rss, base_fds = rss_kib(v.p.pid), fd_count(v.p.pid)

    counts = {}
    start = time.monotonic()
    for _ in range(600):
        kind = abuse_round(rng, qmp_path, mon_path)
        counts[kind] = counts.get(kind, 0) + 1
        assert v.p.poll() is None, v.finish()
    healthy(qmp_path, mon_path)
    time.sleep(0.5)
    rss, fds = rss_kib(v.p.pid), fd_count(v.p.pid)
    print(f"600 hostile clients {counts} in {time.monotonic() - start:.1f} s: "
          f"RSS {base_rss} -> {rss} KiB, fds {base_fds} -> {fds}")
    assert rss - base_rss < RSS_SLACK_KIB, (base_rss, rss)
    assert fds <= base_fds + 2, (base_fds, fds)

    q = Qmp(qmp_path).negotiate()
    q.ok("quit")
    assert q.event("SHUTDOWN")["data"]["reason"] == "host-qmp-quit"
    assert v.finish()[0] == 0
