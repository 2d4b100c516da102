# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-net on the user-mode (slirp) backend, with the kit's Linux
(virtio_net module), beyond what test_nics.py checks for every card:
restrict=on (DHCP and hostfwd still work, the host's loopback through
10.0.2.2 does not), and a guest reboot after which the NIC works again.
The host side runs where the VMM runs (in the L1 on machines without
VT-x)."""
import shlex

import pytest

import guestkit

HTTP_PORT = 18080      # host-side server the guest downloads from
FWD_PORT = 12280       # host port forwarded to the guest's httpd on 8080
BLOB = 1 << 20

GUEST_SCRIPT = """#VMMKIT-SCRIPT
ip link set eth0 up
cat > /tmp/dhcp.sh <<'EOS'
#!/bin/sh
if [ "$1" = bound ]; then
	ip addr add $ip/$mask dev $interface
	[ -n "$router" ] && ip route add default via $router
	echo "dhcp ip=$ip mask=$mask router=$router dns=$dns" > /tmp/dhcp.txt
fi
exit 0
EOS
chmod +x /tmp/dhcp.sh
udhcpc -i eth0 -n -q -t 10 -T 2 -s /tmp/dhcp.sh >/dev/null 2>&1 || echo "dhcp failed"
cat /tmp/dhcp.txt
ip -4 addr show eth0 | grep -o 'inet [0-9./]*' | sed 's/^/addr /'
wget -q -O /tmp/blob http://10.0.2.2:%(http)d/blob && echo "wget size=$(wc -c < /tmp/blob) sha=$(sha256sum /tmp/blob | cut -d' ' -f1)"
mkdir -p /tmp/www && echo VMM-GUEST-HELLO > /tmp/www/hello.txt
httpd -p 8080 -h /tmp/www && echo VMM-HTTPD-UP
sleep 120
""" % {"http": HTTP_PORT}


class NetScenario(guestkit.Scenario):
    """form: how the NIC is given on the command line."""

    def __init__(self, form):
        guestkit.Scenario.__init__(self, "vmm-virtio-net-%s" % form, timeout=420)
        self.form = form

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def nic_args(self):
        fwd = "hostfwd=tcp::%d-:8080" % FWD_PORT
        if self.form == "netdev":
            return ["-netdev", "user,id=n0," + fwd,
                    "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:ab:cd:ef"]
        if self.form == "nic":
            return ["-nic", "user,model=virtio," + fwd]
        if self.form == "restrict":
            return ["-netdev", "user,id=n0,restrict=on," + fwd,
                    "-device", "virtio-net-pci,netdev=n0"]
        return ["-net", "nic,model=virtio", "-net", "user," + fwd]

    def add_to(self, batch):
        script = batch.stage_bytes("%s-script.img" % self.name,
                                   guestkit.script_image(GUEST_SCRIPT))
        argv = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"),
                                 extra=["-drive", "file=%s,if=virtio" % script] + self.nic_args())
        cmd = " ".join(shlex.quote(a) for a in argv)
        shell = (
            # The L1 brings no loopback up; slirp reaches the host through it.
            'set -u; ip link set lo up 2>/dev/null; d="${TMPDIR:-/tmp}/%(name)s"; mkdir -p "$d/www"; '
            'head -c %(blob)d /dev/urandom > "$d/www/blob"; '
            'echo "@@blob sha=$(sha256sum "$d/www/blob" | cut -d" " -f1)"; '
            '/usr/bin/python3 -m http.server %(http)d --bind 127.0.0.1 --directory "$d/www" '
            '  > "$d/http.log" 2>&1 & hp=$!; '
            '%(cmd)s > "$d/vmm.log" 2>&1 < /dev/null & pid=$!; '
            # The console streams out: a hung guest shows as idle, and is retried.
            'tail -n +1 --pid=$pid -f "$d/vmm.log" & tp=$!; '
            'i=0; while [ $i -lt 1500 ] && ! grep -q -e VMM-HTTPD-UP -e VMMKIT-DONE "$d/vmm.log"; '
            '  do sleep 0.2; i=$((i+1)); done; '
            '/usr/bin/python3 -c "import urllib.request as u; '
            'print(\'@@fwd \' + u.urlopen(\'http://127.0.0.1:%(fwd)d/hello.txt\', timeout=30)'
            '.read().decode().strip())" 2>&1 | tail -1; '
            'kill $pid; wait $pid; wait $tp; kill $hp'
        ) % {"name": self.name, "blob": BLOB, "http": HTTP_PORT, "fwd": FWD_PORT, "cmd": cmd}
        batch.add(self.name, shell, timeout=self.timeout, idle=guestkit.BOOT_IDLE + 60,
                  retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest(), flake_signs=guestkit.BOOT_FLAKE_SIGNS,
                  started="@@blob sha=")


# The option forms and the plain DHCP/download/hostfwd checks are in
# test_nics.py, with the other cards in the same boots.
# Issue 12: restrict=on, one guest: DHCP still answers and hostfwd
# still comes in, but the download from the host's 127.0.0.1 via 10.0.2.2
# must fail.
RESTRICT = NetScenario("restrict")

# Boot 1 pings slirp's gateway, marks the IDE disk and reboots; boot 2
# (after a full system reset in the same vmm process) pings again.
REBOOT_SCRIPT = """#VMMKIT-SCRIPT
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
if [ "$(head -c 5 /dev/sda)" = "BOOT1" ]; then b=2; else b=1; fi
i=0; until ping -c 1 -W 2 10.0.2.2 >/dev/null 2>&1; do i=$((i+1)); [ $i -ge 10 ] && break; done
[ $i -lt 10 ] && echo "net-reboot boot=$b ping=ok" || echo "net-reboot boot=$b ping=failed"
if [ $b = 1 ]; then echo BOOT1 > /dev/sda; sync; reboot -f; fi
"""


class RebootScenario(guestkit.Scenario):
    def __init__(self):
        guestkit.Scenario.__init__(self, "vmm-virtio-net-reboot", timeout=420)

    def missing(self):
        return guestkit.Scenario.missing(self) or guestkit.vmm_missing("vmm")

    def add_to(self, batch):
        script = batch.stage_bytes("net-reboot-script.img", guestkit.script_image(REBOOT_SCRIPT))
        disk = batch.stage_bytes("net-reboot-disk.img", size=1 << 20)
        argv = guestkit.vmm_argv("vmm", 256, cdrom=guestkit.kit("kit-amd64.iso"), hda=disk,
                                 extra=["-drive", "file=%s,if=virtio" % script,
                                        "-netdev", "user,id=n0",
                                        "-device", "virtio-net-pci,netdev=n0"])
        batch.add(self.name, argv, timeout=self.timeout, idle=guestkit.BOOT_IDLE,
                  retries=guestkit.BOOT_RETRIES,
                  retry_guest=self.retry_guest())


REBOOT = RebootScenario()


def line(out, prefix):
    for ln in out.replace("\r", "").split("\n"):
        i = ln.find(prefix)
        if i >= 0:
            return ln[i:].strip()
    return None


@pytest.mark.parametrize("scenario", [REBOOT], ids=str)
def test_nic_works_after_reboot(guest, scenario):
    out = guest.result.stdout
    assert "net-reboot boot=1 ping=ok" in out, guest.describe()
    assert "net-reboot boot=2 ping=ok" in out, guest.describe()
    assert out.count("VMMKIT-REPORT-BEGIN") == 2, guest.describe()


@pytest.mark.parametrize("scenario", [RESTRICT], ids=str)
def test_restrict_isolates_guest(guest, scenario):
    out = guest.result.stdout
    dhcp = line(out, "dhcp ip=")
    assert dhcp and "ip=10.0.2.15" in dhcp, guest.describe()
    # The guest reached the end of its script (the HTTP server is up)...
    assert line(out, "@@blob sha="), guest.describe()
    assert "VMM-HTTPD-UP" in out, guest.describe()
    # ...but not the host's HTTP server on 127.0.0.1 through 10.0.2.2,
    assert line(out, "wget size=") is None, guest.describe()
    # while hostfwd still brings the host in.
    assert line(out, "@@fwd VMM-GUEST-HELLO"), guest.describe()
