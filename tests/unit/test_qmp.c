// SPDX-License-Identifier: GPL-2.0-or-later
/* QMP and the human monitor driven without KVM: sessions fed bytes against
 * a fake machine, their output captured; and the socket channel layer
 * (struct control over a real unix socket) with several clients in turn and
 * a client that never reads. */
#include "unit.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "chan.h"
#include "control.h"
#include "qmp_lacking.h"
#include "json.h"
#include "monitor.h"
#include "qmp.h"
#include "util.h"
#include "watchdog.h"

/* ---- a fake machine ---------------------------------------------------- */

struct fake {
	bool running;
	int stops, conts, resets, powerdowns, quits;
	const char *name;
	bool uuid_set;
	struct strbuf out;
	bool balloon;             /* a balloon device exists */
	uint64_t balloon_target;  /* last balloon_set */
	struct vmctl_balloon balloon_state;
	bool dirty_on;            /* x-dirty-log on region "ram" */
	int64_t dirty_count;      /* pages x-query-dirty-pages reports */
	int64_t state_bytes;      /* x-state-roundtrip's answer; -1: it fails */
	int roundtrips;
	int watchdog_action;      /* last watchdog-set-action, -1: none */
	bool link_up;             /* the one NIC "nic0" on netdev "net0" */
	int set_links;
	char migrate_uri[64];     /* the last migrate's */
	struct vmctl_migration mig; /* what query-migrate shows */
	const char *run_state;
	/* the last snapshot job started */
	char job_id[64], job_tag[64], job_vmstate[64], job_dev0[64];
	int job_op, job_ndev, jobs_started;
	/* ide1-cd0: its tray, the guest's lock and the disc ("" = none) */
	bool tray_open, cd_locked;
	char cd_file[64];
	int eject_requests;
	char last_format[16], last_ro_mode[16];
	int last_mem_cpu;         /* read_memory's cpu argument, last call */
	const char *cont_error;   /* cont fails with this (a source whose images are held) */
};

static bool f_running(void *o) { return ((struct fake *)o)->running; }
static void f_stop(void *o) { ((struct fake *)o)->running = false; ((struct fake *)o)->stops++; }
static int f_cont(void *o, char *err, size_t errlen)
{
	if (((struct fake *)o)->cont_error) {
		snprintf(err, errlen, "%s", ((struct fake *)o)->cont_error);
		return -1;
	}
	((struct fake *)o)->running = true;
	((struct fake *)o)->conts++;
	return 0;
}
static void f_reset(void *o) { ((struct fake *)o)->resets++; }
static void f_powerdown(void *o) { ((struct fake *)o)->powerdowns++; }
static void f_quit(void *o) { ((struct fake *)o)->quits++; }
static const char *f_name(void *o) { return ((struct fake *)o)->name; }
static unsigned f_cpus(void *o, struct vmctl_cpu *out, unsigned max)
{
	for (unsigned i = 0; i < 2 && i < max; i++)
		out[i] = (struct vmctl_cpu){ i, 1000 + (pid_t)i };
	return 2;
}

static int f_balloon_set(void *o, uint64_t bytes)
{
	struct fake *f = o;
	if (!f->balloon)
		return -ENODEV;
	f->balloon_target = bytes;
	return 0;
}

static int f_balloon_query(void *o, struct vmctl_balloon *out)
{
	struct fake *f = o;
	if (!f->balloon)
		return -ENODEV;
	*out = f->balloon_state;
	return 0;
}

static int f_dirty_log(void *o, const char *region, bool on)
{
	if (strcmp(region, "ram"))
		return -ENOENT;
	((struct fake *)o)->dirty_on = on;
	return 0;
}

static int64_t f_dirty_pages(void *o, const char *region, uint64_t *gpas, size_t max)
{
	struct fake *f = o;
	if (strcmp(region, "ram"))
		return -ENOENT;
	if (!f->dirty_on)
		return -EINVAL;
	for (int64_t i = 0; i < f->dirty_count && (size_t)i < max; i++)
		gpas[i] = 0x100000 + (uint64_t)i * 4096;
	return f->dirty_count;
}

static int64_t f_state_roundtrip(void *o, char *err, size_t errlen)
{
	struct fake *f = o;
	f->roundtrips++;
	if (f->state_bytes < 0)
		snprintf(err, errlen, "saved state: section serial instance 0: missing field dll");
	return f->state_bytes;
}

static void f_watchdog_set_action(void *o, int action)
{
	((struct fake *)o)->watchdog_action = action;
}

static int f_set_link(void *o, const char *name, bool up)
{
	struct fake *f = o;
	if (strcmp(name, "nic0") && strcmp(name, "net0"))
		return -ENODEV;
	f->link_up = up;
	f->set_links++;
	return 0;
}

static unsigned f_nics(void *o, struct vmctl_nic *out, unsigned max)
{
	struct fake *f = o;
	if (!max)
		return 0;
	out[0] = (struct vmctl_nic){ .id = "nic0", .model = "e1000", .netdev = "net0",
				     .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
				     .link_up = f->link_up };
	return 1;
}

static const char *f_run_state(void *o) { return ((struct fake *)o)->run_state; }

/* migrate: tcp: fails as a refused connection would. */
static int f_migrate(void *o, const char *uri, char *err, size_t errlen)
{
	struct fake *f = o;
	if (!strncmp(uri, "tcp:", 4)) {
		snprintf(err, errlen, "migration: cannot connect to %s: Connection refused", uri);
		return -1;
	}
	snprintf(f->migrate_uri, sizeof(f->migrate_uri), "%s", uri);
	f->mig.status = "active";
	return 0;
}

static void f_query_migrate(void *o, struct vmctl_migration *out)
{
	*out = ((struct fake *)o)->mig;
}

static int f_migrate_set_capability(void *o, const char *name, bool on)
{
	struct fake *f = o;
	if (strcmp(name, "events"))
		return -ENOENT;
	f->mig.events = on;
	return 0;
}

static int f_migrate_set_parameter(void *o, const char *name, uint64_t value)
{
	struct fake *f = o;
	if (!strcmp(name, "downtime-limit"))
		f->mig.downtime_limit_ms = value;
	else if (!strcmp(name, "max-bandwidth"))
		f->mig.max_bandwidth = value;
	else
		return -ENOENT;
	return 0;
}

static void f_migrate_cancel(void *o)
{
	((struct fake *)o)->mig.status = "cancelling";
}

static int f_job_start(void *o, const char *id, enum vmctl_snapshot_op op,
		       const struct vmctl_snapshot_req *req, char *err, size_t errlen)
{
	struct fake *f = o;
	if (!strcmp(id, "taken")) {
		snprintf(err, errlen, "Job ID '%s' already in use", id);
		return -1;
	}
	snprintf(f->job_id, sizeof(f->job_id), "%s", id);
	snprintf(f->job_tag, sizeof(f->job_tag), "%s", req->tag);
	snprintf(f->job_vmstate, sizeof(f->job_vmstate), "%s", req->vmstate ? req->vmstate : "-");
	snprintf(f->job_dev0, sizeof(f->job_dev0), "%s", req->ndevices ? req->devices[0] : "-");
	f->job_op = op;
	f->job_ndev = (int)req->ndevices;
	f->jobs_started++;
	return 0;
}

static unsigned f_jobs(void *o, struct vmctl_job *out, unsigned max)
{
	if (max < 2)
		return 0;
	out[0] = (struct vmctl_job){ "j1", "snapshot-save", "concluded", 1, 1, NULL };
	out[1] = (struct vmctl_job){ "j2", "snapshot-load", "concluded", 0, 1, "Snapshot 'x' "
				     "does not exist in one or more devices" };
	return 2;
}

static int f_job_dismiss(void *o, const char *id, char *err, size_t errlen)
{
	if (strcmp(id, "j1")) {
		snprintf(err, errlen, "Job not found");
		return -1;
	}
	return 0;
}

/* gdbserver: remembers the device; "tcp::1" fails as a taken port would. */
static int f_gdbserver(void *o, const char *dev, char *err, size_t errlen)
{
	struct fake *f = o;
	if (!strcmp(dev, "tcp::1")) {
		snprintf(err, errlen, "cannot listen on :1: Permission denied");
		return -1;
	}
	snprintf(f->migrate_uri, sizeof(f->migrate_uri), "%s", dev);
	return 0;
}

static void f_exits(void *o, struct vmctl_exits *out)
{
	(void)o;
	*out = (struct vmctl_exits){ .io = 7, .mmio = 10000, .hlt = 3, .intr = 1, .coalesced = 42 };
}

