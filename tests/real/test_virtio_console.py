# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-serial with the kit's Linux (virtio_console module), one boot per
VMM in VMM_REAL_VMMS (QEMU, the peer, validates the test itself):

* a virtconsole on a file chardev: the guest writes a line to /dev/hvc0 and
  it is in the file;
* a virtserialport named org.vmm.test on a unix-socket server chardev: the
  guest finds /dev/vportNpM through /sys/class/virtio-ports/*/name (busybox
  has no udev), the host helper (tests/real/vserial_peer.py, in the L1)
  connects and sends a line, the guest reads it and writes back its sha256,
  which the helper receives.
"""
import hashlib
import os
import shlex

import pytest

import guestkit

PEER = os.path.join(guestkit.HERE, "vserial_peer.py")
PORT_NAME = "org.vmm.test"

GUEST_SCRIPT = """#VMMKIT-SCRIPT
echo "VMM-HVC-LINE $(uname -m)" > /dev/hvc0 && echo "hvc written"
p=
i=0
while [ $i -lt 40 ] && [ -z "$p" ]; do
	for d in /sys/class/virtio-ports/vport*; do
		[ "$(cat $d/name 2>/dev/null)" = %(name)s ] && p=/dev/${d##*/}
	done
	[ -n "$p" ] || sleep 0.25
	i=$((i + 1))
done
echo "vport dev=$p ports=$(ls /sys/class/virtio-ports | tr '\\n' ' ')"
[ -c "$p" ] || exit 1
exec 3<>$p
echo VMM-VPORT-READY
# A read with no data while the host side is not connected returns EOF
# (Linux virtio_console): retry until the helper has connected and sent.
line=
i=0
while [ -z "$line" ] && [ $i -lt 600 ]; do
	read -r line <&3 || sleep 0.2
	i=$((i + 1))
done
echo "vport got=$line"
echo "VMM-REPLY $(printf %%s "$line" | sha256sum | cut -d' ' -f1)" >&3
exec 3>&-
""" % {"name": PORT_NAME}


class VirtioConsole(guestkit.Scenario):
    def __init__(self, vmm):
        guestkit.Scenario.__init__(self, "%s-virtio-console-amd64" % vmm, timeout=420)
        self.vmm = vmm

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing(self.vmm)

    def add_to(self, batch):
        script = batch.stage_bytes("%s-script.img" % self.name,
                                   guestkit.script_image(GUEST_SCRIPT))
        extra = ["-drive", "file=%s,if=virtio,format=raw" % script,
                 "-device", "virtio-serial-pci",
                 "-chardev", "file,id=con0,path=@D@/hvc.out",
                 "-device", "virtconsole,chardev=con0",
                 "-chardev", "socket,id=p1,path=@D@/p.sock,server=on,wait=off",
                 "-device", "virtserialport,chardev=p1,name=%s" % PORT_NAME]
        argv = guestkit.vmm_argv(self.vmm, 256, cdrom=guestkit.kit("kit-amd64.iso"), extra=extra)
        cmd = " ".join(shlex.quote(a) for a in argv).replace("@D@", '"$d"')
        shell = guestkit.detached_vmm_shell(
            self.name, cmd, 600,
            during='/usr/bin/python3 %s "$d/p.sock" "$d/vmm.log"; ' % shlex.quote(PEER),
            after='echo "@@hvc $(cat "$d/hvc.out" 2>/dev/null | tr -d "\\r" | head -c 200)"; ')
        batch.add(self.name, shell, timeout=self.timeout, idle=guestkit.BOOT_IDLE + 60,
                  retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


SCENARIOS = [VirtioConsole(v) for v in guestkit.vmms_peer_optional()]


def line(out, prefix):
    for ln in out.replace("\r", "").split("\n"):
        i = ln.find(prefix)
        if i >= 0:
            return ln[i:].strip()
    return None


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_virtconsole_to_file(guest, scenario):
    out = guest.result.stdout
    assert line(out, "hvc written"), guest.describe()
    assert line(out, "@@hvc VMM-HVC-LINE x86_64"), guest.describe()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_virtserialport_socket_round_trip(guest, scenario):
    out = guest.result.stdout
    dev = line(out, "vport dev=")
    assert dev and dev.startswith("vport dev=/dev/vport"), guest.describe()
    sent = line(out, "@@sent ")
    assert sent, guest.describe()
    ping = sent.split(" ", 1)[1]
    assert line(out, "vport got=" + ping), guest.describe()
    want = hashlib.sha256(ping.encode()).hexdigest()
    assert line(out, "@@reply VMM-REPLY " + want), guest.describe()
    assert line(out, "VMMKIT-SCRIPT-END rc=0"), guest.describe()
    assert line(out, "@@vmm rc=0"), guest.describe()
    rep = guestkit.Report(out)
    assert rep.driver_of("1af4:1003") == "virtio-pci", (rep.pci, guest.describe())
