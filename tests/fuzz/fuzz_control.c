// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for what a control-socket client sends: the JSON parser
 * (src/control/json.c), a QMP session (src/control/qmp.c) and a human-monitor session
 * (src/control/monitor.c), against a fake machine. The first input byte picks the
 * mode and how the rest is cut into reads (a client's bytes arrive in
 * arbitrary pieces); the rest is the client's byte stream:
 *
 *   mode 0  json_parse() of the whole input, and if it parses, a
 *           serialize / parse / serialize round trip that must agree
 *   mode 1  a QMP session (greeting, qmp_capabilities in the input or not),
 *           with an event injected between pieces now and then
 *   mode 2  a monitor session; with bit 0x40 of the first byte, as the
 *           multiplexer of -nographic gives it: each read through the
 *           Ctrl-A key filter (include/mux_keys.h), Ctrl-A c toggling
 *           whether the monitor or the console gets what is left
 *
 * Every answer the QMP session writes must itself be one line of valid
 * JSON: a session that answers garbage to garbage is a bug too. Sessions
 * bound their buffers (QMP_MAX_MESSAGE, MONITOR_MAX_LINE, JSON_MAX_DEPTH);
 * libFuzzer's -rss_limit_mb and leak checks hold them to it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "monitor.h"
#include "mux_keys.h"
#include "qmp.h"
#include "vmctl.h"
#include "watchdog.h"

struct fake_vm {
	bool running;
	bool balloon;
	uint64_t balloon_target;
	size_t output;     /* bytes the session wrote */
	struct strbuf line; /* QMP: the answer being collected */
	bool check_json;
};

static bool f_running(void *o) { return ((struct fake_vm *)o)->running; }
static void f_stop(void *o) { ((struct fake_vm *)o)->running = false; }
static int f_cont(void *o, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	((struct fake_vm *)o)->running = true;
	return 0;
}
static void f_nop(void *o) { }
static const char *f_name(void *o) { return "fuzz\"guest\\"; }

static unsigned f_cpus(void *o, struct vmctl_cpu *out, unsigned max)
{
	for (unsigned i = 0; i < 3 && i < max; i++)
		out[i] = (struct vmctl_cpu){ i, 100 + (pid_t)i };
	return 3;
}

static int f_balloon_set(void *o, uint64_t bytes)
{
	struct fake_vm *f = o;
	if (!f->balloon)
		return -19; /* -ENODEV */
	f->balloon_target = bytes;
	return 0;
}

static int f_balloon_query(void *o, struct vmctl_balloon *out)
{
	struct fake_vm *f = o;
	if (!f->balloon)
		return -19;
	memset(out, 0, sizeof(*out));
	out->actual = f->balloon_target;
	out->stats_valid = 0x5;
	out->stats[0] = UINT64_MAX;
	return 0;
}

/* Dirty logging on a region called "ram" whose pages are all dirty. */
static int f_dirty_log(void *o, const char *region, bool on)
{
	return strcmp(region, "ram") ? -2 /* -ENOENT */ : 0;
}

static int64_t f_dirty_pages(void *o, const char *region, uint64_t *gpas, size_t max)
{
	if (strcmp(region, "ram"))
		return -2;
	for (size_t i = 0; i < max; i++)
		gpas[i] = i << 12;
	return 1 << 20;
}

static void f_watchdog_set_action(void *o, int action)
{
	if (action < 0 || action >= WATCHDOG_ACTION_COUNT)
		abort(); /* the command must only pass actions it parsed */
}

/* One NIC without an id (info network names it e1000.0), on netdev n0. */
static bool link_up = true;
static int f_set_link(void *o, const char *name, bool up)
{
	if (strcmp(name, "e1000.0") && strcmp(name, "n0"))
		return -ENODEV;
	link_up = up;
	return 0;
}

static unsigned f_nics(void *o, struct vmctl_nic *out, unsigned max)
{
	if (!max)
		return 0;
	out[0] = (struct vmctl_nic){ .model = "e1000", .netdev = "n0", .link_up = link_up };
	return 1;
}

/* A CD drive "ide1-cd0" whose tray and disc follow the commands, and a
 * 4 KiB guest at 0 that x/xp read (the command must pass lengths it
 * checked: anything past it aborts). */
static bool tray_open, cd_in = true, cd_locked;
static uint8_t guest_ram[4096];

static unsigned f_blocks(void *o, struct vmctl_block *out, unsigned max)
{
	if (!max)
		return 0;
	out[0] = (struct vmctl_block){ .device = "ide1-cd0", .qdev = "cd", .removable = true,
				       .locked = cd_locked, .tray_open = tray_open, .inserted = cd_in,
				       .file = "a.iso", .format = "raw", .ro = true,
				       .stats = { .idle_time_ns = -1 } };
	return 1;
}