/* -uuid: set once the test says so (fake.uuid_set). */
static bool f_uuid(void *o, uint8_t out[16])
{
	struct fake *f = o;
	static const uint8_t u[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
				       0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	memcpy(out, u, 16);
	return f->uuid_set;
}

/* Two drives: ide0-hd0 (a disk with some I/O done) and ide1-cd0. */
static unsigned f_blocks(void *o, struct vmctl_block *out, unsigned max)
{
	struct fake *f = o;

	if (max < 2)
		return 0;
	out[0] = (struct vmctl_block){ .device = "ide0-hd0", .qdev = "/machine/unattached/device[5]",
				       .node = 1, .inserted = true, .file = "hd.img",
				       .format = "qcow2", .virtual_size = 1 << 20, .actual_size = 4096,
				       .backing_depth = 1, .backing_file = "base.img",
				       .cache_writeback = true,
				       .stats = { .rd_bytes = 1024, .rd_operations = 2,
						  .wr_bytes = 512, .wr_operations = 1,
						  .flush_operations = 3, .wr_highest_offset = 4096,
						  .idle_time_ns = 77 } };
	out[1] = (struct vmctl_block){ .device = "ide1-cd0", .qdev = "cd", .node = 2,
				       .removable = true, .locked = f->cd_locked,
				       .tray_open = f->tray_open, .stats = { .idle_time_ns = -1 } };
	if (f->cd_file[0]) {
		out[1].inserted = true;
		out[1].file = f->cd_file;
		out[1].format = "raw";
		out[1].ro = true;
		out[1].cache_writeback = true;
	}
	return 2;
}

static int f_find(const char *device, const char *id, char *err, size_t errlen)
{
	if (!device == !id) {
		snprintf(err, errlen, "Need exactly one of 'device' and 'id'");
		return -1;
	}
	if (device ? !strcmp(device, "ide1-cd0") : !strcmp(id, "cd"))
		return 1;
	if (device && !strcmp(device, "ide0-hd0")) {
		snprintf(err, errlen, "Device '%s' is not removable", device);
		return -1;
	}
	snprintf(err, errlen, "Device '%s' not found", device ? device : id);
	return -ENODEV;
}

static int f_open_tray(struct fake *f, bool force, char *err, size_t errlen)
{
	if (f->tray_open)
		return 0;
	if (f->cd_locked) {
		f->eject_requests++;
		if (!force) {
			snprintf(err, errlen, "Device 'ide1-cd0' is locked and force was not "
				 "specified, wait for tray to open and try again");
			return -1;
		}
		f->cd_locked = false;
	}
	f->tray_open = true;
	return 0;
}

static int f_block_tray(void *o, const char *device, const char *id, enum vmctl_tray_op op,
			bool force, char *err, size_t errlen)
{
	struct fake *f = o;
	int r = f_find(device, id, err, errlen);

	if (r <= 0)
		return r;
	if (op == VMCTL_TRAY_CLOSE) {
		f->tray_open = false;
		return 0;
	}
	if (op != VMCTL_MEDIUM_REMOVE && f_open_tray(f, force, err, errlen) < 0)
		return -1;
	if (op == VMCTL_TRAY_OPEN)
		return 0;
	if (!f->tray_open) {
		snprintf(err, errlen, "Tray of device 'ide1-cd0' is not open");
		return -1;
	}
	f->cd_file[0] = 0;
	return 0;
}

static int f_change_medium(void *o, const char *device, const char *id, const char *file,
			   const char *format, const char *ro_mode, bool force, char *err,
			   size_t errlen)
{
	struct fake *f = o;
	int r = f_find(device, id, err, errlen);

	if (r <= 0)
		return r;
	if (strstr(file, "missing")) {
		snprintf(err, errlen, "Could not open '%s': No such file or directory", file);
		return -1;
	}
	if (f_open_tray(f, force, err, errlen) < 0)
		return -1;
	snprintf(f->cd_file, sizeof(f->cd_file), "%s", file);
	snprintf(f->last_format, sizeof(f->last_format), "%s", format ? format : "-");
	snprintf(f->last_ro_mode, sizeof(f->last_ro_mode), "%s", ro_mode ? ro_mode : "-");
	f->tray_open = false;
	return 0;
}

/* Guest memory: 64 bytes at 0x1000 hold 0x00, 0x01, ... 0x3f (physical);
 * a vCPU sees them at 0x1000 too; nothing else is RAM. */
static int f_read_memory(void *o, int cpu, uint64_t addr, void *buf, size_t len)
{
	struct fake *f = o;

	f->last_mem_cpu = cpu;
	if (cpu > 1)
		return -EINVAL;
	if (addr < 0x1000 || addr + len > 0x1040 || addr + len < addr)
		return -EFAULT;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(addr - 0x1000 + i);
	return 0;
}

static int f_cpu_registers(void *o, unsigned cpu, vmctl_print_fn *print, void *ctx)
{
	char line[64];
	snprintf(line, sizeof(line), "EAX=%08x\n", 0x100 + cpu);
	print(ctx, line);
	return 0;
}

static int f_cpu_register(void *o, unsigned cpu, const char *name, uint64_t *val)
{
	if (!strcmp(name, "pc"))
		*val = 0xfff0 + cpu;
	else if (!strcmp(name, "eax"))
		*val = 5;
	else
		return -ENOENT;
	return 0;
}

static unsigned f_pci_devices(void *o, struct vmctl_pci *out, unsigned max)
{
	if (max < 2)
		return 0;
	out[0] = (struct vmctl_pci){ .slot = 1, .function = 1, .vendor = 0x8086, .device = 0x7010,
				     .subsystem_vendor = 0x1af4, .subsystem = 0x1100,
				     .class_code = 0x0101, .prog_if = 0x80, .qdev_id = "",
				     .desc = "IDE controller", .nbars = 1,
				     .bars = { { .bar = 4, .io = true, .address = 0xc000, .size = 16 } } };
	out[1] = (struct vmctl_pci){ .slot = 3, .vendor = 0x8086, .device = 0x100e,
				     .subsystem_vendor = 0x8086, .subsystem = 0x1e,
				     .class_code = 0x0200, .irq_pin = 1, .irq = 11, .qdev_id = "nic",
				     .desc = "Ethernet controller", .nbars = 2,
				     .bars = { { .bar = 0, .address = 0xfeb80000, .size = 0x20000 },
					       { .bar = 1, .io = true, .address = UINT64_MAX,
						 .size = 64 } } };
	return 2;
}

static unsigned f_chardevs(void *o, struct vmctl_chardev *out, unsigned max)
{
	if (!max)
		return 0;
	out[0] = (struct vmctl_chardev){ .label = "serial0", .filename = "stdio",
					 .frontend_open = true };
	return 1;
}

static void f_mtree(void *o, vmctl_print_fn *print, void *ctx)
{
	print(ctx, "address-space: memory\n");
}

static void f_qtree(void *o, vmctl_print_fn *print, void *ctx)
{
	print(ctx, "bus: main-system-bus\n");
}

/* a driver under an intermediate abstract type, one under its bus's kind */
static unsigned f_device_types(void *o, struct vmctl_type *out, unsigned max)
{
	static const struct vmctl_type t[] = {
		{ "device", NULL, true }, { "pci-device", "device", true },
		{ "e1000-base", "pci-device", true }, { "e1000", "e1000-base", false },
		{ "rtl8139", "pci-device", false }, { "isa-device", "device", true },
		{ "sb16", "isa-device", false },
	};
	unsigned n = 0;
	for (; n < max && n < sizeof(t) / sizeof(t[0]); n++)
		out[n] = t[n];
	return n;
}

static int f_device_props(void *o, const char *name, struct vmctl_prop *out, unsigned max)
{
	if (strstr(name, "device"))
		return -EINVAL;
	if (strcmp(name, "sb16"))
		return -ENOENT;
	out[0] = (struct vmctl_prop){ .name = "iobase", .type = "uint32",
				      .def_kind = VMCTL_VALUE_INT, .def_int = 0x220 };
	snprintf(out[0].description, sizeof(out[0].description), "ports");
	out[1] = (struct vmctl_prop){ .name = "audiodev", .type = "str" };
	out[2] = (struct vmctl_prop){ .name = "on", .type = "bool", .def_kind = VMCTL_VALUE_BOOL,
				      .def_bool = true };
	out[3] = (struct vmctl_prop){ .name = "model", .type = "str", .def_kind = VMCTL_VALUE_STR,
				      .def_str = "x" };
	return max >= 4 ? 4 : (int)max;
}

static const struct vmctl_ops fake_ops = {
	.running = f_running,
	.stop = f_stop,
	.cont = f_cont,
	.reset = f_reset,
	.powerdown = f_powerdown,
	.quit = f_quit,
	.cpus = f_cpus,
	.name = f_name,
	.balloon_set = f_balloon_set,
	.balloon_query = f_balloon_query,
	.dirty_log = f_dirty_log,
	.dirty_pages = f_dirty_pages,
	.state_roundtrip = f_state_roundtrip,
	.watchdog_set_action = f_watchdog_set_action,
	.set_link = f_set_link,
	.nics = f_nics,
	.run_state = f_run_state,
	.migrate = f_migrate,
	.query_migrate = f_query_migrate,
	.migrate_set_capability = f_migrate_set_capability,
	.migrate_set_parameter = f_migrate_set_parameter,
	.migrate_cancel = f_migrate_cancel,
	.job_start = f_job_start,
	.jobs = f_jobs,
	.job_dismiss = f_job_dismiss,
	.gdbserver = f_gdbserver,
	.exits = f_exits,
	.uuid = f_uuid,
	.blocks = f_blocks,
	.block_tray = f_block_tray,
	.block_change_medium = f_change_medium,
	.read_memory = f_read_memory,
	.cpu_registers = f_cpu_registers,
	.cpu_register = f_cpu_register,
	.pci_devices = f_pci_devices,
	.chardevs = f_chardevs,
	.mtree = f_mtree,
	.qtree = f_qtree,
	.device_types = f_device_types,
	.device_props = f_device_props,
};

static void sink(void *opaque, const char *data, size_t len)
{
	strbuf_append(&((struct fake *)opaque)->out, data, len);
}

struct qmp_fixture {
	struct fake fake;
	struct vmctl ctl;
	struct qmp_session *s;
	size_t read_off; /* how much of fake.out the test consumed */
};

static int qmp_setup(void **state)
{
	struct qmp_fixture *f = calloc(1, sizeof(*f));
	f->fake.running = true;
	f->ctl = (struct vmctl){ &fake_ops, &f->fake };
	f->s = qmp_session_new(&f->ctl, sink, &f->fake);
	*state = f;
	return 0;
}

static int qmp_teardown(void **state)
{
	struct qmp_fixture *f = *state;
	qmp_session_free(f->s);
	strbuf_free(&f->fake.out);
	free(f);
	return 0;
}

/* The next output line, parsed; fails the test if there is none. */
static struct json *next(struct qmp_fixture *f)
{
	char err[128];
	const char *start = f->fake.out.data + f->read_off;
	const char *nl = f->read_off < f->fake.out.len ? strstr(start, "\r\n") : NULL;

	if (!nl)
		fail_msg("no more output (consumed %zu of %zu bytes)", f->read_off, f->fake.out.len);
	struct json *j = json_parse(start, (size_t)(nl - start), err, sizeof(err));
	if (!j)
		fail_msg("bad output '%.*s': %s", (int)(nl - start), start, err);
	f->read_off = (size_t)(nl + 2 - f->fake.out.data);
	return j;
}

static bool drained(struct qmp_fixture *f)
{
	return f->read_off == f->fake.out.len;
}

static void send_str(struct qmp_fixture *f, const char *s)
{
	qmp_session_input(f->s, s, strlen(s));
}

static struct json *cmd(struct qmp_fixture *f, const char *s)
{
	send_str(f, s);
	return next(f);
}

static void expect_error(struct json *r, const char *class, const char *desc_part)
{
	struct json *e = json_object_get(r, "error");
	assert_non_null(e);
	assert_string_equal(json_object_get(e, "class")->str, class);
	const char *desc = json_object_get(e, "desc")->str;
	if (!strstr(desc, desc_part))
		fail_msg("desc '%s' lacks '%s'", desc, desc_part);
	json_free(r);
}

static struct json *expect_return(struct json *r)
{
	struct json *ret = json_object_get(r, "return");
	if (!ret) {
		struct strbuf b = { 0 };
		json_serialize(r, &b);
		fail_msg("no return in %s", b.data);
	}
	return ret;
}

static void expect_ok(struct json *r)
{
	expect_return(r);
	json_free(r);
}

static void negotiate(struct qmp_fixture *f)
{
	json_free(next(f)); /* greeting */
	struct json *r = cmd(f, "{\"execute\": \"qmp_capabilities\"}");
	assert_int_equal(expect_return(r)->n, 0);
	json_free(r);
}

/* ---- QMP --------------------------------------------------------------- */

static void test_greeting(void **state)
{
	struct qmp_fixture *f = *state;
	struct json *g = next(f);
	struct json *qmp = json_object_get(g, "QMP");
	struct json *ver = json_object_get(json_object_get(qmp, "version"), "qemu");
	int64_t v;

	assert_non_null(ver);
	assert_true(json_get_int(json_object_get(ver, "major"), &v));
	assert_true(json_get_int(json_object_get(ver, "minor"), &v));
	assert_true(json_get_int(json_object_get(ver, "micro"), &v));
	assert_memory_equal(json_object_get(json_object_get(qmp, "version"), "package")->str,
			    "vmm ", 4);
	assert_int_equal(json_object_get(qmp, "capabilities")->type, JSON_ARRAY);
	assert_true(drained(f));
	json_free(g);
}

static void test_negotiation(void **state)
{
	struct qmp_fixture *f = *state;
	json_free(next(f));
	expect_error(cmd(f, "{\"execute\": \"query-status\"}"), "CommandNotFound",
		     "Expecting capabilities negotiation");
	expect_error(cmd(f, "{\"execute\": \"stop\"}"), "CommandNotFound", "Expecting capabilities");
	assert_int_equal(f->fake.stops, 0);
	/* No events before negotiation. */
	qmp_session_event(f->s, "STOP", NULL);
	assert_true(drained(f));
	expect_error(cmd(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"),
		     "GenericError", "Capability 'oob' not available");
	struct json *r = cmd(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}, "
			     "\"id\": 7}");
	expect_return(r);
	assert_string_equal(json_object_get(r, "id")->str, "7");
	json_free(r);
	expect_error(cmd(f, "{\"execute\": \"qmp_capabilities\"}"), "CommandNotFound",
		     "already complete");
}

static void test_status_stop_cont(void **state)
{
	struct qmp_fixture *f = *state;
	negotiate(f);
	struct json *r = cmd(f, "{\"execute\": \"query-status\"}");
	struct json *ret = expect_return(r);
	assert_true(json_object_get(ret, "running")->boolean);
	assert_false(json_object_get(ret, "singlestep")->boolean);
	assert_string_equal(json_object_get(ret, "status")->str, "running");
	json_free(r);

	json_free(cmd(f, "{\"execute\": \"stop\"}"));
	assert_int_equal(f->fake.stops, 1);
	r = cmd(f, "{\"execute\": \"query-status\"}");
	ret = expect_return(r);
	assert_false(json_object_get(ret, "running")->boolean);
	assert_string_equal(json_object_get(ret, "status")->str, "paused");
	json_free(r);
	json_free(cmd(f, "{\"execute\": \"cont\"}"));
	assert_int_equal(f->fake.conts, 1);
	/* a source after its migration whose images the destination holds */
	f->fake.running = false;
	f->fake.cont_error = "Failed to get \"write\" lock Is another process using the image [d]?";
	expect_error(cmd(f, "{\"execute\": \"cont\"}"), "GenericError",
		     "Failed to get \"write\" lock");
	assert_false(f->fake.running);
	f->fake.cont_error = NULL;
	json_free(cmd(f, "{\"execute\": \"system_reset\"}"));
	json_free(cmd(f, "{\"execute\": \"system_powerdown\"}"));
	json_free(cmd(f, "{\"execute\": \"quit\"}"));
	assert_int_equal(f->fake.resets, 1);
	assert_int_equal(f->fake.powerdowns, 1);
	assert_int_equal(f->fake.quits, 1);
	assert_true(drained(f));
}

static void test_events(void **state)
{
	struct qmp_fixture *f = *state;
	int64_t v;

	negotiate(f);
	qmp_session_event(f->s, "SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
	struct json *e = next(f);
	assert_string_equal(json_object_get(e, "event")->str, "SHUTDOWN");
	struct json *ts = json_object_get(e, "timestamp");
	assert_true(json_get_int(json_object_get(ts, "seconds"), &v) && v > 1600000000);
	assert_true(json_get_int(json_object_get(ts, "microseconds"), &v) && v >= 0 && v < 1000000);
	assert_string_equal(json_object_get(json_object_get(e, "data"), "reason")->str,
			    "guest-shutdown");
	json_free(e);
	qmp_session_event(f->s, "STOP", NULL);
	e = next(f);
	assert_null(json_object_get(e, "data"));
	json_free(e);
}

static void test_queries(void **state)
{
	struct qmp_fixture *f = *state;
	int64_t v;

	negotiate(f);
	struct json *r = cmd(f, "{\"execute\": \"query-cpus-fast\"}");
	struct json *cpus = expect_return(r);
	assert_int_equal(cpus->n, 2);
	struct json *c1 = cpus->items[1];
	assert_true(json_get_int(json_object_get(c1, "cpu-index"), &v) && v == 1);
	assert_true(json_get_int(json_object_get(c1, "thread-id"), &v) && v == 1001);
	assert_string_equal(json_object_get(c1, "target")->str, "x86_64");
	assert_string_equal(json_object_get(c1, "qom-path")->str, "/machine/unattached/device[1]");
	assert_true(json_get_int(json_object_get(json_object_get(c1, "props"), "socket-id"), &v) &&
		    v == 1);
	json_free(r);

	r = cmd(f, "{\"execute\": \"query-name\"}");
	assert_int_equal(expect_return(r)->n, 0);
	json_free(r);
	f->fake.name = "guest\"1";
	r = cmd(f, "{\"execute\": \"query-name\"}");
	assert_string_equal(json_object_get(expect_return(r), "name")->str, "guest\"1");
	json_free(r);

	/* query-uuid: QEMU's nil UUID without -uuid, else -uuid's, lower case */
	r = cmd(f, "{\"execute\": \"query-uuid\"}");
	assert_string_equal(json_object_get(expect_return(r), "UUID")->str,
			    "00000000-0000-0000-0000-000000000000");
	json_free(r);
	f->fake.uuid_set = true;
	r = cmd(f, "{\"execute\": \"query-uuid\"}");
	assert_string_equal(json_object_get(expect_return(r), "UUID")->str,
			    "12345678-9abc-def0-1122-334455667788");
	json_free(r);

	r = cmd(f, "{\"execute\": \"query-commands\"}");
	struct json *list = expect_return(r);
	static const char *const want[] = { "qmp_capabilities", "query-version", "query-status",
		"query-name", "query-cpus-fast", "query-commands", "stop", "cont", "system_reset",
		"system_powerdown", "quit", "set_link", "query-uuid" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		bool found = false;
		for (size_t k = 0; k < list->n; k++)
			found |= !strcmp(json_object_get(list->items[k], "name")->str, want[i]);
		if (!found)
			fail_msg("query-commands lacks %s", want[i]);
	}
	json_free(r);
	r = cmd(f, "{\"execute\": \"query-version\"}");
	assert_non_null(json_object_get(expect_return(r), "qemu"));
	json_free(r);
}

static void test_bad_requests(void **state)
{
	struct qmp_fixture *f = *state;
	negotiate(f);
	expect_error(cmd(f, "{\"execute\": \"frob\", \"id\": \"x\"}"), "CommandNotFound",
		     "The command frob has not been found");
	expect_error(cmd(f, "{\"execute\": 1}"), "GenericError", "'execute' must be a string");
	expect_error(cmd(f, "{\"arguments\": {}}"), "GenericError", "lacks member 'execute'");
	expect_error(cmd(f, "{\"execute\": \"stop\", \"arguments\": []}"), "GenericError",
		     "'arguments' must be an object");
	expect_error(cmd(f, "{\"execute\": \"stop\", \"arguments\": {\"force\": true}}"),
		     "GenericError", "Parameter 'force' is unexpected");
	expect_error(cmd(f, "{\"execute\": \"stop\", \"extra\": 1}"), "GenericError",
		     "member 'extra' is unexpected");
	expect_error(cmd(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}"),
		     "CommandNotFound", "already complete");
	expect_error(cmd(f, "{\"execute\": \"stop\",}"), "GenericError", "JSON parse error");
	expect_error(cmd(f, "{\"execute\": \"st\\u0000op\"}"), "CommandNotFound", "not been found");
	expect_error(cmd(f, "[\"execute\"]"), "GenericError", "must be a JSON object");
	expect_error(cmd(f, "42\n"), "GenericError", "must be a JSON object");
	expect_error(cmd(f, "garbage\n"), "GenericError", "JSON parse error");
	expect_error(cmd(f, "}\n"), "GenericError", "JSON parse error");
	expect_error(cmd(f, "{\"execute\": \"x\xff\"}"), "GenericError", "UTF-8");
	assert_int_equal(f->fake.stops, 0);
	/* The id comes back with errors too. */
	struct json *r = cmd(f, "{\"execute\": \"nope\", \"id\": {\"n\": [1, 2]}}");
	assert_int_equal(json_object_get(r, "id")->type, JSON_OBJECT);
	expect_error(r, "CommandNotFound", "nope");
	/* Still answering. */
	expect_ok(cmd(f, "{\"execute\": \"query-status\"}"));
	assert_true(f->read_off <= f->fake.out.len);
}

static void test_framing(void **state)
{
	struct qmp_fixture *f = *state;
	negotiate(f);
	/* One byte at a time, braces and escaped quotes inside strings. */
	const char *msg = "{\"execute\": \"query-status\", \"id\": \"a}\\\"{[\"}";
	for (const char *p = msg; *p; p++)
		qmp_session_input(f->s, p, 1);
	struct json *r = next(f);
	assert_string_equal(json_object_get(r, "id")->str, "a}\"{[");
	json_free(r);
	/* Several messages in one chunk, no newlines. */
	send_str(f, "{\"execute\": \"stop\"}{\"execute\": \"cont\"} \r\n\t{\"execute\": \"stop\"}");
	for (int i = 0; i < 3; i++)
		expect_ok(next(f));
	assert_int_equal(f->fake.stops, 2);
	assert_true(drained(f));
}

static void test_huge_and_deep(void **state)
{
	struct qmp_fixture *f = *state;
	size_t big = 1 << 20;
	char *s = malloc(big + 64);

	negotiate(f);
	/* A 1 MiB line: one error, the rest of the line ignored, then on. */
	size_t n = (size_t)sprintf(s, "{\"execute\": \"stop\", \"id\": \"");
	memset(s + n, 'a', big);
	n += big;
	n += (size_t)sprintf(s + n, "\"}\n");
	qmp_session_input(f->s, s, n);
	expect_error(next(f), "GenericError", "too long");
	assert_true(drained(f));
	expect_ok(cmd(f, "{\"execute\": \"query-status\"}"));

	/* Just under the cap is fine. */
	n = (size_t)sprintf(s, "{\"execute\": \"query-status\", \"id\": \"");
	size_t fill = QMP_MAX_MESSAGE - n - 2;
	memset(s + n, 'b', fill);
	n += fill;
	n += (size_t)sprintf(s + n, "\"}");
	assert_int_equal(n, QMP_MAX_MESSAGE);
	qmp_session_input(f->s, s, n);
	struct json *r = next(f);
	assert_int_equal(json_object_get(r, "id")->len, fill);
	json_free(r);

	/* Deep nesting: rejected at the limit, resynchronised at the newline. */
	memset(s, '[', 1000);
	s[1000] = '\n';
	qmp_session_input(f->s, s, 1001);
	expect_error(next(f), "GenericError", "nested too deeply");
	assert_true(drained(f));
	/* 64 levels are fine: this reaches the argument check. */
	n = (size_t)sprintf(s, "{\"execute\": \"stop\", \"arguments\": {\"a\": ");
	memset(s + n, '[', 62);
	memset(s + n + 62, ']', 62);
	n += 124;
	s[n++] = '}';
	s[n++] = '}';
	qmp_session_input(f->s, s, n);
	expect_error(next(f), "GenericError", "Parameter 'a' is unexpected");
	/* An unterminated string cannot hold more than the cap either. */
	send_str(f, "{\"execute\": \"");
	memset(s, 'x', big);
	qmp_session_input(f->s, s, big);
	expect_error(next(f), "GenericError", "too long");
	send_str(f, "\n{\"execute\": \"stop\"}");
	expect_ok(next(f));
	assert_int_equal(f->fake.stops, 1);
	assert_true(drained(f));
	free(s);
}

/* ---- monitor ----------------------------------------------------------- */

static void test_balloon(void **state)
{
	struct qmp_fixture *f = *state;
	struct json *r;

	negotiate(f);
	/* No balloon device: QEMU's DeviceNotActive, but a bad value first. */
	expect_error(cmd(f, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 1}}"),
		     "DeviceNotActive", "No balloon device has been activated");
	expect_error(cmd(f, "{\"execute\": \"query-balloon\"}"), "DeviceNotActive",
		     "No balloon device has been activated");
	expect_error(cmd(f, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}}"),
		     "GenericError", "Parameter 'target' expects a size");
	f->fake.balloon = true;
	f->fake.balloon_state.actual = 512ull << 20;
	expect_error(cmd(f, "{\"execute\": \"balloon\"}"), "GenericError",
		     "Parameter 'value' is missing");
	expect_error(cmd(f, "{\"execute\": \"balloon\", \"arguments\": {\"value\": \"1G\"}}"),
		     "GenericError", "Invalid parameter type for 'value'");
	expect_error(cmd(f, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 1.5}}"),
		     "GenericError", "Invalid parameter type for 'value'");
	expect_error(cmd(f, "{\"execute\": \"balloon\", \"arguments\": {\"value\": -4096}}"),
		     "GenericError", "expects a size");
	expect_ok(cmd(f, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 268435456}}"));
	assert_int_equal(f->fake.balloon_target, 268435456);
	r = cmd(f, "{\"execute\": \"query-balloon\", \"id\": 7}");
	const struct json *ret = expect_return(r);
	int64_t actual;
	assert_int_equal(ret->n, 1);
	assert_true(json_get_int(json_object_get(ret, "actual"), &actual));
	assert_int_equal(actual, 512ll << 20);
	json_free(r);
	assert_true(drained(f));
}

