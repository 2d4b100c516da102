#!/usr/bin/python3
"""Run a batch of commands described in SCRATCH/batch.json (tests/nested).

    executor.py SCRATCH_DIR

This is the half of the nested runner that runs where the hardware
virtualization is: inside the L1 (chroot'ed into the host root by
tests/guests/l1-init.sh) or directly on the host. It uses only the Python 3
standard library, and must keep working on the oldest python3 the host has.

A command with `idle` set is also killed when its stdout stays silent that
long (before the marker). A command that survives SIGKILL ("stuck") ends the
batch: "@@VMMNEST abort stuck ID", and the host starts a fresh L1.

With batch["claims"] set, several executors (one per L1) share the batch:
each takes the next command nobody has taken by creating
SCRATCH/claims/<id> (mkdir: atomic on the host's filesystem, which the
scratch 9p share passes it to), and skips those taken by another.

For each command it writes SCRATCH/results/<id>/stdout, stderr and
result.json, one command after the other, so results survive a later hang. A
command runs in its own session; at its timeout the whole process group gets
SIGTERM, then SIGKILL. With a marker, the command's stdout is scanned for it;
once it appears the command gets `grace` seconds to exit by itself (e.g. a
guest powering off), then it is killed.

Progress lines on stdout (the L1 serial console):
    @@VMMNEST begin ID NAME
    @@VMMNEST end ID rc=RC time=SECONDS timeout=0|1 marker=SECONDS|- [idle=1]
    @@VMMNEST abort stuck ID
    @@VMMNEST all-done
"""
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time


def now():
    return time.monotonic()


_say_lock = threading.Lock()
# Seconds between heartbeat lines: the host side takes a console that stays
# silent much longer than this for a frozen L1 (nested.L1_SILENCE).
TICK = float(os.environ.get("VMMNEST_TICK", "15"))


def say(line):
    with _say_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def heartbeat():
    while True:
        time.sleep(TICK)
        say("@@VMMNEST tick")


