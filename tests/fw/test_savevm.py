# SPDX-License-Identifier: GPL-2.0-or-later
"""VM snapshots as a user meets them: a guest that counts in RAM and on its
IDE disk (tests/fw/diskcount.S, a -bios image: each round it checks that
the disk holds the count RAM holds, "BAD" if not) on a qcow2 image.
savevm, let it count on, loadvm: it goes on from the saved count, with
no "BAD" (RAM and disk went back together) and no restart. A new vmm with
-loadvm starts from there too. The image stays valid for qemu-img, which
lists the snapshot's VM SIZE; snapshots qemu-img made (disk only) are
listed with VM SIZE 0 and refused by loadvm. QMP's snapshot-save/-load/
-delete run as jobs with QEMU's JOB_STATUS_CHANGE events and query-jobs.
Disks that cannot take a snapshot, a missing tag, and a hostile snapshot
table are refused with one line."""
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

import fwskip
from conftest import ROOT, VMM, fw_image
from test_qmp import Qmp, wait_for

VMM_IMG = os.path.join(os.path.dirname(VMM), "vmm-img")
COUNT = re.compile(r"^[0-9a-f]{8}$")


class Monitor:
    """The human monitor on a unix socket: a command, its output."""

    def __init__(self, path):
        self.sock = wait_for(lambda: self._connect(path), 30, "the monitor socket")
        self.sock.settimeout(60)
        self.buf = b""
        self._until_prompt()

    @staticmethod
    def _connect(path):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            return None

    def _until_prompt(self):
        while not self.buf.endswith(b"(vmm) "):
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("monitor closed")
            self.buf += data
        out, self.buf = self.buf[:-len(b"(vmm) ")], b""
        return out.decode(errors="replace")

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        return self._until_prompt()