/* x-state-roundtrip: the stream's size, or the saved-state error line. */
static void test_state_roundtrip(void **state)
{
	struct qmp_fixture *f = *state;
	int64_t v;

	negotiate(f);
	f->fake.state_bytes = 30694;
	struct json *r = cmd(f, "{\"execute\": \"x-state-roundtrip\"}");
	assert_true(json_get_int(json_object_get(expect_return(r), "bytes"), &v) && v == 30694);
	json_free(r);
	f->fake.state_bytes = -1;
	expect_error(cmd(f, "{\"execute\": \"x-state-roundtrip\"}"), "GenericError",
		     "missing field dll");
	expect_error(cmd(f, "{\"execute\": \"x-state-roundtrip\", \"arguments\": {\"x\": 1}}"),
		     "GenericError", "x");
	assert_int_equal(f->fake.roundtrips, 2);
}

/* x-query-exits: the vCPUs' exit counts by kind. */
static void test_query_exits(void **state)
{
	struct qmp_fixture *f = *state;
	int64_t io, mmio, hlt, intr, coalesced;

	negotiate(f);
	struct json *r = cmd(f, "{\"execute\": \"x-query-exits\"}");
	const struct json *ret = expect_return(r);
	assert_true(json_get_int(json_object_get(ret, "io"), &io) && io == 7);
	assert_true(json_get_int(json_object_get(ret, "mmio"), &mmio) && mmio == 10000);
	assert_true(json_get_int(json_object_get(ret, "hlt"), &hlt) && hlt == 3);
	assert_true(json_get_int(json_object_get(ret, "intr"), &intr) && intr == 1);
	/* the VGA window writes KVM queued in its coalesced MMIO ring */
	assert_true(json_get_int(json_object_get(ret, "coalesced"), &coalesced) &&
		    coalesced == 42);
	json_free(r);
	expect_error(cmd(f, "{\"execute\": \"x-query-exits\", \"arguments\": {\"x\": 1}}"),
		     "GenericError", "x");
}

/* snapshot-save/-load/-delete: QEMU's arguments, all required (delete
 * takes no vmstate); the job starts only with all of them right;
 * query-jobs in QEMU's JobInfo form; job-dismiss. */
