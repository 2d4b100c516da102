# SPDX-License-Identifier: GPL-2.0-or-later
"""commit -b BASE (into an image further down the chain; implies -d),
-p, -r and -t against qemu-img (issue 20): the same images afterwards
(guest-visible contents of every layer, `qemu-img check` clean), the
same progress lines, qemu-img's errors for a base not in the chain and
for bad values, status 1 and nothing written."""
import os
import time

import pytest

from conftest import qimg, qio, vimg


def chain(d, depth=4, base_fmt="qcow2"):
    """d/c0 (base, 'base_fmt') <- c1 <- ... <- c{depth-1}: overlapping
    writes in every layer, zero clusters in the middle ones."""
    d.mkdir()
    names = [f"c{i}.{base_fmt if i == 0 else 'qcow2'}" for i in range(depth)]
    qimg("create", "-q", "-f", base_fmt, d / names[0], "8M")
    for i in range(1, depth):
        qimg("create", "-q", "-f", "qcow2", "-b", names[i - 1], "-F",
             base_fmt if i == 1 else "qcow2", d / names[i])
    qio(d / names[0], base_fmt, "write -P 0x10 0 8M")
    for i in range(1, depth):
        cmds = [f"write -P 0x{0x20 + i:x} {i * 640}k 1M", f"write -P 0x{0x40 + i:x} 6M 96k"]
        if i < depth - 1:
            cmds.append(f"write -z {i * 1536}k 128k")
        qio(d / names[i], "qcow2", *cmds)
    return names


def flat(img, out, fmt=None):
    qimg("convert", *(["-f", fmt] if fmt else []), "-O", "raw", img, out)
    return out.read_bytes()


@pytest.mark.parametrize("depth,target", [(4, 0), (4, 1), (3, 0), (2, 0)])
def test_commit_base_down_the_chain(tmp_path, depth, target):
    v, q = tmp_path / "v", tmp_path / "q"
    names = chain(v, depth)
    chain(q, depth)
    top = names[-1]
    before = flat(v / top, tmp_path / "before.raw")
    vimg("commit", "-b", names[target], v / top)
    qimg("commit", "-q", "-b", names[target], q / top)
    for i, n in enumerate(names):
        # every layer reads as qemu-img leaves it
        assert flat(v / n, tmp_path / "a.raw") == flat(q / n, tmp_path / "b.raw"), n
        qimg("check", "-q", v / n)
    # -b implies -d: the top still reads as before, and so does the base
    assert flat(v / top, tmp_path / "after.raw") == before
    assert flat(v / names[target], tmp_path / "base.raw") == before


def test_commit_base_raw(tmp_path):
    v, q = tmp_path / "v", tmp_path / "q"
    names = chain(v, 3, "raw")
    chain(q, 3, "raw")
    vimg("commit", "-b", names[0], v / names[-1])
    qimg("commit", "-q", "-b", names[0], q / names[-1])
    assert (v / names[0]).read_bytes() == (q / names[0]).read_bytes()


def test_commit_base_named_as_qemu_names_it(tmp_path):
    """-b as recorded, relative to the overlay's directory from elsewhere,
    and absolute."""
    d = tmp_path / "d"
    names = chain(d, 3)
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    for want in (names[0], str(d / names[0])):
        from conftest import run
        import conftest
        run(conftest.VMM_IMG, "commit", "-q", "-b", want, d / names[-1], cwd=sub)
        qimg("check", "-q", d / names[0])


@pytest.mark.parametrize("want", ["nonesuch.qcow2", "c3.qcow2", "c1.qcow2x"])
def test_commit_base_not_in_chain(tmp_path, want):
    d = tmp_path / "d"
    names = chain(d, 4)
    snap = {n: (d / n).read_bytes() for n in names}
    p = vimg("commit", "-b", want, d / names[-1], ok=(1,))
    r = qimg("commit", "-b", want, d / names[-1], ok=(1,))
    assert p.stdout == "" and p.stderr.count("\n") == 1
    assert p.stderr.replace("vmm-img: ", "") == r.stderr.replace("qemu-img: ", "")
    assert {n: (d / n).read_bytes() for n in names} == snap


@pytest.mark.parametrize("opts", [["-p"], ["-p", "-d"], ["-p", "-b", "c0.qcow2"], ["-q", "-p"]])
def test_commit_progress_as_qemu(tmp_path, opts):
    v, q = tmp_path / "v", tmp_path / "q"
    names = chain(v, 3)
    chain(q, 3)
    a = vimg("commit", *opts, v / names[-1]).stdout
    b = qimg("commit", *opts, q / names[-1]).stdout

    def steps(out):
        # (text mode reads each '\r' as a line end) qemu-img repeats
        # steps as it goes: the distinct ones
        s = []
        for part in out.split("\n"):
            if not s or s[-1] != part:
                s.append(part)
        return s
    sa, sb = steps(a), steps(b)
    assert (sa[0], sa[-3:]) == (sb[0], sb[-3:]), (a, b)
    if "-q" in opts:
        assert a == b == ""
    else:
        assert sa[0] == "    (0.00/100%)"
        assert sa[-3:] == ["    (100.00/100%)", "Image committed.", ""]
    assert flat(v / names[1], tmp_path / "a.raw") == flat(q / names[1], tmp_path / "b.raw")
    assert flat(v / names[-1], tmp_path / "a.raw") == flat(q / names[-1], tmp_path / "b.raw")


BAD = [["-r", "abc"], ["-r", "-5"], ["-r", "9E"], ["-t", "bogus"]]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: " ".join(b))
def test_commit_bad_values(tmp_path, bad):
    d = tmp_path / "d"
    names = chain(d, 2)
    snap = {n: (d / n).read_bytes() for n in names}
    p = vimg("commit", *bad, d / names[-1], ok=(1,))
    r = qimg("commit", *bad, d / names[-1], ok=(1,))
    assert p.stdout == "" and p.stderr.count("\n") == 1
    assert p.stderr.replace("vmm-img: ", "") == r.stderr.replace("qemu-img: ", "")
    assert {n: (d / n).read_bytes() for n in names} == snap


def test_commit_rate_limit(tmp_path):
    """-r 2M: 4 MiB committed take about two seconds."""
    d = tmp_path / "d"
    qimg("create", "-q", "-f", "qcow2", d.mkdir() or d / "b.qcow2", "8M")
    qimg("create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", d / "t.qcow2")
    qio(d / "t.qcow2", "qcow2", "write -P 0x33 0 4M")
    t = time.monotonic()
    vimg("commit", "-r", "2M", "-t", "none", d / "t.qcow2")
    took = time.monotonic() - t
    assert took >= 1.5, took
    assert qio(d / "b.qcow2", "qcow2", "read -P 0x33 0 4M").stdout.count("fail") == 0
    qimg("check", "-q", d / "b.qcow2")
    assert os.path.exists(d / "t.qcow2")
