# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-img's command line against qemu-img's: qcow (version 1) images
created byte for byte as qemu-img creates them, read and written both
ways; check --output=json (only JSON on stdout, qemu-img's keys, order and
status); a bad option in any command is one line and status 1 before
anything is written; --version."""
import json
import os

import pytest

from conftest import make_data, qimg, qio, run, same_as_qemu, vimg

COMMANDS = ["create", "info", "convert", "check", "compare", "commit", "resize",
            "snapshot", "rebase", "bitmap"]


@pytest.mark.parametrize("size", ["4G", "1000000", "100M", "1"])
def test_create_qcow_as_qemu(tmp_path, size):
    v, q = tmp_path / "v.qcow", tmp_path / "q.qcow"
    vo = vimg("create", "-f", "qcow", v, size).stdout
    qo = qimg("create", "-f", "qcow", q, size).stdout
    assert vo.replace("v.qcow", "q.qcow") == qo
    run("cmp", v, q)
    # the same lines (disk size aside: qemu-img writes the L1 table's zeros)
    vi = [l for l in vimg("info", v).stdout.splitlines() if not l.startswith("disk size")]
    qi = qimg("info", q).stdout.replace("q.qcow", "v.qcow").splitlines()
    assert vi == [l for l in qi[:len(vi) + 1] if not l.startswith("disk size")]


def test_create_qcow_zero_size_refused(tmp_path):
    for tool in (vimg, qimg):
        p = tool("create", "-f", "qcow", tmp_path / "z.qcow", "0", ok=(1,))
        assert "cannot be zero length" in p.stderr and p.stderr.count("\n") == 1


def test_create_qcow_backing_as_qemu(tmp_path):
    base = tmp_path / "base.qcow"
    qimg("create", "-q", "-f", "qcow", base, "64M")
    vo = vimg("create", "-f", "qcow", "-b", "base.qcow", "-F", "qcow", tmp_path / "v.qcow").stdout
    qo = qimg("create", "-f", "qcow", "-b", "base.qcow", "-F", "qcow", tmp_path / "q.qcow").stdout
    assert vo.replace("v.qcow", "q.qcow") == qo
    run("cmp", tmp_path / "v.qcow", tmp_path / "q.qcow")
    vi = json.loads(vimg("info", "--output=json", tmp_path / "v.qcow").stdout)
    qi = json.loads(qimg("info", "--output=json", tmp_path / "v.qcow").stdout)
    for k in ("virtual-size", "cluster-size", "format", "backing-filename",
              "full-backing-filename", "dirty-flag"):
        assert vi[k] == qi[k], k


def test_qcow_read_qemu_image(tmp_path):
    data = tmp_path / "data.raw"
    make_data(data, 12 << 20)
    q = tmp_path / "q.qcow"
    qimg("convert", "-O", "qcow", data, q)
    qio(q, "qcow", "write -P 0x5a 4095 70000", "write -z 8M 64k")
    same_as_qemu(q, tmp_path)
    assert vimg("info", q).stdout.splitlines()[1] == "file format: qcow"


def compressed_qcow(path, size="4M"):
    # qemu-img 10's convert -c -O qcow writes the image but exits 1: the
    # compressed clusters come from qemu-io's write -c instead
    qimg("create", "-q", "-f", "qcow", path, size)
    qio(path, "qcow", "write -c -P 0x11 0 4k", "write -c -P 0x22 8k 4k",
        *[f"write -c -P 0x{0x30 + i:x} {(1 << 20) + i * 4096} 4k" for i in range(16)],
        "write -P 0x44 2M 4k")


def test_qcow_compressed_read_and_rewrite(tmp_path):
    q = tmp_path / "c.qcow"
    compressed_qcow(q)
    # compressed clusters sit at unaligned offsets, packed: really compressed
    assert os.path.getsize(q) < 64 << 10
    flat = same_as_qemu(q, tmp_path)
    # vmm-img rewrites part of a compressed cluster: the rest is kept
    w = tmp_path / "w.raw"
    with open(flat, "rb") as f:
        b = bytearray(f.read())
    b[100:200] = b"\x77" * 100
    b[1 << 20 : (1 << 20) + 10] = b"\x66" * 10
    w.write_bytes(bytes(b))
    vimg("convert", "-n", "-O", "qcow", "-f", "raw", w, q)
    qimg("compare", "-f", "raw", "-F", "qcow", w, q)


def test_qcow_written_by_vmm_img(tmp_path):
    data = tmp_path / "data.raw"
    make_data(data, 12 << 20, seed=3)
    v = tmp_path / "v.qcow"
    vimg("convert", "-O", "qcow", data, v)
    qimg("compare", "-f", "raw", "-F", "qcow", data, v)
    # into an existing image qemu-img made
    c = tmp_path / "c.qcow"
    make_data(tmp_path / "other.raw", 12 << 20, seed=4)
    qimg("convert", "-O", "qcow", tmp_path / "other.raw", c)
    vimg("convert", "-n", "-O", "qcow", data, c)
    qimg("compare", "-f", "raw", "-F", "qcow", data, c)


def test_qcow_overlay_both_ways(tmp_path):
    base = tmp_path / "base.raw"
    make_data(base, 8 << 20, seed=5)
    vimg("create", "-q", "-f", "qcow", "-b", "base.raw", "-F", "raw", tmp_path / "ov.qcow")
    # qemu-io writes partial clusters into our overlay; both read the same
    qio(tmp_path / "ov.qcow", "qcow", "write -P 0x11 100 1000", "write -P 0x22 3M 5k")
    same_as_qemu(tmp_path / "ov.qcow", tmp_path)
    assert "backing file: base.raw" in vimg("info", tmp_path / "ov.qcow").stdout
    # a chain of two qcow overlays: info --backing-chain walks all three
    vimg("create", "-q", "-f", "qcow", "-b", "ov.qcow", "-F", "qcow", tmp_path / "top.qcow")
    v = vimg("info", "--backing-chain", tmp_path / "top.qcow").stdout
    q = qimg("info", "--backing-chain", tmp_path / "top.qcow").stdout
    assert v.count("image: ") == q.count("image: ") == 3
    vj = json.loads(vimg("info", "--backing-chain", "--output=json", tmp_path / "top.qcow").stdout)
    qj = json.loads(qimg("info", "--backing-chain", "--output=json", tmp_path / "top.qcow").stdout)
    assert [i["format"] for i in vj] == [i["format"] for i in qj] == ["qcow", "qcow", "raw"]


def leaky_qcow2(tmp_path, name="l.qcow2"):
    q = tmp_path / name
    make_data(tmp_path / "d.raw", 4 << 20)
    qimg("convert", "-O", "qcow2", tmp_path / "d.raw", q)
    end = os.path.getsize(q)
    with open(q, "r+b") as f:
        f.truncate(end + 65536)
        f.seek(48)
        rt = int.from_bytes(f.read(8), "big")
        f.seek(rt)
        rb = int.from_bytes(f.read(8), "big")
        f.seek(rb + end // 65536 * 2)
        f.write((1).to_bytes(2, "big"))
    return q


def corrupt_qcow2(tmp_path):
    q = tmp_path / "c.qcow2"
    make_data(tmp_path / "d.raw", 4 << 20)
    qimg("convert", "-O", "qcow2", tmp_path / "d.raw", q)
    with open(q, "r+b") as f:
        f.seek(48)
        rt = int.from_bytes(f.read(8), "big")
        f.seek(rt)
        rb = int.from_bytes(f.read(8), "big")
        f.seek(rb)
        f.write((0).to_bytes(2, "big"))
    return q


def check_json_same(img, status, *extra):
    v = vimg("check", "--output=json", *extra, img, ok=(status,))
    q = qimg("check", "--output=json", *extra, img, ok=(status,))
    # stdout is one JSON document, nothing else; the findings went to stderr
    vj = json.loads(v.stdout)
    qj = json.loads(q.stdout)
    assert list(vj.items()) == list(qj.items()), (v.stdout, q.stdout)
    assert v.stdout == q.stdout
    return v


def test_check_json_clean(tmp_path):
    q = tmp_path / "q.qcow2"
    qimg("create", "-q", "-f", "qcow2", q, "10M")
    qio(q, "qcow2", "write 0 1M")
    check_json_same(q, 0)


def test_check_fragmentation_as_qemu_img(tmp_path):
    """Fragmented clusters as qemu-img counts them: a data cluster not right
    after the previous one of the same L2 table (each table starts afresh),
    every compressed cluster; JSON and human lines alike."""
    f = tmp_path / "f.qcow2"
    qimg("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", f, "1M")
    # cluster 0, cluster 64 (the next L2 table's first), cluster 1
    qio(f, "qcow2", "write -P 1 0 512", "write -P 2 32768 512", "write -P 3 512 512")
    v = check_json_same(f, 0)
    assert json.loads(v.stdout)["fragmented-clusters"] == 1, v.stdout
    assert vimg("check", f).stdout == qimg("check", f).stdout
    t = tmp_path / "t.raw"
    t.write_bytes(b"".join(b"line %d of some text\n" % i for i in range(40000))[:1 << 20])
    c = tmp_path / "c.qcow2"
    qimg("convert", "-c", "-O", "qcow2", t, c)
    v = check_json_same(c, 0)
    j = json.loads(v.stdout)
    assert j["compressed-clusters"] == j["fragmented-clusters"] > 0, j
    assert vimg("check", c).stdout == qimg("check", c).stdout


def test_check_json_leak(tmp_path):
    q = leaky_qcow2(tmp_path)
    v = check_json_same(q, 3)
    assert "Leaked cluster" in v.stderr


def test_check_json_corruption(tmp_path):
    q = corrupt_qcow2(tmp_path)
    v = check_json_same(q, 2)
    assert "ERROR" in v.stderr


def test_check_json_repair(tmp_path):
    q = leaky_qcow2(tmp_path)
    q2 = leaky_qcow2(tmp_path, "l2.qcow2")
    v = vimg("check", "--output=json", "-r", "leaks", q)
    p = qimg("check", "--output=json", "-r", "leaks", q2)
    assert v.stdout.replace("l.qcow2", "l2.qcow2") == p.stdout
    assert json.loads(v.stdout)["leaks-fixed"] == 1


def test_check_human_findings_on_stderr(tmp_path):
    q = leaky_qcow2(tmp_path)
    v = vimg("check", q, ok=(3,))
    p = qimg("check", q, ok=(3,))
    assert v.stdout == p.stdout.replace(str(q), str(q))
    assert "Leaked cluster" in v.stderr and "Leaked cluster" not in v.stdout


def test_check_unsupported_format(tmp_path):
    r = tmp_path / "r.raw"
    vimg("create", "-q", "-f", "raw", r, "1M")
    v = vimg("check", "--output=json", "-f", "raw", r, ok=(63,))
    assert v.stdout == ""
    assert qimg("check", "--output=json", "-f", "raw", r, ok=(63,)).stdout == ""


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("bad", ["--bogus", "-Z"])
def test_unknown_option_one_line(tmp_path, cmd, bad):
    img = tmp_path / "x.qcow2"
    qimg("create", "-q", "-f", "qcow2", img, "1M")
    before = img.read_bytes()
    args = {"create": [tmp_path / "new.img", "1M"], "convert": [img, tmp_path / "new.img"],
            "compare": [img, img], "resize": [img, "2M"], "snapshot": ["-c", "s", img],
            "rebase": ["-u", "-b", "", img], "bitmap": ["--add", img, "b"]}.get(cmd, [img])
    p = vimg(cmd, bad, *args, ok=(1,))
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1 and bad.lstrip("-")[:1] in p.stderr, p.stderr
    assert p.stderr.startswith(f"vmm-img {cmd}: ")
    assert not (tmp_path / "new.img").exists()
    assert img.read_bytes() == before
    # qemu-img refuses the same with status 1
    qimg(cmd, bad, *args, ok=(1,))


@pytest.mark.parametrize("cmd", ["check", "info", "convert", "resize"])
def test_missing_option_argument(tmp_path, cmd):
    p = vimg(cmd, "-f", ok=(1,))
    assert p.stderr.count("\n") == 1 and "requires an argument" in p.stderr


def test_version():
    for opt in ("--version", "-V"):
        p = vimg(opt)
        assert p.stdout.startswith("vmm-img version ") and p.returncode == 0


def test_create_unknown_format_writes_nothing(tmp_path):
    p = vimg("create", "-f", "nonesuch", tmp_path / "x", "1M", ok=(1,))
    assert p.stdout == "" and p.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()