static void test_snapshot_jobs(void **state)
{
	struct qmp_fixture *f = *state;
	struct json *r;

	negotiate(f);
	r = cmd(f, "{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"s0\", "
		   "\"tag\": \"t\", \"vmstate\": \"ide0-hd0\", \"devices\": [\"ide0-hd0\", \"virtio0\"]}}");
	expect_ok(r);
	assert_string_equal(f->fake.job_id, "s0");
	assert_string_equal(f->fake.job_tag, "t");
	assert_string_equal(f->fake.job_vmstate, "ide0-hd0");
	assert_string_equal(f->fake.job_dev0, "ide0-hd0");
	assert_int_equal(f->fake.job_ndev, 2);
	assert_int_equal(f->fake.job_op, VMCTL_SNAPSHOT_SAVE);
	r = cmd(f, "{\"execute\": \"snapshot-delete\", \"arguments\": {\"job-id\": \"d0\", "
		   "\"tag\": \"t\", \"devices\": []}}");
	expect_ok(r);
	assert_int_equal(f->fake.job_op, VMCTL_SNAPSHOT_DELETE);
	assert_string_equal(f->fake.job_vmstate, "-");
	assert_int_equal(f->fake.jobs_started, 2);

	expect_error(cmd(f, "{\"execute\": \"snapshot-load\", \"arguments\": {\"tag\": \"t\", "
			    "\"vmstate\": \"a\", \"devices\": []}}"),
		     "GenericError", "Parameter 'job-id' is missing");
	expect_error(cmd(f, "{\"execute\": \"snapshot-load\", \"arguments\": {\"job-id\": \"l\", "
			    "\"tag\": \"t\", \"devices\": []}}"),
		     "GenericError", "Parameter 'vmstate' is missing");
	expect_error(cmd(f, "{\"execute\": \"snapshot-load\", \"arguments\": {\"job-id\": \"l\", "
			    "\"tag\": \"t\", \"vmstate\": \"a\"}}"),
		     "GenericError", "Parameter 'devices' is missing");
	expect_error(cmd(f, "{\"execute\": \"snapshot-load\", \"arguments\": {\"job-id\": \"l\", "
			    "\"tag\": \"t\", \"vmstate\": \"a\", \"devices\": [\"a\", 7]}}"),
		     "GenericError", "devices[1]");
	expect_error(cmd(f, "{\"execute\": \"snapshot-delete\", \"arguments\": {\"job-id\": \"l\", "
			    "\"tag\": \"t\", \"vmstate\": \"a\", \"devices\": []}}"),
		     "GenericError", "'vmstate' is unexpected");
	expect_error(cmd(f, "{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"taken\", "
			    "\"tag\": \"t\", \"vmstate\": \"a\", \"devices\": []}}"),
		     "GenericError", "Job ID 'taken' already in use");
	/* 33 devices: more than any machine has */
	char big[1024] = "{\"execute\": \"snapshot-delete\", \"arguments\": {\"job-id\": \"b\", "
			 "\"tag\": \"t\", \"devices\": [";
	for (int i = 0; i < 33; i++)
		strcat(big, i ? ", \"d\"" : "\"d\"");
	strcat(big, "]}}");
	expect_error(cmd(f, big), "GenericError", "more than");
	assert_int_equal(f->fake.jobs_started, 2);

	r = cmd(f, "{\"execute\": \"query-jobs\"}");
	struct json *list = json_object_get(r, "return");
	assert_non_null(list);
	assert_int_equal(list->n, 2);
	assert_string_equal(json_object_get(list->items[0], "id")->str, "j1");
	assert_string_equal(json_object_get(list->items[0], "type")->str, "snapshot-save");
	assert_string_equal(json_object_get(list->items[0], "status")->str, "concluded");
	assert_null(json_object_get(list->items[0], "error"));
	assert_string_equal(json_object_get(list->items[1], "error")->str,
			    "Snapshot 'x' does not exist in one or more devices");
	json_free(r);
	expect_ok(cmd(f, "{\"execute\": \"job-dismiss\", \"arguments\": {\"id\": \"j1\"}}"));
	expect_error(cmd(f, "{\"execute\": \"job-dismiss\", \"arguments\": {\"id\": \"zz\"}}"),
		     "GenericError", "Job not found");
	expect_error(cmd(f, "{\"execute\": \"job-dismiss\"}"), "GenericError",
		     "Parameter 'id' is missing");
	assert_true(drained(f));
}

static int64_t ret_int(const struct json *o, const char *key)
{
	int64_t v = -1;
	const struct json *j = json_object_get(o, key);
	assert_non_null(j);
	assert_true(json_get_int(j, &v));
	return v;
}

/* migrate, query-migrate, the capabilities and query-status's run states,
 * as QEMU spells them; bad arguments change nothing. */
static void test_migration_commands(void **state)
{
	struct qmp_fixture *f = *state;

	negotiate(f);
	f->fake.mig.status = "none";
	struct json *r = cmd(f, "{\"execute\": \"query-migrate\"}");
	assert_int_equal(expect_return(r)->n, 0); /* never migrated: {} */
	json_free(r);
	expect_error(cmd(f, "{\"execute\": \"migrate\"}"), "GenericError", "'uri' is missing");
	expect_error(cmd(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": 5}}"),
		     "GenericError", "expected: string");
	expect_error(cmd(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:a\\u0000b\"}}"),
		     "GenericError", "NUL");
	expect_error(cmd(f, "{\"execute\": \"migrate\", \"arguments\": {\"channels\": []}}"),
		     "GenericError", "'uri' is missing");
	expect_error(cmd(f, "{\"execute\": \"migrate\", \"arguments\": {\"channels\": [], "
			 "\"uri\": \"unix:/x\"}}"), "GenericError", "channels");
	expect_error(cmd(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:h:1\"}}"),
		     "GenericError", "Connection refused");
	assert_string_equal(f->fake.migrate_uri, "");
	expect_ok(cmd(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:/x\", "
		      "\"detach\": true}}"));
	assert_string_equal(f->fake.migrate_uri, "unix:/x");
	/* running: times and RAM figures, expected-downtime */
	f->fake.mig = (struct vmctl_migration){ .status = "active", .has_stats = true,
		.setup_ms = 2, .total_ms = 40, .downtime_ms = 7, .transferred = 9000,
		.remaining = 4096, .total = 65536, .duplicate = 10, .normal = 5,
		.dirty_sync_count = 1 };
	r = cmd(f, "{\"execute\": \"query-migrate\"}");
	struct json *ret = expect_return(r), *ram = json_object_get(ret, "ram");
	assert_string_equal(json_object_get(ret, "status")->str, "active");
	assert_int_equal(ret_int(ret, "total-time"), 40);
	assert_int_equal(ret_int(ret, "setup-time"), 2);
	assert_int_equal(ret_int(ret, "expected-downtime"), 7);
	assert_null(json_object_get(ret, "downtime"));
	assert_non_null(ram);
	assert_int_equal(ret_int(ram, "transferred"), 9000);
	assert_int_equal(ret_int(ram, "remaining"), 4096);
	assert_int_equal(ret_int(ram, "total"), 65536);
	assert_int_equal(ret_int(ram, "duplicate"), 10);
	assert_int_equal(ret_int(ram, "normal"), 5);
	assert_int_equal(ret_int(ram, "normal-bytes"), 5 * 4096);
	assert_int_equal(ret_int(ram, "dirty-sync-count"), 1);
	json_free(r);
	/* completed: downtime; failed: error-desc */
	f->fake.mig.status = "completed";
	r = cmd(f, "{\"execute\": \"query-migrate\"}");
	assert_int_equal(ret_int(expect_return(r), "downtime"), 7);
	json_free(r);
	f->fake.mig = (struct vmctl_migration){ .status = "failed", .error = "migration: broke" };
	r = cmd(f, "{\"execute\": \"query-migrate\"}");
	ret = expect_return(r);
	assert_string_equal(json_object_get(ret, "error-desc")->str, "migration: broke");
	assert_null(json_object_get(ret, "ram"));
	json_free(r);
	/* capabilities: events only; a list with an unknown one changes nothing */
	expect_error(cmd(f, "{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
			 "{\"capabilities\": [{\"capability\": \"events\", \"state\": true}, "
			 "{\"capability\": \"xbzrle\", \"state\": true}]}}"),
		     "GenericError", "'xbzrle' is not supported");
	assert_false(f->fake.mig.events);
	expect_error(cmd(f, "{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
			 "{\"capabilities\": [{\"capability\": \"events\"}]}}"),
		     "GenericError", "MigrationCapabilityStatus");
	expect_ok(cmd(f, "{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
		      "{\"capabilities\": [{\"capability\": \"events\", \"state\": true}]}}"));
	assert_true(f->fake.mig.events);
	r = cmd(f, "{\"execute\": \"query-migrate-capabilities\"}");
	ret = expect_return(r);
	assert_int_equal(ret->n, 1);
	assert_string_equal(json_object_get(ret->items[0], "capability")->str, "events");
	assert_true(json_object_get(ret->items[0], "state")->boolean);
	json_free(r);
	/* parameters: checked whole, then set */
	f->fake.mig.downtime_limit_ms = 300;
	f->fake.mig.max_bandwidth = 134217728;
	expect_error(cmd(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
			 "{\"downtime-limit\": 100, \"max-bandwidth\": 0}}"),
		     "GenericError", "'max-bandwidth' is out of range");
	expect_error(cmd(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
			 "{\"downtime-limit\": 2000001}}"), "GenericError", "out of range");
	expect_error(cmd(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
			 "{\"downtime-limit\": -1}}"), "GenericError", "non-negative");
	expect_error(cmd(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
			 "{\"xbzrle-cache-size\": 1}}"), "GenericError", "unexpected");
	assert_int_equal(f->fake.mig.downtime_limit_ms, 300);
	expect_ok(cmd(f, "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
		      "{\"downtime-limit\": 100, \"max-bandwidth\": 1048576}}"));
	r = cmd(f, "{\"execute\": \"query-migrate-parameters\"}");
	assert_int_equal(ret_int(expect_return(r), "downtime-limit"), 100);
	assert_int_equal(ret_int(expect_return(r), "max-bandwidth"), 1048576);
	json_free(r);
	/* migrate_cancel: always {}; the status moves on */
	f->fake.mig = (struct vmctl_migration){ .status = "active" };
	expect_ok(cmd(f, "{\"execute\": \"migrate_cancel\"}"));
	assert_string_equal(f->fake.mig.status, "cancelling");
	/* no migrate-incoming in this machine: QEMU's CommandNotFound */
	expect_error(cmd(f, "{\"execute\": \"migrate-incoming\", \"arguments\": {\"uri\": \"defer\"}}"),
		     "CommandNotFound", "migrate-incoming");
	/* run states beyond running/paused */
	f->fake.running = false;
	f->fake.run_state = "postmigrate";
	r = cmd(f, "{\"execute\": \"query-status\"}");
	assert_string_equal(json_object_get(expect_return(r), "status")->str, "postmigrate");
	json_free(r);
	assert_true(drained(f));
}

/* QEMU's names; a missing, mistyped or unknown action changes nothing. */
static void test_watchdog_set_action(void **state)
{
	struct qmp_fixture *f = *state;

	negotiate(f);
	f->fake.watchdog_action = -1;
	expect_error(cmd(f, "{\"execute\": \"watchdog-set-action\"}"), "GenericError",
		     "Parameter 'action' is missing");
	expect_error(cmd(f, "{\"execute\": \"watchdog-set-action\", \"arguments\": "
			    "{\"action\": 3}}"),
		     "GenericError", "Invalid parameter type for 'action'");
	expect_error(cmd(f, "{\"execute\": \"watchdog-set-action\", \"arguments\": "
			    "{\"action\": \"reboot\"}}"),
		     "GenericError", "does not accept value 'reboot'");
	expect_error(cmd(f, "{\"execute\": \"watchdog-set-action\", \"arguments\": "
			    "{\"action\": \"pause\\u0000\"}}"),
		     "GenericError", "does not accept value");
	assert_int_equal(f->fake.watchdog_action, -1);
	expect_ok(cmd(f, "{\"execute\": \"watchdog-set-action\", \"arguments\": "
			 "{\"action\": \"inject-nmi\"}}"));
	assert_int_equal(f->fake.watchdog_action, WATCHDOG_INJECT_NMI);
	assert_true(drained(f));
}

static void test_dirty_log_hooks(void **state)
{
	struct qmp_fixture *f = *state;
	int64_t v;

	negotiate(f);
	expect_error(cmd(f, "{\"execute\": \"x-query-dirty-pages\"}"), "GenericError",
		     "Parameter 'region' is missing");
	expect_error(cmd(f, "{\"execute\": \"x-query-dirty-pages\", \"arguments\": {\"region\": 1}}"),
		     "GenericError", "Invalid parameter type for 'region', expected: string");
	expect_error(cmd(f, "{\"execute\": \"x-query-dirty-pages\", \"arguments\": {\"region\": \"rom\"}}"),
		     "GenericError", "No memory region 'rom'");
	expect_error(cmd(f, "{\"execute\": \"x-query-dirty-pages\", \"arguments\": {\"region\": \"ram\\u0000x\"}}"),
		     "GenericError", "No memory region 'ram'");
	expect_error(cmd(f, "{\"execute\": \"x-query-dirty-pages\", \"arguments\": {\"region\": \"ram\"}}"),
		     "GenericError", "Dirty logging is off for memory region 'ram'");
	expect_error(cmd(f, "{\"execute\": \"x-dirty-log\", \"arguments\": {\"region\": \"ram\"}}"),
		     "GenericError", "Parameter 'enable' is missing");
	expect_error(cmd(f, "{\"execute\": \"x-dirty-log\", \"arguments\": {\"region\": \"ram\", \"enable\": 1}}"),
		     "GenericError", "Invalid parameter type for 'enable', expected: boolean");
	expect_error(cmd(f, "{\"execute\": \"x-dirty-log\", \"arguments\": {\"region\": \"x\", \"enable\": true}}"),
		     "GenericError", "No memory region 'x'");
	expect_ok(cmd(f, "{\"execute\": \"x-dirty-log\", \"arguments\": {\"region\": \"ram\", \"enable\": true}}"));
	assert_true(f->fake.dirty_on);

	f->fake.dirty_count = 2;
	struct json *r = cmd(f, "{\"execute\": \"x-query-dirty-pages\", \"arguments\": {\"region\": \"ram\"}}");
	struct json *ret = expect_return(r);
	assert_true(json_get_int(json_object_get(ret, "page-size"), &v) && v == 4096);
	assert_true(json_get_int(json_object_get(ret, "count"), &v) && v == 2);
	struct json *pages = json_object_get(ret, "pages");
	assert_int_equal(pages->n, 2);
	assert_true(json_get_int(pages->items[1], &v) && v == 0x101000);
	json_free(r);
	/* A huge answer lists the first 1024 pages and counts them all. */
	f->fake.dirty_count = 1000000;
	r = cmd(f, "{\"execute\": \"x-query-dirty-pages\", \"arguments\": {\"region\": \"ram\"}}");
	ret = expect_return(r);
	assert_true(json_get_int(json_object_get(ret, "count"), &v) && v == 1000000);
	assert_int_equal(json_object_get(ret, "pages")->n, 1024);
	json_free(r);
	expect_ok(cmd(f, "{\"execute\": \"x-dirty-log\", \"arguments\": {\"region\": \"ram\", \"enable\": false}}"));
	assert_false(f->fake.dirty_on);
}

