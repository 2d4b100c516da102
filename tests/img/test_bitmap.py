# SPDX-License-Identifier: GPL-2.0-or-later
"""qcow2 persistent dirty bitmaps (the bitmaps extension, issue 20):
vmm-img info lists the bitmaps qemu-img made as qemu-img info does (human
and JSON); a malformed bitmap directory is one line at open."""
import json
import struct

import pytest

from conftest import qimg, qio, vimg


def qemu_bitmaps(tmp_path, size="64M", opts=()):
    img = tmp_path / "bm.qcow2"
    qimg("create", "-q", "-f", "qcow2", *opts, img, size)
    qimg("bitmap", "--add", img, "b1")
    qimg("bitmap", "--add", "-g", "512k", img, "second bitmap")
    qimg("bitmap", "--disable", img, "second bitmap")
    qimg("bitmap", "--add", "-g", "4k", img, "\"quoted\"")
    return img


def info_human(tool, img):
    out = tool("info", img).stdout
    return out.split("Child node")[0]


@pytest.mark.parametrize("opts", [(), ("-o", "cluster_size=4k")])
def test_info_lists_qemu_bitmaps(tmp_path, opts):
    img = qemu_bitmaps(tmp_path, opts=opts)
    assert "bitmaps:" in info_human(vimg, img)
    assert info_human(vimg, img) == info_human(qimg, img)
    v = json.loads(vimg("info", "--output=json", img).stdout)["format-specific"]
    q = json.loads(qimg("info", "--output=json", img).stdout)["format-specific"]
    assert v == q


def test_info_without_bitmaps_has_no_key(tmp_path):
    img = tmp_path / "plain.qcow2"
    qimg("create", "-q", "-f", "qcow2", img, "1M")
    v = json.loads(vimg("info", "--output=json", img).stdout)["format-specific"]["data"]
    assert "bitmaps" not in v and "bitmaps:" not in vimg("info", img).stdout


def find_ext(data, typ):
    off = struct.unpack(">I", data[100:104])[0]
    while True:
        t, n = struct.unpack(">II", data[off:off + 8])
        if t == typ:
            return off
        assert t, "extension not found"
        off += 8 + (n + 7) // 8 * 8


@pytest.mark.parametrize("field,value", [
    ("nb", 0), ("nb", 70000), ("dir_size", 1 << 40), ("dir_off", 12345),
    ("dir_off", 1 << 40), ("name_size", 0), ("name_size", 5000), ("table_off", 777),
    ("table_size", 1 << 31),
])
def test_malformed_directory_one_line(tmp_path, field, value):
    img = qemu_bitmaps(tmp_path)
    data = bytearray(img.read_bytes())
    ext = find_ext(data, 0x23852875) + 8
    dir_off = struct.unpack(">Q", data[ext + 16:ext + 24])[0]
    where = {"nb": (ext, ">I"), "dir_size": (ext + 8, ">Q"), "dir_off": (ext + 16, ">Q"),
             "name_size": (dir_off + 18, ">H"), "table_off": (dir_off, ">Q"),
             "table_size": (dir_off + 8, ">I")}[field]
    struct.pack_into(where[1], data, where[0], value & ((1 << (8 * struct.calcsize(where[1]))) - 1))
    img.write_bytes(bytes(data))
    p = vimg("info", img, ok=(1,))
    assert p.stdout == "" and p.stderr.count("\n") == 1 and "bitmap" in p.stderr, p.stderr


# ---- vmm-img bitmap ---------------------------------------------------------

