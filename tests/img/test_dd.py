# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-img dd against qemu-img dd: the same output bytes (raw, qcow2 and
qcow byte for byte, the formats with UUIDs or timestamps by content),
the same output size (the input's virtual size in whole sectors, or
count*bs, less skip*bs), and the same message and status for every bad
operand."""
import pytest

from conftest import make_data, qimg, qio, run, vimg

BAD_OPERANDS = [
    "bs=0", "bs=-1", "bs=abc", "bs=", "bs=1e3", "bs=1.5", "bs=0x", "bs=0x10k", "bs=1kb",
    "bs=3G", "bs=2048m", "bs=9999999999999999999999", "count=x", "count=1k", "count=-1",
    "count=1.5", "count=", "count=099", "skip=x", "skip=-2", "skip=99999999999999999999",
    "foo=1", "bs", "extra", "if=", "of=",
]


def same_message(tmp_path, args, status):
    """Both tools end with 'status' and the same stderr (program name aside)."""
    v = vimg("dd", *args, ok=(status,))
    q = qimg("dd", *args, ok=(status,))
    assert v.stderr.replace("vmm-img", "qemu-img") == q.stderr
    assert v.stdout == q.stdout == ""
    return v


@pytest.mark.parametrize("operand", BAD_OPERANDS)
def test_bad_operand_as_qemu(tmp_path, operand):
    src = tmp_path / "in.raw"
    src.write_bytes(b"x" * 4096)
    args = [operand] if operand in ("if=", "of=") else [operand, f"if={src}",
                                                         f"of={tmp_path / 'o.img'}"]
    if operand == "if=":
        args += [f"of={tmp_path / 'o.img'}"]
    elif operand == "of=":
        args = [f"if={src}"]
    same_message(tmp_path, args, 1)
    assert not (tmp_path / "o.img").exists()


@pytest.mark.parametrize("args", [[], ["if=a"], ["of=b"], ["bs=512"]])
def test_missing_files_as_qemu(tmp_path, args):
    same_message(tmp_path, args, 1)


def test_unknown_output_format_as_qemu(tmp_path):
    src = tmp_path / "in.raw"
    src.write_bytes(bytes(1024))
    same_message(tmp_path, ["-O", "bogus", f"if={src}", f"of={tmp_path / 'o'}"], 1)
    assert not (tmp_path / "o").exists()


def test_missing_input_fails(tmp_path):
    for tool in (vimg, qimg):
        p = tool("dd", f"if={tmp_path / 'none'}", f"of={tmp_path / 'o'}", ok=(1,))
        assert f"Could not open '{tmp_path / 'none'}'" in p.stderr
        assert not (tmp_path / "o").exists()


# bs/count/skip combinations, with the accepted number spellings
GOOD = [
    [], ["bs=1k"], ["bs=1.5k"], ["bs=0x200"], ["bs=512b"], ["bs=.5k"], ["bs=1M", "count=2"],
    ["bs=7", "count=3"], ["count=0x10"], ["count=010"], ["count=+5"], ["count=0"],
    ["bs=1k", "count=5", "skip=2"], ["bs=1000000", "count=2", "skip=1"],
    ["bs=1000000", "count=5", "skip=1"], ["bs=4097", "count=100", "skip=3"],
    ["bs=65536", "skip=10"], ["bs=1k", "skip=2929"], ["bs=1k", "skip=2930"],
    ["bs=512", "bs=4096"],
]


@pytest.mark.parametrize("ops", GOOD, ids=lambda o: "_".join(o) or "default")
def test_raw_bytes_as_qemu(tmp_path, ops):
    src = tmp_path / "in.raw"
    make_data(src, 3 << 20, fragments=20)
    with open(src, "r+b") as f:  # not a whole number of sectors
        f.truncate(3000000)
    v, q = tmp_path / "v.raw", tmp_path / "q.raw"
    vo = vimg("dd", *ops, f"if={src}", f"of={v}")
    qo = qimg("dd", *ops, f"if={src}", f"of={q}")
    assert vo.stdout == qo.stdout == "" and vo.stderr == qo.stderr == ""
    assert v.stat().st_size == q.stat().st_size
    run("cmp", v, q)


def test_skip_past_end_as_qemu(tmp_path):
    src = tmp_path / "in.raw"
    src.write_bytes(bytes(range(256)) * 16)
    for tool, out in ((vimg, "v.raw"), (qimg, "q.raw")):
        p = tool("dd", "bs=1k", "skip=5", f"if={src}", f"of={tmp_path / out}")
        assert p.stderr.split(": ", 1)[1] == f"{src}: cannot skip to specified offset\n"
        assert (tmp_path / out).stat().st_size == 0


@pytest.fixture
def qcow2_source(tmp_path):
    src = tmp_path / "src.qcow2"
    qimg("create", "-q", "-f", "qcow2", src, "5M")
    qio(src, "qcow2", "write -P 0x33 1000k 100k", "write -z 3M 64k", "write -P 0x7e 4M 4097")
    return src


@pytest.mark.parametrize("ofmt", ["raw", "qcow2", "qcow"])
@pytest.mark.parametrize("ops", [["bs=512"], ["bs=1M", "count=3", "skip=1"],
                                 ["bs=65536", "skip=10"]], ids=lambda o: "_".join(o))
def test_formats_byte_for_byte(tmp_path, qcow2_source, ofmt, ops):
    v, q = tmp_path / "v.img", tmp_path / "q.img"
    vimg("dd", "-f", "qcow2", "-O", ofmt, *ops, f"if={qcow2_source}", f"of={v}")
    qimg("dd", "-f", "qcow2", "-O", ofmt, *ops, f"if={qcow2_source}", f"of={q}")
    run("cmp", v, q)
    if ofmt == "qcow2":
        qimg("check", v)


@pytest.mark.parametrize("ofmt", ["vdi", "vpc", "vmdk"])
def test_formats_same_content(tmp_path, qcow2_source, ofmt):
    # these carry UUIDs and timestamps: the same guest-visible bytes
    v, q = tmp_path / "v.img", tmp_path / "q.img"
    vimg("dd", "-O", ofmt, "bs=64k", "skip=3", f"if={qcow2_source}", f"of={v}")
    qimg("dd", "-O", ofmt, "bs=64k", "skip=3", f"if={qcow2_source}", f"of={q}")
    qimg("compare", "-s", "-f", ofmt, "-F", ofmt, v, q)
    vi = qimg("info", "-f", ofmt, v).stdout.splitlines()[2]
    assert vi == qimg("info", "-f", ofmt, q).stdout.splitlines()[2]  # virtual size


def test_existing_output_replaced(tmp_path):
    src, out = tmp_path / "in.raw", tmp_path / "o.raw"
    src.write_bytes(b"\x11" * 8192)
    out.write_bytes(b"\x22" * 65536)
    vimg("dd", "bs=4k", "count=1", f"if={src}", f"of={out}")
    assert out.read_bytes() == b"\x11" * 4096


def test_output_not_creatable_as_qemu(tmp_path):
    src = tmp_path / "in.raw"
    src.write_bytes(bytes(4096))
    same_message(tmp_path, [f"if={src}", f"of={tmp_path / 'no' / 'o.raw'}"], 1)