/* set_link on a NIC's id and on its netdev's; an unknown name is QEMU's
 * DeviceNotFound; both arguments are required and typed. */
static void test_set_link(void **state)
{
	struct qmp_fixture *f = *state;

	negotiate(f);
	f->fake.link_up = true;
	expect_ok(cmd(f, "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"nic0\", \"up\": false}}"));
	assert_false(f->fake.link_up);
	expect_ok(cmd(f, "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"net0\", \"up\": true}}"));
	assert_true(f->fake.link_up);
	assert_int_equal(f->fake.set_links, 2);
	expect_error(cmd(f, "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"x\", \"up\": false}}"),
		     "DeviceNotFound", "Device 'x' not found");
	expect_error(cmd(f, "{\"execute\": \"set_link\", \"arguments\": {\"up\": false}}"),
		     "GenericError", "Parameter 'name' is missing");
	expect_error(cmd(f, "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"nic0\"}}"),
		     "GenericError", "Parameter 'up' is missing");
	expect_error(cmd(f, "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"nic0\", \"up\": 1}}"),
		     "GenericError", "Invalid parameter type for 'up', expected: boolean");
	expect_error(cmd(f, "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"ni\\u0000c0\", \"up\": false}}"),
		     "DeviceNotFound", "not found");
	assert_int_equal(f->fake.set_links, 2);
	assert_true(drained(f));
}

static int64_t jint(const struct json *j)
{
	int64_t v = -12345;
	assert_non_null(j);
	assert_true(json_get_int(j, &v));
	return v;
}

/* The keys of a JSON object, sorted, joined by ','. */
static void keys_of(const struct json *o, char *out, size_t len)
{
	const char *k[64];
	size_t n = 0, used = 0;

	assert_int_equal(o->type, JSON_OBJECT);
	for (size_t i = 0; i < o->n && n < 64; i++)
		k[n++] = o->keys[i];
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(k[j - 1], k[j]) > 0; j--) {
			const char *t = k[j];
			k[j] = k[j - 1];
			k[j - 1] = t;
		}
	out[0] = 0;
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s", i ? "," : "", k[i]);
}

/* query-block and query-blockstats: QEMU's reply shapes. */
static void test_query_block(void **state)
{
	struct qmp_fixture *f = *state;
	char keys[2048];

	negotiate(f);
	snprintf(f->fake.cd_file, sizeof(f->fake.cd_file), "a.iso");
	struct json *r = cmd(f, "{\"execute\": \"query-block\"}");
	struct json *list = expect_return(r);
	assert_int_equal(list->n, 2);
	const struct json *hd = list->items[0], *cd = list->items[1];
	keys_of(hd, keys, sizeof(keys));
	assert_string_equal(keys, "device,inserted,io-status,locked,qdev,removable,type");
	keys_of(cd, keys, sizeof(keys));
	assert_string_equal(keys, "device,inserted,io-status,locked,qdev,removable,tray_open,type");
	keys_of(json_object_get(cd, "inserted"), keys, sizeof(keys));
	assert_string_equal(keys, "active,backing_file_depth,bps,bps_rd,bps_wr,cache,detect_zeroes,"
			    "drv,encrypted,file,image,iops,iops_rd,iops_wr,node-name,ro,"
			    "write_threshold");
	const struct json *ins = json_object_get(hd, "inserted");
	assert_string_equal(json_object_get(ins, "drv")->str, "qcow2");
	assert_string_equal(json_object_get(ins, "backing_file")->str, "base.img");
	assert_int_equal(jint(json_object_get(ins, "backing_file_depth")), 1);
	keys_of(json_object_get(ins, "image"), keys, sizeof(keys));
	assert_string_equal(keys, "actual-size,backing-filename,dirty-flag,filename,format,"
			    "virtual-size");
	assert_true(json_object_get(json_object_get(cd, "inserted"), "ro")->boolean);
	assert_false(json_object_get(cd, "tray_open")->boolean);
	assert_true(json_object_get(cd, "removable")->boolean);
	assert_string_equal(json_object_get(cd, "qdev")->str, "cd");
	json_free(r);

	/* query-blockstats: the block layer's counts, QEMU's keys */
	r = cmd(f, "{\"execute\": \"query-blockstats\"}");
	list = expect_return(r);
	assert_int_equal(list->n, 2);
	keys_of(list->items[0], keys, sizeof(keys));
	assert_string_equal(keys, "device,node-name,parent,qdev,stats");
	const struct json *st = json_object_get(list->items[0], "stats");
	assert_int_equal(jint(json_object_get(st, "rd_bytes")), 1024);
	assert_int_equal(jint(json_object_get(st, "rd_operations")), 2);
	assert_int_equal(jint(json_object_get(st, "wr_bytes")), 512);
	assert_int_equal(jint(json_object_get(st, "wr_operations")), 1);
	assert_int_equal(jint(json_object_get(st, "flush_operations")), 3);
	assert_int_equal(jint(json_object_get(st, "wr_highest_offset")), 4096);
	assert_int_equal(jint(json_object_get(st, "idle_time_ns")), 77);
	assert_non_null(json_object_get(st, "timed_stats"));
	assert_non_null(json_object_get(st, "failed_rd_operations"));
	/* never accessed: no idle_time_ns, as QEMU */
	assert_null(json_object_get(json_object_get(list->items[1], "stats"), "idle_time_ns"));
	json_free(r);
	assert_true(drained(f));
}

/* eject, blockdev-change-medium and the tray commands: arguments, QEMU's
 * errors and classes, a locked tray. */
static void test_removable_media(void **state)
{
	struct qmp_fixture *f = *state;

	negotiate(f);
	snprintf(f->fake.cd_file, sizeof(f->fake.cd_file), "a.iso");
	expect_ok(cmd(f, "{\"execute\": \"eject\", \"arguments\": {\"device\": \"ide1-cd0\"}}"));
	assert_true(f->fake.tray_open);
	assert_string_equal(f->fake.cd_file, "");
	expect_ok(cmd(f, "{\"execute\": \"blockdev-change-medium\", \"arguments\": {\"id\": \"cd\", "
		      "\"filename\": \"b.iso\", \"format\": \"raw\", \"read-only-mode\": \"retain\"}}"));
	assert_string_equal(f->fake.cd_file, "b.iso");
	assert_string_equal(f->fake.last_format, "raw");
	assert_string_equal(f->fake.last_ro_mode, "retain");
	assert_false(f->fake.tray_open);
	expect_error(cmd(f, "{\"execute\": \"eject\", \"arguments\": {\"device\": \"nope\"}}"),
		     "DeviceNotFound", "Device 'nope' not found");
	expect_error(cmd(f, "{\"execute\": \"eject\", \"arguments\": {\"id\": \"nope\"}}"),
		     "DeviceNotFound", "Device 'nope' not found");
	expect_error(cmd(f, "{\"execute\": \"eject\", \"arguments\": {}}"),
		     "GenericError", "Need exactly one of 'device' and 'id'");
	expect_error(cmd(f, "{\"execute\": \"eject\", \"arguments\": {\"device\": \"ide0-hd0\"}}"),
		     "GenericError", "Device 'ide0-hd0' is not removable");
	expect_error(cmd(f, "{\"execute\": \"eject\", \"arguments\": {\"device\": \"ide1-cd0\", "
			 "\"force\": 1}}"),
		     "GenericError", "Invalid parameter type for 'force', expected: boolean");
	expect_error(cmd(f, "{\"execute\": \"blockdev-change-medium\", \"arguments\": {\"device\": "
			 "\"ide1-cd0\"}}"),
		     "GenericError", "Parameter 'filename' is missing");
	expect_error(cmd(f, "{\"execute\": \"blockdev-change-medium\", \"arguments\": {\"device\": "
			 "\"ide1-cd0\", \"filename\": \"/x/missing.iso\"}}"),
		     "GenericError", "Could not open '/x/missing.iso': No such file or directory");
	assert_string_equal(f->fake.cd_file, "b.iso");
	/* The guest locked the tray: eject only asks it, force opens it. */
	f->fake.cd_locked = true;
	expect_error(cmd(f, "{\"execute\": \"eject\", \"arguments\": {\"device\": \"ide1-cd0\"}}"),
		     "GenericError", "Device 'ide1-cd0' is locked and force was not specified, wait "
		     "for tray to open and try again");
	assert_int_equal(f->fake.eject_requests, 1);
	assert_string_equal(f->fake.cd_file, "b.iso");
	expect_ok(cmd(f, "{\"execute\": \"eject\", \"arguments\": {\"device\": \"ide1-cd0\", "
		      "\"force\": true}}"));
	assert_int_equal(f->fake.eject_requests, 2);
	assert_string_equal(f->fake.cd_file, "");
	/* The tray, step by step. */
	expect_ok(cmd(f, "{\"execute\": \"blockdev-close-tray\", \"arguments\": {\"device\": \"ide1-cd0\"}}"));
	assert_false(f->fake.tray_open);
	expect_error(cmd(f, "{\"execute\": \"blockdev-remove-medium\", \"arguments\": {\"id\": \"cd\"}}"),
		     "GenericError", "Tray of device 'ide1-cd0' is not open");
	expect_ok(cmd(f, "{\"execute\": \"blockdev-open-tray\", \"arguments\": {\"id\": \"cd\"}}"));
	assert_true(f->fake.tray_open);
	expect_ok(cmd(f, "{\"execute\": \"blockdev-remove-medium\", \"arguments\": {\"id\": \"cd\"}}"));
	expect_error(cmd(f, "{\"execute\": \"blockdev-remove-medium\", \"arguments\": {\"device\": \"ide1-cd0\"}}"),
		     "GenericError", "Parameter 'device' is unexpected");
	assert_true(drained(f));
}

/* The monitor's eject, change, info block and info blockstats. */
static void test_monitor_block(void **state)
{
	struct fake fk = { .running = true, .cd_file = "a.iso" };
	struct vmctl ctl = { &fake_ops, &fk };
	struct monitor_session *m = monitor_session_new(&ctl, sink, &fk);
	const char *in1 = "info block\ninfo blockstats\n";
	const char *in2 = "eject ide0-hd0\neject nope\neject\neject -f ide1-cd0\ninfo block\n"
			  "change ide1-cd0 /x/missing.iso\nchange ide1-cd0 b.iso raw read-only\n"
			  "change ide1-cd0\n";

	monitor_session_input(m, in1, strlen(in1));
	assert_non_null(strstr(fk.out.data, "ide0-hd0 (#block002): hd.img (qcow2)\n"
					    "    Attached to:      /machine/unattached/device[5]\n"
					    "    Cache mode:       writeback\n"
					    "    Backing file:     base.img (chain depth: 1)\n\n"
					    "ide1-cd0 (#block004): a.iso (raw, read-only)\n"
					    "    Attached to:      cd\n"
					    "    Removable device: not locked, tray closed\n"
					    "    Cache mode:       writeback\n"));
	assert_non_null(strstr(fk.out.data, "ide0-hd0: rd_bytes=1024 wr_bytes=512 rd_operations=2 "
					    "wr_operations=1 flush_operations=3 wr_total_time_ns=0 "
					    "rd_total_time_ns=0 flush_total_time_ns=0 rd_merged=0 "
					    "wr_merged=0 idle_time_ns=77\n"));
	strbuf_free(&fk.out);
	fk.out = (struct strbuf){ 0 };
	monitor_session_input(m, in2, strlen(in2));
	assert_non_null(strstr(fk.out.data, "Error: Device 'ide0-hd0' is not removable\n"));
	assert_non_null(strstr(fk.out.data, "Error: Device 'nope' not found\n"));
	assert_non_null(strstr(fk.out.data, "Error: eject: expected [-f] DEVICE\n"));
	assert_non_null(strstr(fk.out.data, "ide1-cd0: [not inserted]\n"
					    "    Attached to:      cd\n"
					    "    Removable device: not locked, tray open\n"));
	assert_non_null(strstr(fk.out.data, "Error: Could not open '/x/missing.iso': No such file"));
	assert_string_equal(fk.cd_file, "b.iso");
	assert_string_equal(fk.last_format, "raw");
	assert_string_equal(fk.last_ro_mode, "read-only");
	assert_non_null(strstr(fk.out.data, "Error: change: expected DEVICE FILE"));
	/* x/xp keep the last format and size within a session */
	strbuf_free(&fk.out);
	fk.out = (struct strbuf){ 0 };
	const char *in3 = "xp /2c 0x1041\nxp /2cb 0x1030\nxp 0x1030\nxp /d 0x1031\n";
	monitor_session_input(m, in3, strlen(in3));
	assert_non_null(strstr(fk.out.data, "0000000000001041: Cannot access memory\n"));
	assert_non_null(strstr(fk.out.data, "0000000000001030: '0' '1'\n(vmm) "
					    "0000000000001030: '0'\n(vmm) "
					    "0000000000001031:  49\n"));
	monitor_session_free(m);
	strbuf_free(&fk.out);
}

