# SPDX-License-Identifier: GPL-2.0-or-later
"""--image-opts and --object (issue 20): every command qemu-img takes them
with takes them in vmm-img. An image named by driver=...,file.filename=...
gives what the plain name gives (and what qemu-img gives); a secret object
is checked as qemu-img checks it and then unused (vmm-img has no
encryption); bad option strings and objects are one line with qemu-img's
wording and status, before anything is written. Before this work every
one of these was "unrecognized option"."""
import json

import pytest

from conftest import qimg, qio, vimg

SECRET = "secret,id=sec0,data=letmein"


def spec(img, driver="qcow2", extra=""):
    if driver == "file":
        return f"driver=file,filename={img}{extra}"
    return f"driver={driver},file.filename={img}{extra}"


def qcow2(tmp_path, name="a.qcow2", size="16M"):
    img = tmp_path / name
    qimg("create", "-q", "-f", "qcow2", img, size)
    qio(img, "qcow2", "write -P 3 1M 64k", "write -z 2M 64k")
    return img


def same_run(args_v, args_q, ok=(0,)):
    pv, pq = vimg(*args_v, ok=ok), qimg(*args_q, ok=ok)
    assert pv.returncode == pq.returncode
    return pv, pq


@pytest.mark.parametrize("form", [
    "driver=qcow2,file.filename={}", "driver=qcow2,file.driver=file,file.filename={}",
    "file.filename={}", "driver=qcow2,file.filename={},read-only=on,force-share=on",
    "driver=qcow2,file.filename={},cache.direct=on", "driver=qcow2,file.filename={},cache.no-flush=on",
])
def test_info_check_map_measure(tmp_path, form):
    img = qcow2(tmp_path)
    s = form.format(img)
    for cmd in (["info", "--output=json"], ["check", "--output=json"], ["map", "--output=json"],
                ["measure", "--output=json", "-O", "qcow2"]):
        pv, pq = same_run([cmd[0], "--object", SECRET, "--image-opts", *cmd[1:], s],
                          [cmd[0], "--object", SECRET, "--image-opts", *cmd[1:], s])
        plain = vimg(*cmd, img).stdout
        if cmd[0] == "info":
            v, q = json.loads(pv.stdout), json.loads(pq.stdout)
            assert v["format-specific"] == q["format-specific"]
            assert (v["virtual-size"], v["format"]) == (q["virtual-size"], "qcow2")
            assert pv.stdout == plain
        else:
            # check names the image by the option string, as qemu-img
            assert pv.stdout == pq.stdout
            assert pv.stdout.replace(s, str(img)) == plain


@pytest.mark.parametrize("driver", ["raw", "file"])
def test_raw_drivers(tmp_path, driver):
    img = tmp_path / "d.raw"
    qimg("create", "-q", "-f", "raw", img, "4M")
    qio(img, "raw", "write -P 7 64k 64k")
    pv, pq = same_run(["map", "--output=json", "--image-opts", spec(img, driver)],
                      ["map", "--output=json", "--image-opts", spec(img, driver)])
    assert pv.stdout == pq.stdout
    # info names driver=file's layer "file", as qemu-img (its child nodes aside)
    pv, pq = same_run(["info", "--image-opts", spec(img, driver)],
                      ["info", "--image-opts", spec(img, driver)])
    assert pv.stdout == pq.stdout.split("Child node")[0]
    # a qcow2 file read as raw under driver=raw (the header's bytes)
    q = qcow2(tmp_path)
    out = tmp_path / "asraw.out"
    vimg("convert", "-O", "raw", "--image-opts", spec(q, driver), out)
    assert out.read_bytes() == q.read_bytes()


def test_compare_and_convert(tmp_path):
    a = qcow2(tmp_path)
    raw = tmp_path / "a.raw"
    vimg("convert", "--object", SECRET, "-O", "raw", "--image-opts", spec(a), raw)
    qimg("compare", a, raw)
    pv, pq = same_run(["compare", "--object", SECRET, "--image-opts", spec(a), spec(raw, "raw")],
                      ["compare", "--object", SECRET, "--image-opts", spec(a), spec(raw, "raw")])
    assert pv.stdout == pq.stdout == "Images are identical.\n"
    # --target-image-opts: an existing target, with -n
    t = tmp_path / "t.qcow2"
    qimg("create", "-q", "-f", "qcow2", t, "16M")
    vimg("convert", "-n", "--target-image-opts", a, spec(t))
    qimg("compare", a, t)
    qimg("check", "-q", t)
    for tool in (vimg, qimg):
        p = tool("convert", "--target-image-opts", a, spec(t), ok=(1,))
        assert p.stderr.endswith("--target-image-opts requires use of -n flag\n")


