"""Real-guest scenarios for pytest: the guest kit, VMM command lines, reports.

A *scenario* is one command that runs under hardware virtualization (see
tests/nested/nested.py), usually a VMM booting a kit guest until the kit's
final marker. Test modules parametrize over scenarios; tests/conftest.py
collects the scenarios of all selected tests and runs them in ONE batch (two
L1s share it), then each test asserts on its scenario's result.

VMMs: the same guest runs under each VMM in vmms() (env VMM_REAL_VMMS, a
comma-separated list; default "qemu"). "qemu" is the peer reference
(test-only); "vmm" is build/vmm (or $VMM) with the QEMU-compatible options
-m/-cdrom/-hda/-hdb/-nographic.
"""
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "nested"))
sys.path.insert(0, os.path.join(REPO, "tests", "guests"))

import nested  # noqa: E402
import mkdata  # noqa: E402

MARKER_READY = "VMMKIT-READY"
MARKER_DONE = "VMMKIT-DONE"
BOOT_TIMEOUT = 300          # seconds per Linux boot (nested boots take 15-60 s)
BOOT_IDLE = 90              # a boot whose console is silent this long is hung
# Retries in a fresh L1 for what the harness can tell is the environment's
# (a VMM that survives SIGKILL, a frozen L1, a harness error; nested.py
# ENV_REASONS). A vmm guest that hangs with a live L1, resets or panics fails.
BOOT_RETRIES = 2
# Output of a kit boot that reset on the way (the BIOS started a second
# time: kit boots never reset; with panic=-1 a kernel panic also resets) or
# got a corrupted initramfs: the attempt failed ("sign"). The QEMU peer's is
# retried (retry_guest); vmm's only with the same sign from a QEMU peer with
# the same -cpu in the same batch (Batch.add peer=).
# A kernel vmm enters without firmware (-kernel's default) prints no
# banner before the kit's: there a reset shows as the kit's report twice.
BOOT_FLAKE_SIGNS = (r"SeaBIOS \(version[\s\S]*SeaBIOS \(version",
                    r"VMMKIT-REPORT-BEGIN[\s\S]*VMMKIT-REPORT-BEGIN",
                    r"Initramfs unpacking failed")
DATA_SIZE = mkdata.DEFAULT_SIZE


# A guest kernel in trouble: every real-guest test fails on these in the
# console (tests/conftest.py), unless its scenario sets console_ok.
CONSOLE_TROUBLE = re.compile(r"Kernel panic|\bBUG:|\bOops\b")


def console_trouble(text):
    """The first console line showing a kernel panic, BUG or Oops, or None."""
    for line in text.replace("\r", "").split("\n"):
        if CONSOLE_TROUBLE.search(line):
            return line.strip()
    return None


def retry_summary(scenario, result):
    """One summary line for a scenario that needed more than one attempt,
    else None."""
    if result.attempts <= 1:
        return None
    return "  %-28s attempts=%d %s%s" % (
        scenario.name, result.attempts,
        "; ".join("#%d %s (%s) %s" % (h["attempt"], h["reason"], h["detail"][:80],
                                      h.get("log") or "") for h in result.history),
        "" if result.ok else " [last attempt failed]")


def retry_violation(scenario, result):
    """Why this run must fail although the scenario passed in the end: a vmm
    scenario that needed more than one attempt for a reason other than a
    stuck process, a frozen L1 or a hang before its VMM started (issue 22).
    None when it is fine."""
    if scenario.subject != "vmm":
        return None
    bad = [r for r in result.retry_reasons if r not in nested.TOLERATED_REASONS]
    if not bad:
        return None
    return "%s needed %d attempts (%s)" % (scenario.name, result.attempts, ", ".join(bad))