/* human-monitor-command's text for 'line' (vCPU 0), or fails. */
static char *hmp(struct qmp_fixture *f, const char *line)
{
	struct json *req = json_new_object(), *args = json_new_object();
	struct strbuf b = { 0 };

	json_object_set(req, "execute", json_new_string("human-monitor-command"));
	json_object_set(args, "command-line", json_new_string(line));
	json_object_set(req, "arguments", args);
	json_serialize(req, &b);
	strbuf_append(&b, "", 1);
	json_free(req);
	struct json *r = cmd(f, b.data);
	strbuf_free(&b);
	char *text = strdup(expect_return(r)->str);
	json_free(r);
	return text;
}

static void expect_hmp(struct qmp_fixture *f, const char *line, const char *want)
{
	char *got = hmp(f, line);
	if (strcmp(got, want))
		fail_msg("'%s' gave '%s', expected '%s'", line, got, want);
	free(got);
}

/* human-monitor-command: the monitor's text with QEMU's CR LF; x and xp
 * in QEMU's formats; p's expressions; refusals. */
static void test_human_monitor_command(void **state)
{
	struct qmp_fixture *f = *state;

	negotiate(f);
	expect_hmp(f, "info status", "VM status: running\r\n");
	expect_hmp(f, "nosuch", "unknown command: 'nosuch'\r\n");
	expect_hmp(f, "xp /8xb 0x1000", "0000000000001000: 0x00 0x01 0x02 0x03 0x04 0x05 0x06 0x07\r\n");
	expect_hmp(f, "xp /5xw 0x1000", "0000000000001000: 0x03020100 0x07060504 0x0b0a0908 0x0f0e0d0c\r\n"
					"0000000000001010: 0x13121110\r\n");
	expect_hmp(f, "xp /2xg 0x1000", "0000000000001000: 0x0706050403020100 0x0f0e0d0c0b0a0908\r\n");
	expect_hmp(f, "xp /3dh 0x103e", "000000000000103e: Cannot access memory\r\n");
	expect_hmp(f, "xp /2dh 0x1000", "0000000000001000:   256   770\r\n");
	expect_hmp(f, "xp /2uw 0x1000", "0000000000001000:   50462976  117835012\r\n");
	expect_hmp(f, "xp /2ow 0x1000", "0000000000001000:  0300400400  0701402404\r\n");
	expect_hmp(f, "xp /3cb 0x1009", "0000000000001009: '\\x09' '\\n' '\\x0b'\r\n");
	/* the format and size stay for the next x, xp or p, across command
	 * lines, as QEMU's */
	expect_hmp(f, "xp 0x1000", "0000000000001000: '\\x00'\r\n");
	expect_hmp(f, "xp /xw 0x1000", "0000000000001000: 0x03020100\r\n");
	expect_hmp(f, "xp /b 0x1000", "0000000000001000: 0x00\r\n");
	/* c: every byte of the items, as QEMU (w: 4 bytes each) */
	expect_hmp(f, "xp /2cw 0x1030", "0000000000001030: '0' '1' '2' '3' '4' '5' '6' '7'\r\n");
	/* x reads through the current vCPU (cpu N picks it) */
	expect_hmp(f, "x /1xw 0x1004", "0000000000001004: 0x07060504\r\n");
	assert_int_equal(f->fake.last_mem_cpu, 0);
	expect_hmp(f, "x/1xw 0x1000+4*2", "0000000000001008: 0x0b0a0908\r\n");
	expect_hmp(f, "xp /1xw 0x1000", "0000000000001000: 0x03020100\r\n");
	assert_int_equal(f->fake.last_mem_cpu, -1);
	expect_hmp(f, "xp /x 0xffffffffffffffff", "ffffffffffffffff: Cannot access memory\r\n");
	expect_hmp(f, "xp /100000xg 0", "Error: at most 65536 bytes at a time\r\n");
	expect_hmp(f, "xp /3i 0", "Error: format 'i' (disassembly) is not supported by vmm\r\n");
	expect_hmp(f, "xp /3q 0", "Error: invalid char in format: 'q'\r\n");
	expect_hmp(f, "xp", "Error: xp: expected /FMT ADDR\r\n");
	/* p */
	expect_hmp(f, "p 0x10+3*2", "0x16\r\n"); /* x, from the x before */
	expect_hmp(f, "p/d 0x10+3*2", "22\r\n");
	expect_hmp(f, "p/x $pc", "0xfff0\r\n");
	expect_hmp(f, "p /x ($eax - 1) << 1", "Error: invalid char in expression\r\n");
	expect_hmp(f, "p/d ($eax - 1) * 010", "32\r\n");
	expect_hmp(f, "p -1", "-1\r\n"); /* d, from the p before */
	expect_hmp(f, "p/u -1", "18446744073709551615\r\n");
	expect_hmp(f, "p 1/0", "Error: division by zero\r\n");
	expect_hmp(f, "p $nosuch", "Error: unknown register\r\n");
	expect_hmp(f, "p ((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))",
		   "Error: expression nested too deeply\r\n");
	expect_hmp(f, "cpu 1", "");
	expect_hmp(f, "cpu 2", "Error: invalid CPU index\r\n");
	expect_hmp(f, "info registers", "EAX=00000100\r\n");
	expect_hmp(f, "info registers -a", "\r\nCPU#0\r\nEAX=00000100\r\n\r\nCPU#1\r\nEAX=00000101\r\n");
	expect_hmp(f, "info chardev", "serial0: filename=stdio\r\n");
	expect_hmp(f, "info mtree", "address-space: memory\r\n");
	expect_hmp(f, "info pci",
		   "  Bus  0, device   1, function 1:\r\n    IDE controller: PCI device 8086:7010\r\n"
		   "      PCI subsystem 1af4:1100\r\n      BAR4: I/O at 0xc000 [0xc00f].\r\n"
		   "      id \"\"\r\n"
		   "  Bus  0, device   3, function 0:\r\n    Ethernet controller: PCI device 8086:100e\r\n"
		   "      PCI subsystem 8086:001e\r\n      IRQ 11, pin A\r\n"
		   "      BAR0: 32 bit memory at 0xfeb80000 [0xfeb9ffff].\r\n"
		   "      BAR1: I/O (not mapped)\r\n      id \"nic\"\r\n");
	/* cpu-index picks the vCPU; a bad one, or no command line, is refused */
	expect_ok(cmd(f, "{\"execute\": \"human-monitor-command\", \"arguments\": "
		      "{\"command-line\": \"x /1xb 0x1000\", \"cpu-index\": 1}}"));
	assert_int_equal(f->fake.last_mem_cpu, 1);
	expect_error(cmd(f, "{\"execute\": \"human-monitor-command\", \"arguments\": "
			 "{\"command-line\": \"info status\", \"cpu-index\": 7}}"),
		     "GenericError", "Invalid CPU index");
	expect_error(cmd(f, "{\"execute\": \"human-monitor-command\", \"arguments\": {}}"),
		     "GenericError", "Parameter 'command-line' is missing");
	assert_true(drained(f));
}

/* query-pci, query-chardev, query-kvm, query-target, query-machines,
 * query-cpu-definitions, query-hotpluggable-cpus: QEMU's shapes. */
/* The list of QEMU commands vmm lacks names none that vmm has, each once,
 * each with a reason; and such a command's CommandNotFound says why. */
static void test_lacking_commands(void **state)
{
	struct qmp_fixture *f = *state;
	size_t n;
	const struct qmp_lacking *l = qmp_lacking_list(&n);

	assert_true(n > 100);
	negotiate(f);
	struct json *r = cmd(f, "{\"execute\": \"query-commands\"}");
	const struct json *list = expect_return(r);
	for (size_t i = 0; i < list->n; i++)
		assert_null(qmp_lacking_why(json_object_get(list->items[i], "name")->str));
	json_free(r);
	for (size_t i = 0; i < n; i++) {
		assert_true(l[i].why && *l[i].why);
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(l[i].name, l[j].name);
	}
	r = cmd(f, "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"e1000\"}}");
	const struct json *e = json_object_get(r, "error");
	assert_string_equal(json_object_get(e, "class")->str, "CommandNotFound");
	assert_string_equal(json_object_get(e, "desc")->str,
			    "The command device_add has not been found (not supported by vmm: "
			    "no hotplug: the devices are the command line's)");
	json_free(r);
}

static void test_introspection_queries(void **state)
{
	struct qmp_fixture *f = *state;
	char keys[1024];

	negotiate(f);
	struct json *r = cmd(f, "{\"execute\": \"query-pci\"}");
	const struct json *bus = expect_return(r)->items[0];
	keys_of(bus, keys, sizeof(keys));
	assert_string_equal(keys, "bus,devices");
	const struct json *devs = json_object_get(bus, "devices");
	assert_int_equal(devs->n, 2);
	keys_of(devs->items[0], keys, sizeof(keys));
	assert_string_equal(keys, "bus,class_info,function,id,irq_pin,qdev_id,regions,slot");
	keys_of(devs->items[1], keys, sizeof(keys));
	assert_string_equal(keys, "bus,class_info,function,id,irq,irq_pin,qdev_id,regions,slot");
	keys_of(json_object_get(devs->items[1], "id"), keys, sizeof(keys));
	assert_string_equal(keys, "device,subsystem,subsystem-vendor,vendor");
	assert_int_equal(jint(json_object_get(json_object_get(devs->items[1], "class_info"), "class")),
			 0x200);
	const struct json *regions = json_object_get(devs->items[1], "regions");
	keys_of(regions->items[0], keys, sizeof(keys));
	assert_string_equal(keys, "address,bar,mem_type_64,prefetch,size,type");
	keys_of(regions->items[1], keys, sizeof(keys));
	assert_string_equal(keys, "address,bar,size,type");
	assert_int_equal(jint(json_object_get(regions->items[1], "address")), -1);
	json_free(r);

	r = cmd(f, "{\"execute\": \"query-chardev\"}");
	keys_of(expect_return(r)->items[0], keys, sizeof(keys));
	assert_string_equal(keys, "filename,frontend-open,label");
	json_free(r);
	r = cmd(f, "{\"execute\": \"query-kvm\"}");
	keys_of(expect_return(r), keys, sizeof(keys));
	assert_string_equal(keys, "enabled,present");
	json_free(r);
	r = cmd(f, "{\"execute\": \"query-target\"}");
	assert_string_equal(json_object_get(expect_return(r), "arch")->str, "x86_64");
	json_free(r);
	r = cmd(f, "{\"execute\": \"query-machines\"}");
	keys_of(expect_return(r)->items[0], keys, sizeof(keys));
	assert_string_equal(keys, "acpi,alias,cpu-max,default-cpu-type,default-ram-id,deprecated,"
			    "hotpluggable-cpus,is-default,name,numa-mem-supported");
	json_free(r);
	r = cmd(f, "{\"execute\": \"query-cpu-definitions\"}");
	keys_of(expect_return(r)->items[0], keys, sizeof(keys));
	assert_string_equal(keys, "deprecated,migration-safe,name,static,typename,"
			    "unavailable-features");
	json_free(r);
	r = cmd(f, "{\"execute\": \"query-hotpluggable-cpus\"}");
	assert_int_equal(expect_return(r)->n, 2);
	keys_of(expect_return(r)->items[0], keys, sizeof(keys));
	assert_string_equal(keys, "props,qom-path,type,vcpus-count");
	json_free(r);
	assert_true(drained(f));
}

/* The monitor's set_link NAME on|off and info network. */
static void test_monitor_set_link(void **state)
{
	struct fake fk = { .running = true, .link_up = true };
	struct vmctl ctl = { &fake_ops, &fk };
	struct monitor_session *m = monitor_session_new(&ctl, sink, &fk);
	const char *in = "set_link nic0 off\ninfo network\nset_link net0 on\nset_link x off\n"
			 "set_link nic0\nset_link nic0 maybe\n";

	monitor_session_input(m, in, strlen(in));
	assert_non_null(strstr(fk.out.data, "nic0: index=0,type=nic,model=e1000,"
					    "macaddr=52:54:00:12:34:56\n \\ net0: "));
	assert_non_null(strstr(fk.out.data, "link: down\n"));
	assert_true(fk.link_up);
	assert_int_equal(fk.set_links, 2);
	assert_non_null(strstr(fk.out.data, "Error: Device 'x' not found\n"));
	assert_non_null(strstr(fk.out.data, "Error: set_link: expected NAME on|off\n(vmm) "
					    "Error: set_link: expected NAME on|off\n"));
	monitor_session_free(m);
	strbuf_free(&fk.out);
}

/* gdbserver [DEV] answers with QEMU's lines. */
static void test_monitor_gdbserver(void **state)
{
	struct fake fk = { .running = true };
	struct vmctl ctl = { &fake_ops, &fk };
	struct monitor_session *m = monitor_session_new(&ctl, sink, &fk);

	monitor_session_input(m, "gdbserver\n", 10);
	assert_non_null(strstr(fk.out.data, "Waiting for gdb connection on device 'tcp::1234'\n"));
	assert_string_equal(fk.migrate_uri, "tcp::1234");
	monitor_session_input(m, "gdbserver unix:/tmp/g\n", 22);
	assert_non_null(strstr(fk.out.data, "device 'unix:/tmp/g'\n"));
	assert_string_equal(fk.migrate_uri, "unix:/tmp/g");
	monitor_session_input(m, "gdbserver none\n", 15);
	assert_non_null(strstr(fk.out.data, "Disabled gdbserver\n"));
	monitor_session_input(m, "gdbserver tcp::1\n", 17);
	assert_non_null(strstr(fk.out.data, "Error: gdbserver: cannot listen on :1: Permission denied\n"));
	monitor_session_free(m);
	strbuf_free(&fk.out);
}

