# SPDX-License-Identifier: GPL-2.0-or-later
"""User networking's state moves with the machine (issue 18): each
-netdev user backend's libslirp state is a section "slirp.ID" of the
saved state, keyed by the netdev id. A destination started with the same
-netdev options loads it and the guest counts on; a destination without
that netdev refuses the stream with one line (exit status 1) as it does
any section that belongs to no device of its machine, and the source,
continued, runs on with its image locks back."""
import os
import subprocess

import pytest

from conftest import ROOT, VMM, fw_image
from test_migration import Machine, wait_counting, wait_migrated, source_output, \
    check_destination_continues

NET = ["-netdev", "user,id=n0", "-device", "e1000,netdev=n0,romfile="]
VMM_ASAN = os.environ.get("VMM_ASAN", os.path.join(ROOT, "build", "vmm-asan"))
ASAN_ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                LSAN_OPTIONS="exitcode=23")


def migrate_to_file(tmp_path, extra, vmm=VMM, env=None):
    path = tmp_path / "state.bin"
    src = Machine(tmp_path, "src", extra, vmm=vmm, env=env)
    qs = src.connect()
    wait_counting(src, 3)
    qs.ok("migrate", {"uri": f"file:{path}"})
    assert wait_migrated(qs)["status"] == "completed"
    return src, path


@pytest.mark.parametrize("asan", [False, True], ids=["vmm", "vmm-asan"])
def test_slirp_state_moves_to_the_destination(tmp_path, asan):
    """Also under ASan, UBSan and LeakSanitizer (-sandbox off: the leak
    check at exit makes calls the filter refuses): save and load clean."""
    vmm, env, extra = VMM, None, []
    if asan:
        if not os.path.exists(VMM_ASAN):
            pytest.fail(f"{VMM_ASAN} is missing: run `make build/vmm-asan`")
        vmm, env, extra = VMM_ASAN, ASAN_ENV, ["-sandbox", "off"]
    src, path = migrate_to_file(tmp_path, [*NET, *extra], vmm, env)
    try:
        src_text = source_output(src)
        status, err = src.finish(timeout=60)
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert status == 0, err
    finally:
        src.kill()
    # The section is in the stream, by the netdev's id.
    assert b"slirp.n0" in path.read_bytes()
    dst = Machine(tmp_path, "dst", [*NET, *extra, "-incoming", f"file:{path}"], vmm=vmm,
                  env=env)
    try:
        dst.connect()
        check_destination_continues(dst, src_text)
        status, err = dst.finish(timeout=60)
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert status == 0, err
    finally:
        dst.kill()


def test_section_of_an_unknown_netdev_is_refused(tmp_path):
    raw = tmp_path / "disk.raw"
    raw.write_bytes(bytes(1 << 20))
    disk = ["-drive", f"file={raw},format=raw,if=ide"]
    src, path = migrate_to_file(tmp_path, [*NET, *disk])
    try:
        other = ["-netdev", "user,id=n1", "-device", "e1000,netdev=n1,romfile="]
        p = subprocess.run([VMM, "-bios", fw_image("migcount.bin"), "-m", "16", "-nodefaults",
                            "-display", "none", *other, *disk, "-incoming", f"file:{path}"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        assert p.returncode == 1 and err.count("\n") == 1, err
        assert "section slirp.n0 instance 0 belongs to no device of this machine" in err, err
        # The source runs on: cont takes its image back (nobody took it).
        q = src.qmp
        assert q.ok("cont") == {}
        assert q.ok("query-status")["status"] == "running"
        n = len(src.counts())
        wait_counting(src, n + 3)
        status, err = src.finish()
        assert status == 0, err
    finally:
        src.kill()