def final_sign(scenario, result):
    """Why a vmm scenario's tests must fail whatever its output shows: its
    last attempt matched a flake sign (the guest reset on the way) and the
    L1's trace did not show its own fault. The guest's second boot may
    well pass every check, so without this a reset vmm caused would go
    unseen. None when it is fine."""
    if scenario.subject != "vmm":
        return None
    last = [h for h in result.history if h["attempt"] == result.attempts]
    if not last or last[0]["reason"] != "sign":
        return None
    return "%s: the guest reset on the way (%s), and the L1's trace does not show the L1's " \
        "own fault; output kept in %s" % (scenario.name, last[0]["detail"],
                                         last[0].get("log") or "-")


def require_real():
    return os.environ.get("VMM_REQUIRE_REAL") == "1"


def unavailable(reason):
    """Skip the current test, or fail it when real-guest tests are required
    (VMM_REQUIRE_REAL=1, set by `make check`)."""
    import pytest
    if require_real():
        pytest.fail("real-guest test cannot run, and VMM_REQUIRE_REAL=1: %s" % reason,
                    pytrace=False)
    pytest.skip(reason)


def kit_dir():
    return nested.guest_cache()


def kit(name):
    """Path of a guest-kit artefact, e.g. kit("kit-amd64.iso")."""
    return os.path.join(kit_dir(), name)


def kit_missing():
    """None when the kit is complete, else a reason string."""
    for f in ("kit-amd64.iso", "kit-amd64.img", "kit-686.iso", "kit-686.img", "data.img",
              "data.sha256", "l1/vmlinux", "l1/initrd.xz"):
        if not os.path.exists(kit(f)):
            return "guest kit incomplete: %s missing (run `make guests`)" % kit(f)
    return None


def data_sha256():
    return mkdata.sha256(DATA_SIZE)


# ---- VMMs ---------------------------------------------------------------------

def vmms():
    v = os.environ.get("VMM_REAL_VMMS", "qemu")
    return [x.strip() for x in v.split(",") if x.strip()]


def vmms_peer_optional():
    """vmms() for scenarios whose QEMU run is a reference measured once
    (its figures are in docs/testing.md) rather than needed each time:
    without QEMU when VMM_REAL_OPTIONAL_PEERS=0 (`make check`, to keep
    the nested batch within CI's time) and vmm is run."""
    v = vmms()
    if os.environ.get("VMM_REAL_OPTIONAL_PEERS", "1") == "0" and "vmm" in v:
        return [x for x in v if x != "qemu"]
    return v


VMM_BINARY = os.path.abspath(os.environ.get("VMM") or os.path.join(REPO, "build", "vmm"))


def vmm_missing(vmm):
    """None when the VMM can be run, else a reason string."""
    if vmm == "qemu":
        return None if shutil.which("qemu-system-x86_64") else "qemu-system-x86_64 not installed"
    if vmm == "vmm":
        return None if os.access(VMM_BINARY, os.X_OK) else "%s not built" % VMM_BINARY
    return "unknown VMM %r" % vmm


def script_image(body):
    """A kit script disk: the script (str or bytes), zero-padded to whole
    sectors plus one empty sector, so the kit init sees where it ends."""
    data = body.encode() if isinstance(body, str) else body
    return data + b"\0" * (-len(data) % 512 + 512)


def detached_vmm_shell(name, cmd, wait_polls, during="", after=""):
    """A shell line that starts the VMM command `cmd` in the background with
    its output in $d/vmm.log ($d: a directory of its own, `name`), runs the
    `during` commands, waits up to `wait_polls` x 0.2 s for the VMM to end,
    kills it, prints "@@vmm rc=N", runs the `after` commands and then prints
    the VMM's log. For scenarios whose host side talks to the VMM while it
    runs; `cmd` may use "$d". Literal % must be doubled in during/after."""
    return (
        'set -u; d="${TMPDIR:-/tmp}/%(name)s"; mkdir -p "$d"; '
        '%(cmd)s > "$d/vmm.log" 2>&1 < /dev/null & pid=$!; '
        + during +
        'i=0; while [ $i -lt %(polls)d ] && kill -0 $pid 2>/dev/null; do sleep 0.2; i=$((i+1)); done; '
        'kill $pid 2>/dev/null; wait $pid; echo "@@vmm rc=$?"; '
        + after +
        'cat "$d/vmm.log"'
    ) % {"name": name, "cmd": cmd, "polls": wait_polls}