def read_bits(img, name):
    """The bitmap's bits as the spec lays them out (directory, table,
    data clusters; LSB first), and its granularity."""
    data = img.read_bytes()
    cs = 1 << struct.unpack(">I", data[20:24])[0]
    size = struct.unpack(">Q", data[24:32])[0]
    ext = find_ext(data, 0x23852875) + 8
    nb, _, dsize, doff = struct.unpack(">IIQQ", data[ext:ext + 24])
    pos = doff
    for _ in range(nb):
        toff, tsize, flags, typ, gbits, nsize, extra = struct.unpack(
            ">QIIBBHI", data[pos:pos + 24])
        n = data[pos + 24 + extra:pos + 24 + extra + nsize].decode()
        pos += (24 + extra + nsize + 7) // 8 * 8
        if n != name:
            continue
        nbits = (size + (1 << gbits) - 1) >> gbits
        out = bytearray()
        for i in range(tsize):
            e = struct.unpack(">Q", data[toff + 8 * i:toff + 8 * i + 8])[0]
            off = e & 0x00fffffffffffe00
            out += data[off:off + cs] if off else (b"\xff" if e & 1 else b"\0") * cs
        return bytes(out[:(nbits + 7) // 8]), 1 << gbits
    raise KeyError(name)


def twin(tmp_path, size="64M", opts=()):
    v, q = tmp_path / "v.qcow2", tmp_path / "q.qcow2"
    for img in (v, q):
        qimg("create", "-q", "-f", "qcow2", *opts, img, size)
    return v, q


def same_state(v, q, names):
    assert (json.loads(vimg("info", "--output=json", v).stdout)["format-specific"] ==
            json.loads(qimg("info", "--output=json", q).stdout)["format-specific"])
    for n in names:
        assert read_bits(v, n) == read_bits(q, n), n
    qimg("check", "-q", v)


@pytest.mark.parametrize("opts", [(), ("-o", "cluster_size=4k"), ("-o", "cluster_size=512")])
def test_bitmap_steps_as_qemu(tmp_path, opts):
    """The same steps by vmm-img on one image and qemu-img on its twin,
    qemu-io writing in between (which marks the enabled bitmaps, so qemu
    takes vmm-img's bitmaps as valid): the same bitmaps, flags and bits
    after every step, `qemu-img check` clean."""
    v, q = twin(tmp_path, opts=opts)
    steps = [
        (["--add"], "b1"), (["--add", "-g", "4k"], "fine"), (["--add", "-g", "2M"], "coarse"),
        ("io", "write -P 1 1M 100k"), (["--disable"], "fine"), ("io", "write -P 2 30M 4k"),
        (["--add", "--disable", "-g", "512"], "sum"), (["--merge", "b1"], "sum"),
        (["--merge", "fine"], "coarse"), (["--enable"], "fine"), ("io", "write -P 3 63M 1M"),
        (["--clear"], "b1"), (["--merge", "coarse", "--disable"], "b1"), (["--remove"], "fine"),
    ]
    names = set()
    for args, name in steps:
        if args == "io":
            for img in (v, q):
                qio(img, "qcow2", name)
        else:
            vimg("bitmap", *args, v, name)
            qimg("bitmap", *args, q, name)
            names.add(name)
            names.discard("fine") if args == ["--remove"] else None
        same_state(v, q, names)
    assert any(read_bits(v, "sum")[0])


def test_bitmap_disabled_flag(tmp_path):
    """--disabled (vmm-img's) adds a bitmap that does not record, as
    qemu-img's --add --disable."""
    v, q = twin(tmp_path)
    vimg("bitmap", "--add", "--disabled", "-g", "128k", v, "off")
    qimg("bitmap", "--add", "--disable", "-g", "128k", q, "off")
    qio(v, "qcow2", "write 0 64k")
    qio(q, "qcow2", "write 0 64k")
    same_state(v, q, ["off"])
    assert not any(read_bits(v, "off")[0])


def test_bitmap_merge_from_other_file(tmp_path):
    v, q = twin(tmp_path)
    src = tmp_path / "src.qcow2"
    qimg("create", "-q", "-f", "qcow2", src, "64M")
    qimg("bitmap", "--add", "-g", "1M", src, "s")
    qio(src, "qcow2", "write 5M 3M", "write 40M 1k")
    for tool, img in ((vimg, v), (qimg, q)):
        tool("bitmap", "--add", img, "d")
        tool("bitmap", "--merge", "s", "-b", src, "-F", "qcow2", img, "d")
    same_state(v, q, ["d"])
    assert any(read_bits(v, "d")[0])


BAD = [
    (["--add"], "b1"), (["--remove"], "nope"), (["--clear"], "nope"), (["--enable"], "nope"),
    (["--disable"], "nope"), (["--merge", "nope"], "b1"), (["--add", "-g", "100"], "y"),
    (["--add", "-g", "256"], "y"), (["--add", "-g", "4G"], "y"), (["--add", "-g", "abc"], "y"),
    (["-g", "64k", "--remove"], "b1"), ([], "b1"), (["--add", "-b", "x.qcow2"], "y"),
    (["--add", "-F", "qcow2"], "y"), (["--add"], ""), (["--merge", "b1", "--remove"], "nope"),
    (["--add", "--add"], "zz"),
]


@pytest.mark.parametrize("args,name", BAD, ids=lambda a: " ".join(a) if isinstance(a, list) else a)
def test_bitmap_errors_as_qemu(tmp_path, args, name):
    v, q = twin(tmp_path)
    for tool, img in ((vimg, v), (qimg, q)):
        tool("bitmap", "--add", img, "b1")
    before = v.read_bytes()
    p = vimg("bitmap", *args, v, name, ok=(1,))
    r = qimg("bitmap", *args, q, name, ok=(1,))
    assert p.stdout == "" and p.stderr.count("\n") == 1
    assert p.stderr.replace("vmm-img: ", "") == r.stderr.replace("qemu-img: ", "")
    # nothing written (qemu-img does the steps before a failing one)
    assert v.read_bytes() == before


def test_bitmap_errors_own_wording(tmp_path):
    """qemu-img names its block node where vmm-img names the file."""
    v2 = tmp_path / "v2.qcow2"
    qimg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1M")
    raw = tmp_path / "r.raw"
    raw.write_bytes(bytes(65536))
    v3 = tmp_path / "v3.qcow2"
    qimg("create", "-q", "-f", "qcow2", v3, "1M")
    for img, name, text in ((v2, "x", "Cannot store dirty bitmaps in qcow2 v2 files"),
                            (raw, "x", "Can't store persistent bitmaps"),
                            (tmp_path / "missing.qcow2", "x", "Could not open"),
                            (v3, "a" * 1024, "Name length exceeds maximum (1023 characters)")):
        before = img.read_bytes() if img.exists() else None
        p = vimg("bitmap", "--add", img, name, ok=(1,))
        assert p.stderr.count("\n") == 1 and text in p.stderr, p.stderr
        assert (img.read_bytes() if img.exists() else None) == before


def test_check_counts_bitmap_clusters(tmp_path):
    """vmm-img check counts the bitmap directory, tables and data clusters
    as qemu-img check does (before, they were 'leaks' that -r leaks would
    have freed under the bitmaps)."""
    img = qemu_bitmaps(tmp_path)
    qio(img, "qcow2", "write 0 3M", "write 40M 64k")
    vimg("bitmap", "--add", "-g", "512", img, "fine")
    vimg("bitmap", "--merge", "b1", img, "fine")
    bits = read_bits(img, "fine")
    assert any(bits[0])
    v = vimg("check", "--output=json", img).stdout
    q = qimg("check", "--output=json", img).stdout
    assert json.loads(v) == json.loads(q)
    vimg("check", "-r", "leaks", img)
    qimg("check", "-q", img)
    qimg("bitmap", "--enable", img, "fine")  # qemu-img still takes them
    assert read_bits(img, "fine") == bits


@pytest.mark.parametrize("cs", ["512", "64k"])
def test_bitmaps_in_vmm_made_images(tmp_path, cs):
    """vmm-img's own images (feature name table, backing file name in the
    first cluster): with 512-byte clusters the optional name table gives
    way to the bitmaps extension; qemu-img takes the result."""
    base = tmp_path / "base.qcow2"
    vimg("create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs}", base, "16M")
    top = tmp_path / "top.qcow2"
    vimg("create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs}", "-b", "base.qcow2",
         "-F", "qcow2", top)
    for img in (base, top):
        vimg("bitmap", "--add", "-g", "8k", img, "x" * 200)
        vimg("bitmap", "--add", "--disabled", img, "y")
        qimg("check", "-q", img)
        q = json.loads(qimg("info", "--output=json", img).stdout)["format-specific"]["data"]
        assert [(b["name"], b["granularity"], b["flags"]) for b in q["bitmaps"]] == \
            [("x" * 200, 8192, ["auto"]), ("y", max(4096, int(cs.rstrip("k")) *
                                                   (1024 if "k" in cs else 1)), [])]
    assert json.loads(qimg("info", "--output=json", top).stdout)["backing-filename"] == \
        "base.qcow2"
    qio(top, "qcow2", "write 1M 8k")
    assert any(read_bits(top, "x" * 200)[0])
