# SPDX-License-Identifier: GPL-2.0-or-later
"""The watchdog options and actions on a running machine: disk-11's boot
sector arms an ib700 for 2 s and idles (tests/fw/bootsect.S); each
-watchdog-action then does what QEMU's does, after the QMP WATCHDOG
event. The expiry runs on the main thread's event loop, under its sandbox
filter (on by default). Linux's drivers are in tests/real/test_watchdog.py."""
import time

from conftest import VMM, fw_image  # noqa: F401  (VMM: the binary under test)
from test_cli import one_line_error, run
from test_qmp import Qmp, sock_path, vm  # noqa: F401  (vm: the fixture)

EXIT_OK = (0x10 << 1) | 1  # isa-debug-exit value written by bootsect.S
DEBUG_EXIT = ("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")


def start(vm, tmp_path, *args):
    path = sock_path(tmp_path)
    v = vm("-watchdog", "ib700", *DEBUG_EXIT, "-qmp", f"unix:{path},server=on,wait=off", *args,
           disk="disk-11.img")
    return v, Qmp(path).negotiate()


def test_watchdog_help_and_bad_options():
    p = run("-watchdog", "help")
    assert p.returncode == 0 and p.stdout == "ib700\tiBASE 700\ni6300esb\tIntel 6300ESB\n"
    one_line_error(run("-watchdog", "wdt"), "-watchdog wdt", "unknown model")
    one_line_error(run("-watchdog", "ib700", "-watchdog", "i6300esb"), "only one")
    one_line_error(run("-watchdog", "ib700", "-device", "ib700"), "ib700", "only one")
    one_line_error(run("-watchdog-action", "reboot"), "-watchdog-action reboot", "inject-nmi")
    p = run("-device", "help")
    assert 'name "i6300esb", bus PCI, desc "Intel 6300ESB watchdog timer"' in p.stdout
    assert 'name "ib700", bus ISA' in p.stdout
    assert "Watchdog devices:" in p.stdout


def test_poweroff_action_ends_vmm_after_the_event(vm, tmp_path):
    v, q = start(vm, tmp_path, "-watchdog-action", "poweroff")
    v.wait_serial("VMM-WDT-ARMED")
    armed = time.monotonic()
    assert q.event("WATCHDOG", timeout=30)["data"] == {"action": "poweroff"}
    # 2 s of the guest's timeout (the serial file is read by polling).
    assert time.monotonic() - armed > 1.0
    # QEMU's poweroff: exit status 0 at once, no SHUTDOWN event.
    assert v.finish()[0] == 0
    q.sock.settimeout(2)
    try:
        while True:
            assert q.read()["event"] != "SHUTDOWN"
    except (EOFError, OSError):
        pass


def test_reset_action_with_no_reboot_is_a_guest_reset_shutdown(vm, tmp_path):
    v, q = start(vm, tmp_path, "-no-reboot")  # the default action: reset
    assert q.event("WATCHDOG", timeout=60)["data"] == {"action": "reset"}
    assert q.event("SHUTDOWN")["data"] == {"guest": True, "reason": "guest-reset"}
    assert v.finish()[0] == 0


def test_pause_action_stops_until_cont_and_set_action(vm, tmp_path):
    v, q = start(vm, tmp_path, "-watchdog-action", "pause")
    assert q.event("WATCHDOG", timeout=60)["data"] == {"action": "pause"}
    q.event("STOP")
    assert q.ok("query-status")["running"] is False
    # QMP changes the action; a bad one is refused.
    r = q.cmd("watchdog-set-action", {"action": "explode"})
    assert r["error"]["class"] == "GenericError", r
    assert q.ok("watchdog-set-action", {"action": "none"}) == {}
    q.ok("cont")
    q.event("RESUME")
    assert q.ok("query-status")["running"] is True
    q.ok("quit")
    assert v.finish()[0] == 0


def test_inject_nmi_reaches_the_guest(vm, tmp_path):
    v, q = start(vm, tmp_path, "-watchdog-action", "inject-nmi")
    assert q.event("WATCHDOG", timeout=60)["data"] == {"action": "inject-nmi"}
    status, _, err = v.finish(timeout=60)
    assert status == EXIT_OK, err
    assert "VMM-WDT-NMI" in v.text(v.serial)


def test_debug_action_prints_and_runs_on(vm, tmp_path):
    v, q = start(vm, tmp_path, "-watchdog-action", "debug")
    assert q.event("WATCHDOG", timeout=60)["data"] == {"action": "debug"}
    assert q.ok("query-status")["running"] is True
    q.ok("quit")
    status, _, err = v.finish()
    assert status == 0 and "watchdog: timer fired" in err, err