def vmm_argv(vmm, mem_mb=256, cdrom=None, hda=None, hdb=None, extra=(), cpu=None,
             nodefaults=False):
    """A VMM command line with QEMU-compatible options; the guest's serial
    console is the VMM's stdout (-nographic). cpu: the same -cpu for either
    VMM (vmm's default is host, QEMU's qemu64). nodefaults: -nodefaults
    -display none -serial stdio instead of -nographic, so QEMU has no VGA
    card or default NIC either (benchmarks: the same devices for both)."""
    if vmm == "qemu":
        # kvm-apic.vapic=false: QEMU's TPR-patching option ROM makes QEMU
        # read and write back the vCPU's segment registers; KVM reports TR as
        # busy (type 11), and QEMU 7.2 TCG running our L1 aborts ("invalid tss
        # type") at the next ring-3 -> ring-0 interrupt of a 32-bit L2 guest.
        # See docs/testing.md, "Known issues".
        argv = ["qemu-system-x86_64", "-enable-kvm", "-M", "pc",
                "-L", "/usr/share/seabios", "-L", "/usr/share/qemu",
                "-global", "kvm-apic.vapic=false"]
    elif vmm == "vmm":
        argv = [VMM_BINARY]
    else:
        raise ValueError("unknown VMM %r" % vmm)
    argv += ["-m", str(mem_mb)]
    if cpu:
        argv += ["-cpu", cpu]
    if cdrom:
        argv += ["-cdrom", cdrom]
    if hda:
        argv += ["-hda", hda]
    if hdb:
        argv += ["-hdb", hdb]
    argv += ["-nodefaults", "-display", "none", "-serial", "stdio"] if nodefaults else ["-nographic"]
    argv += list(extra)
    return argv


# ---- scenarios ----------------------------------------------------------------

class Scenario:
    """One command of the shared batch. Subclasses define add_to(batch)."""
    needs_kit = True
    # Batch.add's alone for every command the scenario adds: two L1s share
    # the host's CPUs (nested.Batch.l1s); what a second one would slow
    # enough to change what the test measures in real time (recordings,
    # watchdog expiries) runs after the others, in one L1.
    alone = False

    def __init__(self, name, timeout=60):
        self.name = name
        self.timeout = timeout

    def __str__(self):
        return self.name

    __repr__ = __str__

    def missing(self):
        return kit_missing() if self.needs_kit else None

    @property
    def subject(self):
        """The VMM this scenario tests: "vmm", "qemu" (the peer), or None
        (a harness self-test). Scenario names start with it."""
        v = getattr(self, "vmm", None) or self.name.split("-")[0]
        return v if v in ("vmm", "qemu") else None

    def retry_guest(self):
        """Whether a guest hang or reset sign may be retried (Batch.add
        retry_guest): only for the QEMU peer. A vmm scenario is retried
        only for what the harness can tell is the environment's (a
        process that survived SIGKILL, a frozen L1, a harness error)."""
        return self.subject == "qemu"

    def add_to(self, batch):
        raise NotImplementedError


