# SPDX-License-Identifier: GPL-2.0-or-later
"""Interop with qemu-img: images qemu-img makes read identically through
vmm-img; images vmm-img writes pass qemu-img check and compare."""
import json
import os
import shutil

import pytest

from conftest import make_data, qimg, qio, run, same_as_qemu, vimg

SIZE = 24 << 20
CLUSTERS = ["4K", "64K", "2M"]
COMPATS = ["0.10", "1.1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "data.raw"
    make_data(p, SIZE)
    return p


@pytest.mark.parametrize("compat", COMPATS)
@pytest.mark.parametrize("cs", CLUSTERS)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "compressed"])
def test_read_qemu_image(data, tmp_path, cs, compat, compress):
    q = tmp_path / "q.qcow2"
    qimg("convert", *(["-c"] if compress else []), "-O", "qcow2",
         "-o", f"cluster_size={cs},compat={compat}", data, q)
    out = same_as_qemu(q, tmp_path)
    run("cmp", out, data)


@pytest.mark.parametrize("compat", COMPATS)
@pytest.mark.parametrize("cs", CLUSTERS)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "compressed"])
def test_vmm_written_image_passes_qemu_check(data, tmp_path, cs, compat, compress):
    w = tmp_path / "w.qcow2"
    vimg("convert", *(["-c"] if compress else []), "-O", "qcow2",
         "-o", f"cluster_size={cs},compat={compat}", data, w)
    qc = qimg("check", w).stdout
    qimg("compare", "-f", "raw", "-F", "qcow2", data, w)
    # our check agrees on both images, to the summary lines
    vc = vimg("check", w).stdout
    assert vc.splitlines()[-1] == qc.splitlines()[-1], (vc, qc)  # Image end offset
    assert vc.splitlines()[0] == "No errors were found on the image."
    q = tmp_path / "q.qcow2"
    qimg("convert", *(["-c"] if compress else []), "-O", "qcow2",
         "-o", f"cluster_size={cs},compat={compat}", data, q)
    assert vimg("check", q).stdout.splitlines()[-1] == qimg("check", q).stdout.splitlines()[-1]
    info = json.loads(qimg("info", "--output=json", w).stdout)
    assert info["cluster-size"] == int(cs[:-1]) << (10 if cs[-1] == "K" else 20)
    assert info["format-specific"]["data"]["compat"] == compat
    if compress:
        # compressed really: clearly smaller than the plain data
        assert os.path.getsize(w) < os.path.getsize(data) * 0.9


def test_backing_chain(tmp_path):
    # raw base <- qcow2 mid (4K clusters) <- qcow2 top, relative names
    base = tmp_path / "base.raw"
    make_data(base, 8 << 20, seed=2)
    qimg("create", "-f", "qcow2", "-o", "cluster_size=4K", "-b", "base.raw", "-F", "raw",
         tmp_path / "mid.qcow2")
    qio(tmp_path / "mid.qcow2", "qcow2", "write -P 0x11 0 64k", "write -P 0x22 1000k 5k",
        "write -z 2M 1M")
    qimg("create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", tmp_path / "top.qcow2")
    qio(tmp_path / "top.qcow2", "qcow2", "write -P 0x33 4k 4k", "write -P 0x44 6M 100k")
    same_as_qemu(tmp_path / "top.qcow2", tmp_path)
    # vmm-img writes into the chain; qemu-img reads the same
    vimg("create", "-f", "qcow2", "-b", "top.qcow2", "-F", "qcow2", tmp_path / "vtop.qcow2")
    qimg("check", tmp_path / "vtop.qcow2")
    qimg("compare", tmp_path / "top.qcow2", tmp_path / "vtop.qcow2")
    chain = vimg("info", "--backing-chain", tmp_path / "vtop.qcow2").stdout
    assert chain.count("image: ") == 4, chain
    j = json.loads(vimg("info", "--output=json", tmp_path / "vtop.qcow2").stdout)
    q = json.loads(qimg("info", "--output=json", tmp_path / "vtop.qcow2").stdout)
    for k in ("virtual-size", "format", "cluster-size", "backing-filename",
              "backing-filename-format", "dirty-flag"):
        assert j[k] == q[k], k


