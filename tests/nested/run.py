#!/usr/bin/python3
"""Run one command under hardware virtualization (see tests/nested/nested.py).

    tests/nested/run.py [--direct|--l1] [--timeout S] [--marker TEXT] [--grace S]
                        [--stage FILE]... [--keep] -- COMMAND [ARG...]

The command runs on the host when its /dev/kvm is fast enough (build/kvmprobe),
otherwise inside the nested L1. Its stdout and stderr are printed, and run.py
exits with its status (124 on timeout, 125 when the harness failed).
--stage FILE copies FILE into the writable scratch dir; "@FILE@" in the command
is replaced by the copy's path. With --probe, only print the kvmprobe verdict.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nested  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--direct", dest="mode", action="store_const", const="direct")
    g.add_argument("--l1", dest="mode", action="store_const", const="l1")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--marker")
    ap.add_argument("--grace", type=float, default=10)
    ap.add_argument("--stage", action="append", default=[])
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--shell", action="store_true", help="run COMMAND as one /bin/sh -c string")
    ap.add_argument("command", nargs="*")
    a = ap.parse_args()

    if a.probe:
        verdict, detail = nested.probe()
        print(detail)
        return 0 if verdict == "yes" else 1
    if not a.command:
        ap.error("no command")
    try:
        b = nested.Batch(mode=a.mode, keep=a.keep or None)
    except nested.Unavailable as e:
        print("run.py: unavailable: %s" % e, file=sys.stderr)
        return 125
    cmd = list(a.command)
    for f in a.stage:
        copy = b.stage(f)
        cmd = [c.replace("@%s@" % f, copy) for c in cmd]
    if a.shell:
        cmd = " ".join(cmd)
    b.add("cmd", cmd, timeout=a.timeout, marker=a.marker, grace=a.grace)
    r = b.run()["cmd"]
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    info = "run.py: mode=%s rc=%s elapsed=%s s total=%s s" % (b.mode, r.rc, r.elapsed, b.total_time)
    if b.l1_kvm_ready is not None:
        info += " l1_kvm_ready=%s s" % b.l1_kvm_ready
    if r.marker_seen:
        info += " marker=%s s" % r.marker_time
    print(info, file=sys.stderr)
    if r.error or b.error and r.rc is None:
        print("run.py: error: %s" % (r.error or b.error), file=sys.stderr)
        return 125
    if r.timed_out:
        return 124
    if r.rc is None:
        return 125
    return r.rc if r.rc >= 0 else 128 - r.rc


if __name__ == "__main__":
    sys.exit(main())