class Boot(Scenario):
    """A VMM boots kit media until the final marker (the guest then powers off).

    media: "cdrom" (kit ISO as -cdrom, data disk as -hda) or
           "hda" (kit disk as -hda, data disk as -hdb).
    arch:  "amd64" or "686"."""

    def __init__(self, vmm, media, arch, timeout=BOOT_TIMEOUT, mem_mb=256, extra=()):
        Scenario.__init__(self, "%s-%s-%s" % (vmm, media, arch), timeout)
        self.vmm, self.media, self.arch = vmm, media, arch
        self.mem_mb = mem_mb
        self.extra = tuple(extra)

    def missing(self):
        return Scenario.missing(self) or vmm_missing(self.vmm)

    def boot_file(self):
        return kit("kit-%s.%s" % (self.arch, "iso" if self.media == "cdrom" else "img"))

    def expected_blocks(self):
        """{guest block device kind: sorted sizes in bytes} the report must
        show. Disks are matched by size, not name: Linux 6.1 probes SCSI
        disks asynchronously, so which of two IDE disks becomes sda varies
        from boot to boot (seen under vmm and possible under QEMU)."""
        if self.media == "cdrom":
            return {"sr": [os.path.getsize(self.boot_file())], "sd": [DATA_SIZE]}
        return {"sd": sorted([os.path.getsize(self.boot_file()), DATA_SIZE])}

    def add_to(self, batch):
        data = batch.stage(kit("data.img"), "%s-data.img" % self.name)
        if self.media == "cdrom":
            argv = vmm_argv(self.vmm, self.mem_mb, cdrom=self.boot_file(), hda=data, extra=self.extra)
        else:
            disk = batch.stage(self.boot_file(), "%s-boot.img" % self.name)
            argv = vmm_argv(self.vmm, self.mem_mb, hda=disk, hdb=data, extra=self.extra)
        batch.add(self.name, argv, timeout=self.timeout, marker=MARKER_DONE, grace=15,
                  idle=BOOT_IDLE, retries=BOOT_RETRIES, flake_signs=BOOT_FLAKE_SIGNS,
                  retry_guest=self.retry_guest())


class Command(Scenario):
    """An arbitrary command (argv list or shell string) in the shared batch."""

    def __init__(self, name, cmd, timeout=60, marker=None, grace=10, needs_kit=False):
        Scenario.__init__(self, name, timeout)
        self.cmd, self.marker, self.grace = cmd, marker, grace
        self.needs_kit = needs_kit

    def add_to(self, batch):
        batch.add(self.name, self.cmd, timeout=self.timeout, marker=self.marker,
                  grace=self.grace, cwd=REPO)


def boot_scenarios(vmm_list=None):
    """The kit boots, for every VMM: CD and disk, 64- and 32-bit."""
    out = []
    for vmm in vmm_list or vmms():
        for media in ("cdrom", "hda"):
            for arch in ("amd64", "686"):
                out.append(Boot(vmm, media, arch))
    return out


# ---- MSI-X: every vector of a virtio device in use ------------------------------

# Shell for a kit script: `msix_probe LABEL` prints, for every virtio PCI
# function, "msix LABEL SLOT VENDOR:DEVICE VIRTIO-NAME table=N allocated=M
# driver=NAME": N the MSI-X table size from the capability in config space,
# M the vectors Linux allocated (/sys/.../msi_irqs), NAME the virtio driver
# bound (empty: none, e.g. a NIC whose module a script unloaded). `irqs LABEL` prints the virtio lines of
# /proc/interrupts as "irq LABEL ...". Check them with msix_problems().
MSIX_SHELL = r"""
irqs() { grep -i virtio /proc/interrupts | sed "s/^ */irq $1 /" | tr -s ' '; }
cb() { od -An -tu1 -j $2 -N1 $1 | tr -d ' '; }
msix_probe() {
for d in /sys/bus/pci/devices/*; do
[ $(cat $d/vendor) = 0x1af4 ] || continue
c=$d/config p=$(cb $c 52) s=0 n=0 v=$(ls -d $d/virtio[0-9]* | head -n1)
while [ "$p" -ne 0 ] && [ $n -lt 48 ]; do
[ $(cb $c $p) = 17 ] && s=$(( (($(cb $c $((p+3)))*256+$(cb $c $((p+2))))&2047)+1 ))
p=$(cb $c $((p+1))) n=$((n+1))
done
r=$(readlink $v/driver)
echo "msix $1 ${d##*/} $(cut -c3- $d/vendor):$(cut -c3- $d/device) ${v##*/} table=$s allocated=$(ls $d/msi_irqs 2>/dev/null | wc -l) driver=${r##*/}"
done
}
"""