static int f_block_tray(void *o, const char *device, const char *id, enum vmctl_tray_op op,
			bool force, char *err, size_t errlen)
{
	if (!device == !id || strcmp(device ? device : id, device ? "ide1-cd0" : "cd")) {
		snprintf(err, errlen, "Device not found");
		return -ENODEV;
	}
	if (op == VMCTL_TRAY_CLOSE) {
		tray_open = false;
		return 0;
	}
	if (op != VMCTL_MEDIUM_REMOVE && !tray_open) {
		if (cd_locked && !force) {
			snprintf(err, errlen, "locked");
			return -1;
		}
		tray_open = true;
		cd_locked = false;
	}
	if (op != VMCTL_TRAY_OPEN)
		cd_in = false;
	return 0;
}

static int f_change_medium(void *o, const char *device, const char *id, const char *file,
			   const char *format, const char *ro, bool force, char *err, size_t errlen)
{
	int r = f_block_tray(o, device, id, VMCTL_EJECT, force, err, errlen);
	if (r)
		return r;
	cd_in = true;
	tray_open = false;
	cd_locked = strlen(file) & 1;
	return 0;
}

static int f_read_memory(void *o, int cpu, uint64_t addr, void *buf, size_t len)
{
	if (len > 64 * 1024)
		abort(); /* x/xp bound what they read */
	if (addr >= sizeof(guest_ram) || len > sizeof(guest_ram) - addr)
		return -EFAULT;
	memcpy(buf, guest_ram + addr, len);
	return 0;
}

static int f_cpu_registers(void *o, unsigned cpu, vmctl_print_fn *print, void *ctx)
{
	print(ctx, "EAX=00000000\n");
	return 0;
}

static int f_cpu_register(void *o, unsigned cpu, const char *name, uint64_t *val)
{
	*val = strlen(name);
	return name[0] == 'e' || name[0] == 'r' || !strcmp(name, "pc") ? 0 : -ENOENT;
}

static unsigned f_pci_devices(void *o, struct vmctl_pci *out, unsigned max)
{
	if (!max)
		return 0;
	out[0] = (struct vmctl_pci){ .slot = 1, .function = 1, .vendor = 0x8086,
				     .device = 0x7010, .class_code = 0x0101, .qdev_id = "",
				     .nbars = 1, .bars = { { .bar = 4, .io = true,
							     .address = UINT64_MAX, .size = 16 } } };
	return 1;
}

static unsigned f_chardevs(void *o, struct vmctl_chardev *out, unsigned max)
{
	if (!max)
		return 0;
	out[0] = (struct vmctl_chardev){ .label = "serial0", .filename = "stdio" };
	return 1;
}

static void f_mtree(void *o, vmctl_print_fn *print, void *ctx)
{
	print(ctx, "address-space: memory\n");
}

static void f_qtree(void *o, vmctl_print_fn *print, void *ctx)
{
	print(ctx, "bus: main-system-bus\n  type System\n");
}

/* a parent cycle too: qom-list-types' "implements" walk must end */
static unsigned f_device_types(void *o, struct vmctl_type *out, unsigned max)
{
	static const struct vmctl_type t[] = {
		{ "device", NULL, true }, { "pci-device", "device", true },
		{ "e1000", "pci-device", false }, { "a", "b", true }, { "b", "a", false },
	};
	unsigned n = 0;
	for (; n < max && n < sizeof(t) / sizeof(t[0]); n++)
		out[n] = t[n];
	return n;
}

static int f_device_props(void *o, const char *name, struct vmctl_prop *out, unsigned max)
{
	if (strcmp(name, "e1000"))
		return name[0] == 'd' ? -EINVAL : -ENOENT;
	if (max < 2)
		return 0;
	out[0] = (struct vmctl_prop){ .name = "mac", .type = "str" };
	out[1] = (struct vmctl_prop){ .name = "romfile", .type = "str",
				      .def_kind = VMCTL_VALUE_STR, .def_str = "efi-e1000.rom" };
	return 2;
}

