# SPDX-License-Identifier: GPL-2.0-or-later
"""Persistent dirty bitmaps kept honest across writable opens (issue 20):
vmm-img maintains them as qemu-img does. Every command runs on one image
and qemu-img's same command on its twin; afterwards both carry the same
bitmaps, flags and bits (read from the file by the spec's layout) and
`qemu-img check` passes. Before this work every writable open cleared
the bitmaps' autoclear bit, so the bitmaps were lost (and their
clusters leaked) after vmm-img resize, commit, rebase, bench, convert -n,
snapshot or amend."""
import json
import signal
import subprocess
import time

import pytest

from conftest import IMG_WRITER, qimg, qio, vimg
from test_bitmap import read_bits

NAMES = ("b1", "fine", "off")


def with_bitmaps(img, size="64M", opts=()):
    """An image with an enabled 64K bitmap, an enabled 512-byte one and a
    disabled one, and one write they recorded."""
    qimg("create", "-q", "-f", "qcow2", *opts, img, size)
    qimg("bitmap", "--add", img, "b1")
    qimg("bitmap", "--add", "-g", "512", img, "fine")
    qimg("bitmap", "--add", img, "off")
    qimg("bitmap", "--disable", img, "off")
    qio(img, "qcow2", "write -P 1 0 64k")
    return img


def fmt_specific(tool, img):
    return json.loads(tool("info", "--output=json", img).stdout)["format-specific"]


def same_bitmaps(v, q, names=NAMES):
    """vmm-img's image and qemu-img's twin: the same info (both tools
    agree on it) and bits, and qemu-img check clean."""
    fq = fmt_specific(qimg, q)
    assert fq["data"].get("bitmaps"), "qemu-img's twin lost its bitmaps"
    assert fmt_specific(qimg, v) == fq
    assert fmt_specific(vimg, v) == fq
    for n in names:
        assert read_bits(v, n) == read_bits(q, n), n
    qimg("check", "-q", v)


def twins(tmp_path, **kw):
    return (with_bitmaps(tmp_path / "v.qcow2", **kw), with_bitmaps(tmp_path / "q.qcow2", **kw))


def both(v, q, *args, ok=(0,)):
    """The same command, vmm-img on v and qemu-img on q ({} is the image)."""
    pv = vimg(*[v if a == "{}" else a for a in args], ok=ok)
    pq = qimg(*[q if a == "{}" else a for a in args], ok=ok)
    return pv, pq


@pytest.mark.parametrize("args", [
    ("resize", "{}", "128M"), ("resize", "{}", "+1M"), ("resize", "--shrink", "{}", "32M"),
    ("resize", "--shrink", "{}", "33M"),
    # not a multiple of the cluster size: the zeroed tail of the last
    # cluster is not a write the bitmaps record (qemu-img's are unmarked)
    ("resize", "--shrink", "{}", "33555968"), ("resize", "--shrink", "{}", "32256"),
    ("bench", "-w", "-c", "8", "-o", "8M", "-s", "100k", "{}"),
    ("bench", "-w", "-c", "3", "-o", "1M", "-S", "3000", "-s", "1k", "{}"),
    ("snapshot", "-c", "s1", "{}"),
    ("amend", "-o", "refcount_bits=64", "{}"), ("amend", "-o", "refcount_bits=1", "{}"),
    ("amend", "-o", "lazy_refcounts=on", "{}"), ("amend", "-o", "size=100M", "{}"),
    ("amend", "-o", "size=48M,refcount_bits=8", "{}"),
])
@pytest.mark.parametrize("cs", ["64k", "4k"])
def test_command_keeps_bitmaps(tmp_path, args, cs):
    v, q = twins(tmp_path, opts=("-o", f"cluster_size={cs}"))
    both(v, q, *args)
    same_bitmaps(v, q)


def test_convert_into_image_with_bitmaps(tmp_path):
    """convert -n writes the whole target: every enabled bit set."""
    v, q = twins(tmp_path)
    src = tmp_path / "src.qcow2"
    qimg("create", "-q", "-f", "qcow2", src, "64M")
    qio(src, "qcow2", "write -P 9 10M 64k")
    both(v, q, "convert", "-n", "-O", "qcow2", src, "{}")
    same_bitmaps(v, q)


