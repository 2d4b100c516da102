// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The machine as the control interfaces (QMP, the human monitor) see it:
 * struct vmctl_ops over the board, and the balloon's events and timers.
 */
#include "pc.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "display.h"
#include "hw/chipset.h"
#include "hw/virtio_balloon.h"
#include "savestate.h"
#include "util.h"

/* From the thread that wrote the balloon config (a vCPU): the main loop
 * sends BALLOON_CHANGE. Changes until the loop gets to it are merged:
 * only the first one posts. */
void balloon_changed(void *opaque)
{
	struct machine *m = opaque;
	uint64_t one = 1;

	if (atomic_exchange(&m->balloon_changed, true))
		return;
	if (event_post(m->loop, balloon_event, m) == 0)
		return;
	/* The post queue is full: the request eventfd's handler looks too. */
	if (write(m->event_fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the loop */
	}
}

static bool ctl_running(void *opaque)
{
	struct machine *m = opaque;
	return !(atomic_load(&m->hold) & HOLD_PAUSE);
}

static void ctl_stop(void *opaque)
{
	struct machine *m = opaque;
	if (machine_pause(m))
		control_event(m->control, "STOP", NULL);
}

static int ctl_cont(void *opaque, char *err, size_t errlen)
{
	struct machine *m = opaque;
	/* A destination has nothing to run before its stream: it starts by
	 * itself once loaded (QEMU's autostart). */
	if (m->mig.incoming)
		return 0;
	/* A source continued after its migration takes its images back, as
	 * QEMU's cont does; refused while the destination holds them. */
	if (m->mig.images_inactive && machine_images_activate(m, err, errlen) < 0)
		return -1;
	m->run_state = NULL; /* prelaunch, postmigrate */
	if (machine_resume(m))
		control_event(m->control, "RESUME", NULL);
	return 0;
}

static void ctl_reset(void *opaque)
{
	machine_request_from(opaque, MACHINE_REQ_RESET, 0, CAUSE_HOST_QMP);
}

static void ctl_powerdown(void *opaque)
{
	struct machine *m = opaque;
	/* -no-acpi: no power button to press (QEMU's event still comes) */
	if (!m->cfg.no_acpi)
		piix_pm_power_button(&m->pm);
	control_event(m->control, "POWERDOWN", NULL);
}

void machine_power_button(struct machine *m)
{
	ctl_powerdown(m);
}

static void ctl_quit(void *opaque)
{
	machine_request_from(opaque, MACHINE_REQ_EXIT, 0, CAUSE_HOST_QMP);
}

static unsigned ctl_cpus(void *opaque, struct vmctl_cpu *out, unsigned max)
{
	struct machine *m = opaque;
	unsigned n = MIN(m->ncpus, max);
	for (unsigned i = 0; i < n; i++)
		out[i] = (struct vmctl_cpu){ i, atomic_load(&m->vcpus[i].tid) };
	return n;
}

static void ctl_exits(void *opaque, struct vmctl_exits *out)
{
	struct machine *m = opaque;
	*out = (struct vmctl_exits){ 0 };
	for (unsigned i = 0; i < m->ncpus; i++) {
		out->io += vcpu_exit_count(&m->vcpus[i], VCPU_EXIT_IO);
		out->mmio += vcpu_exit_count(&m->vcpus[i], VCPU_EXIT_MMIO);
		out->hlt += vcpu_exit_count(&m->vcpus[i], VCPU_EXIT_HLT);
		out->intr += vcpu_exit_count(&m->vcpus[i], VCPU_EXIT_INTR);
	}
	out->coalesced = atomic_load_explicit(&m->kvm.coalesced.applied, memory_order_relaxed);
}

static const char *ctl_name(void *opaque)
{
	struct machine *m = opaque;
	return m->cfg.name;
}

/* inject-nmi: KVM_NMI on each vCPU while they are held (a vCPU ioctl
 * waits for KVM_RUN to return otherwise). Per vCPU rather than one
 * broadcast MSI, which a guest in x2APIC mode would read as APIC ID 255. */
static int ctl_inject_nmi(void *opaque)
{
	struct machine *m = opaque;
	int ret = 0;

	bool held = machine_pause(m);
	for (unsigned i = 0; i < m->ncpus; i++)
		if (m->vcpus[i].fd >= 0 && ioctl(m->vcpus[i].fd, KVM_NMI) < 0)
			ret = -errno;
	if (held)
		machine_resume(m);
	return ret;
}

static struct vmctl_memdev memdev_of(const struct ram_backend *b, const char *id,
				     uint64_t size)
{
	return (struct vmctl_memdev){ id, size, b->merge, b->dump, b->prealloc, b->share,
				      b->reserve };
}

static unsigned ctl_memdevs(void *opaque, struct vmctl_memdev *out, unsigned max)
{
	struct machine *m = opaque;
	const struct machine_config *cfg = &m->cfg;
	unsigned n = 0;

	/* a configuration not from the command line has all-zero ram */
	struct ram_backend own = cfg->ram.size ? cfg->ram :
		(struct ram_backend){ .merge = true, .dump = true };
	if (!cfg->ram.id && n < max)
		out[n++] = memdev_of(&own, "pc.ram", m->mem.ram_size);
	for (unsigned i = 0; i < cfg->nmem_backends && n < max; i++)
		out[n++] = memdev_of(&cfg->mem_backends[i], cfg->mem_backends[i].id,
				     cfg->mem_backends[i].size);
	return n;
}

static uint64_t ctl_ram_size(void *opaque)
{
	const struct machine *m = opaque;
	return m->cfg.ram_size;
}

static bool ctl_uuid(void *opaque, uint8_t out[16])
{
	struct machine *m = opaque;
	memcpy(out, m->cfg.uuid, 16);
	return m->cfg.uuid_set;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* QEMU's balloon target is the RAM the guest keeps; the device's is the
 * number of 4 KiB pages it gives up. */
static int ctl_balloon_set(void *opaque, uint64_t bytes)
{
	struct machine *m = opaque;
	uint64_t ram = m->mem.ram_size;

	if (!m->vballoon)
		return -ENODEV;
	if (bytes > ram)
		bytes = ram;
	uint64_t pages = (ram - bytes) >> VIRTIO_BALLOON_PFN_SHIFT;
	virtio_balloon_set_target(m->vballoon, (uint32_t)MIN(pages, (uint64_t)UINT32_MAX));
	return 0;
}

#define BALLOON_STATS_MIN_AGE_MS 2000

/* QEMU's "actual": the RAM the balloon leaves the guest. */
static uint64_t balloon_actual(struct machine *m, const struct virtio_balloon_info *info)
{
	uint64_t held = (uint64_t)info->actual_pages << VIRTIO_BALLOON_PFN_SHIFT;
	return held < m->mem.ram_size ? m->mem.ram_size - held : 0;
}

static int ctl_balloon_query(void *opaque, struct vmctl_balloon *out)
{
	struct machine *m = opaque;
	struct virtio_balloon_info info;

	if (!m->vballoon)
		return -ENODEV;
	virtio_balloon_get_info(m->vballoon, &info);
	out->actual = balloon_actual(m, &info);
	memcpy(out->stats, info.stats, sizeof(out->stats));
	out->stats_valid = info.stats_valid;
	/* Without a polling interval, whoever asks refreshes the figures for
	 * the next query (at most every 2 s): the driver answers within
	 * milliseconds, and a query must not wait for the guest. */
	if (!m->cfg.balloon_stats_interval && monotonic_ms() >= m->balloon_stats_due &&
	    virtio_balloon_request_stats(m->vballoon))
		m->balloon_stats_due = monotonic_ms() + BALLOON_STATS_MIN_AGE_MS;
	return 0;
}

/* At most one BALLOON_CHANGE a second, as QEMU: a driver moves 'actual'
 * in steps of 256 pages, hundreds of times per inflation. The last value
 * always follows, from a host-clock timer at balloon_event_due. */
#define BALLOON_EVENT_GAP_MS 1000

void balloon_event(void *opaque)
{
	struct machine *m = opaque;
	struct virtio_balloon_info info;
	char data[64];

	if (!m->vballoon || !atomic_load(&m->balloon_changed))
		return;
	uint64_t now = monotonic_ms();
	if (now < m->balloon_event_due) {
		event_timer_arm(m->balloon_event_timer, (int64_t)m->balloon_event_due * 1000000, 0);
		return;
	}
	atomic_store(&m->balloon_changed, false);
	m->balloon_event_due = now + BALLOON_EVENT_GAP_MS;
	virtio_balloon_get_info(m->vballoon, &info);
	snprintf(data, sizeof(data), "{\"actual\": %llu}",
		 (unsigned long long)balloon_actual(m, &info));
	control_event(m->control, "BALLOON_CHANGE", data);
}

/* guest-stats-polling-interval: a periodic timer on the virtual clock (a
 * paused guest cannot answer). */
static void balloon_stats_tick(void *opaque)
{
	struct machine *m = opaque;
	virtio_balloon_request_stats(m->vballoon);
}

void start_balloon_timers(struct machine *m)
{
	if (!m->vballoon)
		return;
	m->balloon_event_timer = event_timer_new(m->loop, EVENT_CLOCK_HOST, balloon_event, m);
	if (!m->cfg.balloon_stats_interval)
		return;
	int64_t period = (int64_t)m->cfg.balloon_stats_interval * 1000000000LL;
	m->balloon_stats_timer = event_timer_new(m->loop, EVENT_CLOCK_VIRTUAL,
						 balloon_stats_tick, m);
	event_timer_arm(m->balloon_stats_timer, event_clock_ns(m->loop, EVENT_CLOCK_VIRTUAL),
			period); /* the first request at once, as before */
}

/* QMP's x-dirty-log and x-query-dirty-pages (test hooks): dirty logging of
 * one of the board's memory regions (memmap.h lists their names). */
static int ctl_dirty_log(void *opaque, const char *name, bool on)
{
	struct machine *m = opaque;
	struct mem_region *r = memmap_find_region(&m->memmap, name);

	return r ? mem_region_set_log_dirty(r, on) : -ENOENT;
}

static int64_t ctl_dirty_pages(void *opaque, const char *name, uint64_t *gpas, size_t max)
{
	struct machine *m = opaque;
	struct mem_region *r = memmap_find_region(&m->memmap, name);
	int64_t n = 0;

	if (!r)
		return -ENOENT;
	uint64_t pages = mem_region_pages(r);
	uint64_t *bits = calloc((pages + 63) / 64, sizeof(uint64_t));
	if (!bits)
		return -ENOMEM;
	int err = mem_region_get_dirty(r, bits, pages);
	for (uint64_t p = 0; !err && p < pages; p++) {
		if (!(bits[p / 64] >> (p % 64) & 1))
			continue;
		if ((size_t)n < max)
			gpas[n] = r->gpa + (p << MEM_PAGE_SHIFT);
		n++;
	}
	free(bits);
	return err ? err : n;
}

/* ---- the watchdog action (src/core/watchdog.c) -------------------------------- */

static void watchdog_reset(void *opaque)
{
	machine_request(opaque, MACHINE_REQ_RESET, 0); /* QEMU's "guest-reset" */
}

/* QEMU's poweroff action exits at once, with status 0 and no SHUTDOWN
 * event: an exit request from the guest's side does the same, in order. */
static void watchdog_poweroff(void *opaque)
{
	machine_request(opaque, MACHINE_REQ_EXIT, 0);
}

/* The expiry runs on the main thread (the event loop), which may hold the
 * vCPUs: the same NMI as QMP's inject-nmi. */
static void watchdog_nmi(void *opaque)
{
	if (ctl_inject_nmi(opaque) < 0)
		report("watchdog: could not inject an NMI");
}

static void watchdog_event(void *opaque, const char *name, const char *data)
{
	struct machine *m = opaque;
	control_event(m->control, name, data);
}

void init_watchdog(struct machine *m)
{
	m->watchdog = (struct watchdog_host){
		.reset = watchdog_reset, .powerdown = ctl_powerdown, .poweroff = watchdog_poweroff,
		.pause = ctl_stop, .inject_nmi = watchdog_nmi, .event = watchdog_event,
		.opaque = m,
	};
	watchdog_set_action(&m->watchdog, (enum watchdog_action)m->cfg.watchdog_action);
}

static void ctl_watchdog_set_action(void *opaque, int action)
{
	struct machine *m = opaque;
	watchdog_set_action(&m->watchdog, (enum watchdog_action)action);
}

/* QMP's x-state-roundtrip (a test hook): the machine's saved state,
 * loaded straight back; guest RAM is untouched, so the guest runs on. */
static int64_t ctl_state_roundtrip(void *opaque, char *err, size_t errlen)
{
	struct machine *m = opaque;
	struct ss_writer w;
	struct ss_reader r;
	int64_t ret = -1;

	ss_writer_init(&w);
	if (machine_save_state(m, &w, err, errlen) == 0) {
		if (ss_reader_open(&r, w.buf, w.len) < 0)
			set_err(err, errlen, "%s", r.err);
		else if (machine_load_state(m, &r, err, errlen) == 0)
			ret = (int64_t)w.len;
		ss_reader_close(&r);
	}
	ss_writer_free(&w);
	return ret;
}

static int ctl_screendump(void *opaque, const char *path, int format, char *err,
			  size_t errlen)
{
	struct display_surface *s = display_console(0);

	(void)opaque;
	if (!s)
		return -ENODEV;
	return display_screendump(s, path, format ? DISPLAY_FORMAT_PNG : DISPLAY_FORMAT_PPM, err,
				  errlen) < 0 ? -EIO : 0;
}

/* ---- set_link and info network ----------------------------------------------- */

static bool is_nic(const struct dev_instance *d)
{
	return d->state && d->cls->ops.set_link && d->cls->ops.link_up;
}

/* A NIC's name: its id=, else QEMU's MODEL.N (N counts the NICs of that
 * model before it, as info network prints them). */
static void nic_name(const struct machine *m, const struct dev_instance *d, char *out,
		     size_t len)
{
	unsigned same = 0;

	if (d->id) {
		snprintf(out, len, "%s", d->id);
		return;
	}
	for (const struct dev_instance *i = m->cfg.devs; i < d; i++)
		same += is_nic(i) && i->cls == d->cls;
	snprintf(out, len, "%s.%u", d->cls->name, same);
}

/* QEMU's set_link takes a NIC's name or its backend's; vmm's NICs each
 * own one backend, so either names the same cable. */
static bool nic_named(const struct machine *m, const struct dev_instance *d, const char *name)
{
	const char *netdev = dev_get_str(d, "netdev");
	char own[160];

	nic_name(m, d, own, sizeof(own));
	return !strcmp(own, name) || (netdev && !strcmp(netdev, name));
}

static int ctl_set_link(void *opaque, const char *name, bool up)
{
	struct machine *m = opaque;
	int found = -ENODEV;

	for (unsigned i = 0; i < m->cfg.ndevs; i++) {
		struct dev_instance *d = &m->cfg.devs[i];
		if (is_nic(d) && nic_named(m, d, name)) {
			d->cls->ops.set_link(d, up);
			found = 0;
		}
	}
	return found;
}

static unsigned ctl_nics(void *opaque, struct vmctl_nic *out, unsigned max)
{
	struct machine *m = opaque;
	unsigned n = 0;

	for (unsigned i = 0; i < m->cfg.ndevs && n < max; i++) {
		struct dev_instance *d = &m->cfg.devs[i];
		if (!is_nic(d))
			continue;
		out[n] = (struct vmctl_nic){ .id = d->id, .model = d->cls->name,
					     .netdev = dev_get_str(d, "netdev"),
					     .link_up = d->cls->ops.link_up(d) };
		dev_nic_mac(&m->board, d, out[n].mac);
		n++;
	}
	return n;
}

static const char *ctl_run_state(void *opaque)
{
	struct machine *m = opaque;
	return m->run_state;
}

const struct vmctl_ops machine_vmctl_ops = {
	.running = ctl_running,
	.stop = ctl_stop,
	.cont = ctl_cont,
	.reset = ctl_reset,
	.powerdown = ctl_powerdown,
	.quit = ctl_quit,
	.cpus = ctl_cpus,
	.name = ctl_name,
	.balloon_set = ctl_balloon_set,
	.balloon_query = ctl_balloon_query,
	.dirty_log = ctl_dirty_log,
	.dirty_pages = ctl_dirty_pages,
	.state_roundtrip = ctl_state_roundtrip,
	.watchdog_set_action = ctl_watchdog_set_action,
	.screendump = ctl_screendump,
	.set_link = ctl_set_link,
	.nics = ctl_nics,
	.run_state = ctl_run_state,
	.migrate = machine_migrate,
	.migrate_incoming = machine_migrate_incoming,
	.query_migrate = machine_query_migrate,
	.migrate_set_capability = machine_migrate_set_capability,
	.migrate_set_parameter = machine_migrate_set_parameter,
	.migrate_cancel = machine_migrate_cancel,
	.snapshot = machine_snapshot,
	.snapshot_info = machine_snapshot_info,
	.job_start = machine_job_start,
	.jobs = machine_jobs,
	.job_dismiss = machine_job_dismiss,
	.gdbserver = machine_gdbserver,
	.exits = ctl_exits,
	.uuid = ctl_uuid,
	.inject_nmi = ctl_inject_nmi,
	.ram_size = ctl_ram_size,
	.memdevs = ctl_memdevs,
	.blocks = machine_blocks,
	.block_tray = machine_block_tray,
	.block_change_medium = machine_block_change_medium,
	.read_memory = machine_read_memory,
	.cpu_registers = machine_cpu_registers,
	.cpu_register = machine_cpu_register,
	.pci_devices = machine_pci_devices,
	.chardevs = machine_chardevs,
	.mtree = machine_mtree,
	.qtree = machine_qtree,
	.device_types = machine_device_types,
	.device_props = machine_device_props,
};
