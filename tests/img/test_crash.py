# SPDX-License-Identifier: GPL-2.0-or-later
"""kill -9 while writing: img-writer does random writes through the block
layer and is killed at random points, several times over the same image;
after each kill qemu-img check finds no corruption (leaks are allowed and
repaired), and every write acknowledged by a flush before the kill reads
back (later ones may or may not have landed, but only whole stamps of
writes that were issued)."""
import random
import signal
import struct
import subprocess
import time

import pytest

from conftest import IMG_WRITER, qimg, vimg

BLK = 4096


def verify(img, tmp_path, log):
    """log: the writer's lines over all rounds."""
    acked = {}    # block -> seq of the last write covered by a flush
    issued = {}   # block -> set of seqs written to it (flushed or not)
    pending = []
    for line in log:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "W" and len(parts) == 4:
            seq, blk, n = map(int, parts[1:])
            pending.append((seq, blk, n))
            for b in range(blk, blk + n):
                issued.setdefault(b, set()).add(seq)
        elif parts[0] == "K":  # killed: unflushed writes stay unacknowledged
            pending = []
        elif parts[0] == "F" and len(parts) == 2:
            for seq, blk, n in pending:
                for b in range(blk, blk + n):
                    acked[b] = seq
            pending = []
    flat = tmp_path / "flat.raw"
    vimg("convert", "-O", "raw", img, flat)
    data = open(flat, "rb").read()
    for b, seqs in issued.items():
        words = struct.unpack_from(f"<{BLK // 8}Q", data, b * BLK)
        floor = acked.get(b, -1)
        for w in words:
            if w == 0:
                assert floor < 0, f"block {b}: zeros, but write {floor} was flushed"
                continue
            seq, blk = w >> 24, w & 0xFFFFFF
            assert blk == b, f"block {b}: holds a stamp for block {blk}"
            assert seq in seqs, f"block {b}: stamp of a write never issued ({seq})"
            assert seq >= floor, f"block {b}: stamp {seq} older than flushed {floor}"


def kill_rounds(img, tmp_path, fmt):
    rnd = random.Random(42)
    log = []
    seq = 0
    kills = 0
    for rnd_i in range(6):
        p = subprocess.Popen([IMG_WRITER, str(img), str(seq), str(rnd_i + 1), fmt],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rnd.uniform(0.15, 0.8))
        p.send_signal(signal.SIGKILL)
        out, err = p.communicate()
        assert p.returncode == -signal.SIGKILL, err
        kills += 1
        lines = out.splitlines()
        if lines and not lines[-1].endswith(tuple("0123456789")):
            lines = lines[:-1]
        log += lines + ["K"]
        writes = [l for l in lines if l.startswith("W ")]
        assert writes, "the writer did nothing before the kill"
        seq = int(writes[-1].split()[1]) + 1
        c = qimg("check", "-f", fmt, img, ok=(0, 3))  # 0 clean, 3 leaks only; 2 = corruption
        assert "ERROR" not in c.stdout, c.stdout
        verify(img, tmp_path, log)
        if c.returncode == 3:
            vimg("check", "-r", "leaks", img, ok=(0,))
            qimg("check", img)
    assert kills == 6
    assert seq > 100, "too few writes to mean anything"


@pytest.mark.parametrize("cs", ["4K", "64K"])
def test_kill9_random_writes(tmp_path, cs):
    img = tmp_path / "crash.qcow2"
    base = tmp_path / "base.raw"
    with open(base, "wb") as f:
        f.truncate(48 << 20)
    # with a (zero) backing file, so partial writes copy up from it
    vimg("create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs}", "-b", "base.raw",
         "-F", "raw", img, "48M")
    kill_rounds(img, tmp_path, "qcow2")


@pytest.mark.parametrize("maker", ["vmm-img", "qemu-img"])
def test_kill9_random_writes_vmdk(tmp_path, maker):
    """The same for monolithic sparse vmdk: a new grain is durable before
    the grain-table entry that points to it."""
    img = tmp_path / "crash.vmdk"
    (vimg if maker == "vmm-img" else qimg)("create", "-q", "-f", "vmdk", img, "48M")
    kill_rounds(img, tmp_path, "vmdk")


@pytest.mark.parametrize("opts", [[], ["-W"]])
def test_kill9_compressed_convert(tmp_path, opts):
    """convert -c (deflate on several threads, in-order or -W writes) killed
    at random points: refcounts are taken and the compressed bytes written
    before a cluster's L2 entry points at them, so qemu-img check finds
    leaks at most, never corruption, and every cluster the image maps
    reads as the source's."""
    import conftest
    import os
    rnd = random.Random(7)
    src = tmp_path / "src.raw"
    words = [b"qcow2 ", b"deflate ", b"cluster ", b"thread "]
    with open(src, "wb") as f:
        for i in range(48):
            if i % 4 == 3:
                f.write(rnd.randbytes(1 << 20))
            else:
                f.write(b"".join(rnd.choice(words) for _ in range(1 << 18))[:1 << 20])
    img = tmp_path / "c.qcow2"
    killed = 0
    for round_ in range(4):
        if img.exists():
            img.unlink()
        p = subprocess.Popen([conftest.VMM_IMG, "convert", "-c", *opts, "-O", "qcow2",
                              str(src), str(img)], stderr=subprocess.PIPE)
        # past the creation (header, L1, refcounts), then at a random point
        deadline = time.monotonic() + 20
        while p.poll() is None and time.monotonic() < deadline and \
                (not img.exists() or os.path.getsize(img) < (1 << 20)):
            time.sleep(0.005)
        time.sleep(rnd.uniform(0.0, 0.4))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
        qimg("check", img, ok=(0, 3))  # 3: leaks only (2 would be corruption)
        # what the image maps is the source's; the rest reads as zeros
        flat = tmp_path / "flat.raw"
        qimg("convert", "-O", "raw", img, flat)
        a, b = open(src, "rb").read(), open(flat, "rb").read()
        assert len(a) == len(b)
        for c in range(0, len(a), 65536):
            got = b[c:c + 65536]
            assert got == a[c:c + 65536] or got == bytes(65536), f"cluster at {c}"
    assert killed >= 3, killed
