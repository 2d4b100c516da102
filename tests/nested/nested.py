"""Run commands under hardware virtualization (tests/nested).

    import nested
    batch = nested.Batch()                  # mode: VMM_NESTED_MODE or a probe
    disk = batch.stage("build/guests/kit-amd64.img")   # writable copy
    batch.add("boot", ["qemu-system-x86_64", "-enable-kvm", ..., "-hda", disk],
              timeout=300, marker="VMMKIT-DONE")
    results = batch.run()                   # {name: Result}
    print(results["boot"].stdout, results["boot"].rc)

Two modes:
  direct  the host's /dev/kvm boots an OS at useful speed (build/kvmprobe says
          "yes"): commands run on the host.
  l1      otherwise: one L1 Linux under QEMU TCG (emulated AMD CPU with SVM and
          nested paging) loads kvm-amd and runs all commands of the batch, each
          chroot'ed into the host root shared read-only over virtio-9p, so
          absolute paths are the same as on the host. Files that a command must
          write go through the scratch directory (Batch.stage, Batch.scratch),
          shared writable. The L1 boots once per Batch.run().

Both modes use tests/nested/executor.py for timeouts, marker wait and results.
Only the Python 3 standard library is used.

Environment:
  VMM_NESTED_MODE   auto (default) | direct | l1
  VMM_GUEST_CACHE   guest kit directory (default <repo>/build/guests)
  VMM_NESTED_KEEP=1 keep the scratch directory (its path is printed)
  VMM_NESTED_QUIET=1 do not print progress lines on stderr
  VMM_NESTED_DEADLINE=S  cap on the whole batch's run time (default: the sum
                    of the commands' timeouts plus margins)
  VMM_NESTED_MONITOR=PATH  L1 QEMU monitor on a unix socket (debugging; while
                    L2 runs, `info registers` there shows the L2 CPU state)
  VMM_NESTED_L1S=N  executors (L1s in l1 mode) that share a batch (default: 2 in
                    l1 mode, 1 direct)
  VMM_NESTED_CPU, VMM_NESTED_KVM_AMD  L1 -cpu model (EPYC) and extra kvm-amd
                    parameters (e.g. npt=0), for experiments
"""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXECUTOR = os.path.join(HERE, "executor.py")
PYTHON = "/usr/bin/python3"
QEMU = "qemu-system-x86_64"

# Time the L1 may take from QEMU start until the executor starts (normally 5-15 s).
L1_BOOT_BUDGET = 180
# Extra time per command on top of its own timeout (process start, kill, 9p).
PER_COMMAND_SLACK = 20
# A command that has not ended this long after its own timeout + grace +
# PER_COMMAND_SLACK means the L1 itself froze (its executor would have killed
# the command): the L1 is killed and the unfinished commands run in a fresh one.
L1_WEDGE_MARGIN = 60
# The executor prints a heartbeat every 15 s (executor.TICK): once it has
# started, no executor line for this long means the L1 froze or its CPUs
# are stuck in the kernel (seen: no output at all, or only soft-lockup
# reports); it is killed and the unfinished commands run in a fresh L1,
# without waiting for the watch above.
L1_SILENCE = 90
# At most this many L1 boots (executor runs) per Batch.run().
MAX_RUNS = 8

# Why an attempt of a command failed (Result.history). The first three are
# the environment's, told apart by the harness itself, not by the guest's
# symptoms: a process that survived SIGKILL (the L1 kernel is wedged), an
# L1 that froze or died while the command ran (its heartbeat stopped, the
# per-command watch fired, QEMU exited), a command that hung before it
# started its VMM (its `started` line, printed by the command's own shell
# before the VMM runs, never came: the L1 did not run it; seen once, with
# the L1's kernel panicking on a corrupted stack moments later), the
# executor failing. The others
# are what the command's guest did: hung (timeout, idle console) with a
# live L1, or printed one of its flake signs (a reset, a corrupt initramfs).
# "l1-fault" is the L1's own CPU fault seen from inside: QEMU 10's TCG SVM
# runs an L2 vCPU with state from outside its VM (docs/testing.md, "L2
# resets under guest-to-host TCP"). The L1 traces show it at one RIP of
# the L1 kernel's module area, ffffffffc033313c: kvm_amd's __svm_vcpu_run
# + 0x9c, the L1's instruction right after its VMRUN (the L1's
# /proc/modules and kvm-amd.ko's disassembly, 2026-12-07), under QEMU's
# guests and vmm's alike, and in a VM still
# in SeaBIOS. A hung vmm prints each vCPU's place (VMM_DUMP_CPUS=1, which
# default_env sets): a vCPU there with that address unmapped in the
# guest's own page tables is that fault, not the guest's code (which the
# guest maps) and not vmm's (which never sets a RIP while the guest runs).
# The same fault more often resets the guest: the L1's KVM then takes a
# shutdown exit whose RIP is that address. The executor records the L1's
# shutdown exits per command (executor.shutdown_trace_start); an attempt
# that failed and whose every recorded shutdown is at that address met
# the fault. A guest's own triple fault exits at the guest's RIP and fails as
# before; so does a run with shutdowns at that address and elsewhere.
# The address moves with the layout of a module area: the fresh-clone run
# of 2026-12-06 met it at ffffffffc035113c, 0x1e000 higher (the L1's
# modules load in a varying order, so kvm_amd's base moves) at the same
# offset in its page. So the rule is that instruction's place:
# a module-area address (its first 16 MiB) whose offset in its page is
# L1_FAULT_PAGE_OFFSET (is_l1_fault_rip, for dumps and shutdowns alike).
ENV_REASONS = ("stuck", "l1-frozen", "not-started", "harness", "l1-fault")
L1_FAULT_PAGE_OFFSET = 0x13c
L1_MODULE_AREA = (0xffffffffc0000000, 0xffffffffc1000000)
# A vCPU of a hung vmm's dump whose RIP is unmapped in the guest.
UNMAPPED_RIP_DUMP = re.compile(r"vmm: vCPU (\d+): cs:rip=[0-9a-f]{4}:([0-9a-f]+) [^\n]*\n"
                               r"vmm: vCPU \1: [^\n]* code=unmapped\n")