def test_snapshots_read(tmp_path, data):
    q = tmp_path / "s.qcow2"
    qimg("convert", "-O", "qcow2", data, q)
    qimg("snapshot", "-c", "first", q)
    qio(q, "qcow2", "write -P 0x5a 0 1M", "write -P 0x6b 10M 300k")
    qimg("snapshot", "-c", "second", q)
    qio(q, "qcow2", "write -P 0x7c 512k 1M")
    listing = vimg("snapshot", "-l", q).stdout
    assert "first" in listing and "second" in listing, listing
    assert listing.splitlines()[1].split()[:3] == ["ID", "TAG", "VM"]
    same_as_qemu(q, tmp_path)
    out = same_as_qemu(q, tmp_path, snap="first")
    run("cmp", out, data)
    same_as_qemu(q, tmp_path, snap="second")
    # our check agrees with qemu-img's on a snapshotted image
    assert "No errors were found" in vimg("check", q).stdout
    # and vmm-img may write to it: shared clusters are copied, not changed
    vimg("convert", "-O", "qcow2", q, tmp_path / "copy.qcow2")
    qimg("compare", q, tmp_path / "copy.qcow2")


def test_write_into_snapshotted_image(tmp_path, data):
    # our allocating writes on an image whose clusters are shared with a
    # snapshot (refcount 2, COPIED clear): copy-on-write, check clean
    q = tmp_path / "s.qcow2"
    qimg("convert", "-O", "qcow2", "-o", "cluster_size=4K", data, q)
    qimg("snapshot", "-c", "keep", q)
    # write via a vmm-img commit from an overlay: the writes land in q
    ov = tmp_path / "ov.qcow2"
    qimg("create", "-f", "qcow2", "-b", "s.qcow2", "-F", "qcow2", ov)
    qio(ov, "qcow2", "write -P 0x99 0 100k", "write -P 0x98 5M 1M", "write -P 0x97 20M 7k")
    flat = tmp_path / "expect.raw"
    qimg("convert", "-O", "raw", ov, flat)
    vimg("commit", ov)
    qimg("check", q)
    qimg("compare", "-f", "raw", flat, q)
    out = same_as_qemu(q, tmp_path, snap="keep")
    run("cmp", out, data)


def test_commit_compare_resize_rebase(tmp_path, data):
    base = tmp_path / "base.qcow2"
    vimg("convert", "-O", "qcow2", data, base)
    ov = tmp_path / "ov.qcow2"
    vimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", ov)
    qio(ov, "qcow2", "write -P 0x42 3M 2M", "write -P 0x43 0 1k")
    expect = tmp_path / "expect.raw"
    qimg("convert", "-O", "raw", ov, expect)
    assert vimg("compare", base, ov, ok=(1,)).stdout.startswith("Content mismatch at offset 0!")
    assert vimg("commit", ov).stdout.strip() == "Image committed."
    qimg("check", base)
    qimg("check", ov)
    qimg("compare", "-f", "raw", expect, base)
    assert vimg("compare", "-f", "raw", expect, base).stdout.strip() == "Images are identical."
    # the overlay was emptied: it reads through to the (updated) base
    assert vimg("compare", ov, base).returncode == 0
    # resize grows a qcow2 (the new tail reads as zeros) and a raw file
    assert vimg("resize", base, "+40M").stdout.strip() == "Image resized."
    qimg("check", base)
    assert json.loads(qimg("info", "--output=json", base).stdout)["virtual-size"] == SIZE + (40 << 20)
    qimg("compare", "-f", "raw", expect, base)  # size mismatch only in zeros
    r = tmp_path / "r.raw"
    vimg("create", "-q", "-f", "raw", r, "1M")
    vimg("resize", "-f", "raw", r, "3M")
    assert os.path.getsize(r) == 3 << 20
    assert vimg("resize", "-f", "raw", r, "-1M", ok=(1,)).stderr.strip().endswith("--shrink option to perform a shrink operation.")
    # rebase: safe onto nothing keeps contents; -u just rewrites the header
    vimg("resize", ov, "+40M")
    vimg("rebase", "-b", "", ov)
    qimg("check", ov)
    qimg("compare", base, ov)
    assert "backing file" not in vimg("info", ov).stdout
    vimg("rebase", "-u", "-b", "base.qcow2", "-F", "qcow2", ov)
    assert json.loads(qimg("info", "--output=json", ov).stdout)["backing-filename"] == "base.qcow2"
    qimg("check", ov)