def kill_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_members(pgid):
    """PIDs of the live (not zombie) processes in process group pgid."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parens.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(d))
    return pids


def survivors(proc, wait=10.0):
    """The command's processes still alive after SIGKILL (the shell's
    children too: a VMM stuck in the L1 kernel outlives its shell)."""
    end = now() + wait
    while True:
        left = group_members(proc.pid)
        if not left or now() >= end:
            return left
        kill_group(proc, signal.SIGKILL)
        time.sleep(0.5)


def stop(proc, wait=3.0):
    """SIGTERM the command's process group, then SIGKILL it."""
    kill_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        pass
    kill_group(proc, signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


# SVM's exit code for a shutdown: the L2 vCPU met a triple fault (or the
# L1's CPU made it look so). Only these kvm_exit events are recorded.
SVM_EXIT_SHUTDOWN = 0x7f
# The page fault's vector: the L1's KVM injecting one into an L2 (its
# emulator failed to walk the guest's page tables) is recorded too.
PF_VECTOR = 14
# At most this many shutdown lines are kept per command.
MAX_SHUTDOWN_LINES = 40


def shutdown_trace_start(tracefs):
    """Record the L1 KVM's shutdown exits in its ftrace buffer (kvm:kvm_exit,
    filtered in the kernel on SVM's shutdown code, so the L2's other exits
    cost one filter test each). The line carries the RIP the L1's CPU
    reported for the L2 at that exit, which tells the L1's own fault
    (nested.is_l1_fault_rip) from a guest's triple fault. The KVM's own #PF
    injections (kvm:kvm_inj_exception) go beside them where the kernel has
    the event: one before a shutdown says the L1's instruction emulator
    raised the fault, none says the L1's CPU did. Returns whether shutdowns
    are recorded."""
    try:
        if not os.path.exists(os.path.join(tracefs, "tracing_on")):
            subprocess.run(["mount", "-t", "tracefs", "nodev", tracefs],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        event = os.path.join(tracefs, "events", "kvm", "kvm_exit")
        inj = os.path.join(tracefs, "events", "kvm", "kvm_inj_exception")
        for path, value in ((os.path.join(event, "filter"), "exit_reason == %d" % SVM_EXIT_SHUTDOWN),
                            (os.path.join(event, "enable"), "1"),
                            (os.path.join(tracefs, "tracing_on"), "1")):
            with open(path, "w") as f:
                f.write(value + "\n")
    except (OSError, subprocess.SubprocessError) as e:
        say("@@VMMNEST note no shutdown trace: %s" % e)
        return False
    try:
        for path, value in ((os.path.join(inj, "filter"), "exception == %d" % PF_VECTOR),
                            (os.path.join(inj, "enable"), "1")):
            with open(path, "w") as f:
                f.write(value + "\n")
    except OSError as e:
        say("@@VMMNEST note no #PF injection trace: %s" % e)
    return True


def shutdown_trace_take(tracefs):
    """The shutdown exits and #PF injections recorded since the last call
    (their trace lines, in order), and an empty buffer for the next
    command."""
    path = os.path.join(tracefs, "trace")
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if ("kvm_exit:" in l and "reason shutdown" in l)
                     or "kvm_inj_exception:" in l]
        with open(path, "w"):
            pass                             # opening with O_TRUNC empties the buffer
    except OSError as e:
        return ["unreadable: %s" % e]
    return lines[:MAX_SHUTDOWN_LINES]


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def run_one(cmd, outdir):
    os.makedirs(outdir, exist_ok=True)
    res = {
        "id": cmd["id"], "name": cmd["name"], "rc": None, "timed_out": False,
        "marker_seen": False, "marker_time": None, "killed_after_marker": False,
        "exited": False, "elapsed": None, "error": None, "idle_out": False,
        "stuck": False,
    }
    if cmd.get("argv"):
        argv = cmd["argv"]
    else:
        argv = ["/bin/sh", "-c", cmd["shell"]]
    timeout = float(cmd.get("timeout", 300))
    marker = cmd.get("marker")
    mbytes = marker.encode() if marker else None
    grace = float(cmd.get("grace", 10))
    idle = cmd.get("idle")
    env = cmd.get("env") or dict(os.environ)

    t0 = now()
    out = open(os.path.join(outdir, "stdout"), "wb")
    err = open(os.path.join(outdir, "stderr"), "wb")
    try:
        proc = subprocess.Popen(argv, cwd=cmd.get("cwd") or "/", env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True)
    except OSError as e:
        res["error"] = "cannot start: %s" % e
        res["elapsed"] = now() - t0
        out.close()
        err.close()
        return res

    deadline = t0 + timeout
    kill_at = deadline
    tail = b""
    fd = proc.stdout.fileno()
    eof = False
    last_output = t0
    while True:
        t = now()
        if t >= kill_at:
            break
        if idle and not eof and not res["marker_seen"] and t - last_output >= idle:
            res["idle_out"] = True
            break
        if eof:
            try:
                proc.wait(timeout=min(0.5, kill_at - t))
                break
            except subprocess.TimeoutExpired:
                continue
        r, _, _ = select.select([fd], [], [], min(0.5, kill_at - t))
        if not r:
            if proc.poll() is not None and eof:
                break
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            eof = True
            continue
        out.write(chunk)
        out.flush()
        last_output = now()
        if mbytes and not res["marker_seen"]:
            hay = tail + chunk
            if mbytes in hay:
                res["marker_seen"] = True
                res["marker_time"] = round(now() - t0, 3)
                kill_at = min(deadline, now() + grace)
            tail = hay[-len(mbytes):]

    if proc.poll() is None:
        if res["marker_seen"] and kill_at < deadline and not res["idle_out"]:
            res["killed_after_marker"] = True
        else:
            res["timed_out"] = True
        stop(proc)
        if proc.poll() is None or survivors(proc):
            # Survived SIGKILL: stuck in the kernel. Dump the blocked tasks to
            # the console for the log, and tell main() to end the batch.
            res["stuck"] = True
            for path, val in (("/proc/sys/kernel/printk", "8"), ("/proc/sysrq-trigger", "w"),
                              ("/proc/sysrq-trigger", "l")):
                try:
                    with open(path, "w") as f:
                        f.write(val)
                except OSError:
                    pass
    else:
        res["exited"] = True
    # Drain what is left in the pipe (non-blocking: grandchildren may hold it).
    os.set_blocking(fd, False)
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out.write(chunk)
    except (BlockingIOError, OSError):
        pass
    proc.stdout.close()
    out.close()
    err.close()
    res["rc"] = proc.returncode
    res["elapsed"] = round(now() - t0, 3)
    return res


def claim(claims, cid):
    """Take command cid for this executor; False when another has it."""
    try:
        os.mkdir(os.path.join(claims, str(cid)))
        return True
    except FileExistsError:
        return False


def main(argv):
    if len(argv) != 2:
        print("usage: executor.py SCRATCH_DIR", file=sys.stderr)
        return 2
    scratch = argv[1]
    with open(os.path.join(scratch, "batch.json")) as f:
        batch = json.load(f)
    tmpdir = os.path.join(scratch, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    threading.Thread(target=heartbeat, daemon=True).start()
    tracefs = batch.get("shutdown_trace")
    if tracefs and shutdown_trace_start(tracefs):
        shutdown_trace_take(tracefs)         # what an earlier batch left
    else:
        tracefs = None
    claims = os.path.join(scratch, "claims") if batch.get("claims") else None
    for cmd in batch["commands"]:
        cid = cmd["id"]
        if claims and not claim(claims, cid):
            continue
        say("@@VMMNEST begin %d %s" % (cid, cmd["name"]))
        outdir = os.path.join(scratch, "results", str(cid))
        os.makedirs(outdir, exist_ok=True)
        try:
            res = run_one(cmd, outdir)
        except Exception as e:  # keep going with the next command
            res = {"id": cid, "name": cmd["name"], "rc": None, "error": "executor: %r" % e}
        if tracefs:
            res["l1_shutdowns"] = shutdown_trace_take(tracefs)
        write_json(os.path.join(outdir, "result.json"), res)
        say("@@VMMNEST end %d rc=%s time=%s timeout=%d marker=%s%s" % (
            cid, res.get("rc"), res.get("elapsed"), 1 if res.get("timed_out") else 0,
            res.get("marker_time") if res.get("marker_seen") else "-",
            " idle=1" if res.get("idle_out") else ""))
        if res.get("stuck"):
            # A process that survives SIGKILL usually means the L1 itself is
            # wedged (e.g. a lost interrupt). Stop here; the host side runs
            # the remaining commands in a fresh L1.
            say("@@VMMNEST abort stuck %d" % cid)
            sys.stdout.flush()
            os._exit(3)
    say("@@VMMNEST all-done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