class Vm:
    def __init__(self, tmp_path, name, disk_args, extra=()):
        if not os.path.exists("/dev/kvm"):
            fwskip.unavailable("/dev/kvm is missing")
        self.log = tmp_path / f"{name}.log"
        self.qmp_path = str(tmp_path / f"{name}.qmp")
        self.mon_path = str(tmp_path / f"{name}.mon")
        self.proc = subprocess.Popen(
            [VMM, "-bios", fw_image("diskcount.bin"), "-m", "16", "-nodefaults",
             "-display", "none", "-serial", f"file:{self.log}",
             "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
             "-monitor", f"unix:{self.mon_path},server=on,wait=off", *disk_args, *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.qmp = None
        self.mon = None

    def connect(self):
        self.qmp = Qmp(self.qmp_path).negotiate()
        self.mon = Monitor(self.mon_path)
        return self

    def text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def counts(self):
        return [int(x, 16) for x in self.text().splitlines() if COUNT.match(x)]

    def wait_counts(self, n, what="counts"):
        wait_for(lambda: self.proc.poll() is not None or len(self.counts()) >= n, 60,
                 f"{self.log.name}: {n} {what}")
        assert self.proc.poll() is None, self.proc.stderr.read().decode(errors="replace")

    def finish(self, timeout=30):
        if self.qmp and self.proc.poll() is None:
            try:
                self.qmp.ok("quit")
            except (OSError, EOFError):
                pass
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def vms():
    started = []
    yield started
    for v in started:
        v.kill()


def qcow2(tmp_path, name="disk.qcow2", size="64M"):
    path = tmp_path / name
    subprocess.run([VMM_IMG, "create", "-f", "qcow2", str(path), size], check=True,
                   stdout=subprocess.DEVNULL)
    return path


def start(vms, tmp_path, name, disk_args, extra=()):
    v = Vm(tmp_path, name, disk_args, extra)
    vms.append(v)
    return v.connect()


def check_one_run(lines):
    """START once at the top, no BAD."""
    assert lines and lines[0] == "START" and "START" not in lines[1:], lines[:5]
    assert "BAD" not in lines, [x for x in lines if not COUNT.match(x)][:5]


def loaded_counts(text):
    """The counts a loaded guest printed: (the first, all of them). A
    snapshot taken mid-line starts the output with the line's tail; the
    last line may be unfinished."""
    lines = text.split("\n")[:-1]
    if lines and not COUNT.match(lines[0]):
        assert re.fullmatch(r"[0-9a-f]{1,7}", lines[0]), text[:40]
        lines = lines[1:]
    assert lines and all(COUNT.match(x) for x in lines), text[:200]
    counts = [int(x, 16) for x in lines]
    return counts[0], counts


def snapshot_rows(info):
    """info snapshots' rows under "present on all disks": (tag, vm size)."""
    rows = []
    for line in info.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == "--":
            rows.append((f[1], " ".join(f[2:4])))
    return rows


def test_savevm_loadvm_goes_back_and_loadvm_option_resumes(vms, tmp_path):
    disk = qcow2(tmp_path)
    v = start(vms, tmp_path, "a", ["-hda", str(disk)])
    v.wait_counts(20)
    before = max(v.counts())
    assert v.mon.cmd("savevm snap1") == ""
    after = max(v.counts())
    # savevm stops the guest and runs it again: STOP then RESUME
    v.qmp.event("STOP", timeout=10)
    v.qmp.event("RESUME", timeout=10)
    info = v.mon.cmd("info snapshots")
    assert info.startswith("List of snapshots present on all disks:\n"), info
    assert re.search(r"^ID +TAG +VM SIZE +DATE +VM CLOCK +ICOUNT$", info, re.M), info
    rows = snapshot_rows(info)
    assert [r[0] for r in rows] == ["snap1"] and rows[0][1] != "0 B", info
    # the guest counts on well past the saved point, disk and RAM together
    v.wait_counts(after + 40, "counts after savevm")
    # Stopped first, so the log's length marks where the loaded guest's
    # output begins: a guest cut mid-line by a loadvm while it runs would
    # join the old half line to the loaded guest's first count.
    assert v.mon.cmd("stop") == ""
    mark = len(v.text())
    assert v.mon.cmd("loadvm snap1") == ""
    # a stopped guest stays stopped (QEMU's loadvm restarts only what ran)
    st = v.qmp.ok("query-status")
    assert st["status"] == "paused", st
    assert len(v.text()) == mark
    assert v.mon.cmd("cont") == ""
    time.sleep(1.5)
    lines = v.text().splitlines()
    check_one_run(lines)
    loaded = v.text()[mark:]
    resumed, counts = loaded_counts(loaded)
    # the guest's count was between these when it was saved
    assert before <= resumed - 1 <= after + 1, (before, resumed, after)
    assert counts == list(range(resumed, resumed + len(counts))), counts
    assert len(counts) >= 5, "the guest does not count on after loadvm"
    code, err = v.finish()
    assert code == 0, err

    # the image as qemu-img and vmm-img see it
    if shutil.which("qemu-img"):
        chk = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
        assert chk.returncode == 0 and "No errors were found" in chk.stdout, chk.stdout + chk.stderr
        lst = subprocess.run(["qemu-img", "snapshot", "-l", str(disk)], capture_output=True,
                             text=True, check=True).stdout
        row = next(x for x in lst.splitlines() if " snap1 " in x)
        assert not re.search(r" 0 B ", row), lst
    lst = subprocess.run([VMM_IMG, "snapshot", "-l", str(disk)], capture_output=True,
                         text=True, check=True).stdout
    assert re.search(r"snap1 +[0-9.]+ KiB", lst), lst

    # a new vmm started from the snapshot goes on from the same count
    w = start(vms, tmp_path, "b", ["-hda", str(disk)], ["-loadvm", "snap1"])
    w.wait_counts(10)
    lines = w.text().splitlines()
    assert lines[0] != "START" and "START" not in lines and "BAD" not in lines, lines[:5]
    # the same guest from the same instant: the same bytes
    text = w.text()
    n = min(len(loaded), len(text))
    assert text[:n] == loaded[:n], (loaded[:40], text[:40])
    counts = loaded_counts(text)[1]
    assert counts[0] == resumed and len(counts) >= 5, (resumed, counts[:5])
    # delvm, then it is gone
    assert w.mon.cmd("delvm snap1") == ""
    assert w.mon.cmd("info snapshots") == "There is no snapshot available.\n"
    assert w.mon.cmd("loadvm snap1") == \
        "Error: Snapshot 'snap1' does not exist in one or more devices\n"
    assert w.mon.cmd("delvm snap1") == "Error: Snapshot 'snap1' does not exist on any device\n"
    code, err = w.finish()
    assert code == 0, err


def image_check(disk):
    """vmm-img's and qemu-img's check --output=json of the image: both
    clean (status 0: no errors, no leaks) and the same; the dict."""
    got = []
    for tool in (VMM_IMG, "qemu-img"):
        p = subprocess.run([tool, "check", "--output=json", str(disk)], capture_output=True,
                           text=True)
        assert p.returncode == 0, (tool, p.returncode, p.stdout, p.stderr)
        got.append(json.loads(p.stdout))
    assert got[0] == got[1], got
    assert got[0]["check-errors"] == 0 and "leaks" not in got[0], got[0]
    return got[0]


def data_clusters(disk):
    """The clusters of the virtual disk that hold data (qemu-img map)."""
    m = json.loads(subprocess.run(["qemu-img", "map", "--output=json", str(disk)],
                                  capture_output=True, text=True, check=True).stdout)
    return sum(r["length"] for r in m if r["data"]) // 65536


def test_vm_state_stays_the_snapshots(vms, tmp_path):
    """The active image never keeps a VM state: after savevm, after loadvm
    (and a kill -9 right after it), after -loadvm and a second savevm, the
    clusters the active tree allocates are the disk's data clusters, and
    vmm-img and qemu-img check find no error and no leak (the VM state
    once stayed mapped after loadvm: N/64 = 3937.50% allocated); the
    snapshots still load and keep their VM state."""
    if not shutil.which("qemu-img"):
        fwskip.unavailable("qemu-img is missing")
    disk = qcow2(tmp_path, size="4M")  # 64 clusters: the VM state is past them
    v = start(vms, tmp_path, "a", ["-hda", str(disk)])
    v.wait_counts(5)
    assert v.mon.cmd("savevm s1") == ""
    assert v.finish()[0] == 0
    chk = image_check(disk)
    assert chk["allocated-clusters"] == data_clusters(disk) == 1, chk

    v = start(vms, tmp_path, "b", ["-hda", str(disk)])
    v.wait_counts(3)
    assert v.mon.cmd("loadvm s1") == ""
    v.wait_counts(len(v.counts()) + 3, "counts after loadvm")
    v.proc.kill()  # kill -9: what loadvm wrote is on disk, in order
    v.proc.wait()
    chk = image_check(disk)
    assert chk["allocated-clusters"] == data_clusters(disk) == 1, chk

    w = start(vms, tmp_path, "c", ["-hda", str(disk)], ["-loadvm", "s1"])
    w.wait_counts(5)
    assert "START" not in w.text() and "BAD" not in w.text(), w.text()[:200]
    assert w.mon.cmd("savevm s2") == ""
    assert w.mon.cmd("loadvm s1") == ""
    w.wait_counts(len(w.counts()) + 3, "counts after the second loadvm")
    assert "BAD" not in w.text()
    assert w.finish()[0] == 0
    chk = image_check(disk)
    assert chk["allocated-clusters"] == data_clusters(disk) == 1, chk
    lst = subprocess.run(["qemu-img", "snapshot", "-l", str(disk)], capture_output=True,
                         text=True, check=True).stdout
    rows = [x for x in lst.splitlines() if " s1 " in x or " s2 " in x]
    assert len(rows) == 2 and not any(re.search(r" 0 B ", r) for r in rows), lst

    # both snapshots still load from a fresh start
    for tag in ("s2", "s1"):
        x = start(vms, tmp_path, f"d{tag}", ["-hda", str(disk)], ["-loadvm", tag])
        x.wait_counts(3)
        assert "START" not in x.text() and "BAD" not in x.text(), x.text()[:200]
        assert x.finish()[0] == 0
    image_check(disk)

    # qemu-img's snapshot -a copies the whole L1, VM state included (QEMU
    # keeps it mapped until its next savevm); vmm's loadvm of that image
    # lets it go again
    subprocess.run(["qemu-img", "snapshot", "-a", "s1", str(disk)], check=True)
    assert image_check(disk)["allocated-clusters"] > data_clusters(disk)
    x = start(vms, tmp_path, "e", ["-hda", str(disk)], ["-loadvm", "s1"])
    x.wait_counts(3)
    assert "START" not in x.text() and "BAD" not in x.text(), x.text()[:200]
    assert x.finish()[0] == 0
    chk = image_check(disk)
    assert chk["allocated-clusters"] == data_clusters(disk) == 1, chk


def test_savevm_replaces_a_tag_and_names_one(vms, tmp_path):
    disk = qcow2(tmp_path)
    v = start(vms, tmp_path, "a", ["-hda", str(disk)])
    v.wait_counts(5)
    assert v.mon.cmd("savevm s") == ""
    assert v.mon.cmd("savevm s") == ""
    assert v.mon.cmd("savevm") == ""
    tags = [r[0] for r in snapshot_rows(v.mon.cmd("info snapshots"))]
    assert len(tags) == 2 and tags[0] == "s" and re.match(r"^vm-\d{14}$", tags[1]), tags
    assert v.finish()[0] == 0


def test_qmp_snapshot_jobs(vms, tmp_path):
    disk = qcow2(tmp_path)
    v = start(vms, tmp_path, "a", ["-hda", str(disk)])
    v.wait_counts(5)
    q = v.qmp

    def job_events(job):
        out = []
        while True:
            e = q.event("JOB_STATUS_CHANGE", timeout=60)
            assert e["data"]["id"] == job, e
            out.append(e["data"]["status"])
            if e["data"]["status"] in ("concluded", "null"):
                return out

    args = {"job-id": "save0", "tag": "qs", "vmstate": "ide0-hd0", "devices": ["ide0-hd0"]}
    assert q.ok("snapshot-save", args) == {}
    assert job_events("save0") == ["created", "running", "waiting", "pending", "concluded"]
    jobs = q.ok("query-jobs")
    assert jobs == [{"current-progress": 1, "status": "concluded", "total-progress": 1,
                     "type": "snapshot-save", "id": "save0"}], jobs
    r = q.cmd("snapshot-save", args)
    assert r["error"]["desc"] == "Job ID 'save0' already in use", r
    assert q.ok("job-dismiss", {"id": "save0"}) == {}
    assert job_events("save0") == ["null"]
    assert q.ok("query-jobs") == []
    assert [t for t, _ in snapshot_rows(v.mon.cmd("info snapshots"))] == ["qs"]

    # the same tag again: refused by the job (QMP does not overwrite)
    assert q.ok("snapshot-save", dict(args, **{"job-id": "save1"})) == {}
    assert job_events("save1") == ["created", "running", "aborting", "concluded"]
    job = q.ok("query-jobs")[0]
    assert job["status"] == "concluded" and \
        job["error"] == "Snapshot 'qs' already exists in one or more devices", job
    q.ok("job-dismiss", {"id": "save1"})
    job_events("save1")

    assert q.ok("snapshot-load", dict(args, **{"job-id": "load0"})) == {}
    assert job_events("load0") == ["created", "running", "waiting", "pending", "concluded"]
    assert "error" not in q.ok("query-jobs")[0]
    r = q.cmd("job-dismiss", {"id": "nosuch"})
    assert r["error"]["desc"] == "Job not found", r
    assert q.ok("snapshot-delete", {"job-id": "del0", "tag": "qs",
                                    "devices": ["ide0-hd0"]}) == {}
    assert job_events("del0")[-1] == "concluded"
    assert "error" not in q.ok("query-jobs")[-1]
    assert v.mon.cmd("info snapshots") == "There is no snapshot available.\n"

    r = q.cmd("snapshot-save", {"job-id": "x", "tag": "t", "devices": []})
    assert r["error"]["desc"] == "Parameter 'vmstate' is missing", r
    r = q.cmd("snapshot-save", {"job-id": "1bad", "tag": "t", "vmstate": "ide0-hd0",
                                "devices": ["ide0-hd0"]})
    assert r["error"]["desc"] == "Invalid job ID '1bad'", r
    assert q.ok("snapshot-save", {"job-id": "nodisk", "tag": "t", "vmstate": "ide0-hd0",
                                  "devices": ["ide9-hd9"]}) == {}
    job_events("nodisk")
    job = [j for j in q.ok("query-jobs") if j["id"] == "nodisk"][0]
    assert job["error"] == "No block device 'ide9-hd9'", job
    assert v.finish()[0] == 0


def test_refusals(vms, tmp_path):
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\0" * (1 << 20))
    v = start(vms, tmp_path, "raw", ["-drive", f"file={raw},format=raw,if=ide"])
    v.wait_counts(3)
    msg = "Error: Device 'ide0-hd0' is writable but does not support snapshots\n"
    assert v.mon.cmd("savevm x") == msg
    assert v.mon.cmd("loadvm x") == msg
    assert v.mon.cmd("info snapshots") == "No available block device supports snapshots\n"
    assert v.finish()[0] == 0

    disk = qcow2(tmp_path)
    v = start(vms, tmp_path, "ro", ["-drive", f"file={disk},format=qcow2,if=ide,readonly=on"])
    assert v.mon.cmd("savevm x") == "Error: No block device can accept snapshots\n"
    assert v.finish()[0] == 0

    v = start(vms, tmp_path, "none", [])
    assert v.mon.cmd("savevm x") == "Error: No block device can accept snapshots\n"
    assert v.mon.cmd("loadvm") == "Error: loadvm: expected a snapshot name\n"
    assert v.finish()[0] == 0

    # -loadvm of a tag the disk does not have: one line, status 1
    p = subprocess.run([VMM, "-bios", fw_image("diskcount.bin"), "-m", "16", "-nodefaults",
                        "-display", "none", "-hda", str(disk), "-loadvm", "nosuch"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p
    assert p.stderr == "vmm: -loadvm nosuch: Snapshot 'nosuch' does not exist in one or " \
                       "more devices\n", p.stderr


@pytest.mark.skipif(not shutil.which("qemu-img"), reason="no qemu-img")
def test_qemu_img_disk_only_snapshot(vms, tmp_path):
    disk = qcow2(tmp_path)
    subprocess.run(["qemu-img", "snapshot", "-c", "disk1", str(disk)], check=True)
    v = start(vms, tmp_path, "a", ["-hda", str(disk)])
    info = v.mon.cmd("info snapshots")
    assert snapshot_rows(info) == [("disk1", "0 B")], info
    assert v.mon.cmd("loadvm disk1") == (
        "Error: Snapshot 'disk1' of device 'ide0-hd0' has no VM state (a disk-only snapshot: "
        "revert to it offline with vmm-img snapshot -a)\n")
    assert v.qmp.ok("query-status")["status"] == "running"
    assert v.finish()[0] == 0


def hostile_vm_state_size(path, size):
    """Sets the first snapshot's VM state size (both fields) in the table."""
    with open(path, "r+b") as f:
        hdr = f.read(72)
        table = struct.unpack(">Q", hdr[64:72])[0]
        f.seek(table + 32)
        f.write(struct.pack(">I", min(size, 0xFFFFFFFF)))
        f.seek(table + 36)
        extra = struct.unpack(">I", f.read(4))[0]
        assert extra >= 8
        f.seek(table + 40)
        f.write(struct.pack(">Q", size))


def test_hostile_vm_state_size(vms, tmp_path):
    """A snapshot table whose VM state size is wrong: too small, the
    stream is cut short and loadvm refuses it with one line (vmm runs on,
    stopped, as QEMU leaves a machine whose load failed); far past the
    file, the stream still ends where it ends and loads."""
    disk = qcow2(tmp_path)
    v = start(vms, tmp_path, "a", ["-hda", str(disk)])
    v.wait_counts(3)
    assert v.mon.cmd("savevm s") == ""
    assert v.finish()[0] == 0
    good = tmp_path / "good.qcow2"
    shutil.copy(disk, good)
    hostile_vm_state_size(disk, 4096)
    v = start(vms, tmp_path, "b", ["-hda", str(disk)])
    out = v.mon.cmd("loadvm s")
    assert out.startswith("Error: Error while loading VM state: ") and out.count("\n") == 1, out
    assert v.qmp.ok("query-status")["running"] is False
    assert v.finish()[0] == 0
    hostile_vm_state_size(good, 1 << 62)
    v = start(vms, tmp_path, "c", ["-hda", str(good)])
    assert v.mon.cmd("loadvm s") == ""
    v.wait_counts(3)
    assert "BAD" not in v.text()
    assert v.finish()[0] == 0


def test_snapshots_leak_free_under_asan(vms, tmp_path):
    """savevm, loadvm, a failed loadvm and QMP jobs left undismissed, then
    quit: no sanitizer report, no leak (LeakSanitizer needs -sandbox off)."""
    vmm_asan = os.environ.get("VMM_ASAN", os.path.join(ROOT, "build", "vmm-asan"))
    if not os.path.exists(vmm_asan):
        pytest.fail(f"{vmm_asan} is missing: run `make build/vmm-asan`")
    disk = qcow2(tmp_path)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               LSAN_OPTIONS="exitcode=23")
    log = tmp_path / "asan.log"
    mon = str(tmp_path / "asan.mon")
    qmp = str(tmp_path / "asan.qmp")
    p = subprocess.Popen([vmm_asan, "-bios", fw_image("diskcount.bin"), "-m", "16",
                          "-nodefaults", "-display", "none", "-serial", f"file:{log}",
                          "-sandbox", "off", "-hda", str(disk),
                          "-qmp", f"unix:{qmp},server=on,wait=off",
                          "-monitor", f"unix:{mon},server=on,wait=off"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        q = Qmp(qmp, timeout=120).negotiate()
        m = Monitor(mon)
        wait_for(lambda: p.poll() is not None or
                 sum(1 for x in log.read_text().splitlines() if COUNT.match(x)) >= 3
                 if log.exists() else False, 120, "the guest to count")
        assert m.cmd("savevm a") == ""
        assert m.cmd("loadvm a") == ""
        assert m.cmd("loadvm b").startswith("Error: ")
        assert q.ok("snapshot-save", {"job-id": "j", "tag": "b", "vmstate": "ide0-hd0",
                                      "devices": ["ide0-hd0"]}) == {}
        wait_for(lambda: q.ok("query-jobs")[0]["status"] == "concluded", 120, "the job")
        assert m.cmd("info snapshots").count("\n") == 4
        q.ok("quit")
        out, err = p.communicate(timeout=120)
        err = err.decode(errors="replace")
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