static const struct vmctl_ops fake_ops = {
	.dirty_log = f_dirty_log, .dirty_pages = f_dirty_pages,
	.running = f_running, .stop = f_stop, .cont = f_cont, .reset = f_nop,
	.powerdown = f_nop, .quit = f_nop, .cpus = f_cpus, .name = f_name,
	.balloon_set = f_balloon_set, .balloon_query = f_balloon_query,
	.watchdog_set_action = f_watchdog_set_action,
	.set_link = f_set_link, .nics = f_nics,
	.blocks = f_blocks, .block_tray = f_block_tray, .block_change_medium = f_change_medium,
	.read_memory = f_read_memory, .cpu_registers = f_cpu_registers,
	.cpu_register = f_cpu_register, .pci_devices = f_pci_devices, .chardevs = f_chardevs,
	.mtree = f_mtree, .qtree = f_qtree,
	.device_types = f_device_types, .device_props = f_device_props,
};

/* A QMP answer or event must be valid JSON, one per line. */
static void check_line(const char *p, size_t len)
{
	char err[128];
	struct json *j = json_parse(p, len, err, sizeof(err));
	if (!j) {
		fprintf(stderr, "QMP wrote invalid JSON (%s): %.*s\n", err, (int)len, p);
		abort();
	}
	json_free(j);
}

static void sink(void *opaque, const char *data, size_t len)
{
	struct fake_vm *f = opaque;
	f->output += len;
	if (!f->check_json)
		return;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			size_t n = f->line.len;
			if (n && f->line.data[n - 1] == '\r')
				n--;
			check_line(f->line.data ? f->line.data : "", n);
			f->line.len = 0;
		} else {
			strbuf_append(&f->line, &data[i], 1);
		}
	}
}

static void fuzz_json(const uint8_t *data, size_t size)
{
	char err[128];
	struct json *j = json_parse((const char *)data, size, err, sizeof(err));
	if (!j)
		return;
	struct strbuf a = { 0 }, b = { 0 };
	json_serialize(j, &a);
	struct json *k = json_parse(a.data, a.len, err, sizeof(err));
	if (!k) {
		fprintf(stderr, "serialized JSON does not parse again (%s): %.*s\n", err, (int)a.len,
			a.data);
		abort();
	}
	json_serialize(k, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len)) {
		fprintf(stderr, "JSON round trip differs:\n%.*s\n%.*s\n", (int)a.len, a.data,
			(int)b.len, b.data);
		abort();
	}
	struct json *c = json_clone(k);
	json_free(c);
	json_free(k);
	json_free(j);
	strbuf_free(&a);
	strbuf_free(&b);
}

/* One read on a multiplexed stdin: filtered, action by action, as the
 * chardev's pump does; the console's share is dropped. */
static void mux_input(struct mux_keys *k, bool *mon_focus, struct monitor_session *mon,
		      const uint8_t *buf, size_t n)
{
	uint8_t out[4096];

	while (n) {
		size_t used, len = n < sizeof(out) ? n : sizeof(out);
		enum mux_action act;
		size_t kept = mux_keys_filter(k, buf, len, out, &used, &act);
		if (used == 0 || used > len || kept > used)
			abort();
		if (*mon_focus)
			monitor_session_input(mon, (const char *)out, kept);
		if (act == MUX_SWITCH && (*mon_focus = !*mon_focus))
			monitor_session_prompt(mon);
		buf += used;
		n -= used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	unsigned mode = ctl % 3;
	/* Pieces of 1, 7, 64, 4096 bytes or everything at once. */
	static const size_t pieces[] = { 1, 7, 64, 4096, SIZE_MAX };
	size_t piece = pieces[(ctl >> 2) % 5];
	data++;
	size--;

	if (mode == 0) {
		fuzz_json(data, size);
		return 0;
	}
	struct fake_vm f = { .running = true, .balloon = ctl & 0x80, .check_json = mode == 1 };
	struct vmctl ctl_ops = { &fake_ops, &f };
	struct qmp_session *q = NULL;
	struct monitor_session *mon = NULL;
	struct mux_keys keys = { .mux = true };
	bool mon_focus = false;

	if (mode == 1)
		q = qmp_session_new(&ctl_ops, sink, &f);
	else
		mon = monitor_session_new(&ctl_ops, sink, &f);
	for (size_t off = 0, n = 0; off < size; off += n, piece = piece == 1 ? 3 : piece) {
		n = size - off < piece ? size - off : piece;
		if (q) {
			qmp_session_input(q, (const char *)data + off, n);
			if ((off & 0xFFF) == 0 && (ctl & 0x40))
				qmp_session_event(q, "STOP", NULL);
		} else if (ctl & 0x40) {
			mux_input(&keys, &mon_focus, mon, data + off, n);
		} else {
			monitor_session_input(mon, (const char *)data + off, n);
		}
	}
	if (q)
		qmp_session_free(q);
	if (mon)
		monitor_session_free(mon);
	strbuf_free(&f.line);
	return 0;
}
