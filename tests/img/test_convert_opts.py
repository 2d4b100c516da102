# SPDX-License-Identifier: GPL-2.0-or-later
"""convert's -n, -S, -m and -W against qemu-img's (issue 20): the same
allocation (`qemu-img map` without host offsets) for every -S, the same
guest-visible bytes and a clean `qemu-img check` with parallel and
out-of-order writes, qemu-img's one-line errors for bad values, status 1
and nothing written."""
import json
import os

import pytest

from conftest import VMM_IMG, make_data, qimg, run, vimg


@pytest.fixture
def data(tmp_path):
    """Sparse raw data with runs of zeros inside the allocated parts (which
    -S decides about) as well as holes (skipped whatever -S)."""
    p = tmp_path / "data.raw"
    make_data(p, 48 << 20)
    with open(p, "r+b") as f:
        for i in range(12):
            f.seek(i * (3 << 20) + 12345)
            f.write(b"\x01" * 200000 + bytes(150000) + b"\x02" * 30000 + bytes(70000) + b"\x03")
    return p


def allocation(img, ignore=()):
    """qemu-img map's extents without host offsets (and the keys in
    'ignore'), neighbours merged."""
    out = []
    for e in json.loads(qimg("map", "--output=json", img).stdout):
        for k in ("offset", *ignore):
            e.pop(k, None)
        if out and all(out[-1][k] == e[k] for k in e if k not in ("start", "length")):
            out[-1]["length"] += e["length"]
        else:
            out.append(e)
    return out


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("sparse", [None, "0", "512", "4k", "64k", "1M", "16M"])
def test_sparse_size_allocates_as_qemu(tmp_path, data, fmt, sparse):
    opt = ["-S", sparse] if sparse is not None else []
    v, q = tmp_path / f"v.{fmt}", tmp_path / f"q.{fmt}"
    vimg("convert", *opt, "-O", fmt, data, v)
    qimg("convert", *opt, "-O", fmt, data, q)
    assert allocation(v) == allocation(q)
    qimg("compare", "-q", data, v)
    if fmt == "qcow2":
        qimg("check", "-q", v)


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_sparse_zero_fully_allocates(tmp_path, data, fmt):
    v = tmp_path / f"v.{fmt}"
    vimg("convert", "-S", "0", "-O", fmt, data, v)
    a = allocation(v)
    assert len(a) == 1 and a[0]["data"] and not a[0]["zero"], a
    if fmt == "raw":
        assert os.stat(v).st_blocks * 512 >= os.path.getsize(data)


@pytest.mark.parametrize("opts", [["-m", "1"], ["-m", "16"], ["-m", "4", "-W"],
                                  ["-m", "16", "-W", "-c"], ["-W", "-S", "0"],
                                  ["-m", "3", "-W", "-o", "cluster_size=4k"]])
def test_parallel_and_unordered_writes(tmp_path, data, opts):
    v = tmp_path / "v.qcow2"
    vimg("convert", *opts, "-O", "qcow2", data, v)
    qimg("check", "-q", v)
    qimg("compare", "-q", data, v)
    # into an existing target too, which must be overwritten everywhere
    t = tmp_path / "t.qcow2"
    qimg("create", "-q", "-f", "qcow2", t, str(os.path.getsize(data)))
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x77 0 %d" % os.path.getsize(data), t)
    vimg("convert", "-n", *[o for o in opts if not o.startswith("cluster")
                           and o != "-o"], "-O", "qcow2", data, t)
    qimg("check", "-q", t)
    qimg("compare", "-q", data, t)


BAD = [
    ["-m", "0"], ["-m", "17"], ["-m", "-1"], ["-m", "abc"], ["-m", "1x"],
    ["-S", "-1"], ["-S", "abc"], ["-S", "1000"], ["-S", "513"], ["-S", "17M"],
    ["-S", "32M"], ["-S", "8E"], ["-t", "bogus"], ["-T", "bogus"],
]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: " ".join(b))
def test_bad_values_as_qemu(tmp_path, data, bad):
    out = tmp_path / "new.qcow2"
    v = vimg("convert", *bad, "-O", "qcow2", data, out, ok=(1,))
    assert not out.exists() and v.stdout == ""
    q = qimg("convert", *bad, "-O", "qcow2", data, out, ok=(1,))
    assert v.stderr.count("\n") == 1
    assert v.stderr.replace("vmm-img: ", "") == q.stderr.replace("qemu-img: ", "")


@pytest.mark.parametrize("opts", [["-S", "0x200"], ["-S", "1k"], ["-S", "512"], ["-S", "16M"],
                                  ["-t", "none", "-T", "none", "-S", "1k"],
                                  ["-t", "unsafe", "-S", "0"]])
def test_good_values(tmp_path, data, opts):
    vimg("convert", *opts, "-O", "qcow2", data, tmp_path / "o.qcow2")
    qimg("compare", "-q", data, tmp_path / "o.qcow2")
    qimg("check", "-q", tmp_path / "o.qcow2")


