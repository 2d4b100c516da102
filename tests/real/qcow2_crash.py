#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kill -9 of vmm while a Linux guest writes a qcow2 disk (or, with
--format raw, a raw one), several times over the same image
(test_qcow2_crash.py runs this inside the L1).

Each iteration boots the kit CD under vmm with a virtio script disk (vda)
and the qcow2 image (vdb). The guest writes rounds k = 1..ROUNDS: round k
fills its own 1 MiB region (offset k MiB) with the line "I<iter> R<k>",
through the page cache, then runs `sync` and prints "SYNCED <k>". After
the marker of a randomly chosen round this driver waits a random fraction
of a second (the next round is being written) and SIGKILLs vmm. Then
`vmm-img check` and `qemu-img check` must find nothing worse than leaked
clusters, and the image, flattened with `vmm-img convert -O raw`, must hold
every round acknowledged by a SYNCED marker before the kill, complete.
Leaks are repaired (`vmm-img check -r leaks`) before the next iteration.
A raw image has no metadata to check (both check codes print as 0): only
the synced rounds are verified, from the file itself.

Prints "@@iter i killed-after=K synced=S vmm-check=RC qemu-check=RC
verified=N bad=LIST" per iteration and "@@crash-done" at the end. Also
checks cache=none (odirect_check): on a file system without O_DIRECT (the
L1's tmpfs on Linux 6.1) vmm fails with one line; on one with it, vmm runs
with the image open O_DIRECT.

    qcow2_crash.py --vmm BUILD/vmm --vmm-img BUILD/vmm-img --iso KIT.iso \
        --dir DIR [--iterations 3] [--seed S] [--format qcow2|raw] [--crash-only]
"""
import argparse
import errno
import os
import random
import re
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import guestkit  # noqa: E402

ROUNDS = 12
REGION = 1 << 20
DISK_MB = 16

SCRIPT = """#VMMKIT-SCRIPT
k=1
while [ $k -le %(rounds)d ]; do
	l=$(printf 'I%%d R%%02d ' %(it)d $k)
	yes "$l" | head -c %(region)d | dd of=/dev/vdb bs=65536 seek=$((k * 16)) conv=notrunc 2>/dev/null
	sync
	echo "SYNCED $k"
	k=$((k + 1))
done
"""


def line_for(it, k):
    return ("I%d R%02d \n" % (it, k)).encode()


def region_ok(data, it, k):
    ln = line_for(it, k)
    want = (ln * (REGION // len(ln) + 1))[:REGION]
    return data[k * REGION:(k + 1) * REGION] == want


def run_boot(argv, target, rng, log):
    """Runs vmm until SYNCED <target> (+ a random delay), then SIGKILLs it.
    Returns (highest SYNCED seen before the kill, killed)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    synced, buf, kill_at = 0, b"", None
    deadline = time.time() + 240
    idle_since = time.time()
    while True:
        now = time.time()
        if kill_at is not None and now >= kill_at:
            break
        if now > deadline or now - idle_since > 90:
            log.write(b"\n@@ boot timed out\n")
            break
        r, _, _ = select.select([p.stdout], [], [], 0.05)
        if not r:
            if p.poll() is not None:
                break
            continue
        d = os.read(p.stdout.fileno(), 4096)
        if not d:
            break
        idle_since = now
        log.write(d)
        buf += d
        while b"\n" in buf:
            ln, buf = buf.split(b"\n", 1)
            m = re.search(rb"SYNCED (\d+)", ln)
            if m and kill_at is None:
                synced = int(m.group(1))
                if synced >= target:
                    kill_at = time.time() + rng.uniform(0.0, 0.8)
    # SYNCED lines that arrived in the same read as the one we act on count
    # only if they came before the kill: we kill now, then stop reading.
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    return synced, kill_at is not None


def fs_takes_odirect(path):
    """Whether the file system under path opens files with O_DIRECT (tmpfs
    refuses it before Linux 6.6, takes it from 6.6 on)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    except OSError as e:
        if e.errno == errno.EINVAL:
            return False
        raise
    os.close(fd)
    return True


def direct_fds(pid, path):
    """(fds of process pid open on path, how many of them have O_DIRECT)."""
    fds = direct = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != path:
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                flags = int(re.search(r"^flags:\s*([0-7]+)", f.read(), re.M).group(1), 8)
        except (FileNotFoundError, ProcessLookupError):
            continue
        fds += 1
        direct += bool(flags & os.O_DIRECT)
    return fds, direct


def odirect_check(vmm, d):
    """cache=none where the file system has no O_DIRECT (the L1's tmpfs on
    Linux 6.1) fails with one line: "@@odirect refused rc=RC lines=N
    msg=...". Where it has O_DIRECT, vmm runs with the image open O_DIRECT:
    "@@odirect accepted alive=1 fds=N direct=N"."""
    f = os.path.join(d, "odirect.img")
    with open(f, "wb") as fh:
        fh.truncate(1 << 20)
    argv = [vmm, "-m", "16", "-nographic", "-drive",
            "file=%s,if=virtio,format=raw,cache=none" % f]
    if not fs_takes_odirect(f):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        msg = p.stdout.decode(errors="replace").strip().splitlines()
        print("@@odirect refused rc=%d lines=%d msg=%s" % (p.returncode, len(msg),
                                                           msg[0] if msg else ""))
        return
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        fds = direct = 0
        deadline = time.time() + 30
        while time.time() < deadline and p.poll() is None:
            fds, direct = direct_fds(p.pid, f)
            if fds:
                break
            time.sleep(0.1)
        time.sleep(1.0)     # still running a second after the image opened
        print("@@odirect accepted alive=%d fds=%d direct=%d" % (p.poll() is None, fds, direct))
    finally:
        p.kill()
        p.wait()


DISCARD_SCRIPT = """#VMMKIT-SCRIPT
for d in vdb vdc; do
	yes VMM-DISCARD-0123456789 | head -c 4194304 | dd of=/dev/$d bs=65536 2>/dev/null
	sync
	blkdiscard -o 1048576 -l 2097152 /dev/$d && echo "guest-discard $d ok"
	sync
	echo 3 > /proc/sys/vm/drop_caches
	echo "guest-discard $d zeros=$(dd if=/dev/$d bs=65536 skip=16 count=32 2>/dev/null | tr -d '\\000' | wc -c)"
done
"""


def discard_check(a):
    """The guest's blkdiscard on a raw virtio disk punches a hole in the
    image: the range reads as zeros in the guest and in the file, the rest
    is intact, and the file has fewer allocated blocks."""
    body = DISCARD_SCRIPT.encode()
    script = os.path.join(a.dir, "discard-script.img")
    with open(script, "wb") as fh:
        fh.write(body + b"\0" * (-len(body) % 512 + 512))
    disk = os.path.join(a.dir, "discard.img")
    with open(disk, "wb") as fh:
        fh.truncate(8 << 20)
    qdisk = os.path.join(a.dir, "discard.qcow2")
    subprocess.run([a.vmm_img, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536",
                    qdisk, "8M"], check=True)
    argv = guestkit.vmm_argv("vmm", 256, cdrom=a.iso, extra=[
        "-drive", "file=%s,if=virtio,format=raw" % script,
        "-drive", "file=%s,if=virtio,format=raw" % disk,
        "-drive", "file=%s,if=virtio,format=qcow2" % qdisk])
    for _attempt in range(2):
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=240)
            out = p.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
        if "VMMKIT-DONE" in out:
            break
    for line in out.splitlines():
        if "guest-discard" in line:
            print("@@" + line.strip())
    ln = b"VMM-DISCARD-0123456789\n"
    pat = (ln * ((4 << 20) // len(ln) + 1))[:4 << 20]

    def judge(path):
        with open(path, "rb") as fh:
            data = fh.read(4 << 20)
        hole = data[1 << 20:3 << 20] == bytes(2 << 20)
        rest = data[:1 << 20] == pat[:1 << 20] and data[3 << 20:] == pat[3 << 20:]
        return hole, rest
    hole, rest = judge(disk)
    print("@@discard hole=%d rest=%d blocks=%d" % (hole, rest, os.stat(disk).st_blocks))
    flat = os.path.join(a.dir, "discard-flat.raw")
    subprocess.run([a.vmm_img, "convert", "-O", "raw", qdisk, flat], check=True)
    hole, rest = judge(flat)
    qc = subprocess.run(["qemu-img", "check", "-f", "qcow2", qdisk], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT)
    # zero clusters: qemu-img map lists the hole as zero, not as data
    mp = subprocess.run(["qemu-img", "map", "--output=json", "-f", "qcow2", qdisk],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
    zero_mapped = '"start": 1048576, "length": 2097152, "depth": 0, "present": true, "zero": true, "data": false' in mp
    print("@@qdiscard hole=%d rest=%d qemu-check=%d zero-mapped=%d" % (
        hole, rest, qc.returncode, zero_mapped))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--vmm-img", required=True)
    ap.add_argument("--iso", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--format", choices=("qcow2", "raw"), default="qcow2")
    ap.add_argument("--crash-only", action="store_true",
                    help="skip the O_DIRECT and discard checks")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    print("@@seed %d" % seed)
    os.makedirs(a.dir, exist_ok=True)
    if not a.crash_only:
        odirect_check(a.vmm, a.dir)
        discard_check(a)
    raw = a.format == "raw"
    img = os.path.join(a.dir, "crash.raw" if raw else "crash.qcow2")
    flat = img if raw else os.path.join(a.dir, "crash.raw")
    if raw:
        with open(img, "wb") as fh:
            fh.truncate(DISK_MB << 20)
    else:
        subprocess.run([a.vmm_img, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536",
                        img, "%dM" % DISK_MB], check=True)
    log = open(os.path.join(a.dir, "console.log"), "ab")
    for it in range(1, a.iterations + 1):
        body = (SCRIPT % {"rounds": ROUNDS, "it": it, "region": REGION}).encode()
        script = os.path.join(a.dir, "script-%d.img" % it)
        with open(script, "wb") as fh:
            fh.write(body + b"\0" * (-len(body) % 512 + 512))
        argv = guestkit.vmm_argv("vmm", 256, cdrom=a.iso, extra=[
            "-drive", "file=%s,if=virtio,format=raw" % script,
            "-drive", "file=%s,if=virtio,format=%s" % (img, a.format)])
        target = rng.randint(2, ROUNDS - 2)
        t0 = time.time()
        # One boot per iteration: a boot that hangs or resets before its
        # kill point fails the test (killed=0); the harness retries the
        # whole command only when the environment failed (a vmm that
        # survives SIGKILL, a frozen L1).
        start = log.tell()
        synced, killed = run_boot(argv, target, rng, log)
        log.flush()
        with open(log.name, "rb") as fh:
            fh.seek(start)
            console = fh.read().decode("utf-8", "replace")
        for ln in console.replace("\r", "").split("\n"):
            if re.search(r"Kernel panic|\bBUG:|\bOops\b|SeaBIOS \(version", ln):
                print("@@console %d: %s" % (it, ln.strip()))
        if not killed:
            print("@@console-tail %d:\n%s" % (it, console[-3000:]))
        if raw:
            # No metadata to check, and the file is its own flat image.
            vc = qc = subprocess.CompletedProcess([], 0, b"")
            with open(flat, "rb") as fh:
                data = fh.read()
            bad = qbad = [k for k in range(1, synced + 1) if not region_ok(data, it, k)]
        else:
            vc = subprocess.run([a.vmm_img, "check", img], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
            qc = subprocess.run(["qemu-img", "check", "-f", "qcow2", img],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            # Read back with both tools: vmm-img alone could read a misplaced
            # write back from where vmm put it.
            bads = []
            for tool in ([a.vmm_img, "convert", "-O", "raw"],
                         ["qemu-img", "convert", "-f", "qcow2", "-O", "raw"]):
                subprocess.run(tool + [img, flat], check=True)
                with open(flat, "rb") as fh:
                    data = fh.read()
                bads.append([k for k in range(1, synced + 1) if not region_ok(data, it, k)])
            bad, qbad = bads
        print("@@iter %d killed=%d target=%d synced=%d vmm-check=%d qemu-check=%d "
              "verified=%d bad=%s qemu-img-verified=%d qemu-img-bad=%s secs=%.0f" % (
                  it, killed, target, synced, vc.returncode, qc.returncode,
                  synced - len(bad), ",".join(map(str, bad)) or "-",
                  synced - len(qbad), ",".join(map(str, qbad)) or "-", time.time() - t0))
        if vc.returncode not in (0, 3) or qc.returncode not in (0, 3):
            sys.stdout.write(vc.stdout.decode(errors="replace")[-1500:])
            sys.stdout.write(qc.stdout.decode(errors="replace")[-1500:])
        if vc.returncode == 3:
            subprocess.run([a.vmm_img, "check", "-r", "leaks", img], stdout=subprocess.DEVNULL)
        sys.stdout.flush()
    print("@@crash-done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
