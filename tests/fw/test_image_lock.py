# SPDX-License-Identifier: GPL-2.0-or-later
"""Image locking as QEMU's: a running vmm holds QEMU's byte-range OFD
locks on its images (the same bytes QEMU takes, seen in /proc/locks), so
qemu-img and vmm-img refuse to open an image in use without -U (with
qemu-img's message and status 1) and read it with -U; a second vmm and
QEMU itself are refused the image, and vmm is refused an image QEMU runs
on; read-only and -snapshot users share the image with readers."""
import os
import shutil
import subprocess
import time

import pytest

import fwskip
from conftest import ROOT, VMM

VMM_IMG = os.environ.get("VMM_IMG", os.path.join(ROOT, "build", "vmm-img"))
QEMU = "qemu-system-x86_64"


@pytest.fixture(autouse=True)
def _needs():
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    for t in ("qemu-img", QEMU):
        if not shutil.which(t):
            fwskip.unavailable(f"{t} is missing: run tools/deps.sh")


def locks_of(path):
    """The byte ranges of the OFD read locks on 'path' (from /proc/locks)."""
    st = os.stat(path)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    out = []
    for line in open("/proc/locks"):
        f = line.split()
        if f[1] == "OFDLCK" and f[3] == "READ" and f[5] == dev:
            out += list(range(int(f[6]), int(f[7]) + 1))
    return sorted(out)


class Holder:
    """A paused vmm (or QEMU) with 'drive' args, until the locks show."""

    def __init__(self, path, *drive, qemu=False):
        exe = [QEMU, "-nodefaults"] if qemu else [VMM]
        self.p = subprocess.Popen([*exe, "-S", "-display", "none", *drive],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not locks_of(path):
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"{exe[0]} took no locks on {path}: {self.p.stderr.read()}")
            time.sleep(0.05)
        # QEMU takes its bytes one by one: wait for the set to settle
        last = None
        while locks_of(path) != last:
            last = locks_of(path)
            time.sleep(0.3)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def run(*args, ok):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    assert p.returncode in ok, (args, p.returncode, p.stderr)
    return p


@pytest.fixture
def image(tmp_path):
    img = tmp_path / "disk.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", img, "16M", ok=(0,))
    return img


def in_use(path):
    return f"Is another process using the image [{path}]?\n"


def test_vmm_takes_qemus_lock_bytes(image, tmp_path):
    raw = tmp_path / "disk.raw"
    run("qemu-img", "create", "-q", "-f", "raw", raw, "16M", ok=(0,))
    for img, fmt in ((image, "qcow2"), (raw, "raw")):
        seen = {}
        for who in ("vmm", "qemu"):
            h = Holder(img, "-drive", f"file={img},format={fmt},if=ide", qemu=who == "qemu")
            try:
                seen[who] = locks_of(img)
            finally:
                h.close()
        assert seen["vmm"] == seen["qemu"], seen
        # writer: consistent read + write held, write not shared
        assert {100, 101, 201} <= set(seen["vmm"])
        assert locks_of(img) == []  # gone with the process


@pytest.mark.parametrize("tool", ["qemu-img", VMM_IMG])
@pytest.mark.parametrize("cmd", [["info"], ["check"], ["map"], ["convert", "-O", "raw"],
                                 ["compare"]])
def test_tools_refused_without_force_share(image, tmp_path, tool, cmd):
    extra = {"convert": [tmp_path / "out.raw"], "compare": [image]}.get(cmd[0], [])
    h = Holder(image, "-hda", image)
    try:
        # compare's errors are status 2 (1: the images differ)
        p = run(tool, *cmd, image, *extra, ok=(2,) if cmd[0] == "compare" else (1,))
        name = os.path.basename(tool)
        assert p.stderr == (f"{name}: Could not open '{image}': Failed to get shared "
                            f"\"write\" lock\n" + in_use(image)), p.stderr
        assert not (tmp_path / "out.raw").exists()
        # -U (--force-share) reads it anyway
        flag = "-U" if cmd[0] != "check" else "--force-share"
        run(tool, cmd[0], flag, *cmd[1:], image, *extra, ok=(0,))
    finally:
        h.close()
    run(tool, *cmd, image, *extra, ok=(0,))  # free again


