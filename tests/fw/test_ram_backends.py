# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest RAM's memory backends (issues 19 and 21), seen from outside vmm:
-object memory-backend-ram|file|memfd with -machine memory-backend=ID,
-mem-path, -mem-prealloc, -machine mem-merge=, -overcommit mem-lock=.

The guest is tests/fw/migcount.S (a -bios image, no SeaBIOS): it fills
256 KiB from 0x30000 with 0x5AA5C33C and counts in RAM at 0x1000, printing
each count to COM1. With share=on another process reading the backend's
file sees exactly that; with share=off the file is untouched. What the
kernel holds for vmm (/proc/PID/status, smaps) shows prealloc (RSS at
start), mem-merge (VmFlags mg), dump=off (dd) and mem-lock (VmLck).
QMP query-memdev lists the backends. Migration and savevm/loadvm run on
file-backed RAM as on anonymous RAM.
Every bad value is one line and exit status 1 before the guest runs."""
import os
import re
import struct
import subprocess

import pytest

import fwskip
from conftest import VMM, fw_image
from test_cli import one_line_error, run
from test_migration import Machine, socket_migration, wait_counting
from test_qmp import wait_for
from test_savevm import COUNT as SAVEVM_COUNT, check_one_run, qcow2, start, vms  # noqa: F401

PATTERN = 0x5AA5C33C
FILL_START, FILL_LEN = 0x30000, 256 * 1024
COUNTER = 0x1000
MiB = 1024 * 1024


def backend(kind, size_mb, **props):
    opts = ",".join(f"{k.replace('_', '-')}={v}" for k, v in props.items())
    return ["-object", f"memory-backend-{kind},id=mem0,size={size_mb}M" + (f",{opts}" if opts else ""),
            "-machine", "memory-backend=mem0"]


def status(pid):
    """/proc/PID/status's kB figures by name."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            m = re.match(r"^(\w+):\s+(\d+) kB$", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def ram_mapping(pid, size, path_prefix=None):
    """The smaps entry of the one mapping of exactly 'size' bytes (guest
    RAM: -nodefaults leaves no VGA, whose VRAM could be the same size), or
    with path_prefix the one mapping of a file under it (a glibc arena can
    also be 64 MiB): its size, path, VmFlags and KernelPageSize in KiB."""
    entries, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = {"size": int(m.group(2), 16) - int(m.group(1), 16), "path": m.group(3)}
                entries.append(cur)
            elif line.startswith("VmFlags:"):
                cur["flags"] = line.split()[1:]
            elif line.startswith("KernelPageSize:"):
                cur["kernel_page_kib"] = int(line.split()[1])
    if path_prefix is None:
        found = [e for e in entries if e["size"] == size]
    else:
        found = [e for e in entries if e["path"].startswith(path_prefix)]
    assert len(found) == 1, [e for e in entries if e["size"] >= MiB]
    assert found[0]["size"] == size, found[0]
    return found[0]


def started(m):
    """Connected over QMP (set-up is over), the process still there."""
    m.connect()
    assert m.proc.poll() is None
    return m


def last_count(m):
    return max(m.counts())


def file_words(path, offset, n):
    with open(path, "rb") as f:
        f.seek(offset)
        return struct.unpack(f"<{n}I", f.read(4 * n))