@pytest.mark.parametrize("cs", ["4K", "64K"])
def test_shrink_qcow2(tmp_path, data, cs):
    """resize --shrink: qemu-img check clean (the freed clusters are free,
    not leaked), the kept part identical, the file's tables consistent with
    qemu-img's own shrink; grown again, the cut-off part reads as zeros."""
    q = tmp_path / "s.qcow2"
    vimg("convert", "-O", "qcow2", "-o", f"cluster_size={cs}", data, q)
    qq = tmp_path / "qq.qcow2"
    shutil.copy(q, qq)
    new = 9 * (1 << 20) + 1024  # not cluster-aligned
    assert vimg("resize", "--shrink", q, str(new)).stdout.strip() == "Image resized."
    qimg("resize", "-q", "--shrink", qq, str(new))
    c = qimg("check", "--output=json", q)
    assert json.loads(c.stdout).get("leaks", 0) == 0, c.stdout
    assert json.loads(qimg("info", "--output=json", q).stdout)["virtual-size"] == new
    qimg("compare", "-f", "qcow2", "-F", "qcow2", qq, q)
    head = tmp_path / "head.raw"
    with open(data, "rb") as f, open(head, "wb") as o:
        o.write(f.read(new))
    qimg("compare", "-f", "raw", "-F", "qcow2", head, q)
    vimg("resize", q, str(SIZE))
    qimg("check", q)
    back = tmp_path / "back.raw"
    vimg("convert", "-O", "raw", q, back)
    b = open(back, "rb").read()
    assert b[:new] == open(head, "rb").read() and b[new:] == bytes(SIZE - new)
    p = vimg("resize", "--shrink", q, str(new - 1), ok=(1,))
    assert "multiple of 512" in p.stderr
    # with -: relative; without --shrink it is refused; snapshots block it
    vimg("resize", "--shrink", q, "-1M")
    assert json.loads(qimg("info", "--output=json", q).stdout)["virtual-size"] == SIZE - (1 << 20)
    vimg("snapshot", "-c", "s1", q)
    p = vimg("resize", "--shrink", q, "1M", ok=(1,))
    assert "snapshots" in p.stderr and p.stderr.count("\n") == 1
    v = tmp_path / "v.vmdk"
    vimg("create", "-q", "-f", "vmdk", v, "8M")
    p = vimg("resize", v, "16M", ok=(1,))
    assert "vmdk" in p.stderr and p.stderr.count("\n") == 1
    qimg("check", v)


def test_check_finds_and_repairs_leaks(tmp_path, data):
    q = tmp_path / "l.qcow2"
    qimg("convert", "-O", "qcow2", data, q)
    # leak a cluster: one more cluster at the end of the file, unreferenced
    # but with refcount 1 (16-bit refcounts, 64 KiB clusters)
    end = os.path.getsize(q)
    assert end % 65536 == 0
    info = json.loads(qimg("check", "--output=json", q).stdout)
    assert info.get("leaks", 0) == 0
    with open(q, "r+b") as f:
        f.truncate(end + 65536)
        f.seek(48)
        rt = int.from_bytes(f.read(8), "big")
        f.seek(rt)
        rb = int.from_bytes(f.read(8), "big")
        idx = end // 65536
        f.seek(rb + idx * 2)
        f.write((1).to_bytes(2, "big"))
    p = vimg("check", q, ok=(3,))
    assert "1 leaked clusters were found on the image." in p.stdout, p.stdout
    assert qimg("check", q, ok=(3,)).returncode == 3
    vimg("check", "-r", "leaks", q)
    qimg("check", q)


