# SPDX-License-Identifier: GPL-2.0-or-later
"""vmm-img bench against qemu-img bench: the same summary lines (the
time aside), the same written bytes (--pattern, offsets, step, wrap at
the image size), and the same message and status for every bad option
or combination."""
import re
import shutil

import pytest

from conftest import qimg, vimg

CASES = [
    [], ["-c", "1000"], ["-w", "-c", "1000", "-d", "4", "-s", "8k", "-S", "16k", "-o", "4096",
                         "--flush-interval=100", "--pattern=0x41"],
    ["-q", "-c", "100"], ["--no-drain", "-c", "100", "-w", "--flush-interval=64"],
    ["-n", "-t", "none", "-c", "10"], ["-S", "0", "-c", "3"], ["-w", "--flush-interval=0", "-c", "3"],
    ["-c", "0x10", "-d", "010"], ["-s", "1.5k", "-c", "2", "-w", "--pattern=7"],
    ["-s", "4k", "-S", "40M", "-c", "5", "-d", "1", "-w", "--pattern=9"],  # wraps at 64M
    ["-f", "raw", "-c", "3"], ["-U", "-c", "5"], ["--force-share", "-c", "5"],
    ["-t", "writethrough", "-w", "-c", "50", "-d", "2", "--pattern=255"],
]

ERRORS = [
    ["-c", "0"], ["-c", "x"], ["-c", "-1"], ["-c", "1k"], ["-d", "0"], ["-d", "x"], ["-s", "0"],
    ["-s", "x"], ["-S", "x"], ["-S", "-1"], ["-o", "x"], ["-o", "-1"], ["--pattern=x"],
    ["--pattern=256"], ["--pattern=-1"], ["--flush-interval=x"], ["--flush-interval=-1"],
    ["-i", "x"], ["-t", "x"], ["-c", "100", "--flush-interval=10"],
    ["-w", "-c", "100", "--flush-interval=10"], ["-s", "1G", "-c", "2"],
    ["-s", "48M", "-S", "32M", "-c", "3", "-d", "1"], ["-o", "70M", "-c", "5", "-d", "1"],
]


def run_both(tmp_path, args, status):
    base = tmp_path / "b.qcow2"
    qimg("create", "-q", "-f", "qcow2", base, "64M")
    v, q = tmp_path / "v.qcow2", tmp_path / "q.qcow2"
    shutil.copy(base, v)
    shutil.copy(base, q)
    pv = vimg("bench", *args, v, ok=(status,))
    pq = qimg("bench", *args, q, ok=(status,))
    done = re.compile(r"Run completed in \d+\.\d{3} seconds\.\n")
    assert done.sub("DONE\n", pv.stdout) == done.sub("DONE\n", pq.stdout)
    assert pv.stderr.replace("vmm-img", "qemu-img").replace(str(v), str(q)) == pq.stderr
    return v, q


@pytest.mark.parametrize("args", CASES, ids=lambda a: "_".join(a) or "default")
def test_same_output_as_qemu(tmp_path, args):
    v, q = run_both(tmp_path, args, 0)
    qimg("compare", "-f", "qcow2", "-F", "qcow2", v, q)  # what the writes left
    qimg("check", v)


@pytest.mark.parametrize("args", ERRORS, ids=lambda a: "_".join(a))
def test_errors_as_qemu(tmp_path, args):
    run_both(tmp_path, args, 1)


def test_file_name_errors(tmp_path):
    for args in ([], ["a", "b"]):
        v, q = vimg("bench", *args, ok=(1,)), qimg("bench", *args, ok=(1,))
        assert v.stderr.splitlines()[0].replace("vmm-img", "qemu-img") == \
            q.stderr.splitlines()[0]