def test_writing_commands_as_qemu(tmp_path):
    """resize, snapshot, amend, bitmap, bench -w, commit, rebase and dd
    through --image-opts on one image and qemu-img's through the same on
    its twin: the same images after each step (qemu-img compare, info's
    format-specific, check clean)."""
    v, q = qcow2(tmp_path, "v.qcow2"), qcow2(tmp_path, "q.qcow2")
    steps = [
        ["resize", "--object", SECRET, "--image-opts", "{}", "32M"],
        ["snapshot", "--object", SECRET, "--image-opts", "-c", "s1", "{}"],
        ["amend", "--object", SECRET, "--image-opts", "-o", "lazy_refcounts=on", "{}"],
        ["bitmap", "--object", SECRET, "--image-opts", "--add", "{}", "bm"],
        ["bench", "--image-opts", "-w", "-c", "4", "-o", "4M", "-s", "64k", "{}"],
        ["snapshot", "--image-opts", "-d", "s1", "{}"],
        ["check", "--image-opts", "-r", "all", "{}"],
    ]
    for st in steps:
        pv = vimg(*[spec(v) if a == "{}" else a for a in st])
        pq = qimg(*[spec(q) if a == "{}" else a for a in st])
        if st[0] not in ("bench", "check"):  # timings; file layouts differ
            assert pv.stdout.replace(str(v), "X") == pq.stdout.replace(str(q), "X"), st
        qimg("compare", v, q)
        fv = json.loads(qimg("info", "--output=json", v).stdout)["format-specific"]
        fq = json.loads(qimg("info", "--output=json", q).stdout)["format-specific"]
        assert fv == fq, st
        qimg("check", "-q", v)
    # commit and rebase of an overlay named by options, dd from one
    for who in ("v", "q"):
        ov = tmp_path / f"{who}-ov.qcow2"
        qimg("create", "-q", "-f", "qcow2", "-b", tmp_path / f"{who}.qcow2", "-F", "qcow2", ov)
        qio(ov, "qcow2", "write -P 9 5M 4k")
        tool = vimg if who == "v" else qimg
        tool("rebase", "--object", SECRET, "--image-opts", "-u", "-b", f"{who}.qcow2", "-F",
             "qcow2", f"driver=qcow2,file.filename={who}-ov.qcow2", cwd=tmp_path)
        tool("commit", "--object", SECRET, "--image-opts", spec(ov))
        tool("dd", "--object", SECRET, "--image-opts", f"if={spec(ov)}",
             f"of={tmp_path / (who + '.dd')}", "bs=64k", "count=100")
    qimg("compare", v, q)
    assert (tmp_path / "v.dd").read_bytes() == (tmp_path / "q.dd").read_bytes()


def test_create_takes_object(tmp_path):
    for tool, name in ((vimg, "v.qcow2"), (qimg, "q.qcow2")):
        tool("create", "-q", "--object", SECRET, "-f", "qcow2", tmp_path / name, "1M")
    qimg("compare", tmp_path / "v.qcow2", tmp_path / "q.qcow2")


def test_bench_has_no_object(tmp_path):
    """qemu-img bench takes --image-opts but not --object."""
    img = qcow2(tmp_path)
    vimg("bench", "-c", "1", "--image-opts", spec(img))
    for tool in (vimg, qimg):
        p = tool("bench", "-c", "1", "--object", SECRET, img, ok=(1,))
        assert "unrecognized option '--object'" in p.stderr.splitlines()[0]


BAD_SPECS = [
    "driver=qcow2,file=IMG", "IMG", "driver=qcow2,file.filename=IMG,bogus=1",
    "driver=nonesuch,file.filename=IMG", "driver=qcow2",
    "driver=qcow2,file.filename=IMG,file.bogus=2", "driver=qcow2,,file.filename=IMG",
    "driver=qcow2,file.filename=IMG,cache.direct=maybe",
    "driver=qcow2,file.filename=IMG.missing",
]


@pytest.mark.parametrize("bad", BAD_SPECS)
@pytest.mark.parametrize("cmd", [["info"], ["check"], ["map"], ["resize", "@", "32M"],
                                 ["snapshot", "-c", "s", "@"], ["amend", "-o",
                                 "lazy_refcounts=on", "@"], ["bitmap", "--add", "@", "b"],
                                 ["commit", "@"], ["bench", "-w", "-c", "1", "@"]])
def test_bad_specs_as_qemu(tmp_path, bad, cmd):
    """qemu-img's line (its own name aside) and status, the image byte for
    byte as it was."""
    img = qcow2(tmp_path)
    s = bad.replace("IMG", str(img))
    args = [cmd[0], "--image-opts"] + ([s] if len(cmd) == 1 else
                                       [s if a == "@" else a for a in cmd[1:]])
    before = img.read_bytes()
    pv, pq = vimg(*args, ok=None), qimg(*args, ok=None)
    assert pv.returncode == pq.returncode == 1, (pv.stderr, pq.stderr)
    assert pv.stdout == ""
    assert pv.stderr.count("\n") == 1
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr.splitlines(True)[0]
    assert img.read_bytes() == before