SHUTDOWN_RIP = re.compile(r"reason shutdown\b.*?\brip 0x([0-9a-f]+)")
# The L1's ftrace, where the executor records shutdown exits (l1 mode).
L1_TRACEFS = "/sys/kernel/tracing"
GUEST_REASONS = ("hang", "sign")
# An environment failure is retried up to this often even when the command
# asks for fewer retries: the QEMU peer's qemu-hda-amd64 has frozen two L1s
# in a row before passing on its next (fresh-clone run of 2026-12-03). Each
# attempt is counted and listed, and MAX_RUNS bounds the L1s of a batch.
ENV_RETRIES = 4
# Retries after these do not fail `make check` (tests/conftest.py).
TOLERATED_REASONS = ("stuck", "l1-frozen", "not-started", "l1-fault")
# Failed attempts' output is kept here (Result.attempt_logs).
ATTEMPT_DIR = os.path.join(REPO, "build", "nested-attempts")


def shutdown_rips(r):
    """The RIP (hex, as the trace prints it) of each shutdown exit the L1
    recorded for this attempt's VMs; None for a line without one."""
    return [m.group(1) if m else None
            for m in (SHUTDOWN_RIP.search(l) for l in r.l1_shutdowns or ()
                      if "reason shutdown" in l)]


def is_l1_fault_rip(rip):
    """Whether a RIP (hex string) is the L1 fault's instruction."""
    if not rip:
        return False
    v = int(rip, 16)
    return (L1_MODULE_AREA[0] <= v < L1_MODULE_AREA[1]
            and v & 0xfff == L1_FAULT_PAGE_OFFSET)


def l1_fault_resets(r):
    """How many shutdown exits the L1 recorded for this attempt's VMs, when
    every one of them was at the L1's fault address; 0 otherwise (none recorded, not
    recorded at all, or any at another RIP)."""
    rips = shutdown_rips(r)
    if rips and all(is_l1_fault_rip(rip) for rip in rips):
        return len(rips)
    return 0


def l1_fault_reset_failure(r, symptom):
    n = l1_fault_resets(r)
    if not n:
        return None
    return ("l1-fault", "%s after %d shutdown exit(s) of the L1 at its fault address %s "
            "(L1 trace)" % (symptom, n, " ".join(sorted(set(shutdown_rips(r))))))


def attempt_failure(c, r, began):
    """Why this attempt of command c failed, as (reason, detail), or None.

    began: the executor announced the command (it started in this L1)."""
    if not r.ran:
        if began:
            return ("l1-frozen", "the L1 froze or died while it ran: %s" % (r.error or "?"))
        return None
    if r.stuck:
        return ("stuck", "a process of the command survived SIGKILL")
    if r.error is not None:
        return ("harness", r.error)
    if r.timed_out or r.idle_out:
        started = c.get("started")
        if started and started not in (r.stdout or ""):
            return ("not-started", "hung before its VMM started: no %r line from the "
                    "command's own shell" % started)
        m = next((d for d in UNMAPPED_RIP_DUMP.finditer((r.stdout or "") + "\n" +
                                                        (r.stderr or ""))
                  if is_l1_fault_rip(d.group(2))), None)
        if m:
            return ("l1-fault", "hung with vCPU %s at the L1's fault address %s, unmapped "
                    "in the guest" % (m.group(1), m.group(2)))
        symptom = "idle console" if r.idle_out else "timeout"
        return l1_fault_reset_failure(r, "hung") or ("hang", symptom)
    signed = r.stdout or ""
    if c.get("signs_after") and c["signs_after"] in signed:
        signed = signed.rsplit(c["signs_after"], 1)[1]
    sign = next((f for f in c.get("flake_signs", ()) if re.search(f, signed)), None)
    if sign is not None:
        return (l1_fault_reset_failure(r, "reset (output matches %r)" % sign)
                or ("sign", "output matches %r" % sign))
    if c.get("marker") and not r.marker_seen:
        # A guest under -no-reboot ends its VMM at the reset: no sign, no
        # marker. Without the L1's evidence this is the test's to judge.
        return l1_fault_reset_failure(r, "ended without its marker")
    return None


