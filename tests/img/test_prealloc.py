# SPDX-License-Identifier: GPL-2.0-or-later
"""create/convert -o preallocation=off|metadata|falloc|full for raw and
qcow2 against qemu-img (issue 20): qcow2 metadata preallocation byte for
byte as qemu-img's where the refcount table needs no growing, the same
`qemu-img map`, file size and allocated blocks otherwise; qemu-img's
one-line errors for bad values, before anything is written."""
import os

import pytest

from conftest import make_data, qimg, qio, vimg
from test_convert_opts import allocation


def create_both(tmp_path, fmt, opts, size):
    v, q = tmp_path / f"v.{fmt}", tmp_path / f"q.{fmt}"
    vo = vimg("create", "-f", fmt, "-o", opts, v, size).stdout
    qo = qimg("create", "-f", fmt, "-o", opts, q, size).stdout
    assert vo.replace(f"v.{fmt}", "X") == qo.replace(f"q.{fmt}", "X")
    return v, q


@pytest.mark.parametrize("size,opts", [
    ("10M", ""), ("600M", ""), ("3G", ""), ("64M", ",cluster_size=4k"),
    ("100k", ",cluster_size=512"), ("10M", ",compat=0.10"), ("1G", ",refcount_bits=8"),
])
def test_qcow2_metadata_as_qemu(tmp_path, size, opts):
    v, q = create_both(tmp_path, "qcow2", "preallocation=metadata" + opts, size)
    # byte for byte from the header's end (qemu-img leaves the feature
    # name table out with small clusters; vmm-img always writes it)
    vb, qb = v.read_bytes(), q.read_bytes()
    assert vb[:104] == qb[:104]
    cs = 4096 if "4k" in opts else 512 if "512" in opts else 65536
    assert vb[cs:] == qb[cs:]
    assert os.stat(v).st_blocks == os.stat(q).st_blocks
    qimg("check", "-q", v)
    assert qimg("map", v).stdout.replace("v.qcow2", "X") == \
        qimg("map", q).stdout.replace("q.qcow2", "X")
    assert (qimg("map", "--output=json", v).stdout ==
            qimg("map", "--output=json", q).stdout)
    # vmm-img's writes land in the preallocated clusters
    head = tmp_path / "head.raw"
    head.write_bytes(b"\x5a" * 65536)
    vimg("convert", "-n", "-O", "qcow2", "-f", "raw", head, v)
    qimg("check", "-q", v)
    assert os.path.getsize(v) == os.path.getsize(q)
    out = qio(v, "qcow2", "read -P 0x5a 0 64k", "read -P 0 64k 32k").stdout
    assert "fail" not in out.lower(), out


@pytest.mark.parametrize("size,opts", [
    ("10M", ",cluster_size=512"), ("20M", ",cluster_size=512,refcount_bits=64"),
])
def test_qcow2_metadata_grown_reftable(tmp_path, size, opts):
    """qemu-img moves a refcount table that fills up; vmm-img makes it
    large enough at once: another layout, the same mapping."""
    v, q = create_both(tmp_path, "qcow2", "preallocation=metadata" + opts, size)
    qimg("check", "-q", v)
    # where a preallocated cluster shares a file block with metadata it
    # reads as data rather than a hole: compare the mapping without that
    assert allocation(v, ("zero",)) == allocation(q, ("zero",))
    assert abs(os.path.getsize(v) - os.path.getsize(q)) < os.path.getsize(q) // 100


@pytest.mark.parametrize("mode", ["falloc", "full"])
@pytest.mark.parametrize("size,opts", [("10M", ""), ("600M", ""), ("64M", ",cluster_size=4k"),
                                       ("100k", ",cluster_size=512")])
def test_qcow2_falloc_full(tmp_path, mode, size, opts):
    """Every cluster mapped and allocated on disk: qemu-img puts the data
    first and the tables after it, vmm-img keeps the metadata layout."""
    v, q = create_both(tmp_path, "qcow2", f"preallocation={mode}" + opts, size)
    qimg("check", "-q", v)
    assert os.path.getsize(v) == os.path.getsize(q)
    assert allocation(v) == allocation(q)
    vb, qb = os.stat(v).st_blocks, os.stat(q).st_blocks
    assert abs(vb - qb) <= 64, (vb, qb)
    assert vb * 512 >= os.path.getsize(v) - (1 << 16)
    qimg("compare", "-q", v, q)


@pytest.mark.parametrize("mode", ["off", "falloc", "full"])
def test_raw(tmp_path, mode):
    v, q = create_both(tmp_path, "raw", f"preallocation={mode}", "10M")
    assert os.path.getsize(v) == os.path.getsize(q) == 10 << 20
    if mode == "off":  # qemu-img writes the first block (its alignment probe)
        assert os.stat(v).st_blocks <= 8
    else:
        assert os.stat(v).st_blocks == os.stat(q).st_blocks == 20480
    if mode == "full":
        assert allocation(v) == allocation(q)
    assert v.read_bytes() == bytes(10 << 20)


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("mode", ["metadata", "falloc", "full"])
def test_convert_preallocated(tmp_path, fmt, mode):
    if fmt == "raw" and mode == "metadata":
        return test_bad_values(tmp_path, "convert", fmt, "metadata")
    data = tmp_path / "data.raw"
    make_data(data, 24 << 20)
    v, q = tmp_path / f"v.{fmt}", tmp_path / f"q.{fmt}"
    vimg("convert", "-O", fmt, "-o", f"preallocation={mode}", data, v)
    qimg("convert", "-O", fmt, "-o", f"preallocation={mode}", data, q)
    qimg("compare", "-q", data, v)
    if fmt == "qcow2":
        qimg("check", "-q", v)
    assert os.path.getsize(v) == os.path.getsize(q)
    if mode != "falloc" or fmt != "raw":  # unwritten extents map by page cache state
        assert allocation(v) == allocation(q)
    if mode != "metadata":
        assert abs(os.stat(v).st_blocks - os.stat(q).st_blocks) <= 64


@pytest.mark.parametrize("cmd", ["create", "convert"])
@pytest.mark.parametrize("fmt,value", [("raw", "bogus"), ("qcow2", "bogus"), ("raw", "metadata"),
                                       ("qcow2", "Full"), ("raw", "")])
def test_bad_values(tmp_path, cmd, fmt, value):
    src = tmp_path / "src.raw"
    src.write_bytes(b"\1" * 65536)
    v, q = tmp_path / f"v.{fmt}", tmp_path / f"q.{fmt}"
    tail = {"create": lambda o: [o, "1M"], "convert": lambda o: [src, o]}[cmd]
    fopt = "-f" if cmd == "create" else "-O"
    p = vimg(cmd, fopt, fmt, "-o", f"preallocation={value}", *tail(v), ok=(1,))
    assert p.stdout == "" and p.stderr.count("\n") == 1
    assert not v.exists()
    r = qimg(cmd, fopt, fmt, "-o", f"preallocation={value}", *tail(q), ok=(1,))
    assert (p.stderr.replace("vmm-img: ", "").replace(f"v.{fmt}", "X") ==
            r.stderr.replace("qemu-img: ", "").replace(f"q.{fmt}", "X"))
