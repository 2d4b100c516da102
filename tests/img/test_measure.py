# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-img measure against qemu-img measure: the same stdout, stderr line
(its text after the program's name) and status, human and JSON, for
--size and for images of every format (data, zero and compressed
clusters, a backing chain), cluster sizes, refcount widths, compat,
preallocation, and the errors (size limits, bad combinations, formats
without measurement)."""
import pytest

from conftest import make_data, qimg, qio, run, vimg

SIZE_CASES = [
    "-O qcow2 --size 1G",
    "-O raw --size 1G",
    "--size 1000001",
    "-O qcow2 --size 0",
    "-O qcow2 --size 1000001",
    "-O qcow2 -o cluster_size=4k --size 1000001",
    "-O qcow2 -o compat=0.10,refcount_bits=1 --size 100G",
    "-O qcow2 -o refcount_bits=1 --size 10T",
    "-O qcow2 -o refcount_bits=64 --size 1T",
    "-O qcow2 -o cluster_size=2M --size 1T",
    "-O qcow2 -o cluster_size=512 --size 3G",
    "-O qcow2 -o cluster_size=512 --size 128G",
    "-O qcow2 -o cluster_size=512 --size 129G",
    "-O qcow2 -o cluster_size=2M --size 7E",
    "-O qcow2 --size 1E",
    "-O qcow2 -o preallocation=full --size 1G",
    "-O qcow2 -o preallocation=metadata --size 1G",
    "--size 8E",
    "-O qcow2",
    "-O vdi --size 1G",
    "-O vpc --size 1G",
]


def same(args, cwd):
    for out in ("human", "json"):
        a = args.split() + [f"--output={out}"]
        v = vimg("measure", *a, ok=None, cwd=cwd)
        q = qimg("measure", *a, ok=None, cwd=cwd)
        assert v.stdout == q.stdout, (a, v.stdout, q.stdout)
        assert v.returncode == q.returncode, (a, v.returncode, q.returncode)
        assert v.stderr.replace("vmm-img: ", "") == q.stderr.replace("qemu-img: ", ""), a


@pytest.mark.parametrize("args", SIZE_CASES)
def test_measure_size(tmp_path, args):
    same(args, tmp_path)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("measure")
    make_data(d / "data.raw", 12 << 20, seed=21, fragments=60)
    qimg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", d / "k.qcow2", "4M")
    qio(d / "k.qcow2", "qcow2", "write -P 1 0 8k", "write -z 64k 4k", "write -c -P 2 1M 4k",
        "write -P 3 2M 12k")
    qimg("create", "-q", "-f", "qcow2", "-b", "k.qcow2", "-F", "qcow2", d / "top.qcow2")
    qio(d / "top.qcow2", "qcow2", "write -P 4 4k 4k", "write -P 5 3M 100k")
    for fmt, opts, name in (("vdi", [], "i.vdi"), ("vpc", [], "i.vpc"), ("qcow", [], "i.qcow"),
                            ("vmdk", [], "i.vmdk"),
                            ("vpc", ["-o", "subformat=fixed"], "f.vpc")):
        qimg("convert", "-O", fmt, *opts, d / "data.raw", d / name)
    return d


@pytest.mark.parametrize("args", [
    "-O qcow2 data.raw", "-O qcow2 -o cluster_size=4k data.raw", "-O raw data.raw",
    "-O qcow2 k.qcow2", "-O qcow2 -o compat=0.10 k.qcow2", "-O raw k.qcow2",
    "-O qcow2 top.qcow2", "-O qcow2 -o cluster_size=512 top.qcow2",
    "-O qcow2 -o preallocation=falloc data.raw", "-O qcow2 -o preallocation=metadata data.raw",
    "-O qcow2 i.vdi", "-O qcow2 i.vpc", "-O qcow2 i.qcow", "-O qcow2 i.vmdk",
    "-O qcow2 -f vpc f.vpc", "-f raw -O qcow2 data.raw", "-O qcow2 --size 1G data.raw",
])
def test_measure_image(images, args):
    same(args, images)


def test_measure_option_errors(tmp_path):
    for bad in (["--bogus"], ["-Z"], ["--output=xml", "--size", "1G"],
                ["-O", "qcow2", "-o", "preallocation=some", "--size", "1G"]):
        p = vimg("measure", *bad, ok=(1,))
        assert p.stdout == "" and p.stderr.count("\n") == 1, (bad, p.stderr)


@pytest.mark.parametrize("args", [
    "-O qcow2 bm.qcow2", "-O qcow2 -o cluster_size=512 bm.qcow2",
    "-O qcow2 -o cluster_size=4k bm.qcow2", "-O qcow2 -o cluster_size=2M bm.qcow2",
])
def test_measure_bitmaps_size(tmp_path, args):
    """"bitmaps size" (what convert --bitmaps would copy): each bitmap's
    data and table clusters and the directory at the target's cluster
    size, as qemu-img's (issue 20; it was always 0)."""
    img = tmp_path / "bm.qcow2"
    qimg("create", "-q", "-f", "qcow2", img, "3G")
    qimg("bitmap", "--add", img, "b1")
    qimg("bitmap", "--add", "-g", "512", img, "fine, and a longer name")
    qimg("bitmap", "--add", "-g", "2M", img, "coarse")
    qimg("bitmap", "--disable", img, "coarse")
    same(args, tmp_path)