def test_bad_spec_own_wording(tmp_path):
    """Where vmm-img cannot do what qemu-img does: one line, status 1."""
    img = qcow2(tmp_path)
    for s, why in ((spec(img, extra=",l2-cache-size=1M"), "l2-cache-size"),
                   (f"driver=qcow2,file.driver=nbd,file.filename={img}", "nbd"),
                   (spec(img, extra=",encrypt.key-secret=nosuch"), "No secret with id 'nosuch'")):
        p = vimg("info", "--image-opts", s, ok=(1,))
        assert p.stdout == "" and p.stderr.count("\n") == 1 and why in p.stderr, p.stderr
    vimg("info", "--object", SECRET, "--image-opts", spec(img, extra=",encrypt.key-secret=sec0"))


def test_read_only_and_conflicts(tmp_path):
    img = qcow2(tmp_path)
    before = img.read_bytes()
    for args in (["resize", "--image-opts", spec(img, extra=",read-only=on"), "32M"],
                 ["info", "--image-opts", "-f", "qcow2", spec(img)]):
        pv, pq = vimg(*args, ok=(1,)), qimg(*args, ok=(1,))
        assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr.splitlines(True)[0]
    pv, pq = (t("compare", "--image-opts", "-f", "qcow2", spec(img), spec(img), ok=(2,))
              for t in (vimg, qimg))
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr
    assert img.read_bytes() == before
    # a bad target spec creates nothing
    out = tmp_path / "new.raw"
    for tool in (vimg, qimg):
        tool("convert", "-O", "raw", "--image-opts", spec(img, extra=",bogus=1"), out, ok=(1,))
        assert not out.exists()


BAD_OBJECTS = [
    "secret,id=s0", "secret,data=pw", "secret,id=s0,file=/nonexistent/pw",
    "secret,id=s0,data=pw,bogus=1", "nonesuch,id=x", "secret,id=s0,data=pw,format=bogus",
    "secret,id=s0,data=pw,file=/etc/hostname", "secret,id=s0,data=pw,keyid=k",
    "iothread,id=io0", "",
]


@pytest.mark.parametrize("bad", BAD_OBJECTS)
@pytest.mark.parametrize("cmd", ["info", "check", "snapshot -c s", "resize @ 32M",
                                 "amend -o lazy_refcounts=on", "bitmap --add @ b", "commit",
                                 "rebase -u -b '' @", "map", "measure", "create -f qcow2 @ 1M"])
def test_bad_objects_as_qemu(tmp_path, bad, cmd):
    img = qcow2(tmp_path)
    if cmd.startswith("create"):
        img = tmp_path / "new.qcow2"
    parts = [("" if p == "''" else p) for p in cmd.split()]
    args = [parts[0], "--object", bad] + ([str(img) if p == "@" else p for p in parts[1:]]
                                          if "@" in parts else parts[1:] + [str(img)])
    before = img.read_bytes() if img.exists() else None
    pv, pq = vimg(*args, ok=(1,)), qimg(*args, ok=(1,))
    assert pv.stdout == "" and pv.stderr.count("\n") == 1
    assert pv.stderr.replace("vmm-img", "qemu-img") == pq.stderr.replace("\u201c", "\u201c")
    assert (img.read_bytes() if img.exists() else None) == before


def test_objects_own_wording_and_help(tmp_path):
    img = qcow2(tmp_path)
    p = vimg("info", "--object", "throttle-group,id=t", img, ok=(1,))
    assert p.stdout == "" and p.stderr.count("\n") == 1 and "throttle-group" in p.stderr
    p = vimg("info", "--object", "secret,id=,data=x", img, ok=(1,))
    assert p.stderr.count("\n") == 1 and "Parameter 'id' expects an identifier" in p.stderr
    p = vimg("info", "--object", "secret,id=a,data=x", "--object", "secret,id=a,data=y", img,
             ok=(1,))
    q = qimg("info", "--object", "secret,id=a,data=x", "--object", "secret,id=a,data=y", img,
             ok=(1,))
    assert p.stderr.replace("vmm-img", "qemu-img") == q.stderr
    assert vimg("info", "--object", "secret,help", img).stdout == \
        qimg("info", "--object", "secret,help", img).stdout
    assert "secret" in vimg("info", "--object", "help", img).stdout
    # a secret in a file, and base64: accepted as qemu-img
    pw = tmp_path / "pw"
    pw.write_text("letmein")
    for tool in (vimg, qimg):
        tool("info", "--object", f"secret,id=k,file={pw}", "--object",
             "secret,id=s,data=bGV0bWVpbg==,format=base64", img)
    # an encrypted secret (keyid=): vmm-img has no AES, one line
    p = vimg("info", "--object", f"secret,id=k,file={pw}", "--object",
             "secret,id=s,data=bGV0bWVpbg==,keyid=k,iv=AAAAAAAAAAAAAAAAAAAAAA==", img, ok=(1,))
    assert p.stdout == "" and p.stderr.count("\n") == 1 and "keyid" in p.stderr