def test_check_reports_corruption(tmp_path, data):
    q = tmp_path / "c.qcow2"
    qimg("convert", "-O", "qcow2", data, q)
    with open(q, "r+b") as f:
        f.seek(48)
        rt = int.from_bytes(f.read(8), "big")
        f.seek(rt)
        rb = int.from_bytes(f.read(8), "big")
        f.seek(rb + 0)
        f.write((0).to_bytes(2, "big"))  # the header cluster's refcount
    p = vimg("check", q, ok=(2,))
    assert "errors were found on the image" in p.stdout


def test_raw_with_qcow2_magic_under_format_raw(tmp_path):
    # a raw disk whose guest wrote a qcow2 header into sector 0 is still raw
    q = tmp_path / "inner.qcow2"
    qimg("create", "-f", "qcow2", q, "1G")
    r = tmp_path / "disk.raw"
    shutil.copy(q, r)
    with open(r, "r+b") as f:
        f.truncate(4 << 20)
    j = json.loads(vimg("info", "-f", "raw", "--output=json", r).stdout)
    assert j["format"] == "raw" and j["virtual-size"] == 4 << 20
    out = tmp_path / "out.raw"
    vimg("convert", "-f", "raw", "-O", "raw", r, out)
    run("cmp", out, r)


def test_convert_multiple_inputs_and_base(tmp_path, data):
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    make_data(a, 4 << 20, seed=5)
    make_data(b, 4 << 20, seed=6)
    o = tmp_path / "ab.qcow2"
    vimg("convert", "-p", "-O", "qcow2", a, b, o)
    cat = tmp_path / "cat.raw"
    with open(cat, "wb") as f:
        f.write(open(a, "rb").read() + open(b, "rb").read())
    qimg("check", o)
    qimg("compare", "-f", "raw", cat, o)
    # -B: only what differs from the base is written
    base = tmp_path / "base.qcow2"
    vimg("convert", "-O", "qcow2", a, b, base)
    qio(base, "qcow2", "write -P 0x1 1M 64k")
    top = tmp_path / "top.qcow2"
    vimg("convert", "-O", "qcow2", "-B", "base.qcow2", cat, top)
    qimg("check", top)
    qimg("compare", "-f", "raw", cat, top)
    assert os.path.getsize(top) < 1 << 20


def test_hostile_images_fail_cleanly(tmp_path):
    q = tmp_path / "h.qcow2"
    qimg("create", "-f", "qcow2", q, "64M")
    cases = {
        "l1-past-eof": (40, (1 << 40).to_bytes(8, "big")),
        "size-absurd": (24, (1 << 62).to_bytes(8, "big")),
        "bad-version": (4, (9).to_bytes(4, "big")),
        "reftable-huge": (56, (0x7fffffff).to_bytes(4, "big")),
    }
    for name, (off, val) in cases.items():
        h = tmp_path / f"{name}.qcow2"
        shutil.copy(q, h)
        with open(h, "r+b") as f:
            f.seek(off)
            f.write(val)
        for cmd in (["info"], ["check"], ["convert", "-O", "raw"]):
            args = [*cmd, h] + ([tmp_path / "o.raw"] if cmd[0] == "convert" else [])
            p = vimg(*args, ok=(1,))
            lines = p.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("vmm-img: "), (name, p.stderr)


@pytest.mark.parametrize("cs", ["4K", "64K"])
def test_snapshot_create_apply_delete(tmp_path, data, cs):
    q = tmp_path / "s.qcow2"
    qimg("convert", "-O", "qcow2", "-o", f"cluster_size={cs}", data, q)
    vimg("snapshot", "-c", "one", q)
    qimg("check", q)
    qio(q, "qcow2", "write -P 0x55 0 3M", "write -P 0x66 20M 100k")
    qimg("check", q)
    cur = tmp_path / "cur.raw"
    qimg("convert", "-O", "raw", q, cur)
    vimg("snapshot", "-c", "two", q)
    assert "one" in qimg("snapshot", "-l", q).stdout
    out = same_as_qemu(q, tmp_path, snap="one")
    run("cmp", out, data)
    # our own writes into the snapshotted image (commit from an overlay)
    ov = tmp_path / "ov.qcow2"
    vimg("create", "-q", "-f", "qcow2", "-b", "s.qcow2", "-F", "qcow2", ov)
    qio(ov, "qcow2", "write -P 0x77 1M 2M")
    vimg("commit", ov)
    qimg("check", q)
    vimg("snapshot", "-a", "one", q)
    qimg("check", q)
    qimg("compare", "-f", "raw", data, q)
    vimg("snapshot", "-d", "one", q)
    qimg("check", q)
    qimg("compare", "-f", "raw", data, q)
    vimg("snapshot", "-a", "2", q)  # by ID
    qimg("compare", "-f", "raw", cur, q)
    vimg("snapshot", "-d", "two", q)
    c = qimg("check", q)
    assert "No errors were found" in c.stdout
    assert "Snapshot list" not in qimg("info", q).stdout
    assert vimg("snapshot", "-a", "nope", q, ok=(1,)).stderr.count("\n") == 1