def test_shared_file_sees_guest_ram(tmp_path):
    """share=on: another process reading the file sees the guest's pattern
    and its counter, which the guest keeps writing; stopped, the file holds
    the count the guest last printed (or the next: stopped mid-line)."""
    ram = tmp_path / "guest.ram"
    m = Machine(tmp_path, "shared", backend("file", 16, mem_path=ram, share="on"))
    try:
        started(m)
        wait_counting(m)
        assert ram.stat().st_size == 16 * MiB  # created and sized by vmm
        words = file_words(ram, FILL_START, FILL_LEN // 4)
        assert set(words) == {PATTERN}
        first = file_words(ram, COUNTER, 1)[0]
        wait_for(lambda: file_words(ram, COUNTER, 1)[0] > first + 5, 30, "the counter to move")
        m.qmp.ok("stop")
        in_file = file_words(ram, COUNTER, 1)[0]
        printed = last_count(m)
        assert printed <= in_file <= printed + 1, (printed, in_file)
        # the slot of the last count holds it too (slot = count mod 64, 1 KiB apart)
        assert file_words(ram, 0x20000 + (in_file % 64) * 1024, 1)[0] == in_file
        assert ram_mapping(m.proc.pid, 16 * MiB)["path"] == str(ram)
        status_, err = m.finish()
        assert status_ == 0, err
    finally:
        m.kill()
    assert ram.exists(), "a file the user named is kept, as QEMU keeps it"


def test_private_file_and_mem_path_directory(tmp_path):
    """share=off maps the file private: the guest runs on it, the file
    stays as it was. -mem-path on a directory: an unlinked temporary file
    there, nothing left behind."""
    ram = tmp_path / "private.ram"
    ram.write_bytes(b"\0" * (16 * MiB))
    d = tmp_path / "dir"
    d.mkdir()
    a = Machine(tmp_path, "private", backend("file", 16, mem_path=ram, share="off"))
    b = Machine(tmp_path, "legacy", ["-mem-path", str(d)])
    try:
        for m in (a, b):
            started(m)
            wait_counting(m)
        assert ram.read_bytes() == b"\0" * (16 * MiB)
        assert os.listdir(d) == []
        entry = ram_mapping(b.proc.pid, 16 * MiB)
        assert entry["path"].startswith(f"{d}/vmm_back_mem.") and \
            entry["path"].endswith("(deleted)"), entry
        for m in (a, b):
            assert "BAD" not in m.lines()
            code, err = m.finish()
            assert code == 0, err
    finally:
        a.kill()
        b.kill()


def test_memfd_backend(tmp_path):
    """memfd: shared memory (RssShmem), the guest counts on it."""
    m = Machine(tmp_path, "memfd", backend("memfd", 16))
    try:
        started(m)
        wait_counting(m)
        entry = ram_mapping(m.proc.pid, 16 * MiB)
        assert entry["path"] == "/memfd:mem0 (deleted)", entry
        assert "sh" in entry["flags"], entry  # MAP_SHARED
        # the 256 KiB pattern and the counter pages are in the memfd
        assert status(m.proc.pid)["RssShmem"] >= 256, status(m.proc.pid)
        assert "BAD" not in m.lines()
        code, err = m.finish()
        assert code == 0, err
    finally:
        m.kill()


@pytest.mark.parametrize("args", [
    ["-mem-prealloc"],
    backend("ram", 64, prealloc="on"),
    backend("memfd", 64, prealloc="on", prealloc_threads=2),
])
def test_prealloc_raises_rss_at_start(tmp_path, args):
    """Paused before the first instruction (-S), vmm already holds every
    page of its 64 MiB; without prealloc it holds far less."""
    lazy = started(Machine(tmp_path, "lazy", ["-S"], ram_mb=64))
    eager = started(Machine(tmp_path, "eager", ["-S", *args], ram_mb=64))
    try:
        idle, full = status(lazy.proc.pid), status(eager.proc.pid)
        assert idle["VmRSS"] < 32 * 1024, idle
        assert full["VmRSS"] >= 64 * 1024, full
        for m in (lazy, eager):
            code, err = m.finish()
            assert code == 0, err
    finally:
        lazy.kill()
        eager.kill()


def test_mem_merge_dump_and_mem_lock(tmp_path):
    """QEMU's default mem-merge=on marks guest RAM mergeable for KSM (smaps
    VmFlags mg); mem-merge=off and a backend's merge=off do not; dump=off
    keeps it out of core dumps (dd). mem-lock=on locks it (VmLck)."""
    size = 24 * MiB
    runs = {
        "default": [],
        "nomerge": ["-machine", "mem-merge=off"],
        "backend": backend("ram", 24, merge="off", dump="off"),
        "locked": ["-overcommit", "mem-lock=on"],
    }
    ms = {k: Machine(tmp_path, k, v, ram_mb=24) for k, v in runs.items()}
    try:
        flags = {}
        for k, m in ms.items():
            started(m)
            wait_counting(m, 5)
            flags[k] = ram_mapping(m.proc.pid, size)["flags"]
        assert "mg" in flags["default"], flags
        assert "mg" not in flags["nomerge"] and "mg" not in flags["backend"], flags
        assert "dd" in flags["backend"] and "dd" not in flags["default"], flags
        assert "lo" in flags["locked"] and "lo" not in flags["default"], flags
        assert status(ms["locked"].proc.pid)["VmLck"] >= size // 1024
        assert status(ms["default"].proc.pid)["VmLck"] == 0
        for m in ms.values():
            code, err = m.finish()
            assert code == 0, err
    finally:
        for m in ms.values():
            m.kill()


def test_query_memdev(tmp_path):
    """QMP query-memdev (and the monitor's info memdev) lists every memory
    backend as QEMU does; -m's own RAM is QEMU's "pc.ram" (no backend
    named). The replies are values of the schema's [Memdev]."""
    from test_qmp_schema import check_value, index
    plain = Machine(tmp_path, "plain", [])
    objs = Machine(tmp_path, "objs", [
        "-mem-prealloc", "-object", "memory-backend-ram,id=spare,size=8M,prealloc=off,"
        "policy=default",
        *backend("memfd", 16, merge="off")])
    try:
        common = {"host-nodes": [], "policy": "default"}
        q = started(plain).qmp
        r = q.ok("query-memdev")
        check_value(index(q.ok("query-qmp-schema")), r, "[Memdev]", "query-memdev")
        # vmm's own RAM is mapped lazily (MAP_NORESERVE): reserve false
        assert r == [{"id": "pc.ram", "size": 16 * MiB, "merge": True, "dump": True,
                      "prealloc": False, "share": False, "reserve": False, **common}], r
        assert q.ok("human-monitor-command", {"command-line": "info memdev"}).replace(
            "\r\n", "\n") == ("memory backend: pc.ram\n  size:  16777216\n  merge: true\n"
                               "  dump: true\n  prealloc: false\n  share: false\n"
                               "  reserve: false\n  policy: default\n\n")
        r = started(objs).qmp.ok("query-memdev")
        assert r == [{"id": "spare", "size": 8 * MiB, "merge": True, "dump": True,
                      "prealloc": False, "share": False, "reserve": True, **common},
                     {"id": "mem0", "size": 16 * MiB, "merge": False, "dump": True,
                      "prealloc": True, "share": True, "reserve": True, **common}], r
        for m in (plain, objs):
            code, err = m.finish()
            assert code == 0, err
    finally:
        plain.kill()
        objs.kill()


def test_migrate_file_backed_ram(tmp_path):
    """Both ends on share=on files (each its own, in a directory): the
    destination counts on from the source's last count, RAM whole."""
    d = tmp_path / "ramdir"
    d.mkdir()
    socket_migration(tmp_path, f"unix:{tmp_path / 'mig.sock'}",
                     backend("file", 16, mem_path=d, share="on"))


def test_savevm_loadvm_on_a_shared_file(vms, tmp_path):
    """savevm then loadvm with RAM in a share=on file: the guest goes back
    to the saved count, and the file shows the count loadvm put back."""
    ram = tmp_path / "snap.ram"
    v = start(vms, tmp_path, "a", ["-hda", str(qcow2(tmp_path))],
              backend("file", 16, mem_path=ram, share="on"))
    v.wait_counts(20)
    assert v.mon.cmd("savevm s1") == ""
    saved = max(v.counts())
    v.wait_counts(saved + 30, "counts after savevm")
    v.qmp.ok("stop")
    assert file_words(ram, COUNTER, 1)[0] >= saved + 29
    assert v.mon.cmd("loadvm s1") == ""
    # loadvm leaves a stopped guest stopped (QEMU too)
    back = file_words(ram, COUNTER, 1)[0]
    assert saved - 1 <= back <= saved + 1, (saved, back)
    v.qmp.ok("cont")
    wait_for(lambda: file_words(ram, COUNTER, 1)[0] > back + 5, 30, "counting after loadvm")
    check_one_run(v.text().splitlines())
    code, err = v.finish()
    assert code == 0, err


@pytest.mark.parametrize("args,needle", [
    (["-object", "memory-backend-ram,size=16M"], "-object memory-backend-ram: id= is required"),
    (["-object", "memory-backend-memfd,id=m"], "-object memory-backend-memfd,id=m: size= is required"),
    (["-object", "memory-backend-file,id=m,size=16M"], "mem-path= is required"),
    (["-object", "memory-backend-ram,id=m,size=16M,colour=red"],
     "-object memory-backend-ram: unknown parameter 'colour'"),
    (["-machine", "memory-backend=nope"], "Memory backend 'nope' not found"),
    (["-m", "32", *backend("ram", 16)], "-m: the size (32 MiB) must match the size of the "
     "memory backend 'mem0' (16777216 bytes)"),
    (backend("file", 16, mem_path="/nonexistent/dir/ram"),
     "-object memory-backend-file,id=mem0: can't open backing store /nonexistent/dir/ram for "
     "guest RAM: No such file or directory"),
    (["-mem-path", "/nonexistent/dir"], "-mem-path /nonexistent/dir: can't open backing store"),
    (["-overcommit", "cpu-pm=on"], "-overcommit cpu-pm=on: not supported by vmm"),
    (["-machine", "mem-merge=sometimes"], "-machine: mem-merge: expected 'on' or 'off'"),
])
def test_bad_values_are_one_line_before_the_guest_runs(tmp_path, args, needle):
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    log = tmp_path / "com1.log"
    p = run("-bios", fw_image("migcount.bin"), "-nodefaults", "-display", "none",
            "-serial", f"file:{log}", *args)
    one_line_error(p, needle)
    assert not log.exists() or "START" not in log.read_text(), "the guest ran"


def test_hugetlb_size_must_be_a_multiple_of_the_huge_page(tmp_path):
    """No hugetlbfs needs to be mounted: a memfd of huge pages (2 MiB by
    default) knows its page size, and 15 MiB is no multiple of it."""
    p = run(*backend("memfd", 15, hugetlb="on"), "-nodefaults", "-display", "none")
    one_line_error(p, "-object memory-backend-memfd,id=mem0: ")
    assert ("size 15728640 is not a multiple of the page size of its backing (2 MiB)"
            in p.stderr or "cannot create a memfd of huge pages" in p.stderr), p.stderr


def test_mem_path_on_hugetlbfs(tmp_path):
    """-mem-path on hugetlbfs takes its page size (2 MiB): 15 MiB is no
    multiple of it, one line; 16 MiB with no huge page in the host's pool
    (our machines have none) is refused at start, not a SIGBUS later. The
    mount is made in a private mount namespace of the command (unshare -m),
    so the host's mounts never change."""
    if not os.path.exists("/dev/kvm"):
        fwskip.unavailable("/dev/kvm is missing")
    mnt = tmp_path / "huge"
    mnt.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t hugetlbfs none {mnt}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        fwskip.unavailable("cannot mount hugetlbfs in a private mount namespace: " +
                           probe.stderr.strip())

    def on_hugetlbfs(mb):
        return subprocess.run(
            ["unshare", "-m", "sh", "-c", f'mount -t hugetlbfs none {mnt} && exec "$@"', "sh",
             VMM, "-mem-path", str(mnt), "-m", str(mb), "-nodefaults", "-display", "none"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    one_line_error(on_hugetlbfs(15), f"vmm: -mem-path {mnt}: size 15728640 is not a multiple "
                   "of the page size of its backing (2 MiB)")
    with open("/proc/sys/vm/nr_hugepages") as f:
        pool = int(f.read())
    if pool < 8:
        one_line_error(on_hugetlbfs(16), f"vmm: -mem-path {mnt}: cannot map 16 MiB of guest "
                       "RAM: Cannot allocate memory")
    assert os.listdir(mnt) == []  # the host's directory was never the mount


HUGE_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB"


def huge_2m(name):
    with open(f"{HUGE_2M}/{name}") as f:
        return int(f.read())


def test_mem_path_on_hugetlbfs_runs_the_guest_on_huge_pages(tmp_path):
    """With 2 MiB pages in the host's pool (the test lends it 40 and gives
    them back), -mem-path on a 2 MiB hugetlbfs puts guest RAM on them: the
    mapping of the mount's file is 64 MiB of 2 MiB kernel pages, the pool
    has its 32 pages reserved or in use, the pages the guest touched count
    in vmm's HugetlbPages, and the guest runs."""
    if os.geteuid() != 0 or not os.access(f"{HUGE_2M}/nr_hugepages", os.W_OK):
        fwskip.unavailable("growing the host's 2 MiB huge page pool needs root and a "
                           "writable /sys")
    mnt = tmp_path / "huge"
    mnt.mkdir()
    wrapper = tmp_path / "vmm-on-hugetlbfs"
    # unshare and sh exec in turn, so the Machine's pid ends up vmm's own
    wrapper.write_text("#!/bin/sh\nexec unshare -m sh -c 'mount -t hugetlbfs -o pagesize=2M "
                       f"none \"$0\" && exec \"$@\"' {mnt} {VMM} \"$@\"\n")
    wrapper.chmod(0o755)
    lent = huge_2m("nr_hugepages")

    def in_use():
        return lent + 40 - huge_2m("free_hugepages") + huge_2m("resv_hugepages")
    m = None
    try:
        with open(f"{HUGE_2M}/nr_hugepages", "w") as f:
            f.write(str(lent + 40))
        assert huge_2m("nr_hugepages") == lent + 40, "the host could not find 40 huge pages"
        before = in_use()
        m = started(Machine(tmp_path, "huge", ["-mem-path", str(mnt)], vmm=str(wrapper),
                            ram_mb=64))
        wait_counting(m)
        ram = ram_mapping(m.proc.pid, 64 * MiB, path_prefix=str(mnt) + "/")
        assert ram["kernel_page_kib"] == 2048, ram
        assert in_use() - before >= 32
        assert status(m.proc.pid)["HugetlbPages"] >= 2048
        assert last_count(m) > 0
        code, err = m.finish()
        assert code == 0, err
    finally:
        if m:
            m.kill()
        with open(f"{HUGE_2M}/nr_hugepages", "w") as f:
            f.write(str(lent))
    assert os.listdir(mnt) == []  # the host's directory was never the mount