# virtio PCI device IDs (transitional, modern) -> the names of the vectors
# Linux's driver requests besides "config" (queues with a callback): one
# request queue per vCPU at most for a disk ("req.N"), "input" for the rng.
MSIX_QUEUE_NAMES = {
    "1af4:1001": r"req\.\d+", "1af4:1042": r"req\.\d+",
    "1af4:1005": r"input", "1af4:1044": r"input",
}


def msix_problems(lines, label=None):
    """What is wrong with the MSI-X use MSIX_SHELL's output shows, as a
    list of strings (empty: all well). For every virtio PCI function a
    driver is bound to (at least one must be): every
    vector the device's MSI-X table has is allocated and shows in
    /proc/interrupts as a PCI-MSI line of its own (the config vector and one
    per queue, not the shared "virtqueues" fallback); for disks and the rng
    the queue vectors carry the expected names and took interrupts. label:
    only lines "msix LABEL ..."/"irq LABEL ..." (test_virtio_transport's
    modes); None: lines without one."""
    def fields(kind):
        out = []
        for ln in lines:
            f = ln.split()
            if not f or f[0] != kind:
                continue
            if label is not None:
                if len(f) < 2 or f[1] != label:
                    continue
                f = f[:1] + f[2:]
            out.append(f)
        return out

    probs = []
    irq_by_name = {}
    for f in fields("irq"):
        # irq N: COUNT... CHIP ... virtioK-NAME
        if len(f) < 4 or not f[1].endswith(":"):
            probs.append("malformed irq line %r" % " ".join(f))
            continue
        counts = [int(x) for x in f[2:] if x.isdigit()]
        irq_by_name.setdefault(f[-1], []).append((" ".join(f), sum(counts)))
    devs = fields("msix")
    if not devs:
        probs.append("no msix lines: no virtio PCI function seen")
    bound = 0
    for f in devs:
        m = re.match(r"table=(\d+) allocated=(\d+) driver=(\S*)$", " ".join(f[4:]))
        if len(f) != 7 or not m or not re.match(r"virtio\d+$", f[3]):
            probs.append("malformed msix line %r" % " ".join(f))
            continue
        if not m.group(3):
            continue    # no driver: no vectors asked for
        bound += 1
        slot, ident, name = f[1], f[2], f[3]
        table, allocated = int(m.group(1)), int(m.group(2))
        mine = {k[len(name) + 1:]: v for k, v in irq_by_name.items() if k.startswith(name + "-")}
        what = "%s %s (%s)" % (slot, ident, name)
        if table < 2:
            probs.append("%s: MSI-X table of %d entries" % (what, table))
        if allocated != table:
            probs.append("%s: %d of its %d MSI-X vectors allocated" % (what, allocated, table))
        if len(mine) != allocated or sum(len(v) for v in mine.values()) != allocated:
            probs.append("%s: %d interrupt lines for %d vectors: %s" % (
                what, sum(len(v) for v in mine.values()), allocated, sorted(mine)))
        if len(mine.get("config", [])) != 1:
            probs.append("%s: no config vector of its own" % what)
        if "virtqueues" in mine:
            probs.append("%s: its queues share one vector" % what)
        for q, rows in mine.items():
            for row, _ in rows:
                if "PCI-MSI" not in row:
                    probs.append("%s: %s is not an MSI line: %r" % (what, q, row))
        want = MSIX_QUEUE_NAMES.get(ident)
        if want:
            queues = [q for q in mine if q != "config"]
            if not queues:
                probs.append("%s: no queue vector" % what)
            for q in queues:
                if not re.match(want + "$", q):
                    probs.append("%s: unexpected vector %r" % (what, q))
                elif sum(c for _, c in mine[q]) == 0:
                    probs.append("%s: queue vector %r took no interrupt" % (what, q))
    if devs and not bound:
        probs.append("no virtio PCI function has a driver")
    return probs