def test_second_vmm_refused(image):
    h = Holder(image, "-hda", image)
    try:
        p = run(VMM, "-S", "-display", "none", "-hda", image, ok=(1,))
        assert p.stderr.endswith(f"Failed to get \"write\" lock\n" + in_use(image)), p.stderr
        # a writer may not run the image under a reader either (-U does not
        # lift a writer's locks)
        p = run(VMM_IMG, "resize", image, "32M", ok=(1,))
        assert "Failed to get" in p.stderr
    finally:
        h.close()


def test_qemu_and_vmm_exclude_each_other(image):
    h = Holder(image, "-hda", image)
    try:
        p = run(QEMU, "-nodefaults", "-S", "-display", "none", "-hda", image, ok=(1,))
        assert p.stderr == (f"{QEMU}: -hda {image}: Failed to get \"write\" lock\n" +
                            in_use(image)), p.stderr
    finally:
        h.close()
    h = Holder(image, "-hda", image, qemu=True)
    try:
        p = run(VMM, "-S", "-display", "none", "-hda", image, ok=(1,))
        assert p.stderr.endswith(f"Failed to get \"write\" lock\n" + in_use(image)), p.stderr
        p = run(VMM_IMG, "info", image, ok=(1,))
        assert "Failed to get shared \"write\" lock" in p.stderr
        run(VMM_IMG, "info", "-U", image, ok=(0,))
    finally:
        h.close()


@pytest.mark.parametrize("how", [["-drive", "file={},if=ide,readonly=on"],
                                 ["-snapshot", "-hda", "{}"]])
def test_readers_share(image, how):
    """A read-only drive and -snapshot's base are opened read-only: shared
    locks, so readers go on, writers are refused."""
    args = [a.format(image) for a in how]
    h = Holder(image, *args)
    try:
        assert 101 not in locks_of(image)
        run("qemu-img", "info", image, ok=(0,))
        run(VMM_IMG, "info", image, ok=(0,))
        p = run(QEMU, "-nodefaults", "-S", "-display", "none", "-hda", image, ok=(1,))
        assert "Failed to get \"write\" lock" in p.stderr
        p = run(VMM, "-S", "-display", "none", "-hda", image, ok=(1,))
        assert "Failed to get \"write\" lock" in p.stderr
        # another reader runs alongside
        h2 = Holder(image, *args)
        h2.close()
    finally:
        h.close()


@pytest.mark.parametrize("cmd", ["convert", "dd", "create"])
def test_no_creation_over_an_image_in_use(image, tmp_path, cmd):
    """convert and dd onto an image a vmm runs fail as qemu-img's do
    (before anything is truncated); create too (qemu-img 10's create
    would clobber it)."""
    src = tmp_path / "in.raw"
    run("qemu-img", "create", "-q", "-f", "raw", src, "1M", ok=(0,))
    args = {"convert": ["convert", "-O", "qcow2", src, image],
            "dd": ["dd", "-O", "qcow2", f"if={src}", f"of={image}"],
            "create": ["create", "-q", "-f", "qcow2", image, "1M"]}[cmd]
    before = image.read_bytes()
    h = Holder(image, "-hda", image)
    try:
        p = run(VMM_IMG, *args, ok=(1,))
        lock = "Failed to get \"write\" lock\n" + in_use(image)
        head = {"convert": f"{image}: error while converting qcow2: ",
                "dd": f"{image}: error while creating output image: ",
                "create": f"{image}: "}[cmd]
        assert p.stderr == "vmm-img: " + head + lock, p.stderr
        if cmd != "create":
            q = run("qemu-img", *args, ok=(1,))
            assert q.stderr == "qemu-img: " + head + lock, q.stderr
        assert image.read_bytes() == before
    finally:
        h.close()
    run(VMM_IMG, *args, ok=(0,))


def test_incoming_destination_takes_no_locks(tmp_path):
    """vmm -incoming on the image its source (same host, shared storage)
    runs on: it starts and waits, taking no locks (QEMU opens such images
    inactive)."""
    raw = tmp_path / "disk.raw"
    run("qemu-img", "create", "-q", "-f", "raw", raw, "16M", ok=(0,))
    drive = ["-drive", f"file={raw},format=raw,if=ide"]
    h = Holder(raw, *drive)
    held = locks_of(raw)
    sock = tmp_path / "mig.sock"
    dst = subprocess.Popen([VMM, "-display", "none", *drive, "-incoming", f"unix:{sock}"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            assert dst.poll() is None, dst.stderr.read()
            assert time.monotonic() < deadline, "no incoming socket"
            time.sleep(0.05)
        assert dst.poll() is None
        assert locks_of(raw) == held
    finally:
        dst.kill()
        dst.wait()
        h.close()
