# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-img compare against qemu-img's (issue 20): compare reads and
compares chunks on one thread per CPU and takes the verdicts in order, so
the first mismatch it reports is the one a sequential compare reports:
the same stdout and status as qemu-img for identical images, mismatches
(several, the first early or late), size mismatches, holes, compressed
images; a read error is status 4 with one line."""
import os

import pytest

from conftest import make_data, qimg, qio, vimg

MiB = 1 << 20


def both(*args, ok=(0, 1)):
    v = vimg("compare", *args, ok=ok)
    q = qimg("compare", *args, ok=ok)
    assert (v.returncode, v.stdout) == (q.returncode, q.stdout), (v, q)
    return v


def poke(path, off, data=b"\xff"):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "data.raw"
    make_data(p, 48 * MiB, seed=5, fragments=100)
    return p


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "qcow2-c"])
def test_identical(tmp_path, data, fmt):
    o = tmp_path / "o.img"
    vimg("convert", *(["-c"] if fmt == "qcow2-c" else []), "-O", fmt.split("-")[0], data, o)
    v = both(data, o)
    assert v.returncode == 0 and v.stdout == "Images are identical.\n"


@pytest.mark.parametrize("spots", [[40 * MiB + 3], [1000, 47 * MiB], [5 * MiB + 1000, 20 * MiB,
                                                                       44 * MiB + 7]])
@pytest.mark.parametrize("fmt", ["raw", "qcow2-c"])
def test_first_mismatch_in_order(tmp_path, data, spots, fmt):
    """The first differing sector is reported, however late the others
    are found; a late first one too."""
    o = tmp_path / "o.img"
    changed = tmp_path / "changed.raw"
    changed.write_bytes(data.read_bytes())
    for s in spots:
        poke(changed, s, b"\x5a\xa5")
    vimg("convert", *(["-c"] if fmt == "qcow2-c" else []), "-O", fmt.split("-")[0], changed, o)
    for _ in range(3):  # thread timing differs from run to run
        v = both(data, o)
        assert v.returncode == 1 and v.stdout.startswith("Content mismatch at offset "), v


def test_sizes(tmp_path, data):
    """A longer image: equal when its tail is zeros (a warning first),
    a mismatch in the tail otherwise; -s refuses any size mismatch."""
    longer = tmp_path / "longer.raw"
    longer.write_bytes(data.read_bytes())
    with open(longer, "r+b") as f:
        f.truncate(50 * MiB)
    v = both(data, longer)
    assert v.returncode == 0 and v.stdout.startswith("Warning: Image size mismatch!"), v
    poke(longer, 49 * MiB + 77)
    assert both(data, longer).returncode == 1
    assert both(longer, data).returncode == 1
    assert both("-s", data, longer).returncode == 1


def test_holes_both_sides(tmp_path):
    """Two sparse qcow2 images: the ranges unallocated in both are not
    read (they are zeros in both); data in one against a hole in the
    other is compared."""
    a, b = tmp_path / "a.qcow2", tmp_path / "b.qcow2"
    for p in (a, b):
        qimg("create", "-q", "-f", "qcow2", p, "64M")
    qio(a, "qcow2", "write -P 0 0 64k", "write -P 7 32M 64k")
    qio(b, "qcow2", "write -P 7 32M 64k")
    assert both(a, b).returncode == 0
    qio(b, "qcow2", "write -P 1 60M 512")
    v = both(a, b)
    assert v.returncode == 1 and v.stdout == "Content mismatch at offset 62914560!\n", v


def test_read_error_status_4(tmp_path, data):
    """A source that cannot be read half way: status 4, one line."""
    q = tmp_path / "q.qcow2"
    qimg("convert", "-O", "qcow2", data, q)
    with open(q, "r+b") as f:  # whole clusters past the end: EIO, not zeros
        f.truncate(os.path.getsize(q) // 2 & ~0xffff)
    for _ in range(3):
        v = vimg("compare", data, q, ok=(4,))
        ours = [ln for ln in v.stderr.splitlines() if ln.startswith("vmm-img:")]
        assert len(ours) == 1 and ours[0].startswith("vmm-img: Error while reading offset "), v


def test_unallocated_in_both_not_read(tmp_path):
    """Two empty 4 TiB qcow2 images compare in well under a minute: the
    ranges unallocated in both are skipped, not read as 4 TiB of zeros
    (the tree before read them: hours). Equal, as qemu-img says."""
    import subprocess
    a, b = tmp_path / "a.qcow2", tmp_path / "b.qcow2"
    for p in (a, b):
        qimg("create", "-q", "-f", "qcow2", p, "4T")
    qio(b, "qcow2", "write -P 0 3T 64k")  # explicit zeros in one: still equal
    import conftest
    p = subprocess.run([conftest.VMM_IMG, "compare", str(a), str(b)], capture_output=True,
                       text=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, "Images are identical.\n"), p