def chain(tmp_path, who, cs="64k"):
    base, top = tmp_path / f"{who}-base.qcow2", tmp_path / f"{who}-top.qcow2"
    qimg("create", "-q", "-f", "qcow2", base, "64M")
    qimg("bitmap", "--add", base, "b1")
    qimg("bitmap", "--add", "-g", "4k", base, "fine")
    qio(base, "qcow2", "write -P 7 2M 128k", "write -P 8 9226k 3k", "write -P 9 20M 300k")
    qimg("create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs}", "-b", base, "-F", "qcow2",
         top)
    qimg("bitmap", "--add", top, "b1")
    qimg("bitmap", "--add", "-g", "512", top, "fine")
    qio(top, "qcow2", "write -P 1 1M 64k", "write -z 3M 64k", "discard 5M 64k",
        "write -P 2 7M 1k", "write -P 3 20M 4k")
    return base, top


def test_commit_marks_base_keeps_top(tmp_path):
    """commit: the base's enabled bitmaps take what was written into it;
    the emptied top keeps its bitmaps, their bits untouched."""
    vb, vt = chain(tmp_path, "v")
    qb, qt = chain(tmp_path, "q")
    vimg("commit", "-f", "qcow2", vt)
    qimg("commit", "-f", "qcow2", qt)
    same_bitmaps(vb, qb, ("b1", "fine"))
    same_bitmaps(vt, qt, ("b1", "fine"))
    qimg("compare", vt, qt)


@pytest.mark.parametrize("cs", ["64k", "4k"])
def test_rebase_marks_what_it_copies(tmp_path, cs):
    """A safe rebase writes what differs between the backing files, in
    whole clusters of the image, as qemu-img's: the same bits; rebase -u
    keeps the bitmaps extension."""
    _, vt = chain(tmp_path, "v", cs)
    _, qt = chain(tmp_path, "q", cs)
    for who, tool, top in (("v", vimg, vt), ("q", qimg, qt)):
        nb = tmp_path / f"{who}-new.qcow2"
        qimg("create", "-q", "-f", "qcow2", nb, "64M")
        tool("rebase", "-f", "qcow2", "-b", nb, "-F", "qcow2", top)
    same_bitmaps(vt, qt, ("b1", "fine"))
    qimg("compare", vt, qt)
    for who, tool, top in (("v", vimg, vt), ("q", qimg, qt)):
        tool("rebase", "-f", "qcow2", "-u", "-b", tmp_path / f"{who}-base.qcow2", "-F",
             "qcow2", top)
    same_bitmaps(vt, qt, ("b1", "fine"))


def test_snapshot_apply_refused_as_qemu(tmp_path):
    v, q = twins(tmp_path)
    both(v, q, "snapshot", "-c", "s1", "{}")
    before = v.read_bytes()
    pv, pq = both(v, q, "snapshot", "-a", "s1", "{}", ok=(1,))
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr
    assert v.read_bytes() == before
    both(v, q, "snapshot", "-d", "s1", "{}")
    same_bitmaps(v, q)


def test_amend_downgrade_refused(tmp_path):
    """qemu-img 10 downgrades and leaves the bitmaps extension in the v2
    image (its clusters leaked, the bitmaps taken as inconsistent with a
    warning at every open); vmm-img refuses in one line, nothing changed."""
    v = with_bitmaps(tmp_path / "v.qcow2")
    before = v.read_bytes()
    p = vimg("amend", "-o", "compat=0.10", v, ok=(1,))
    assert p.stderr.count("\n") == 1 and "bitmaps" in p.stderr and p.stdout == ""
    assert v.read_bytes() == before


def mark_in_use(img, name):
    import struct
    from test_bitmap import find_ext
    data = bytearray(img.read_bytes())
    ext = find_ext(data, 0x23852875) + 8
    nb, _, _, pos = struct.unpack(">IIQQ", data[ext:ext + 24])
    for _ in range(nb):
        _, _, flags, _, _, nsize, extra = struct.unpack(">QIIBBHI", data[pos:pos + 24])
        if data[pos + 24 + extra:pos + 24 + extra + nsize].decode() == name:
            struct.pack_into(">I", data, pos + 12, flags | 1)
        pos += (24 + extra + nsize + 7) // 8 * 8
    img.write_bytes(bytes(data))


def test_inconsistent_bitmap_stays_so(tmp_path):
    """A bitmap already in use (a crashed writer's) is listed so by both
    tools, left alone by writes (the others still tracked), and makes
    resize fail with qemu-img's first line."""
    v, q = twins(tmp_path)
    for img in (v, q):
        mark_in_use(img, "b1")
    assert fmt_specific(vimg, v) == fmt_specific(qimg, q)
    assert "in-use" in json.dumps(fmt_specific(vimg, v))
    vimg("bench", "-w", "-c", "2", "-o", "4M", "-s", "64k", v)
    qimg("bench", "-w", "-c", "2", "-o", "4M", "-s", "64k", q)
    same_bitmaps(v, q)
    before = v.read_bytes()
    pv, pq = both(v, q, "resize", "{}", "128M", ok=(1,))
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr.splitlines(True)[0]
    assert v.read_bytes() == before
    both(v, q, "bitmap", "--remove", "{}", "b1")
    same_bitmaps(v, q, ("fine", "off"))


