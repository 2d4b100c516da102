# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the image-format tests: vmm-img against qemu-img."""
import os
import random
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VMM_IMG = os.environ.get("VMM_IMG", os.path.join(ROOT, "build", "vmm-img"))
IMG_WRITER = os.environ.get("IMG_WRITER", os.path.join(ROOT, "build", "img-writer"))


def run(*args, ok=(0,), cwd=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd)
    if ok is not None and p.returncode not in ok:
        raise AssertionError(f"{args}: exit {p.returncode}\nstdout:\n{p.stdout}\n"
                             f"stderr:\n{p.stderr}")
    return p


def vimg(*args, **kw):
    return run(VMM_IMG, *args, **kw)


def qimg(*args, **kw):
    return run("qemu-img", *args, **kw)


def qio(img, fmt, *cmds):
    args = ["qemu-io", "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    return run(*args, img)


@pytest.fixture(autouse=True)
def _tools():
    # qemu-img is the test-only peer (qemu-utils, from tools/deps.sh):
    # without it these tests fail rather than skip.
    for t in ("qemu-img", "qemu-io"):
        assert shutil.which(t), f"{t} is missing: run tools/deps.sh"
    assert os.path.exists(VMM_IMG), f"{VMM_IMG} is missing: run make"


def make_data(path, size, seed=1, fragments=120):
    """A sparse raw image with random and compressible data scattered."""
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(fragments):
            off = rnd.randrange(0, size - 300000)
            n = rnd.randrange(1, 300000)
            f.seek(off)
            if i % 2:
                f.write(rnd.randbytes(n))
            else:
                f.write((b"vmm %d " % i) * (n // 8))
        f.seek(0)
        f.write(b"\xeb\x3c" + bytes(508) + b"\x55\xaa")


def same_as_qemu(img, tmp_path, fmt=None, snap=None):
    """vmm-img and qemu-img flatten img to the same raw bytes."""
    a, b = tmp_path / "vmm.raw", tmp_path / "qemu.raw"
    extra = ["-f", fmt] if fmt else []
    sa = ["-l", snap] if snap else []
    sb = ["-l", f"snapshot.name={snap}"] if snap else []
    vimg("convert", *extra, *sa, "-O", "raw", img, a)
    qimg("convert", *extra, *sb, "-O", "raw", img, b)
    assert a.stat().st_size == b.stat().st_size
    run("cmp", a, b)
    return a