static void test_monitor_migrate(void **state)
{
	struct fake fk = { .running = false, .run_state = "postmigrate" };
	struct vmctl ctl = { &fake_ops, &fk };
	struct monitor_session *m = monitor_session_new(&ctl, sink, &fk);
	const char *in = "migrate\nmigrate tcp:h:1\nmigrate -d unix:/s\n"
			 "migrate_set_capability xbzrle on\nmigrate_set_capability events on\n"
			 "info status\ninfo migrate\nmigrate_set_parameter downtime_limit 50\n"
			 "migrate_set_parameter x 1\nmigrate_set_parameter max-bandwidth\n"
			 "info migrate_parameters\n";

	fk.mig = (struct vmctl_migration){ .status = "none" };
	monitor_session_input(m, in, strlen(in));
	assert_non_null(strstr(fk.out.data, "Error: migrate: expected a URI\n"));
	assert_non_null(strstr(fk.out.data, "Error: migration: cannot connect to tcp:h:1"));
	assert_string_equal(fk.migrate_uri, "unix:/s");
	assert_non_null(strstr(fk.out.data, "Error: Capability 'xbzrle' is not supported"));
	assert_true(fk.mig.events);
	assert_non_null(strstr(fk.out.data, "VM status: paused (postmigrate)\n"));
	assert_non_null(strstr(fk.out.data, "capabilities: events: on\nMigration status: active\n"));
	assert_non_null(strstr(fk.out.data, "Error: Parameter 'x' is not supported"));
	assert_non_null(strstr(fk.out.data, "Error: migrate_set_parameter: expected NAME VALUE"));
	assert_non_null(strstr(fk.out.data, "downtime-limit: 50 ms\n"));
	fk.cont_error = "Failed to get \"write\" lock Is another process using the image [d]?";
	monitor_session_input(m, "cont\n", 5);
	assert_non_null(strstr(fk.out.data, "Error: Failed to get \"write\" lock Is another"));
	assert_false(fk.running);
	monitor_session_free(m);
	strbuf_free(&fk.out);
}

static void test_monitor_balloon(void **state)
{
	struct fake fk = { .running = true };
	struct vmctl ctl = { &fake_ops, &fk };
	struct monitor_session *m = monitor_session_new(&ctl, sink, &fk);
	const char *in1 = "info balloon\nballoon 100\n";
	const char *in2 = "info balloon\nballoon 128\nballoon 0\nballoon 12x\nballoon\n";

	monitor_session_input(m, in1, strlen(in1));
	assert_non_null(strstr(fk.out.data, "Error: No balloon device has been activated\n(vmm) "
					    "Error: No balloon device has been activated\n"));
	fk.balloon = true;
	fk.balloon_state.actual = 300ull << 20;
	monitor_session_input(m, in2, strlen(in2));
	/* QEMU's line, then the guest's figures it reported (tags 4, 5). */
	assert_non_null(strstr(fk.out.data, "balloon: actual=300\n"));
	fk.balloon_state.stats[4] = 1000;
	fk.balloon_state.stats[5] = 5000;
	fk.balloon_state.stats_valid = 1u << 4 | 1u << 5;
	monitor_session_input(m, "info balloon\n", 13);
	assert_non_null(strstr(fk.out.data, "balloon: actual=300 free_mem=1000 total_mem=5000\n"));
	assert_int_equal(fk.balloon_target, 128ull << 20);
	assert_non_null(strstr(fk.out.data, "Error: Parameter 'target' expects a size"));
	assert_non_null(strstr(fk.out.data, "expected a size in MB, got '12x'"));
	assert_non_null(strstr(fk.out.data, "expected a size in MB, got ''"));
	monitor_session_free(m);
	strbuf_free(&fk.out);
}

static void test_monitor(void **state)
{
	struct fake fk = { .running = true };
	struct vmctl ctl = { &fake_ops, &fk };
	struct monitor_session *m = monitor_session_new(&ctl, sink, &fk);
	const char *in = "info status\nstop\r\ninfo status\ninfo cpus\ncont\nc\n  q  \n"
			 "system_reset\nsystem_powerdown\nfrob\ninfo\ninfo version\nhelp\n";

	assert_non_null(strstr(fk.out.data, "(vmm) "));
	monitor_session_input(m, in, strlen(in));
	const char *o = fk.out.data;
	const char *run = strstr(o, "VM status: running\n");
	assert_non_null(run);
	assert_non_null(strstr(run, "VM status: paused\n"));
	assert_non_null(strstr(o, "* CPU #0: thread_id=1000\n  CPU #1: thread_id=1001\n"));
	assert_non_null(strstr(o, "unknown command: 'frob'"));
	assert_non_null(strstr(o, "info status"));
	assert_non_null(strstr(o, "0.1.0"));
	assert_non_null(strstr(o, "system_powerdown --"));
	/* help: every info subcommand on the info line, the aliases shown */
	assert_non_null(strstr(o, "(vmm) info pci|chardev|mtree|qtree|block|"));
	assert_non_null(strstr(o, "|snapshots|memory_size_summary|memdev|iothreads|tpm|"
				  "registers [-a] -- show machine information"));
	assert_non_null(strstr(o, "\nstop|s -- "));
	/* info alone lists registers too, and qtree */
	assert_non_null(strstr(o, "\ninfo registers [-a]     -- show the CPU registers"));
	assert_non_null(strstr(o, "\ninfo qtree              -- show device tree\n"));
	assert_int_equal(fk.stops, 1);
	assert_int_equal(fk.conts, 2);
	assert_int_equal(fk.quits, 1);
	assert_int_equal(fk.resets, 1);
	assert_int_equal(fk.powerdowns, 1);

	/* help COMMAND: that command's line only, by name or alias */
	fk.out.len = 0;
	const char *help_in = "help s\nhelp frob\ninfo qtree\n";
	monitor_session_input(m, help_in, strlen(help_in));
	strbuf_append(&fk.out, "", 1);
	assert_string_equal(fk.out.data, "stop|s -- stop the vCPUs\n(vmm) unknown command: 'frob'\n"
			    "(vmm) bus: main-system-bus\n(vmm) ");
	fk.out.len = 0;

	/* An overlong line is refused as a whole, not run in pieces. */
	size_t len = 5000;
	char *big = malloc(len);
	memset(big, 'q', len);
	big[len - 1] = '\n';
	monitor_session_input(m, big, len);
	assert_int_equal(fk.quits, 1);
	assert_non_null(strstr(fk.out.data, "line too long"));
	free(big);
	monitor_session_free(m);
	strbuf_free(&fk.out);
}

/* ---- channels over a real unix socket ---------------------------------- */

static void pump(struct control *c, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		struct pollfd fds[CONTROL_MAX_FDS];
		int n = control_poll_fill(c, fds);
		if (poll(fds, (nfds_t)n, 10) > 0)
			control_poll_handle(c, fds);
	}
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void read_until(struct control *c, int fd, const char *needle, char *buf, size_t size)
{
	size_t len = 0;
	for (int tries = 0; tries < 200; tries++) {
		pump(c, 1);
		ssize_t n = recv(fd, buf + len, size - 1 - len, MSG_DONTWAIT);
		if (n > 0)
			len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, needle))
			return;
	}
	fail_msg("never got '%s', got '%s'", needle, buf);
}