@pytest.mark.parametrize("sub", ["monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
                                 "twoGbMaxExtentFlat"])
def test_read_qemu_vmdk(tmp_path, data, sub):
    v = tmp_path / "v.vmdk"
    qimg("convert", "-O", "vmdk", "-o", f"subformat={sub}", data, v)
    out = same_as_qemu(v, tmp_path)
    run("cmp", out, data)
    assert json.loads(vimg("info", "--output=json", v).stdout)["format"] == "vmdk"
    # read-only: a qcow2 overlay takes the writes
    ov = tmp_path / "ov.qcow2"
    vimg("create", "-q", "-f", "qcow2", "-b", "v.vmdk", "-F", "vmdk", ov)
    qio(ov, "qcow2", "write -P 0x31 0 64k")
    qimg("check", ov)
    qimg("compare", "-f", "vmdk", v, ov, ok=(1,))


@pytest.mark.parametrize("sub", ["monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
                                 "twoGbMaxExtentFlat"])
def test_write_qemu_vmdk(tmp_path, data, sub):
    """vmm-img writes into vmdk images qemu-img made (commit from a qcow2
    overlay; new grains, existing grains, across extents); qemu-img check
    is clean and qemu-img compare agrees with the overlay."""
    v = tmp_path / "v.vmdk"
    qimg("convert", "-O", "vmdk", "-o", f"subformat={sub}", data, v)
    ov = tmp_path / "ov.qcow2"
    vimg("create", "-q", "-f", "qcow2", "-b", "v.vmdk", "-F", "vmdk", ov)
    qio(ov, "qcow2", "write -P 0x31 0 64k", "write -P 0x32 100k 3k", "write -P 0x33 7M 1M",
        "write -P 0x34 %d 512" % (os.path.getsize(data) - 512))
    vimg("commit", ov)
    qimg("check", v)
    qimg("compare", "-f", "vmdk", "-F", "qcow2", v, ov)
    # and a second pass over grains that now exist
    qio(ov, "qcow2", "write -P 0x41 60k 8k")
    vimg("commit", ov)
    qimg("compare", "-f", "vmdk", "-F", "qcow2", v, ov)


@pytest.mark.parametrize("sub", ["monolithicSparse", "monolithicFlat"])
def test_vmm_img_makes_vmdk(tmp_path, data, sub):
    """vmdk images vmm-img creates and converts to pass qemu-img check and
    compare, keep holes, and take writes from qemu-io."""
    v = tmp_path / "out.vmdk"
    vimg("convert", "-O", "vmdk", "-o", f"subformat={sub}", data, v)
    qimg("check", v)
    qimg("compare", "-f", "raw", "-F", "vmdk", data, v)
    info = json.loads(qimg("info", "--output=json", v).stdout)
    assert info["format"] == "vmdk"
    assert info["virtual-size"] == os.path.getsize(data)
    assert info["format-specific"]["data"]["create-type"] == sub
    e = tmp_path / "empty.vmdk"
    vimg("create", "-q", "-f", "vmdk", "-o", f"subformat={sub}", e, "3G")
    qimg("check", e)
    assert json.loads(qimg("info", "--output=json", e).stdout)["virtual-size"] == 3 << 30
    if sub == "monolithicSparse":
        assert os.path.getsize(e) < 2 << 20  # tables only
    qio(e, "vmdk", "write -P 0x55 2047M 2M")
    qimg("check", e)
    flat = tmp_path / "e.raw"
    vimg("convert", "-O", "raw", e, flat)
    qimg("compare", "-f", "raw", "-F", "vmdk", flat, e)


