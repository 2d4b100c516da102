// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The list behind qmp_lacking.h, grouped by reason.
 */
#include "qmp_lacking.h"

#include <string.h>

#include "util.h"

/* QMP commands of QEMU (as the peer the tests run, 10.0, which has all of
 * 7.2's and more) that vmm does not have, by reason. */
static const struct qmp_lacking lacking[] = {
#define WHY "no fd passing over the QMP socket (SCM_RIGHTS) yet"
	{ "add-fd", WHY }, { "remove-fd", WHY }, { "query-fdsets", WHY }, { "getfd", WHY },
	{ "closefd", WHY }, { "add_client", WHY },
#undef WHY
#define WHY "the block layer has no node graph: drives are -drive only"
	{ "blockdev-add", WHY }, { "blockdev-del", WHY }, { "blockdev-create", WHY },
	{ "blockdev-reopen", WHY }, { "blockdev-set-active", WHY }, { "blockdev-insert-medium", WHY },
	{ "x-blockdev-change", WHY }, { "x-blockdev-amend", WHY }, { "change-backing-file", WHY },
	{ "query-named-block-nodes", WHY }, { "x-debug-query-block-graph", WHY },
	{ "x-blockdev-set-iothread", WHY },
#undef WHY
#define WHY "no block jobs (copy, mirror, stream, commit, backup) while the guest runs"
	{ "block-commit", WHY }, { "block-stream", WHY }, { "blockdev-backup", WHY },
	{ "blockdev-mirror", WHY }, { "drive-backup", WHY }, { "drive-mirror", WHY },
	{ "block-job-cancel", WHY }, { "block-job-change", WHY }, { "block-job-complete", WHY },
	{ "block-job-dismiss", WHY }, { "block-job-finalize", WHY }, { "block-job-pause", WHY },
	{ "block-job-resume", WHY }, { "block-job-set-speed", WHY }, { "job-cancel", WHY },
	{ "job-complete", WHY }, { "job-finalize", WHY }, { "job-pause", WHY }, { "job-resume", WHY },
	{ "transaction", WHY },
#undef WHY
#define WHY "no live snapshots to new overlay files; savevm/snapshot-save take internal ones"
	{ "blockdev-snapshot", WHY }, { "blockdev-snapshot-sync", WHY },
	{ "blockdev-snapshot-internal-sync", WHY }, { "blockdev-snapshot-delete-internal-sync", WHY },
#undef WHY
#define WHY "dirty bitmaps live in vmm-img only (qcow2 persistent bitmaps), not on a running drive"
	{ "block-dirty-bitmap-add", WHY }, { "block-dirty-bitmap-clear", WHY },
	{ "block-dirty-bitmap-disable", WHY }, { "block-dirty-bitmap-enable", WHY },
	{ "block-dirty-bitmap-merge", WHY }, { "block-dirty-bitmap-remove", WHY },
	{ "x-debug-block-dirty-bitmap-sha256", WHY },
#undef WHY
#define WHY "no NBD server or block exports"
	{ "nbd-server-add", WHY }, { "nbd-server-remove", WHY }, { "nbd-server-start", WHY },
	{ "nbd-server-stop", WHY }, { "block-export-add", WHY }, { "block-export-del", WHY },
	{ "query-block-exports", WHY },
#undef WHY
#define WHY "no I/O throttling or latency statistics per drive"
	{ "block_set_io_throttle", WHY }, { "block-latency-histogram-set", WHY },
	{ "block-set-write-threshold", WHY },
#undef WHY
#define WHY "a drive's size is fixed while the guest runs"
	{ "block_resize", WHY },
#undef WHY
#define WHY "no hotplug: the devices are the command line's"
	{ "device_add", WHY }, { "device_del", WHY }, { "device-sync-config", WHY },
	{ "netdev_add", WHY }, { "netdev_del", WHY }, { "chardev-add", WHY },
	{ "chardev-change", WHY }, { "chardev-remove", WHY }, { "object-add", WHY },
	{ "object-del", WHY }, { "set-numa-node", WHY }, { "x-exit-preconfig", WHY },
#undef WHY
#define WHY "no QOM object tree: types are listed (qom-list-types, device-list-properties), instances are not"
	{ "qom-get", WHY }, { "qom-list", WHY }, { "qom-list-properties", WHY }, { "qom-set", WHY },
#undef WHY
#define WHY "no post-copy or paused/recovered migration: pre-copy only"
	{ "migrate-continue", WHY }, { "migrate-pause", WHY }, { "migrate-recover", WHY },
	{ "migrate-start-postcopy", WHY }, { "query-migrationthreads", WHY },
#undef WHY
#define WHY "no self-announcement after migration (the guest's own traffic updates switches)"
	{ "announce-self", WHY },
#undef WHY
#define WHY "no dirty-rate measurement or vCPU dirty limits"
	{ "calc-dirty-rate", WHY }, { "query-dirty-rate", WHY }, { "set-vcpu-dirty-limit", WHY },
	{ "cancel-vcpu-dirty-limit", WHY }, { "query-vcpu-dirty-limit", WHY },
#undef WHY
#define WHY "no guest memory dump as an ELF core (memsave/pmemsave write raw memory)"
	{ "dump-guest-memory", WHY }, { "query-dump", WHY },
	{ "query-dump-guest-memory-capability", WHY },
#undef WHY
#define WHY "no CXL devices on a PC"
	{ "cxl-add-dynamic-capacity", WHY }, { "cxl-inject-correctable-error", WHY },
	{ "cxl-inject-dram-event", WHY }, { "cxl-inject-general-media-event", WHY },
	{ "cxl-inject-memory-module-event", WHY }, { "cxl-inject-poison", WHY },
	{ "cxl-inject-uncorrectable-errors", WHY }, { "cxl-release-dynamic-capacity", WHY },
#undef WHY
#define WHY "no device trees on a PC"
	{ "dumpdtb", WHY },
#undef WHY
#define WHY "the display cannot be reconfigured while it runs"
	{ "display-reload", WHY }, { "display-update", WHY },
#undef WHY
#define WHY "no SPICE; the VNC password is set with change-vnc-password"
	{ "query-spice", WHY }, { "set_password", WHY }, { "expire_password", WHY },
	{ "client_migrate_info", WHY },
#undef WHY
#define WHY "query-vnc describes the one VNC server"
	{ "query-vnc-servers", WHY },
#undef WHY
#define WHY "the -audiodev list is not queryable"
	{ "query-audiodevs", WHY },
#undef WHY
#define WHY "no ring-buffer chardevs"
	{ "ringbuf-read", WHY }, { "ringbuf-write", WHY },
#undef WHY
#define WHY "no break on chardevs"
	{ "chardev-send-break", WHY },
#undef WHY
#define WHY "query-chardev lists the chardevs; the backends are in -chardev help"
	{ "query-chardev-backends", WHY },
#undef WHY
#define WHY "no option introspection; libvirt probes query-qmp-schema"
	{ "query-command-line-options", WHY },
#undef WHY
#define WHY "-cpu models are fixed sets (query-cpu-definitions): no expansion"
	{ "query-cpu-model-expansion", WHY },
#undef WHY
#define WHY "no virtio crypto"
	{ "query-cryptodev", WHY },
#undef WHY
#define WHY "no Hyper-V balloon"
	{ "query-hv-balloon-status-report", WHY },
#undef WHY
#define WHY "no SCSI persistent-reservation managers"
	{ "query-pr-managers", WHY },
#undef WHY
#define WHY "KVM only: no record/replay"
	{ "query-replay", WHY }, { "replay-break", WHY }, { "replay-delete-break", WHY },
	{ "replay-seek", WHY },
#undef WHY
#define WHY "no rocker switch"
	{ "query-rocker", WHY }, { "query-rocker-of-dpa-flows", WHY },
	{ "query-rocker-of-dpa-groups", WHY }, { "query-rocker-ports", WHY },
#undef WHY
#define WHY "no RX filter events from NICs"
	{ "query-rx-filter", WHY },
#undef WHY
#define WHY "no SEV or SGX confidential guests"
	{ "query-sev", WHY }, { "query-sev-attestation-report", WHY },
	{ "query-sev-capabilities", WHY }, { "query-sev-launch-measure", WHY },
	{ "sev-inject-launch-secret", WHY }, { "query-sgx", WHY }, { "query-sgx-capabilities", WHY },
#undef WHY
#define WHY "no statistics interface (x-query-exits has vmm's exit counts)"
	{ "query-stats", WHY }, { "query-stats-schemas", WHY },
#undef WHY
#define WHY "no VM generation ID device"
	{ "query-vm-generation-id", WHY },
#undef WHY
#define WHY "no COLO or Xen"
	{ "query-colo-status", WHY }, { "x-colo-lost-heartbeat", WHY },
	{ "xen-colo-do-checkpoint", WHY }, { "query-xen-replication-status", WHY },
	{ "xen-event-inject", WHY }, { "xen-event-list", WHY }, { "xen-load-devices-state", WHY },
	{ "xen-save-devices-state", WHY }, { "xen-set-global-dirty-log", WHY },
	{ "xen-set-replication", WHY },
#undef WHY
#define WHY "no yank: a dead migration or chardev connection is dropped by vmm itself"
	{ "query-yank", WHY }, { "yank", WHY },
#undef WHY
#define WHY "no eBPF RSS for virtio-net"
	{ "request-ebpf", WHY },
#undef WHY
#define WHY "run-time actions are the command line's (-action, -watchdog-action; watchdog-set-action)"
	{ "set-action", WHY },
#undef WHY
#define WHY "no trace events"
	{ "trace-event-get-state", WHY }, { "trace-event-set-state", WHY },
#undef WHY
#define WHY "no TCG, NUMA, USB or ROM introspection (info mtree and info qtree show the machine)"
	{ "x-query-interrupt-controllers", WHY }, { "x-query-irq", WHY }, { "x-query-jit", WHY },
	{ "x-query-numa", WHY }, { "x-query-opcount", WHY }, { "x-query-ramblock", WHY },
	{ "x-query-roms", WHY }, { "x-query-usb", WHY },
#undef WHY
#define WHY "no virtio introspection commands"
	{ "x-query-virtio", WHY }, { "x-query-virtio-queue-element", WHY },
	{ "x-query-virtio-queue-status", WHY }, { "x-query-virtio-status", WHY },
	{ "x-query-virtio-vhost-queue-status", WHY },
#undef WHY
};

const char *qmp_lacking_why(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(lacking); i++)
		if (!strcmp(lacking[i].name, name))
			return lacking[i].why;
	return NULL;
}

const struct qmp_lacking *qmp_lacking_list(size_t *count)
{
	*count = ARRAY_SIZE(lacking);
	return lacking;
}