# ---- the guest report ----------------------------------------------------------

class Report:
    """The kit init's report (docs/testing.md, "Guest report")."""

    def __init__(self, text):
        self.raw = text
        self.found = False
        self.kernel = self.arch = None
        self.cpus = self.mem_kb = None
        self.mods_failed = []
        self.pci = {}       # "8086:7010" -> [(slot, class, driver)]
        self.blocks = {}    # "sda" -> size in bytes
        self.data = {}      # "sda" -> (status, sha256)
        self.nets = {}      # "eth0" -> (mac, driver)
        self.sound = {}     # "card0" -> id
        self.script_rc = None
        self.done_rc = None
        # report lines that did not parse: tests/conftest.py fails the test
        # (a line the parser cannot read is a broken report, not a detail)
        self.malformed = []
        lines = text.replace("\r", "").split("\n")
        inside = False
        for ln in lines:
            ln = ln.strip()
            # the line may carry terminal escapes before the keyword
            for key in ("VMMKIT-REPORT-BEGIN", "VMMKIT-DONE", "VMMKIT-SCRIPT-END"):
                i = ln.find(key)
                if i > 0:
                    ln = ln[i:]
            if ln.startswith("VMMKIT-REPORT-BEGIN"):
                inside, self.found = True, True
                continue
            if ln.startswith("VMMKIT-REPORT-END"):
                inside = False
                continue
            # kernel messages may land on the same console line
            m = re.match(r"VMMKIT-SCRIPT-END rc=(-?\d+)", ln)
            if m:
                self.script_rc = int(m.group(1))
            m = re.match(r"VMMKIT-DONE rc=(-?\d+)", ln)
            if m:
                self.done_rc = int(m.group(1))
            if not inside:
                continue
            f = ln.split()
            if not f:
                continue
            try:
                known = self._line(f)
            except (IndexError, ValueError):
                known = False
            if not known:
                self.malformed.append(ln)

    def _line(self, f):
        """Parse one report line; False for a key the report does not have
        or a line with too few fields (IndexError/ValueError for bad ones)."""
        k = f[0]
        want = {"kernel": 3, "cpus": 2, "mem_kb": 2, "mods": 3, "pci": 5, "blk": 3, "data": 4,
                "net": 4, "snd": 3, "uptime": 2}
        if k not in want or len(f) < want[k]:
            return False
        if k == "kernel":
            self.kernel, self.arch = f[1], f[2]
        elif k == "cpus":
            self.cpus = int(f[1])
        elif k == "mem_kb":
            self.mem_kb = int(f[1])
        elif k == "mods":
            failed = f[2].split("=", 1)[1] if len(f) > 2 else ""
            self.mods_failed = [m for m in failed.split(",") if m]
        elif k == "pci":
            self.pci.setdefault(f[2], []).append((f[1], f[3], f[4]))
        elif k == "blk":
            self.blocks[f[1]] = int(f[2])
        elif k == "data":
            self.data[f[1]] = (f[2], f[3])
        elif k == "net":
            self.nets[f[1]] = (f[2], f[3])
        elif k == "snd":
            self.sound[f[1]] = f[2]
        elif k == "uptime":
            float(f[1])
        return True

    def driver_of(self, vendor_device):
        """The driver bound to the first PCI function with this ID, or None."""
        devs = self.pci.get(vendor_device)
        return devs[0][2] if devs else None

    def script_output(self):
        """Lines between VMMKIT-SCRIPT-BEGIN and VMMKIT-SCRIPT-END."""
        out, inside = [], False
        for ln in self.raw.replace("\r", "").split("\n"):
            if "VMMKIT-SCRIPT-BEGIN" in ln:
                inside = True
            elif "VMMKIT-SCRIPT-END" in ln:
                inside = False
            elif inside:
                out.append(ln)
        return out
