# SPDX-License-Identifier: GPL-2.0-or-later
"""VDI, VHD (vpc), VHDX and QED against qemu-img: images qemu-img makes are
probed as qemu-img probes them and read byte for byte as qemu-img reads
them (before and after qemu-io writes); images vmm-img makes or writes
are read identically by qemu-img (compare, check); create lays a file out
as qemu-img does, to the byte but for UUIDs, timestamps and checksums;
VHDX is read (read-only) as qemu-img reads it; QED is recognised and
refused in one line; neither is ever read as raw."""
import json
import os

import pytest

from conftest import make_data, qimg, qio, run, same_as_qemu, vimg

SIZE = 24 << 20

# (format, -o options, the format qemu-img's probe finds)
KINDS = [
    ("vdi", [], "vdi"),
    ("vdi", ["-o", "static=on"], "vdi"),
    ("vpc", [], "vpc"),
    ("vpc", ["-o", "subformat=fixed"], "raw"),
    ("vpc", ["-o", "force_size=on"], "vpc"),
]
IDS = ["vdi", "vdi-static", "vpc", "vpc-fixed", "vpc-force-size"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "data.raw"
    make_data(p, SIZE, seed=7)
    return p


@pytest.mark.parametrize("fmt,opts,probed", KINDS, ids=IDS)
def test_read_qemu_image(data, tmp_path, fmt, opts, probed):
    q = tmp_path / f"q.{fmt}"
    qimg("convert", "-O", fmt, *opts, data, q)
    vi = json.loads(vimg("info", "--output=json", q).stdout)
    qi = json.loads(qimg("info", "--output=json", q).stdout)
    assert vi["format"] == qi["format"] == probed
    for k in ("virtual-size", "cluster-size", "dirty-flag"):
        assert vi.get(k) == qi.get(k), k
    same_as_qemu(q, tmp_path, fmt=fmt)
    # qemu-io writes across blocks and into unallocated ones
    qio(q, fmt, "write -P 0x5a 1000 3M", "write -P 0x6b 20M 4k", "write -z 8M 1M")
    same_as_qemu(q, tmp_path, fmt=fmt)
    # and vmm-img's compare agrees with qemu-img's
    assert vimg("compare", "-f", fmt, "-F", fmt, q, q).stdout.strip() == "Images are identical."


@pytest.mark.parametrize("fmt,opts,probed", KINDS, ids=IDS)
def test_vmm_written_image(data, tmp_path, fmt, opts, probed):
    v = tmp_path / f"v.{fmt}"
    vimg("convert", "-O", fmt, *opts, data, v)
    qimg("compare", "-f", "raw", "-F", fmt, data, v)
    assert vimg("compare", "-f", "raw", "-F", fmt, data, v).returncode == 0
    if fmt == "vdi":
        qimg("check", v)
    # vmm-img writes into an image qemu-img made (convert -n)
    q = tmp_path / f"q.{fmt}"
    qimg("create", "-q", "-f", fmt, *opts, q, str(SIZE))
    other = tmp_path / "other.raw"
    make_data(other, SIZE, seed=8)
    vimg("convert", "-n", "-O", fmt, other, q)
    qimg("compare", "-f", "raw", "-F", fmt, other, q)
    if fmt == "vdi":
        qimg("check", q)


def differing(a, b):
    x, y = open(a, "rb").read(), open(b, "rb").read()
    assert len(x) == len(y), (len(x), len(y))
    return [i for i in range(len(x)) if x[i] != y[i]]


@pytest.mark.parametrize("size", ["100M", "1000000", "3G"])
def test_create_vdi_as_qemu(tmp_path, size):
    for static in ("off", "on"):
        if static == "on" and size == "3G":
            continue
        v, q = tmp_path / "v.vdi", tmp_path / "q.vdi"
        vo = vimg("create", "-f", "vdi", "-o", f"static={static}", v, size).stdout
        qo = qimg("create", "-f", "vdi", "-o", f"static={static}", q, size).stdout
        assert vo.replace("v.vdi", "q.vdi") == qo
        # only the image and snapshot UUIDs (bytes 392-423) differ
        assert all(392 <= i < 424 for i in differing(v, q))
        qimg("check", v)


@pytest.mark.parametrize("size", ["100M", "1000000", "3G", "127G"])
@pytest.mark.parametrize("opts", [[], ["-o", "subformat=fixed"], ["-o", "force_size=on"]],
                         ids=["dynamic", "fixed", "force_size"])
def test_create_vpc_as_qemu(tmp_path, size, opts):
    if opts == ["-o", "subformat=fixed"] and size.endswith("G"):
        return  # a multi-GiB fixed file: the layout is checked on the small ones
    v, q = tmp_path / "v.vpc", tmp_path / "q.vpc"
    vo = vimg("create", "-f", "vpc", *opts, v, size).stdout
    qo = qimg("create", "-f", "vpc", *opts, q, size).stdout
    assert vo.replace("v.vpc", "q.vpc") == qo
    # the footer's timestamp (24-27), checksum (64-67) and UUID (68-83)
    # differ, in the copy at 0 and at the end
    end = os.path.getsize(q) - 512
    ok = set(range(24, 28)) | set(range(64, 84))
    for i in differing(v, q):
        assert i in ok or (i >= end and i - end in ok), i
    args = ["-f", "vpc"]
    vi = json.loads(vimg("info", "--output=json", *args, v).stdout)
    qi = json.loads(qimg("info", "--output=json", *args, q).stdout)
    assert vi["virtual-size"] == qi["virtual-size"]
    assert vi.get("cluster-size") == qi.get("cluster-size")


@pytest.mark.parametrize("opts", [[], ["-o", "subformat=fixed"], ["-o", "block_size=1M"]],
                         ids=["dynamic", "fixed", "1M-blocks"])
def test_vhdx_read(data, tmp_path, opts):
    q = tmp_path / "q.vhdx"
    qimg("convert", "-O", "vhdx", *opts, data, q)
    vi = json.loads(vimg("info", "--output=json", q).stdout)
    qi = json.loads(qimg("info", "--output=json", q).stdout)
    for k in ("format", "virtual-size", "cluster-size"):
        assert vi[k] == qi[k], k
    run("cmp", same_as_qemu(q, tmp_path), data)
    qio(q, "vhdx", "write -P 0x5a 1000 3M", "write -z 20M 1M")
    same_as_qemu(q, tmp_path)
    # read-only here: writing is refused in one line, nothing changes
    before = q.read_bytes()
    p = vimg("convert", "-n", "-O", "vhdx", data, q, ok=(1,))
    assert "read-only" in p.stderr and p.stderr.count("\n") == 1
    assert q.read_bytes() == before
    assert vimg("create", "-f", "vhdx", tmp_path / "n.vhdx", "1M", ok=(1,)).stderr.count("\n") == 1


@pytest.mark.parametrize("fmt", ["qed"])
def test_refused_formats(tmp_path, fmt):
    q = tmp_path / f"q.{fmt}"
    qimg("create", "-q", "-f", fmt, q, "8M")
    for args in ([], ["-f", fmt]):
        p = vimg("info", *args, q, ok=(1,))
        assert p.stdout == ""
        assert p.stderr.count("\n") == 1 and "not supported" in p.stderr, p.stderr
        p = vimg("convert", *args, "-O", "raw", q, tmp_path / "out.raw", ok=(1,))
        assert p.stderr.count("\n") == 1
        assert not (tmp_path / "out.raw").exists()
    # named raw, it is raw: the container's own bytes
    assert json.loads(vimg("info", "--output=json", "-f", "raw", q).stdout)["format"] == "raw"


def test_vdi_vpc_no_backing(tmp_path):
    base = tmp_path / "b.raw"
    vimg("create", "-q", "-f", "raw", base, "1M")
    for fmt in ("vdi", "vpc"):
        p = vimg("create", "-f", fmt, "-b", "b.raw", "-F", "raw", tmp_path / f"x.{fmt}", ok=(1,))
        assert p.stderr.count("\n") == 1 and not (tmp_path / f"x.{fmt}").exists()
        assert qimg("create", "-f", fmt, "-b", "b.raw", "-F", "raw",
                    tmp_path / f"y.{fmt}", ok=(1,)).returncode == 1


@pytest.mark.parametrize("entry", [None, 5, 0], ids=["clean", "past-the-image", "shared"])
def test_vdi_check_as_qemu(tmp_path, entry):
    v = tmp_path / "c.vdi"
    qimg("create", "-q", "-f", "vdi", v, "4M")
    qio(v, "vdi", "write -P 1 1M 4k")  # block 1 -> data block 0
    if entry is not None:
        with open(v, "r+b") as f:
            f.seek(512)  # block 0's map entry
            f.write(entry.to_bytes(4, "little"))
    status = 0 if entry is None else 2
    for out in ("human", "json"):
        a = vimg("check", f"--output={out}", v, ok=(status,))
        b = qimg("check", f"--output={out}", v, ok=(status,))
        assert a.stdout == b.stdout, (a.stdout, b.stdout)
        assert a.stderr.count("ERROR") == b.stderr.count("ERROR")
    # no repair for VDI, as qemu-img
    vimg("check", "-r", "all", v, ok=(63,))
    qimg("check", "-r", "all", v, ok=(63,))


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "qcow", "vdi", "vmdk", "vpc"])
def test_create_rounds_the_size_up_to_sectors(tmp_path, fmt):
    # qemu-img prints the size asked for and creates whole 512-byte sectors
    v, q = tmp_path / f"v.{fmt}", tmp_path / f"q.{fmt}"
    vo = vimg("create", "-f", fmt, v, "1000").stdout
    qo = qimg("create", "-f", fmt, q, "1000").stdout
    assert vo.replace(f"v.{fmt}", f"q.{fmt}") == qo
    for img in (v, q):
        sizes = [json.loads(qimg("info", "--output=json", img).stdout)["virtual-size"],
                 json.loads(vimg("info", "--output=json", img).stdout)["virtual-size"]]
        assert sizes == [34816 if fmt == "vpc" else 1024] * 2, (img, sizes)