def may_retry(c, reason, tries, peer_reasons):
    """Whether a command whose attempt number `tries` failed for `reason`
    runs again. Environment failures retry up to c["retries"] or
    ENV_RETRIES, whichever is more. A guest
    symptom retries only for a command that does not test vmm
    (retry_guest: the QEMU peer), or when a peer command (the QEMU
    reference with the same -cpu in the same batch, c["peer"]) showed the
    same failure class in this batch: then it is the environment's too."""
    if reason in ENV_REASONS:
        return tries <= max(c.get("retries", 0), ENV_RETRIES)
    if tries > c.get("retries", 0):
        return False
    if c.get("retry_guest"):
        return True
    return reason in peer_reasons


def _die_with_parent():
    """In the L1 child before exec: SIGKILL it when the runner dies, so a
    killed test run leaves no L1 behind burning both CPUs."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Unavailable(Exception):
    """Hardware virtualization cannot be provided here; the message says why."""


class Result:
    """Outcome of one command."""

    def __init__(self, name, **kw):
        self.name = name
        self.rc = kw.get("rc")
        self.stdout = kw.get("stdout", "")
        self.stderr = kw.get("stderr", "")
        self.timed_out = bool(kw.get("timed_out"))
        self.marker_seen = bool(kw.get("marker_seen"))
        self.marker_time = kw.get("marker_time")
        self.killed_after_marker = bool(kw.get("killed_after_marker"))
        self.exited = bool(kw.get("exited"))
        self.elapsed = kw.get("elapsed")
        self.error = kw.get("error")
        self.mode = kw.get("mode")
        self.idle_out = bool(kw.get("idle_out"))
        self.stuck = bool(kw.get("stuck"))
        self.attempts = kw.get("attempts", 1)
        self.ran = bool(kw.get("ran"))
        # The L1's shutdown exits during the command (trace lines), or None
        # where nothing was recorded (direct mode).
        self.l1_shutdowns = kw.get("l1_shutdowns")
        # One entry per failed attempt: {"attempt", "l1_run", "reason",
        # "detail", "log"} (reason: ENV_REASONS or GUEST_REASONS).
        self.history = list(kw.get("history", ()))

    @property
    def retry_reasons(self):
        """Reasons of the failed attempts that were followed by another."""
        return [h["reason"] for h in self.history if h["attempt"] < self.attempts]

    @property
    def attempt_logs(self):
        return [h["log"] for h in self.history if h.get("log")]

    @property
    def ok(self):
        """Finished without error and, with a marker, the marker was seen."""
        return self.error is None and not self.timed_out

    def describe(self, tail=2000):
        """A few lines for assertion messages."""
        s = ("%s: mode=%s rc=%s elapsed=%s timed_out=%s idle_out=%s marker_seen=%s "
             "marker_time=%s exited=%s attempts=%s error=%s" % (
                 self.name, self.mode, self.rc, self.elapsed, self.timed_out, self.idle_out,
                 self.marker_seen, self.marker_time, self.exited, self.attempts, self.error))
        for h in self.history:
            s += "\nattempt %d (L1 run %d) failed: %s (%s); output kept in %s" % (
                h["attempt"], h["l1_run"], h["reason"], h["detail"], h.get("log") or "-")
        if self.l1_shutdowns:
            s += "\n--- the L1's shutdown exits (trace) ---\n" + "\n".join(self.l1_shutdowns)
        if self.stdout:
            s += "\n--- stdout (tail) ---\n" + self.stdout[-tail:]
        if self.stderr:
            s += "\n--- stderr (tail) ---\n" + self.stderr[-tail:]
        return s

    def __repr__(self):
        return "<Result %s rc=%s elapsed=%s>" % (self.name, self.rc, self.elapsed)


def guest_cache():
    return os.path.abspath(os.environ.get("VMM_GUEST_CACHE") or os.path.join(REPO, "build", "guests"))


def _log(msg):
    if os.environ.get("VMM_NESTED_QUIET") != "1":
        sys.stderr.write("nested: %s\n" % msg)
        sys.stderr.flush()


_probe_cache = {}


def kvmprobe_path():
    """build/kvmprobe, compiled from tests/nested/kvmprobe.c when missing or stale."""
    src = os.path.join(HERE, "kvmprobe.c")
    exe = os.path.join(REPO, "build", "kvmprobe")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            raise Unavailable("no C compiler to build %s" % exe)
        r = subprocess.run([cc, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, src],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if r.returncode:
            raise Unavailable("cannot build kvmprobe: %s" % r.stdout)
    return exe


def probe():
    """(verdict, detail): verdict is 'yes', 'no' or 'none' (no usable /dev/kvm)."""
    if "v" not in _probe_cache:
        if not os.path.exists("/dev/kvm"):
            _probe_cache["v"] = ("none", "no /dev/kvm")
        else:
            r = subprocess.run([kvmprobe_path()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=30)
            verdict = {0: "yes", 1: "no"}.get(r.returncode, "none")
            _probe_cache["v"] = (verdict, r.stdout.strip())
    return _probe_cache["v"]


def choose_mode(mode=None):
    """'direct' or 'l1' (VMM_NESTED_MODE, else the probe's verdict)."""
    mode = mode or os.environ.get("VMM_NESTED_MODE") or "auto"
    if mode not in ("auto", "direct", "l1"):
        raise ValueError("bad nested mode %r" % mode)
    if mode == "auto":
        verdict, detail = probe()
        mode = "direct" if verdict == "yes" else "l1"
        _log("kvmprobe: %s -> mode %s" % (detail, mode))
    return mode


def l1_files(cache=None):
    cache = cache or guest_cache()
    return os.path.join(cache, "l1", "vmlinux"), os.path.join(cache, "l1", "initrd.xz")


def check_available(mode):
    """Raise Unavailable with the reason when `mode` cannot run here."""
    if not os.access(PYTHON, os.X_OK):
        raise Unavailable("%s is missing" % PYTHON)
    if mode == "direct":
        if not os.path.exists("/dev/kvm"):
            raise Unavailable("direct mode needs /dev/kvm")
        return
    if not shutil.which(QEMU):
        raise Unavailable("%s is not installed (tools/deps.sh installs qemu-system-x86)" % QEMU)
    for f in l1_files():
        if not os.path.exists(f):
            raise Unavailable("L1 image %s is missing (run `make guests`)" % f)


def default_env():
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER", "LOGNAME")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.setdefault("HOME", "/root")
    for k, v in os.environ.items():
        if k.startswith("VMM_"):
            env[k] = v
    # A vmm the harness ends (a hang, a timeout) prints where each vCPU
    # was, and a triple fault where it happened, which the failure's
    # stderr tail then shows.
    env.setdefault("VMM_DUMP_CPUS", "1")
    return env


class ExecutorRun:
    """One executor of a round of Batch.run: an L1 (l1 mode) or the
    executor on the host, with what its supervisor saw."""

    def __init__(self, scratch, round_no, index=None):
        # index: which of a round's executors (None: the round's only one)
        self.suffix = "" if index is None else chr(ord("a") + index)
        self.tag = "" if index is None else "[L1 %s] " % self.suffix
        label = "%d%s" % (round_no, self.suffix)
        self.console_log = os.path.join(scratch, "console-%s.log" % label)
        self.reset_log = os.path.join(scratch, "l1-resets-%s.log" % label)
        self.error = None
        self.began = set()                   # ids its executor started
        self.console = ""


class Batch:
    """A list of commands that run together under hardware virtualization."""

    def __init__(self, mode=None, keep=None, scratch_root=None, l1_smp=2, l1_mem_mb=2048,
                 l1s=None):
        self.mode = choose_mode(mode)
        check_available(self.mode)
        self.keep = keep if keep is not None else os.environ.get("VMM_NESTED_KEEP") == "1"
        root = scratch_root or os.environ.get("VMM_NESTED_SCRATCH_ROOT") or None
        if root:
            os.makedirs(root, exist_ok=True)
        self.scratch = tempfile.mkdtemp(prefix="vmmnest-", dir=root)
        os.chmod(self.scratch, 0o755)
        for d in ("files", "stage", "out", "results", "tmp"):
            os.makedirs(os.path.join(self.scratch, d))
        self.commands = []
        self.collect = set()       # scratch_path names read back by run()
        self.outputs = {}          # name -> bytes, filled by run()
        self.l1_smp = l1_smp
        # Where the executor records the L1's shutdown exits (a tracefs);
        # None: not recorded.
        self.shutdown_trace = L1_TRACEFS if self.mode == "l1" else None
        self.l1_mem_mb = l1_mem_mb
        # Executors that share the batch, each taking the next command no
        # other has taken (executor.claim). In l1 mode two L1s: one L1 runs
        # one guest at a time and kept about 1.3 of the host's 2 CPUs busy
        # (the batch of `make check` took 55 min on an EPYC host); two L1s
        # ran four kit boots in 112 s against 163 s for one. One L1 running
        # two guests at once reset itself or lost guests to resets within
        # minutes (QEMU's TCG SVM with two L2 VMs on two L1 vCPUs).
        env_l1s = os.environ.get("VMM_NESTED_L1S")
        self.l1s = max(1, int(l1s or env_l1s or (2 if self.mode == "l1" else 1)))
        # Filled by run():
        self.l1_kvm_ready = None   # seconds from QEMU start to /dev/kvm in L1
        self.l1_staged = None      # seconds from QEMU start to staged files copied
        self.l1_exec_start = None  # seconds from QEMU start to the first command
        self.total_time = None
        self.log = ""              # L1 console (l1 mode) or executor output
        self.began = set()
        self.error = None
        self.runs = 0              # rounds of executor runs (L1 boots, l1s at a time)
        self.run_of = {}           # command id -> the ExecutorRun it last began in

    # -- building the batch ------------------------------------------------
    def stage(self, path, name=None):
        """Give the commands a private writable copy of a host file; return
        the path under which they find it (SCRATCH/files/NAME).

        Use it for disk images a VMM opens read-write: in l1 mode the host
        root is read-only. In l1 mode the copy is made again inside the L1, on
        a tmpfs (SCRATCH/files is a tmpfs there): L2 disk images served
        straight from virtio-9p hung a SYSLINUX boot (docs/testing.md). Changes
        to staged files are not copied back to the host."""
        name = name or os.path.basename(path)
        if "/" in name or name.startswith("."):
            raise ValueError("bad staged name %r" % name)
        sub = "stage" if self.mode == "l1" else "files"
        dst = os.path.join(self.scratch, sub, name)
        if os.path.exists(dst):
            raise ValueError("already staged: %s" % name)
        shutil.copyfile(path, dst)
        return os.path.join(self.scratch, "files", name)

    def stage_bytes(self, name, data=b"", size=None):
        """Like stage(), for a file made from `data`, zero-extended to `size`
        bytes (sparse). For disk images a test builds itself."""
        if "/" in name or name.startswith("."):
            raise ValueError("bad staged name %r" % name)
        sub = "stage" if self.mode == "l1" else "files"
        dst = os.path.join(self.scratch, sub, name)
        if os.path.exists(dst):
            raise ValueError("already staged: %s" % name)
        with open(dst, "wb") as f:
            f.write(data)
            if size is not None:
                f.truncate(size)
        return os.path.join(self.scratch, "files", name)

    def scratch_path(self, name, collect=False):
        """A path (SCRATCH/out/NAME) where a command may write a file that the
        host reads afterwards; shared with the host in both modes. In l1 mode
        this is virtio-9p: do not put a VMM's disk images here (L2 disk I/O on
        9p files hung or lost writes); use stage() / stage_bytes().
        collect: run() reads the file back before it removes the scratch
        directory; output(name) then has its bytes (e.g. a VMM's recording)."""
        if "/" in name or name.startswith("."):
            raise ValueError("bad scratch name %r" % name)
        if collect:
            self.collect.add(name)
        return os.path.join(self.scratch, "out", name)

    def output(self, name):
        """The bytes a command left in scratch_path(name, collect=True), or
        None when it wrote none."""
        return self.outputs.get(name)

    def add(self, name, cmd, timeout=300, marker=None, grace=10, cwd=None, env=None,
            idle=None, retries=0, flake_signs=(), retry_guest=False, peer=None, started=None,
            alone=False, signs_after=None):
        """Queue a command: an argv list or a shell string (run by /bin/sh -c).

        timeout  seconds until the command's process group is killed
        marker   text to wait for in its stdout; once seen, the command gets
                 `grace` more seconds to exit by itself before it is killed
        idle     kill the command when its stdout is silent this long before
                 the marker (a hung guest is found sooner than at `timeout`)
        retries  run it again, in a fresh L1, when an attempt failed for a
                 reason of the environment's (ENV_REASONS: a process that
                 survived SIGKILL, an L1 that froze, a harness error). Every
                 attempt that began counts in Result.attempts; each failed
                 one is in Result.history, its output kept under
                 build/nested-attempts/.
        flake_signs  regular expressions; a run whose stdout matches one
                 failed ("sign": a guest that completed after a spurious
                 reset or with a corrupted initramfs)
        signs_after  the flake signs are looked for only after this text's
                 last place in stdout, when it is there: for a command that
                 streams its VMM's console and then prints it whole, where
                 the two copies would match "the BIOS started twice"
        retry_guest  also retry a hang with a live L1 or a flake sign: only
                 for commands that do not test vmm (the QEMU peer)
        started  text the command's shell prints before it starts the VMM: a
                 hang without it is the environment's ("not-started"), as the
                 VMM never ran
        peer     name of a command in this batch (QEMU with the same -cpu
                 and devices): a hang or sign is retried when the peer
                 showed the same failure class in this batch
        alone    run it with no other command beside it: after the others, in
                 one L1 (what a second L1 sharing the host's CPUs would slow
                 enough to change what the test measures in real time)
        cwd      working directory (default: the current one)
        env      extra environment variables"""
        if any(c["name"] == name for c in self.commands):
            raise ValueError("duplicate command name %r" % name)
        e = default_env()
        e["TMPDIR"] = os.path.join(self.scratch, "tmp")
        e.update(env or {})
        self.commands.append({
            "id": len(self.commands), "name": name,
            "argv": list(cmd) if not isinstance(cmd, str) else None,
            "shell": cmd if isinstance(cmd, str) else None,
            "timeout": float(timeout), "marker": marker, "grace": float(grace),
            "cwd": os.path.abspath(cwd or os.getcwd()), "env": e,
            "idle": float(idle) if idle else None, "retries": int(retries),
            "flake_signs": list(flake_signs), "retry_guest": bool(retry_guest),
            "peer": peer, "started": started, "alone": bool(alone), "signs_after": signs_after,
        })

    def deadline(self, commands=None):
        """Time limit of one L1 (or executor) run over `commands`."""
        commands = self.commands if commands is None else commands
        t = sum(c["timeout"] + c["grace"] + PER_COMMAND_SLACK for c in commands)
        t += L1_BOOT_BUDGET if self.mode == "l1" else 10
        cap = os.environ.get("VMM_NESTED_DEADLINE")
        return min(t, float(cap)) if cap else t

    # -- running -------------------------------------------------------------
    def l1_command(self, run):
        vmlinux, initrd = l1_files()
        # transparent_hugepage=never: with THP, L1's khugepaged collapsed the
        # pages backing L2 RAM, soft-locked an L1 CPU and L2 boots crashed or
        # hung (TCG's nested paging); 4 KiB pages only.
        append = ("console=ttyS0 panic=-1 quiet transparent_hugepage=never "
                  "vmmnest.scratch=%s vmmnest.exec=%s vmmnest.python=%s"
                  % (self.scratch, EXECUTOR, PYTHON))
        if os.environ.get("VMM_NESTED_KVM_AMD"):
            append += " vmmnest.kvm_amd=" + os.environ["VMM_NESTED_KVM_AMD"]
        return [
            QEMU, "-accel", "tcg,thread=%s" % os.environ.get("VMM_NESTED_TCG_THREAD", "multi"), "-cpu", os.environ.get("VMM_NESTED_CPU", "EPYC"),
            "-smp", str(self.l1_smp), "-m", str(self.l1_mem_mb),
            "-nodefaults", "-display", "none", "-no-reboot",
            # An L1 that resets (a triple fault) ends with status 0 under
            # -no-reboot and says nothing on its console: QEMU's reset log
            # tells that case, with the CPU state, from a freeze.
            "-d", "cpu_reset", "-D", run.reset_log,
            "-monitor",
            ("unix:%s%s,server=on,wait=off" % (os.environ["VMM_NESTED_MONITOR"], run.suffix)
             if os.environ.get("VMM_NESTED_MONITOR") else "none"),
            "-serial", "stdio",
            "-kernel", vmlinux, "-initrd", initrd, "-append", append,
            "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
            "-fsdev", "local,id=scratch,path=%s,security_model=none,multidevs=remap" % self.scratch,
            "-device", "virtio-9p-pci,fsdev=scratch,mount_tag=scratch",
        ]

    @staticmethod
    def _l1_reset_cause(run):
        """', it reset itself: triple fault' when QEMU's reset log of the L1
        says so (under -no-reboot a reset ends QEMU with status 0)."""
        try:
            with open(run.reset_log, errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        return ", it reset itself: triple fault" if "Triple fault" in text else ""

    def run(self):
        """Run all commands; return {name: Result}. Never raises for a failing
        command or a hung L1: those show up in the Results' error fields.

        In l1 mode self.l1s L1s share the batch (executor.claim), then one
        runs the `alone` commands. Fresh L1s are started for the commands
        still to do when all L1s of a round died or wedged (a command survived
        SIGKILL), and for commands to retry; at most MAX_RUNS rounds."""
        results = {}
        tries = {c["id"]: 0 for c in self.commands}
        history = {c["id"]: [] for c in self.commands}
        failed_classes = {}                  # command name -> reasons seen in this batch
        pending = list(self.commands)
        t_start = time.monotonic()
        cap = os.environ.get("VMM_NESTED_DEADLINE")
        self.runs = 0
        while pending and self.runs < MAX_RUNS:
            if cap and time.monotonic() - t_start >= float(cap):
                break
            self.runs += 1
            # The alone commands wait for a round of their own, in one L1.
            group = [c for c in pending if not c.get("alone")] or pending
            rest = [c for c in pending if c not in group]
            shared = 1 if any(c.get("alone") for c in group) else min(self.l1s, len(group))
            self._run_round(group, shared)
            got = self._collect(group)
            verdicts = []
            for c in group:
                r = got[c["name"]]
                began = c["id"] in self.began
                if not r.ran and not began:
                    verdicts.append((c, r, None, False))   # never started: not an attempt
                    continue
                tries[c["id"]] += 1
                failure = attempt_failure(c, r, began)
                if failure:
                    failed_classes.setdefault(c["name"], set()).add(failure[0])
                verdicts.append((c, r, failure, True))
            again = []
            # Decided after the whole L1 run, so that a peer that ran after
            # the command in the same L1 counts as evidence.
            for c, r, failure, attempted in verdicts:
                if not attempted:
                    again.append(c)
                    continue
                if failure:
                    if not r.ran:
                        r.error = failure[1]
                    history[c["id"]].append({
                        "attempt": tries[c["id"]], "l1_run": self.runs, "reason": failure[0],
                        "detail": failure[1], "log": self._keep_attempt(c, r, tries[c["id"]],
                                                                        failure)})
                    peer = failed_classes.get(c.get("peer"), set())
                    if may_retry(c, failure[0], tries[c["id"]], peer):
                        _log("retrying %s (attempt %d failed: %s: %s)" % (
                            c["name"], tries[c["id"]], failure[0], failure[1]))
                        again.append(c)
                r.attempts = tries[c["id"]]
                r.history = list(history[c["id"]])
                results[c["name"]] = r       # kept unless a retry replaces it
            pending = again + rest
        for c in pending:                    # never ran at all
            if c["name"] not in results:
                results[c["name"]] = Result(c["name"], mode=self.mode,
                                            error=self.error or "command did not run",
                                            attempts=tries[c["id"]],
                                            history=history[c["id"]])
        self.total_time = round(time.monotonic() - t_start, 1)
        for name in sorted(self.collect):
            try:
                with open(os.path.join(self.scratch, "out", name), "rb") as f:
                    self.outputs[name] = f.read()
            except OSError:
                pass
        if not self.keep:
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            _log("scratch kept: %s" % self.scratch)
        return {c["name"]: results[c["name"]] for c in self.commands}

    def _keep_attempt(self, c, r, attempt, failure):
        """Save a failed attempt's output (and the L1 console of its run)
        under ATTEMPT_DIR; return the file's path."""
        d = os.environ.get("VMM_NESTED_ATTEMPT_DIR") or ATTEMPT_DIR
        try:
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "%s.%s.attempt%d.log" % (
                re.sub(r"[^\w.-]", "_", c["name"]), os.path.basename(self.scratch), attempt))
            with open(path, "w") as f:
                f.write("%s attempt %d, L1 run %d: %s (%s)\n" % (
                    c["name"], attempt, self.runs, failure[0], failure[1]))
                f.write(r.describe(tail=10 ** 7))
                run = self.run_of.get(c["id"])
                if failure[0] in ("l1-frozen", "stuck") and run:
                    f.write("\n--- L1 console of this run (tail) ---\n" + run.console[-20000:])
                    try:
                        with open(run.reset_log, errors="replace") as lf:
                            resets = lf.read()
                        f.write("\n--- QEMU's reset log of the L1 (-d cpu_reset, tail) ---\n"
                                + resets[-12000:])
                    except OSError:
                        pass
            return path
        except OSError as e:
            _log("cannot keep the output of %s attempt %d: %s" % (c["name"], attempt, e))
            return None

    def _run_round(self, commands, shared):
        """One round: `shared` executors (L1s) at once over `commands`."""
        for c in commands:
            shutil.rmtree(os.path.join(self.scratch, "results", str(c["id"])),
                          ignore_errors=True)
        claims = os.path.join(self.scratch, "claims")
        shutil.rmtree(claims, ignore_errors=True)   # an earlier round's
        if shared > 1:
            os.makedirs(claims)
        with open(os.path.join(self.scratch, "batch.json"), "w") as f:
            json.dump({"version": 1, "commands": commands, "claims": shared > 1,
                       "shutdown_trace": self.shutdown_trace}, f, indent=1)
        runs = [ExecutorRun(self.scratch, self.runs, k if shared > 1 else None)
                for k in range(shared)]
        _log("%s mode, run %d: %d command(s) in %d %s, deadline %d s, scratch %s"
             % (self.mode, self.runs, len(commands), shared,
                "L1(s)" if self.mode == "l1" else "executor(s)",
                self.deadline(commands), self.scratch))
        threads = [threading.Thread(target=self._supervise, args=(
            self.l1_command(run) if self.mode == "l1" else [PYTHON, EXECUTOR, self.scratch],
            commands, run)) for run in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.error = next((run.error for run in runs if run.error), None)
        self.began = set()
        for run in runs:
            self.began |= run.began
            self.run_of.update((cid, run) for cid in run.began)
            self.log += run.console

    def _supervise(self, argv, commands, run):
        t0 = time.monotonic()
        deadline = t0 + self.deadline(commands)
        log_path = run.console_log
        logf = open(log_path, "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)
        fd = proc.stdout.fileno()
        buf = b""
        done = False
        started = False                      # this run's first command began
        by_id = {c["id"]: c for c in commands}
        running = None                       # (command, host time it began)
        last_output = time.monotonic()
        try:
            while True:
                left = deadline - time.monotonic()
                if started and not done and time.monotonic() - last_output > L1_SILENCE:
                    run.error = ("no executor line for %d s (its heartbeat stopped): the "
                                 "L1 froze; killed" % L1_SILENCE)
                    _log(run.tag + run.error)
                    break
                if running:
                    c, began = running
                    budget = c["timeout"] + c["grace"] + PER_COMMAND_SLACK + L1_WEDGE_MARGIN
                    if time.monotonic() - began > budget:
                        run.error = ("%s has not ended %d s after it began: the L1 froze; "
                                     "killed" % (c["name"], budget))
                        _log(run.tag + run.error)
                        break
                if (self.mode == "l1" and not started and not done
                        and time.monotonic() - t0 > L1_BOOT_BUDGET):
                    # An L1 that hangs while booting (seen under TCG) would
                    # otherwise sit until the whole batch's deadline; its
                    # commands never started, so a fresh L1 runs them.
                    run.error = "L1 did not start its first command within %d s; killed" % (
                        L1_BOOT_BUDGET)
                    _log(run.tag + run.error)
                    break
                if left <= 0:
                    if done:
                        break                # finished; it just did not exit
                    run.error = "overall deadline (%d s) exceeded; %s killed" % (
                        self.deadline(commands), "L1" if self.mode == "l1" else "executor")
                    _log(run.tag + run.error)
                    break
                r, _, _ = select.select([fd], [], [], min(left, 1.0))
                if not r:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                logf.write(chunk)
                logf.flush()
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.startswith(b"@@VMMNEST begin "):
                        started = True
                        f = line.split()
                        if len(f) >= 3 and f[2].isdigit():
                            run.began.add(int(f[2]))
                    # only the executor's own lines count: kernel messages
                    # (soft lockups) keep coming from an L1 that is stuck
                    if line.startswith(b"@@VMMNEST"):
                        last_output = time.monotonic()
                    running = self._running(line, by_id, running)
                    if self._progress(line.decode("utf-8", "replace").strip(), t0, run) and not done:
                        done = True
                        deadline = min(deadline, time.monotonic() + 20)
        finally:
            if proc.poll() is None:
                try:
                    proc.wait(timeout=20 if done else 0.1)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        pass
                    try:
                        proc.wait(timeout=5)
                        break
                    except subprocess.TimeoutExpired:
                        pass
            proc.stdout.close()
            logf.close()
        run_time = round(time.monotonic() - t0, 1)
        with open(log_path, "rb") as f:
            run.console = f.read().decode("utf-8", "replace")
        if not done and not run.error:
            run.error = "%s ended before finishing the batch (exit %s%s)" % (
                "L1" if self.mode == "l1" else "executor", proc.returncode,
                self._l1_reset_cause(run) if self.mode == "l1" else "")
            _log(run.tag + run.error + "; console tail:\n" + run.console[-3000:])
        _log("%s%s mode: run %d finished in %.1f s%s" % (
            run.tag, self.mode, self.runs, run_time,
            "" if self.l1_kvm_ready is None else
            " (L1 /dev/kvm ready after %.1f s, first command after %.1f s)"
            % (self.l1_kvm_ready, self.l1_exec_start or -1)))

    @staticmethod
    def _running(line, by_id, running):
        """Which command runs in the L1 after console line `line`."""
        f = line.split()
        if len(f) >= 3 and f[0] == b"@@VMMNEST" and f[1] in (b"begin", b"end"):
            try:
                cid = int(f[2])
            except ValueError:
                return running
            if f[1] == b"begin" and cid in by_id:
                return (by_id[cid], time.monotonic())
            return None
        return running

    def _progress(self, line, t0, run):
        t = time.monotonic() - t0
        if line.startswith("VMMNEST-KVM-READY"):
            if self.l1_kvm_ready is None:
                self.l1_kvm_ready = round(t, 1)
            _log("%sL1 has /dev/kvm after %.1f s" % (run.tag, t))
        elif line.startswith("VMMNEST-STAGED"):
            if self.l1_staged is None:
                self.l1_staged = round(t, 1)
        elif line.startswith("VMMNEST-FAIL"):
            run.error = "L1: " + line
            _log(run.tag + line)
        elif line.startswith("@@VMMNEST begin"):
            if self.l1_exec_start is None:
                self.l1_exec_start = round(t, 1)
            _log("%s[%6.1f s] start %s" % (run.tag, t, line.split(None, 3)[-1]))
        elif line.startswith("@@VMMNEST end"):
            _log("%s[%6.1f s] end   %s" % (run.tag, t, line[len("@@VMMNEST end "):]))
        elif line.startswith("@@VMMNEST abort"):
            run.error = "L1 wedged (%s); remaining commands go to a fresh L1" % line[10:]
            _log(run.tag + run.error)
            return True
        elif line.startswith("@@VMMNEST all-done"):
            return True
        return False

    def _collect(self, commands):
        results = {}
        for c in commands:
            d = os.path.join(self.scratch, "results", str(c["id"]))
            data = {}
            try:
                with open(os.path.join(d, "result.json")) as f:
                    data = json.load(f)
                data["ran"] = True
            except (OSError, ValueError):
                run = self.run_of.get(c["id"]) if c["id"] in self.began else None
                data = {"error": (run and run.error) or self.error or "command did not run"}
            for stream in ("stdout", "stderr"):
                try:
                    with open(os.path.join(d, stream), "rb") as f:
                        data[stream] = f.read().decode("utf-8", "replace")
                except OSError:
                    data[stream] = ""
            data.pop("name", None)
            results[c["name"]] = Result(c["name"], mode=self.mode, **data)
        return results


def run_one(cmd, timeout=300, marker=None, grace=10, mode=None, cwd=None):
    """Convenience: run a single command in its own batch; return (Result, Batch)."""
    b = Batch(mode=mode)
    b.add("cmd", cmd, timeout=timeout, marker=marker, grace=grace, cwd=cwd)
    return b.run()["cmd"], b