def test_skip_create_checks_as_qemu(tmp_path, data):
    # the target must exist
    missing = tmp_path / "missing.qcow2"
    p = vimg("convert", "-n", "-O", "qcow2", data, missing, ok=(1,))
    assert p.stderr.count("\n") == 1 and "Could not open" in p.stderr
    assert not missing.exists()
    qimg("convert", "-n", "-O", "qcow2", data, missing, ok=(1,))
    # smaller: refused with qemu-img's line, the target untouched
    small = tmp_path / "small.qcow2"
    qimg("create", "-q", "-f", "qcow2", small, "1M")
    before = small.read_bytes()
    for tool, name in ((vimg, "vmm-img"), (qimg, "qemu-img")):
        p = tool("convert", "-n", "-O", "qcow2", data, small, ok=(1,))
        assert p.stderr == f"{name}: output file is smaller than input file\n"
    assert small.read_bytes() == before
    # larger is fine: the head takes the data, the tail keeps its own
    big = tmp_path / "big.qcow2"
    qimg("create", "-q", "-f", "qcow2", big, str(os.path.getsize(data) + (1 << 20)))
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x99 %d 64k" % os.path.getsize(data), big)
    vimg("convert", "-n", "-O", "qcow2", data, big)
    qimg("check", "-q", big)
    qimg("compare", "-q", "-s", data, big, ok=(1,))  # strict: the tail differs
    head = tmp_path / "head.raw"
    qimg("convert", "-O", "raw", big, head)
    with open(head, "rb") as f:
        assert f.read(os.path.getsize(data)) == data.read_bytes()
        assert f.read() == b"\x99" * 65536 + bytes((1 << 20) - 65536)
    # -o with -n: qemu-img's line
    before = big.read_bytes()
    for tool, name in ((vimg, "vmm-img"), (qimg, "qemu-img")):
        p = tool("convert", "-n", "-o", "cluster_size=4k", "-O", "qcow2", data, big, ok=(1,))
        assert p.stderr == f"{name}: -o has no effect when skipping image creation\n"
    assert big.read_bytes() == before


def max_threads(args):
    """Runs args, sampling how many threads the process has; returns that
    maximum once it exited with status 0."""
    import subprocess
    import time
    p = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    most = 0
    while p.poll() is None:
        try:
            most = max(most, len(os.listdir(f"/proc/{p.pid}/task")))
        except FileNotFoundError:
            break
        time.sleep(0.002)
    out, err = p.communicate()
    assert p.returncode == 0, err
    return most


@pytest.mark.parametrize("opts", [["-m", "1"], ["-m", "2"], ["-m", "4"], ["-m", "4", "-W"],
                                  ["-m", "16"], []])
def test_parallel_requests_run_in_threads(tmp_path, opts):
    """-m N runs N requests at once (qemu-img's default 8); with -c the
    deflate runs on one thread per CPU this process may use, at most N
    (more would only take turns): compressing incompressible data takes
    long enough to see the threads. Without -c, N threads."""
    import conftest
    src = tmp_path / "dense.raw"
    src.write_bytes(os.urandom(24 << 20))
    m = int(opts[1]) if opts else 8
    v = tmp_path / "v.qcow2"
    n = max_threads([conftest.VMM_IMG, "convert", "-c", *opts, "-O", "qcow2", src, v])
    assert n == min(m, len(os.sched_getaffinity(0))), n
    qimg("check", "-q", v)
    qimg("compare", "-q", src, v)
    # the thread count follows the CPUs the process may use (taskset)
    if m > 1:
        v.unlink()
        n = max_threads(["taskset", "-c", str(min(os.sched_getaffinity(0))),
                         conftest.VMM_IMG, "convert", "-c", *opts, "-O", "qcow2", src, v])
        assert n == 1, n
        qimg("compare", "-q", src, v)


def mixed_inputs(tmp_path):
    """Two inputs whose concatenation has compressible text, random data
    (stored plain), zeros, holes, and clusters that straddle the seam (the
    first input's size is not a multiple of any cluster size)."""
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    make_data(a, (20 << 20) + 4608, seed=7, fragments=80)
    make_data(b, 12 << 20, seed=8, fragments=50)
    with open(a, "r+b") as f:
        f.seek(3 << 20)
        f.write(os.urandom(1 << 20) + bytes(1 << 20) + b"text " * (200000))
    return [a, b]