def test_unknown_autoclear_bits_cleared_bitmaps_kept(tmp_path):
    """Autoclear bits vmm does not know are cleared by a writable open,
    the bitmaps' bit is kept, as qemu-io does."""
    import struct
    v, q = twins(tmp_path)
    for img in (v, q):
        data = bytearray(img.read_bytes())
        struct.pack_into(">Q", data, 88, 0x21)
        img.write_bytes(bytes(data))
    vimg("bench", "-w", "-c", "1", "-o", "8M", "-s", "4k", v)
    qio(q, "qcow2", "write -P 0xcd 8M 4k")
    for img in (v, q):
        assert struct.unpack(">Q", img.read_bytes()[88:96])[0] == 1
    same_bitmaps(v, q)


def test_killed_writer_leaves_bitmaps_in_use(tmp_path):
    """kill -9 during writes: every tracked bitmap is in use for both
    tools (QEMU's rule: not stored at close, so inconsistent); a writable
    open that wrote nothing leaves them consistent."""
    img = with_bitmaps(tmp_path / "k.qcow2")
    vimg("check", "-r", "leaks", img)
    vimg("snapshot", "-c", "s", img)
    assert "in-use" not in json.dumps(fmt_specific(qimg, img))
    p = subprocess.Popen([IMG_WRITER, str(img), "1", "7"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    fq = fmt_specific(qimg, img)
    assert fmt_specific(vimg, img) == fq
    flags = {b["name"]: b["flags"] for b in fq["data"]["bitmaps"]}
    assert flags == {"b1": ["in-use", "auto"], "fine": ["in-use", "auto"], "off": ["in-use"]}
    assert qimg("check", img, ok=(0, 3)).returncode in (0, 3)


def info_sans_sizes(tool, img):
    i = json.loads(tool("info", "--output=json", img).stdout)
    for k in ("actual-size", "filename", "backing-filename", "full-backing-filename",
              "children", "dirty-flag"):
        i.pop(k, None)
    return i


def test_amend_steps_keep_bitmaps(tmp_path):
    """amend rewrites the header: the bitmaps extension goes back in (512-
    byte clusters over a backing file, a 200-character name: the feature
    name table gives way as qemu-img's image has it). After each step the
    two images' `info --output=json` are equal (file sizes aside), bits
    equal, check clean; amend used to drop the extension."""
    imgs = {}
    for who in ("v", "q"):
        base, img = tmp_path / f"{who}-base.qcow2", tmp_path / f"{who}.qcow2"
        qimg("create", "-q", "-f", "qcow2", base, "16M")
        qimg("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "-b", base.name, "-F",
             "qcow2", img, "16M", cwd=tmp_path)
        qimg("bitmap", "--add", img, "n" * 200)
        qimg("bitmap", "--add", "-g", "512", img, "b")
        qio(img, "qcow2", "write -P 5 1M 4k")
        imgs[who] = img
    v, q = imgs["v"], imgs["q"]
    for o in ("lazy_refcounts=on", "lazy_refcounts=off", "compat=1.1", "refcount_bits=2",
              "lazy_refcounts=on,refcount_bits=32,size=20M"):
        vimg("amend", "-f", "qcow2", "-o", o, v)
        qimg("amend", "-f", "qcow2", "-o", o, q)
        assert info_sans_sizes(vimg, v) == info_sans_sizes(qimg, q), o
        assert info_sans_sizes(qimg, v) == info_sans_sizes(qimg, q), o
        same_bitmaps(v, q, ("n" * 200, "b"))


def test_stale_extension_dropped_as_qemu(tmp_path):
    """A bitmaps extension whose autoclear bit another program cleared is
    dropped by a writable open, as qemu-img's does (its clusters leak, the
    same leaks for both); check -r leaks then gives the same image."""
    import struct
    from test_bitmap import find_ext
    v, q = twins(tmp_path)
    for img in (v, q):
        data = bytearray(img.read_bytes())
        struct.pack_into(">Q", data, 88, 0)
        img.write_bytes(bytes(data))
    vimg("bench", "-w", "-c", "1", "-o", "8M", "-s", "4k", v)
    qimg("bench", "-w", "-c", "1", "-o", "8M", "-s", "4k", q)
    for img in (v, q):
        with pytest.raises(AssertionError):
            find_ext(img.read_bytes(), 0x23852875)
    cv = qimg("check", "--output=json", v, ok=(3,)).stdout
    cq = qimg("check", "--output=json", q, ok=(3,)).stdout
    assert json.loads(cv)["leaks"] == json.loads(cq)["leaks"] > 0
    vimg("check", "-r", "leaks", v)
    qimg("check", "-r", "leaks", q)
    qimg("check", "-q", v)
    qimg("compare", v, q)
    assert "bitmaps" not in fmt_specific(vimg, v)["data"]


# ---- convert --bitmaps ------------------------------------------------------

def bitmap_source(tmp_path):
    src = with_bitmaps(tmp_path / "src.qcow2")
    qio(src, "qcow2", "write -P 4 30M 1M", "write -P 5 5M 4k")
    qimg("bitmap", "--disable", src, "fine")
    return src


@pytest.mark.parametrize("opts", [(), ("-o", "cluster_size=4k"), ("-o", "cluster_size=512"),
                                  ("-c",)])
def test_convert_copies_bitmaps(tmp_path, opts):
    """convert --bitmaps: the target gets every bitmap with its bits,
    granularity and flags (the conversion's writes mark nothing), as
    qemu-img's target does."""
    src = bitmap_source(tmp_path)
    v, q = tmp_path / "v.qcow2", tmp_path / "q.qcow2"
    vimg("convert", "--bitmaps", *opts, "-O", "qcow2", src, v)
    qimg("convert", "--bitmaps", *opts, "-O", "qcow2", src, q)
    same_bitmaps(v, q)
    qimg("compare", src, v)
    for n in NAMES:
        assert read_bits(v, n) == read_bits(src, n), n


def test_convert_bitmaps_into_existing_target(tmp_path):
    """-n: the target's own bitmap takes the writes, the source's are
    added; a name both have is qemu-img's error."""
    src = bitmap_source(tmp_path)
    tgt = {}
    for who in ("v", "q"):
        t = tmp_path / f"{who}.qcow2"
        qimg("create", "-q", "-f", "qcow2", t, "64M")
        qimg("bitmap", "--add", t, "own")
        tgt[who] = t
    vimg("convert", "--bitmaps", "-n", "-O", "qcow2", src, tgt["v"])
    qimg("convert", "--bitmaps", "-n", "-O", "qcow2", src, tgt["q"])
    same_bitmaps(tgt["v"], tgt["q"], NAMES + ("own",))
    pv = vimg("convert", "--bitmaps", "-n", "-O", "qcow2", src, tgt["v"], ok=(1,))
    pq = qimg("convert", "--bitmaps", "-n", "-O", "qcow2", src, tgt["q"], ok=(1,))
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr


@pytest.mark.parametrize("case", ["raw-target", "v2-target", "inconsistent", "two-sources",
                                  "raw-source", "skip-alone"])
def test_convert_bitmaps_refused(tmp_path, case):
    """qemu-img's line and status 1; vmm-img creates no target (qemu-img
    leaves a created raw or v2 target behind)."""
    src = bitmap_source(tmp_path)
    raw = tmp_path / "src.raw"
    raw.write_bytes(bytes(1 << 20))
    if case in ("inconsistent",):
        mark_in_use(src, "b1")
    args = {
        "raw-target": ["--bitmaps", "-O", "raw", src],
        "v2-target": ["--bitmaps", "-O", "qcow2", "-o", "compat=0.10", src],
        "inconsistent": ["--bitmaps", "-O", "qcow2", src],
        "two-sources": ["--bitmaps", "-O", "qcow2", src, src],
        "raw-source": ["--bitmaps", "-f", "raw", "-O", "qcow2", raw],
        "skip-alone": ["--skip-broken-bitmaps", "-O", "qcow2", src],
    }[case]
    pv = vimg("convert", *args, tmp_path / "v.out", ok=(1,))
    pq = qimg("convert", *args, tmp_path / "q.out", ok=(1,))
    assert pv.stdout == "" and pv.stderr.count("\n") == 1
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr.splitlines(True)[0]
    assert not (tmp_path / "v.out").exists()


def test_convert_skips_broken_bitmaps(tmp_path):
    src = bitmap_source(tmp_path)
    mark_in_use(src, "b1")
    v, q = tmp_path / "v.qcow2", tmp_path / "q.qcow2"
    pv = vimg("convert", "--bitmaps", "--skip-broken-bitmaps", "-O", "qcow2", src, v)
    pq = qimg("convert", "--bitmaps", "--skip-broken-bitmaps", "-O", "qcow2", src, q)
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr
    same_bitmaps(v, q, ("fine", "off"))
    assert "b1" not in json.dumps(fmt_specific(vimg, v))