static void test_socket_clients(void **state)
{
	char dir[] = "/tmp/vmm-qmp-test-XXXXXX", path[128], spec[160], err[256], buf[4096];
	struct chan_config cfg;
	struct fake fk = { .running = true };
	struct vmctl ctl = { &fake_ops, &fk };

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/qmp.sock", dir);
	snprintf(spec, sizeof(spec), "unix:%s,server=on,wait=off", path);
	assert_int_equal(chan_parse(spec, &cfg, err, sizeof(err)), 0);
	struct control *c = control_create(&cfg, 1, NULL);
	control_start(c, &ctl);

	/* First client: greeting, a command, then it goes away mid-message. */
	int a = connect_to(path);
	read_until(c, a, "\"QMP\"", buf, sizeof(buf));
	/* A second client waits in the backlog while the first is served. */
	int b = connect_to(path);
	const char *caps = "{\"execute\": \"qmp_capabilities\"}\n";
	assert_true(write(a, caps, strlen(caps)) > 0);
	read_until(c, a, "return", buf, sizeof(buf));
	pump(c, 5);
	assert_int_equal(recv(b, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_true(write(a, "{\"execute\": \"st", 15) > 0);
	pump(c, 5);
	close(a);
	read_until(c, b, "\"QMP\"", buf, sizeof(buf));
	assert_int_equal(fk.stops, 0);

	/* A client that sends commands but never reads is dropped once its
	 * unread output passes the cap, and the server goes on. */
	assert_true(write(b, caps, strlen(caps)) > 0);
	int rcv = 4096;
	setsockopt(b, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	const char *q = "{\"execute\": \"query-commands\"}";
	bool dropped = false;
	for (int i = 0; i < 20000 && !dropped; i++) {
		if (send(b, q, strlen(q), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EPIPE)
			dropped = true;
		pump(c, 1);
		if (i % 64 == 0) {
			struct pollfd p = { .fd = b, .events = 0 };
			dropped = poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
		}
	}
	assert_true(dropped);
	close(b);
	int d = connect_to(path);
	read_until(c, d, "\"QMP\"", buf, sizeof(buf));
	close(d);
	control_destroy(c);
	assert_int_equal(access(path, F_OK), -1); /* socket removed */
	rmdir(dir);
	strbuf_free(&fk.out);
}

static void test_chan_parse(void **state)
{
	struct chan_config c;
	char err[256];
	char longpath[200];

	assert_int_equal(chan_parse("unix:/tmp/a,server=on,wait=off", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, CHAN_UNIX);
	assert_string_equal(c.path, "/tmp/a");
	assert_false(c.wait);
	assert_int_equal(chan_parse("unix:/tmp/a,,b,server,nowait", &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, "/tmp/a,b");
	assert_false(c.wait);
	assert_int_equal(chan_parse("unix:/tmp/a,server", &c, err, sizeof(err)), 0);
	assert_true(c.wait);
	assert_int_equal(chan_parse("tcp:127.0.0.1:4444,server=on,wait=off", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "127.0.0.1");
	assert_string_equal(c.port, "4444");
	assert_int_equal(chan_parse("tcp:[::1]:5,server,nowait", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "::1");
	assert_int_equal(chan_parse("tcp::5,server,nowait", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "");
	assert_int_equal(chan_parse("stdio", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, CHAN_STDIO);

	static const char *const bad[] = {
		"foo:bar", "unix:/tmp/a", "unix:/tmp/a,server=off", "unix:,server",
		"unix:/tmp/a,server,wait=maybe", "unix:/tmp/a,server,bogus=1", "tcp:1.2.3.4,server",
		"tcp:1.2.3.4:0,server", "tcp:1.2.3.4:65536,server", "tcp:1.2.3.4:http,server",
		"tcp:h:1x,server", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (chan_parse(bad[i], &c, err, sizeof(err)) == 0)
			fail_msg("accepted '%s'", bad[i]);
	memset(longpath, 'p', sizeof(longpath));
	memcpy(longpath, "unix:/", 6);
	memcpy(longpath + 150, ",server", 8);
	assert_int_equal(chan_parse(longpath, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
}

/* qom-list-types: concrete types unless abstract, implements through
 * the parent chain; device-list-properties: QEMU's errors and the typed
 * default values. */
static void expect_names(struct qmp_fixture *f, const char *req, const char *names)
{
	struct json *r = cmd(f, req);
	const struct json *list = expect_return(r);
	char got[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < list->n; i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", i ? "," : "",
					json_object_get(list->items[i], "name")->str);
	assert_string_equal(got, names);
	json_free(r);
}

static void test_qom_queries(void **state)
{
	struct qmp_fixture *f = *state;

	negotiate(f);
	expect_names(f, "{\"execute\": \"qom-list-types\"}", "e1000,rtl8139,sb16");
	expect_names(f, "{\"execute\": \"qom-list-types\", \"arguments\": {\"abstract\": true}}",
		     "device,pci-device,e1000-base,e1000,rtl8139,isa-device,sb16");
	expect_names(f, "{\"execute\": \"qom-list-types\", \"arguments\": "
		     "{\"implements\": \"pci-device\"}}", "e1000,rtl8139");
	expect_names(f, "{\"execute\": \"qom-list-types\", \"arguments\": "
		     "{\"implements\": \"pci-device\", \"abstract\": true}}",
		     "pci-device,e1000-base,e1000,rtl8139");
	expect_names(f, "{\"execute\": \"qom-list-types\", \"arguments\": "
		     "{\"implements\": \"e1000-base\"}}", "e1000");
	expect_names(f, "{\"execute\": \"qom-list-types\", \"arguments\": "
		     "{\"implements\": \"nothing\"}}", "");
	struct json *r = cmd(f, "{\"execute\": \"qom-list-types\", \"arguments\": "
			     "{\"implements\": \"isa-device\", \"abstract\": true}}");
	const struct json *l = expect_return(r);
	assert_int_equal(l->n, 2);
	assert_true(json_object_get(l->items[0], "abstract")->boolean);
	assert_string_equal(json_object_get(l->items[0], "parent")->str, "device");
	assert_null(json_object_get(l->items[1], "abstract"));
	assert_string_equal(json_object_get(l->items[1], "parent")->str, "isa-device");
	json_free(r);

	expect_error(cmd(f, "{\"execute\": \"device-list-properties\", \"arguments\": "
			 "{\"typename\": \"nope\"}}"), "DeviceNotFound", "Device 'nope' not found");
	expect_error(cmd(f, "{\"execute\": \"device-list-properties\", \"arguments\": "
			 "{\"typename\": \"isa-device\"}}"), "GenericError",
		     "Parameter 'typename' expects a non-abstract device type");
	expect_error(cmd(f, "{\"execute\": \"device-list-properties\"}"), "GenericError",
		     "Parameter 'typename' is missing");
	r = cmd(f, "{\"execute\": \"device-list-properties\", \"arguments\": "
		"{\"typename\": \"sb16\"}}");
	l = expect_return(r);
	assert_int_equal(l->n, 4);
	char keys[128];
	keys_of(l->items[0], keys, sizeof(keys));
	assert_string_equal(keys, "default-value,description,name,type");
	assert_int_equal(jint(json_object_get(l->items[0], "default-value")), 0x220);
	keys_of(l->items[1], keys, sizeof(keys));
	assert_string_equal(keys, "name,type");
	assert_int_equal(json_object_get(l->items[2], "default-value")->type, JSON_BOOL);
	assert_string_equal(json_object_get(l->items[3], "default-value")->str, "x");
	json_free(r);
	assert_true(drained(f));
}

/* ---- query-qmp-schema --------------------------------------------------- */

static const struct json *schema_entry(const struct json *schema, const char *name)
{
	for (size_t i = 0; i < schema->n; i++)
		if (!strcmp(json_object_get(schema->items[i], "name")->str, name))
			return schema->items[i];
	fail_msg("type '%s' is referenced but not in the schema", name);
	return NULL;
}

static const char *str_member(const struct json *o, const char *key)
{
	const struct json *v = json_object_get(o, key);
	if (!v || v->type != JSON_STRING)
		fail_msg("SchemaInfo lacks string '%s'", key);
	return v->str;
}

/* A SchemaInfo has exactly the keys QEMU's has for its meta-type. */
static void check_schema_info(const struct json *schema, const struct json *e)
{
	static const struct { const char *meta, *keys; } shapes[] = {
		{ "command", "arg-type,meta-type,name,ret-type" },
		{ "event", "arg-type,meta-type,name" },
		{ "object", "members,meta-type,name" },
		{ "enum", "members,meta-type,name,values" },
		{ "array", "element-type,meta-type,name" },
		{ "builtin", "json-type,meta-type,name" },
	};
	const char *meta = str_member(e, "meta-type");
	char keys[256];
	size_t i;

	keys_of(e, keys, sizeof(keys));
	for (i = 0; i < ARRAY_SIZE(shapes) && strcmp(shapes[i].meta, meta); i++)
		;
	if (i == ARRAY_SIZE(shapes))
		fail_msg("unknown meta-type '%s'", meta);
	if (strcmp(keys, shapes[i].keys))
		fail_msg("%s '%s' has keys %s", meta, str_member(e, "name"), keys);
	if (!strcmp(meta, "command") || !strcmp(meta, "event")) {
		schema_entry(schema, str_member(e, "arg-type"));
		if (!strcmp(meta, "command"))
			schema_entry(schema, str_member(e, "ret-type"));
	} else if (!strcmp(meta, "array")) {
		schema_entry(schema, str_member(e, "element-type"));
	} else if (!strcmp(meta, "object")) {
		const struct json *members = json_object_get(e, "members");
		for (size_t m = 0; m < members->n; m++) {
			const struct json *d = json_object_get(members->items[m], "default");
			keys_of(members->items[m], keys, sizeof(keys));
			if (strcmp(keys, "name,type") && strcmp(keys, "default,name,type"))
				fail_msg("member of '%s' has keys %s", str_member(e, "name"), keys);
			assert_true(!d || d->type == JSON_NULL);
			schema_entry(schema, str_member(members->items[m], "type"));
		}
	} else if (!strcmp(meta, "enum")) {
		assert_int_equal(json_object_get(e, "values")->n, json_object_get(e, "members")->n);
	}
}

/* v is a value of the schema type named type: QMP's rules for each meta-type. */
static void check_value(const struct json *schema, const struct json *v, const char *type,
			const char *where)
{
	const struct json *t = schema_entry(schema, type);
	const char *meta = str_member(t, "meta-type");
	int64_t n;

	if (!strcmp(meta, "builtin")) {
		const char *jt = str_member(t, "json-type");
		bool ok = !strcmp(jt, "value") ||
			  (!strcmp(jt, "string") && v->type == JSON_STRING) ||
			  (!strcmp(jt, "int") && json_get_int(v, &n)) ||
			  (!strcmp(jt, "number") && v->type == JSON_NUMBER) ||
			  (!strcmp(jt, "boolean") && v->type == JSON_BOOL) ||
			  (!strcmp(jt, "null") && v->type == JSON_NULL);
		if (!ok)
			fail_msg("%s: not a %s", where, type);
	} else if (!strcmp(meta, "enum")) {
		const struct json *values = json_object_get(t, "values");
		size_t i = 0;
		if (v->type != JSON_STRING)
			fail_msg("%s: not a string of %s", where, type);
		while (i < values->n && strcmp(values->items[i]->str, v->str))
			i++;
		if (i == values->n)
			fail_msg("%s: '%s' is no value of %s", where, v->str, type);
	} else if (!strcmp(meta, "array")) {
		if (v->type != JSON_ARRAY)
			fail_msg("%s: not an array", where);
		for (size_t i = 0; i < v->n; i++)
			check_value(schema, v->items[i], str_member(t, "element-type"), where);
	} else {
		const struct json *members = json_object_get(t, "members");
		if (v->type != JSON_OBJECT)
			fail_msg("%s: not an object of %s", where, type);
		for (size_t k = 0; k < v->n; k++) {
			size_t m = 0;
			while (m < members->n && strcmp(str_member(members->items[m], "name"), v->keys[k]))
				m++;
			if (m == members->n)
				fail_msg("%s: member '%s' is not in %s", where, v->keys[k], type);
			check_value(schema, v->items[k], str_member(members->items[m], "type"), v->keys[k]);
		}
		for (size_t m = 0; m < members->n; m++)
			if (!json_object_get(members->items[m], "default") &&
			    !json_object_get(v, str_member(members->items[m], "name")))
				fail_msg("%s: %s lacks '%s'", where, type,
					 str_member(members->items[m], "name"));
	}
}

/* Each argument the schema names is known to the command with the type
 * it says; each one it requires is required; nothing else is taken. */
static void check_command_args(struct qmp_fixture *f, const struct json *schema,
			       const char *name, const struct json *args)
{
	const struct json *members = json_object_get(args, "members");
	char req[512], want[128];

	snprintf(req, sizeof(req), "{\"execute\": \"%s\", \"arguments\": {\"no-such\": 1}}", name);
	expect_error(cmd(f, req), "GenericError", "Parameter 'no-such' is unexpected");
	/* without arguments, only a member the schema requires may be missing
	 * (the fake machine takes whatever the command then does) */
	snprintf(req, sizeof(req), "{\"execute\": \"%s\"}", name);
	struct json *r = cmd(f, req);
	const struct json *err = json_object_get(r, "error");
	const char *desc = err ? json_object_get(err, "desc")->str : "";
	if (strstr(desc, "' is missing")) {
		size_t m = 0;
		while (m < members->n &&
		       (json_object_get(members->items[m], "default") ||
			strncmp(desc + strlen("Parameter '"), str_member(members->items[m], "name"),
				strlen(str_member(members->items[m], "name")))))
			m++;
		if (m == members->n)
			fail_msg("%s: '%s' but the schema requires no such member", name, desc);
	}
	json_free(r);
	for (size_t m = 0; m < members->n; m++) {
		const char *arg = str_member(members->items[m], "name");
		const char *type = str_member(members->items[m], "type");
		const char *jt = "";
		const struct json *t = schema_entry(schema, type);
		if (!strcmp(str_member(t, "meta-type"), "builtin"))
			jt = str_member(t, "json-type");
		if (!strcmp(jt, "value"))
			continue; /* any value is of its type */
		snprintf(req, sizeof(req), "{\"execute\": \"%s\", \"arguments\": {\"%s\": %s}}", name,
			 arg, !strcmp(jt, "string") || !strcmp(str_member(t, "meta-type"), "enum")
			 ? "true" : "\"x\"");
		snprintf(want, sizeof(want), "Invalid parameter type for '%s'", arg);
		expect_error(cmd(f, req), "GenericError", want);
		if (!json_object_get(members->items[m], "default")) {
			snprintf(req, sizeof(req), "{\"execute\": \"%s\", \"arguments\": {}}", name);
			/* the first required member is the one reported missing */
			bool first = true;
			for (size_t p = 0; p < m; p++)
				first &= json_object_get(members->items[p], "default") != NULL;
			snprintf(want, sizeof(want), "Parameter '%s' is missing", arg);
			if (first)
				expect_error(cmd(f, req), "GenericError", want);
		}
	}
}

static void test_qmp_schema(void **state)
{
	struct qmp_fixture *f = *state;

	negotiate(f);
	/* a migration under way: query-migrate's fullest answer */
	f->fake.mig = (struct vmctl_migration){ .status = "active", .has_stats = true };
	struct json *r = cmd(f, "{\"execute\": \"query-qmp-schema\"}");
	const struct json *schema = expect_return(r);
	struct json *cr = cmd(f, "{\"execute\": \"query-commands\"}");
	const struct json *commands = expect_return(cr);
	size_t ncommands = 0, nevents = 0;

	for (size_t i = 0; i < schema->n; i++) {
		const struct json *e = schema->items[i];
		check_schema_info(schema, e);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(str_member(e, "name"), str_member(schema->items[j], "name")))
				fail_msg("'%s' twice in the schema", str_member(e, "name"));
		if (!strcmp(str_member(e, "meta-type"), "event"))
			nevents++;
		if (strcmp(str_member(e, "meta-type"), "command"))
			continue;
		ncommands++;
		/* every command in the schema is one query-commands lists... */
		size_t c = 0;
		while (c < commands->n &&
		       strcmp(str_member(commands->items[c], "name"), str_member(e, "name")))
			c++;
		if (c == commands->n)
			fail_msg("schema command '%s' is not dispatched", str_member(e, "name"));
		if (strcmp(str_member(e, "name"), "qmp_capabilities"))
			check_command_args(f, schema, str_member(e, "name"),
					   schema_entry(schema, str_member(e, "arg-type")));
	}
	/* ...and every command dispatched is in the schema */
	assert_int_equal(ncommands, commands->n);
	assert_true(nevents >= 10);
	check_value(schema, schema, "[SchemaInfo]", "query-qmp-schema");
	check_value(schema, commands, "[CommandInfo]", "query-commands");

	/* each query without required arguments answers in its return type */
	for (size_t i = 0; i < schema->n; i++) {
		const struct json *e = schema->items[i];
		const char *name = str_member(e, "name");
		char req[256];
		if (strcmp(str_member(e, "meta-type"), "command") ||
		    (strncmp(name, "query-", 6) && strncmp(name, "x-query-", 8)) ||
		    json_object_get(schema_entry(schema, str_member(e, "arg-type")), "members")->n)
			continue;
		snprintf(req, sizeof(req), "{\"execute\": \"%s\"}", name);
		struct json *q = cmd(f, req);
		const struct json *ret = json_object_get(q, "return");
		if (ret)
			check_value(schema, ret, str_member(e, "ret-type"), name);
		json_free(q);
	}
	json_free(cr);
	json_free(r);
	assert_true(drained(f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_negotiation, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_migration_commands, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_status_stop_cont, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_events, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_queries, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_framing, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_huge_and_deep, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_balloon, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_set_action, qmp_setup, qmp_teardown),
		cmocka_unit_test(test_monitor),
		cmocka_unit_test_setup_teardown(test_dirty_log_hooks, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_state_roundtrip, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_query_exits, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_jobs, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_set_link, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_query_block, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_removable_media, qmp_setup, qmp_teardown),
		cmocka_unit_test(test_monitor_block),
		cmocka_unit_test_setup_teardown(test_human_monitor_command, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_introspection_queries, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_lacking_commands, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_qmp_schema, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_qom_queries, qmp_setup, qmp_teardown),
		cmocka_unit_test(test_monitor_set_link),
		cmocka_unit_test(test_monitor_gdbserver),
		cmocka_unit_test(test_monitor_migrate),
		cmocka_unit_test(test_monitor_balloon),
		cmocka_unit_test(test_chan_parse),
		cmocka_unit_test(test_socket_clients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