@pytest.mark.parametrize("cs", ["512", "4k", "64k", "2M"])
def test_compressed_output_is_deterministic(tmp_path, cs):
    """convert -c deflates on several threads and writes in order: the
    file is the same bytes for every -m (1 is the one-thread path), it
    passes qemu-img check, and qemu-img reads the inputs back from it."""
    ins = mixed_inputs(tmp_path)
    outs = []
    for opts in (["-m", "1"], ["-m", "2"], ["-m", "16"], []):
        o = tmp_path / f"o{len(outs)}.qcow2"
        vimg("convert", "-c", *opts, "-O", "qcow2", "-o", f"cluster_size={cs}", *ins, o)
        outs.append(o)
    first = outs[0].read_bytes()
    for o in outs[1:]:
        assert o.read_bytes() == first, o
    qimg("check", "-q", outs[0])
    cat = tmp_path / "cat.raw"
    cat.write_bytes(ins[0].read_bytes() + ins[1].read_bytes())
    qimg("compare", "-q", cat, outs[0])
    back = tmp_path / "back.raw"
    qimg("convert", "-O", "raw", outs[0], back)
    run("cmp", cat, back)
    # really compressed, at 512-byte clusters too (a cluster that saves
    # one byte is stored compressed, as qemu-img stores it)
    info = json.loads(qimg("check", "--output=json", outs[0]).stdout)
    assert info.get("compressed-clusters", 0) > 0, info


def test_compressed_read_error_one_line(tmp_path):
    """A source that fails to read half way: convert -c stops with one
    vmm-img line naming the first failing request in output order, and
    status 1, whatever -m."""
    src = tmp_path / "s.raw"
    make_data(src, 16 << 20, seed=3, fragments=200)
    q = tmp_path / "src.qcow2"
    qimg("convert", "-c", "-O", "qcow2", src, q)
    with open(q, "r+b") as f:
        f.truncate(os.path.getsize(q) // 2)
    lines = set()
    for m in ("1", "2", "16"):
        p = vimg("convert", "-c", "-m", m, "-O", "qcow2", q, tmp_path / "o.qcow2", ok=(1,))
        ours = [ln for ln in p.stderr.splitlines() if ln.startswith("vmm-img:")]
        assert len(ours) == 1, p.stderr
        assert ours[0].startswith("vmm-img: error while reading at byte "), ours
        lines.add(ours[0])
    assert len(lines) == 1, lines


def test_compressed_write_error_one_line(tmp_path):
    """The target cannot grow past 4 MiB (RLIMIT_FSIZE): convert -c stops
    with one line naming the first request that could not be written,
    the same for every -m, and status 1."""
    import resource
    import signal
    import subprocess

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    src = tmp_path / "dense.raw"
    src.write_bytes(os.urandom(12 << 20))
    errs = set()
    for m in ("1", "2", "16"):
        out = tmp_path / f"o{m}.qcow2"
        p = subprocess.run([VMM_IMG, "convert", "-c", "-m", m, "-O", "qcow2", str(src),
                            str(out)], preexec_fn=limit, capture_output=True, text=True)
        assert p.returncode == 1, p
        assert p.stderr.count("\n") == 1, p.stderr
        assert p.stderr.startswith("vmm-img: error while writing at byte "), p.stderr
        assert p.stderr.endswith(": File too large\n"), p.stderr
        errs.add(p.stderr)
    assert len(errs) == 1, errs


def syncs(*args):
    """How many fsync/fdatasync calls a vmm-img run makes (strace)."""
    p = run("strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", VMM_IMG, *args)
    return sum(1 for line in p.stderr.splitlines() if "sync(" in line)


@pytest.mark.parametrize("ofmt", ["raw", "qcow2", "vmdk", "vdi", "vpc", "qcow"])
def test_default_target_cache_is_unsafe(tmp_path, ofmt):
    """The output's cache defaults to unsafe, as qemu-img's convert: no
    flush at the end (the syncs left are the creation's, before any data);
    -t writeback flushes once more. The result is the source either way."""
    src = tmp_path / "src.raw"
    make_data(src, 8 << 20)
    out = tmp_path / "out.img"
    n_default = syncs("convert", "-f", "raw", "-O", ofmt, src, out)
    qimg("compare", "-f", "raw", "-F", ofmt, src, out)
    out.unlink()
    n_writeback = syncs("convert", "-t", "writeback", "-f", "raw", "-O", ofmt, src, out)
    qimg("compare", "-f", "raw", "-F", ofmt, src, out)
    assert n_default == n_writeback - 1, (n_default, n_writeback)


def test_default_cache_into_existing_target(tmp_path):
    """-n: the barriers of an existing qcow2 stay, the final flush goes."""
    src = tmp_path / "src.raw"
    make_data(src, 8 << 20)
    n = {}
    for cache in ("unsafe", "writeback"):
        out = tmp_path / f"{cache}.qcow2"
        qimg("create", "-q", "-f", "qcow2", out, "8M")
        t = ["-t", cache] if cache == "writeback" else []
        n[cache] = syncs("convert", "-n", *t, "-f", "raw", "-O", "qcow2", src, out)
        qimg("compare", "-f", "raw", src, out)
        qimg("check", "-q", out)
    assert n["unsafe"] == n["writeback"] - 1, n
