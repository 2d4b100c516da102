# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-img map against qemu-img map, human and JSON, byte for byte on
stdout (and the exit status) for every format: raw with holes, qcow2 with
data, zero and compressed clusters and a backing chain, qcow, VDI, VHD
dynamic and fixed, vmdk sparse and flat; --start-offset/--max-length."""
import pytest

from conftest import make_data, qimg, qio, run, vimg


def same_map(img, *args, fmt=None, status=0):
    extra = ["-f", fmt] if fmt else []
    for out in ("json", "human"):
        v = vimg("map", f"--output={out}", *extra, *args, img, ok=None)
        q = qimg("map", f"--output={out}", *extra, *args, img, ok=None)
        assert v.stdout == q.stdout, (out, v.stdout, q.stdout)
        assert v.returncode == q.returncode, (out, v.returncode, q.returncode, v.stderr)
        assert v.stderr.count("\n") == q.stderr.count("\n"), (v.stderr, q.stderr)


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "data.raw"
    make_data(p, 12 << 20, seed=11, fragments=40)
    return p


def test_map_raw(tmp_path, data):
    same_map(data, fmt="raw")
    same_map(data)


def test_map_qcow2_kinds(tmp_path):
    q = tmp_path / "q.qcow2"
    qimg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", q, "8M")
    qio(q, "qcow2", "write -P 1 0 8k", "write -z 64k 4k", "write -P 3 2M 12k",
        "write -P 4 6M 4k", "write -P 5 5M 4k")
    same_map(q)
    same_map(q, "--start-offset=4096", "--max-length=3M")
    # a compressed cluster: JSON lists it, human stops there with an error
    qio(q, "qcow2", "write -c -P 2 1M 4k")
    same_map(q)


def test_map_chain(tmp_path, data):
    base = tmp_path / "base.qcow2"
    qimg("convert", "-O", "qcow2", "-o", "cluster_size=4k", data, base)
    mid = tmp_path / "mid.qcow2"
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", mid)
    qio(mid, "qcow2", "write -P 9 1M 100k", "write -z 3M 64k")
    top = tmp_path / "top.qcow2"
    qimg("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top)
    qio(top, "qcow2", "write -P 8 4k 4k")
    same_map(top)


@pytest.mark.parametrize("fmt,opts", [("qcow", []), ("vdi", []), ("vdi", ["-o", "static=on"]),
                                      ("vpc", []), ("vpc", ["-o", "subformat=fixed"]),
                                      ("vmdk", []),
                                      ("vmdk", ["-o", "subformat=monolithicFlat"])],
                         ids=["qcow", "vdi", "vdi-static", "vpc", "vpc-fixed", "vmdk",
                              "vmdk-flat"])
def test_map_formats(tmp_path, data, fmt, opts):
    img = tmp_path / f"i.{fmt}"
    qimg("convert", "-O", fmt, *opts, data, img)
    same_map(img, fmt=fmt)
    # vmm-img's own images map as qemu-img maps them
    v = tmp_path / f"v.{fmt}"
    if fmt != "vmdk":
        vimg("convert", "-O", fmt, *opts, data, v)
        same_map(v, fmt=fmt)


def test_map_errors(tmp_path):
    p = vimg("map", "--output=xml", tmp_path / "x", ok=(1,))
    assert p.stderr.count("\n") == 1
    p = vimg("map", "--bogus", tmp_path / "x", ok=(1,))
    assert p.stderr.count("\n") == 1
    p = vimg("map", tmp_path / "missing", ok=(1,))
    assert p.stderr.count("\n") == 1 and p.stdout == ""
