# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-img amend against qemu-img amend on copies of the same qcow2
images: compat up- and downgrades and lazy_refcounts give the same file
byte for byte; refcount width changes and resizes give an image that
qemu-img check passes, with qemu-img's contents and info; impossible
amendments and bad options give qemu-img's message and status, and leave
the image unchanged."""
import re
import shutil

import pytest

from conftest import qimg, qio, vimg


def source(tmp_path, kind):
    """A qcow2 with data, zero clusters (allocated and not) and a hole:
    v3 or v2, over a raw backing file or not, with an internal snapshot
    or not."""
    img = tmp_path / "src.qcow2"
    opts = ["-o", "compat=0.10"] if "v2" in kind else []
    if "backing" in kind:
        qimg("create", "-q", "-f", "raw", tmp_path / "base.raw", "4M")
        qio(tmp_path / "base.raw", "raw", "write -P 0x5b 0 4M")
        opts += ["-b", "base.raw", "-F", "raw"]
    qimg("create", "-q", "-f", "qcow2", *opts, img, "4M")
    qio(img, "qcow2", "write -P 1 0 128k", "write -z 1M 128k", "write -z -u 64k 64k",
        "write -P 9 3M 4k")
    if "snap" in kind:
        qimg("snapshot", "-c", "sn", img)
        qio(img, "qcow2", "write -z 3M 64k", "write -P 2 2M 64k")
    return img


def info(img):
    out = qimg("info", img).stdout
    # the file's own size: qemu-img truncates freed clusters at the end
    out = re.sub(r"(disk size|file length): .*", "", out)
    return out.replace(str(img), "IMG")


def both(tmp_path, kind, opts, status=0):
    src = source(tmp_path, kind)
    v, q = tmp_path / "v.qcow2", tmp_path / "q.qcow2"
    shutil.copy(src, v)
    shutil.copy(src, q)
    pv = vimg("amend", *opts, v, ok=(status,))
    pq = qimg("amend", *opts, q, ok=(status,))
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr
    assert pv.stdout == pq.stdout
    return src, v, q


KINDS = ["v3", "v3-backing", "v3-snap", "v2", "v2-backing", "v2-snap", "v3-backing-snap"]

SAME_BYTES = [["-o", "compat=0.10"], ["-o", "compat=1.1"], ["-o", "compat=v3"],
              ["-o", "lazy_refcounts=on"], ["-o", "compat=1.1,lazy_refcounts=on"],
              ["-o", "compat=1.1", "-o", "lazy_refcounts"], ["-o", "size=8M"],
              ["-o", "lazy_refcounts=off"]]


# qemu-img's downgrade of a v3 image whose zero cluster shares its host
# cluster with a snapshot zeroes the shared cluster (the snapshot loses
# its data, qemu-img check then finds an error): test_downgrade_shared_zero
SAME_BYTES_CASES = [(k, o) for k in KINDS for o in SAME_BYTES
                    if not (k.startswith("v3") and "snap" in k and "compat=0.10" in o)]


@pytest.mark.parametrize("kind,opts", SAME_BYTES_CASES,
                         ids=[f"{k}-{'_'.join(o[1::2])}" for k, o in SAME_BYTES_CASES])
def test_same_bytes_as_qemu(tmp_path, kind, opts):
    status = 0
    if "v2" in kind and opts[-1] in ("lazy_refcounts=on", "lazy_refcounts") \
            and "compat=1.1" not in opts[1]:
        status = 1  # lazy refcounts on a v2 image: refused, as qemu-img
    if kind == "v2-snap" and "size=8M" in opts:
        status = 1  # qemu-img resizes no v2 image with snapshots
    src, v, q = both(tmp_path, kind, opts, status)
    assert v.read_bytes() == q.read_bytes()
    if status:
        assert v.read_bytes() == src.read_bytes()
    qimg("check", v)
    qimg("compare", src, v)  # the guest sees the same disk


SAME_CONTENT = [["-o", "refcount_bits=8"], ["-o", "refcount_bits=1"], ["-o", "refcount_bits=64"],
                ["-o", "refcount_bits=2,lazy_refcounts=on"],
                ["-o", "compat=1.1,refcount_bits=4"], ["-o", "compat=0.10,refcount_bits=16"],
                ["-o", "refcount_bits=32", "-o", "size=6M"]]


SAME_CONTENT_CASES = [(k, o) for k in ["v3", "v3-backing", "v2", "v3-snap"] for o in SAME_CONTENT
                      if not (k == "v3-snap" and "compat=0.10" in o[1])]  # see above


@pytest.mark.parametrize("kind,opts", SAME_CONTENT_CASES,
                         ids=[f"{k}-{'_'.join(o[1::2])}" for k, o in SAME_CONTENT_CASES])
def test_same_image_as_qemu(tmp_path, kind, opts):
    status = 0
    if "v2" in kind and any("refcount_bits" in o and "compat=1.1" not in o
                            and "=16" not in o for o in opts):
        status = 1  # other widths need compat=1.1
    if "snap" in kind and "refcount_bits=1" in opts[1]:
        status = 1  # a cluster with refcount 2
    src, v, q = both(tmp_path, kind, opts, status)
    qimg("check", v)
    assert info(v) == info(q)
    qimg("compare", "-s", v, q)
    if status:
        assert v.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("kind", ["v3", "v3-backing", "v2", "v2-backing"])
def test_shrink_as_qemu(tmp_path, kind):
    src, v, q = both(tmp_path, kind, ["-o", "size=2M"])
    qimg("check", v)
    assert info(v) == info(q)
    qimg("compare", "-s", v, q)


def test_downgrade_shared_zero(tmp_path):
    # a zero cluster over data the snapshot keeps: vmm-img unmaps it in the
    # active tree and the snapshot keeps its data
    src = source(tmp_path, "v3-snap")
    v = tmp_path / "v.qcow2"
    shutil.copy(src, v)
    vimg("amend", "-o", "compat=0.10", v)
    assert "compat: 0.10" in qimg("info", v).stdout
    qimg("check", v)
    qimg("compare", src, v)
    for img, out in ((src, "a.raw"), (v, "b.raw")):
        qimg("convert", "-l", "snapshot.name=sn", "-O", "raw", img, tmp_path / out)
    assert (tmp_path / "a.raw").read_bytes() == (tmp_path / "b.raw").read_bytes()


def test_refcount_width_changes_back_and_forth(tmp_path):
    src = source(tmp_path, "v3-snap")
    for bits in (1 << i for i in (1, 6, 3, 4)):
        vimg("amend", "-o", f"refcount_bits={bits}", src)
        qimg("check", src)
        assert f"refcount bits: {bits}" in qimg("info", src).stdout
    # the image stays writable by both tools
    qio(src, "qcow2", "write -P 0x77 1536k 200k")
    vimg("convert", "-O", "qcow2", src, tmp_path / "copy.qcow2")
    qimg("compare", src, tmp_path / "copy.qcow2")


IMPOSSIBLE = [
    ("v3-snap", "refcount_bits=1"), ("v2", "lazy_refcounts=on"), ("v2", "refcount_bits=8"),
    ("v3", "compat=0.10,lazy_refcounts=on"), ("v3", "refcount_bits=8,compat=0.10"),
    ("v3", "compat=9"), ("v3", "compat="), ("v3", "compat"), ("v3", "foo=1"),
    ("v3", "cluster_size=4k"), ("v3", "preallocation=full"), ("v3", "compression_type=zlib"),
    ("v3", "extended_l2=on"), ("v3", "backing_file=x"), ("v3-backing", "backing_fmt=qcow2"),
    ("v3", "data_file=x"), ("v3", "data_file_raw=on"), ("v3", "encrypt.new-secret=a"),
    ("v3", "size=3000"), ("v3", "size=abc"), ("v3", "refcount_bits=x"), ("v3", "refcount_bits=3"),
    ("v3", "refcount_bits=128"), ("v3", "refcount_bits=0"), ("v3", "lazy_refcounts=x"),
    ("v3", "refcount_bits=3,compat=9"), ("v3", "size=abc,compat=9"), ("v2-snap", "size=8M"),
]


@pytest.mark.parametrize("kind,opt", IMPOSSIBLE)
def test_impossible_as_qemu(tmp_path, kind, opt):
    src, v, q = both(tmp_path, kind, ["-o", opt], 1)
    assert v.read_bytes() == src.read_bytes()


def test_same_backing_file_is_no_change(tmp_path):
    src, v, q = both(tmp_path, "v3-backing", ["-o", "backing_file=base.raw,backing_fmt=raw"])
    assert v.read_bytes() == src.read_bytes() == q.read_bytes()


def test_downgrade_with_snapshot_of_another_size_as_qemu(tmp_path):
    both(tmp_path, "v3-snap", ["-o", "compat=0.10,size=8M"], 1)


def test_help_as_qemu(tmp_path):
    img = source(tmp_path, "v3")
    for args in (["-f", "qcow2", "-o", "help"], ["-o", "help", img], ["-o", "?", img],
                 ["-o", "compat=1.1,help", img]):
        v, q = vimg("amend", *args), qimg("amend", *args)
        assert v.stdout == q.stdout and v.stdout.startswith("Amend options for 'qcow2':")


@pytest.mark.parametrize("args", [["-f", "raw", "-o", "help"], ["-f", "bogus", "-o", "help"],
                                  ["-o", "help"], ["-o", "compat=1.1"], ["RAW"], ["-o", "size=2M", "RAW"],
                                  ["-o", "compat=1.1", "A", "B"]])
def test_usage_errors_as_qemu(tmp_path, args):
    raw = tmp_path / "r.raw"
    raw.write_bytes(bytes(1 << 20))
    args = [str(raw) if a == "RAW" else str(tmp_path / a) if a in "AB" else a for a in args]
    v, q = vimg("amend", *args, ok=(1,)), qimg("amend", *args, ok=(1,))
    assert v.stderr.splitlines()[-1].replace("vmm-img", "qemu-img") == \
        [l for l in q.stderr.splitlines() if l.startswith("qemu-img")][0]
    assert raw.read_bytes() == bytes(1 << 20)


def test_progress_as_qemu(tmp_path):
    _, v, q = both(tmp_path, "v3", ["-p", "-o", "size=20M"])
    _, v, q = both(tmp_path, "v3", ["-q", "-p", "-o", "size=20M"])