def test_convert_n_into_existing(tmp_path, data):
    """convert -n writes into an existing target, zeros included."""
    t = tmp_path / "t.qcow2"
    qimg("create", "-q", "-f", "qcow2", t, str(os.path.getsize(data)))
    qio(t, "qcow2", "write -P 0x77 0 %d" % os.path.getsize(data))
    vimg("convert", "-n", "-O", "qcow2", data, t)
    qimg("check", t)
    qimg("compare", "-f", "raw", "-F", "qcow2", data, t)
    small = tmp_path / "small.raw"
    with open(small, "wb") as f:
        f.truncate(4096)
    p = vimg("convert", "-n", data, small, ok=(1,))
    assert "smaller" in p.stderr and p.stderr.count("\n") == 1


def test_vmdk_unsupported_kinds_fail_cleanly(tmp_path, data):
    v = tmp_path / "s.vmdk"
    qimg("convert", "-O", "vmdk", "-o", "subformat=streamOptimized", data, v)
    p = vimg("info", v, ok=(1,))
    assert "streamOptimized" in p.stderr and p.stderr.count("\n") == 1
    base = tmp_path / "b.vmdk"
    qimg("create", "-f", "vmdk", base, "8M")
    delta = tmp_path / "d.vmdk"
    qimg("create", "-f", "vmdk", "-b", "b.vmdk", "-F", "vmdk", delta)
    p = vimg("info", delta, ok=(1,))
    assert "parent" in p.stderr and p.stderr.count("\n") == 1


def test_probed_images_name_files_only_beneath_their_directory(tmp_path):
    """Issue 12, hole 4: a probed image (no -f) may only name files (vmdk
    extents, qcow2 backing files) in its directory or beneath it, so a
    hostile image cannot make vmm-img read or write a host file; -f lifts
    that, as the user then vouches for the image."""
    imgs, outside = tmp_path / "img", tmp_path / "outside"
    imgs.mkdir()
    outside.mkdir()
    secret = outside / "secret"
    secret.write_bytes(b"host secret".ljust(1 << 20, b"\0"))
    before = secret.read_bytes()
    # A vmdk descriptor with an absolute RW extent.
    vmdk = imgs / "evil.vmdk"
    vmdk.write_text('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                    'createType="monolithicFlat"\n\n'
                    f'RW 2048 FLAT "{secret}" 0\n')
    for cmd in (["info", vmdk], ["convert", "-O", "raw", vmdk, tmp_path / "o.raw"],
                ["check", vmdk]):
        p = vimg(*cmd, ok=(1,))
        assert "outside the directory" in p.stderr, p.stderr
    vimg("convert", "-f", "vmdk", "-O", "raw", vmdk, tmp_path / "o.raw")
    assert (tmp_path / "o.raw").read_bytes() == before
    # A qcow2 overlay whose backing file climbs out with "..": commit would
    # write the overlay's data into it.
    ov = imgs / "ov.qcow2"
    vimg("create", "-q", "-f", "qcow2", "-b", "../outside/secret", "-F", "raw", ov)
    qio(ov, "qcow2", "write -P 0x66 0 64k")
    for cmd in (["commit", ov], ["info", "--backing-chain", ov],
                ["convert", "-O", "raw", ov, tmp_path / "o2.raw"],
                ["rebase", "-b", "", ov]):
        p = vimg(*cmd, ok=(1,))
        assert "outside the directory" in p.stderr, (cmd, p.stderr)
    assert secret.read_bytes() == before
    # With -f qcow2 the chain is the user's.
    chain = vimg("info", "-f", "qcow2", "--backing-chain", ov).stdout
    assert chain.count("image: ") == 2, chain
    # A probed qcow2 beside its backing file is fine, chains included.
    (imgs / "base.raw").write_bytes(b"\x01" * (1 << 20))
    vimg("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", imgs / "near.qcow2")
    assert vimg("info", "--backing-chain", imgs / "near.qcow2").stdout.count("image: ") == 2
