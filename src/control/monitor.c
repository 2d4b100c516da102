// SPDX-License-Identifier: GPL-2.0-or-later
/* A few of QEMU's human monitor commands, with the same output where QEMU's
 * is worth matching (scripts grep "VM status: running"). */
#include "monitor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/virtio_balloon.h"
#include "input.h"
#include "json.h"
#include "util.h"
#include "vnc.h"

struct monitor_session {
	struct vmctl ctl;
	monitor_sink sink;
	void *sink_opaque;
	char line[MONITOR_MAX_LINE];
	size_t len;
	bool overflow; /* discarding the rest of an overlong line */
	unsigned cpu;  /* the current vCPU (cpu N): x, info registers, p $reg */
};

/* x, xp and p take the format and size of the previous one that named
 * them, in any monitor (human-monitor-command's included), as QEMU's do. */
static _Atomic char default_fmt = 'x', default_size = 'w';

static void out(struct monitor_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out(struct monitor_session *s, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		s->sink(s->sink_opaque, buf, MIN((size_t)n, sizeof(buf) - 1));
}

static void prompt(struct monitor_session *s)
{
	out(s, "(vmm) ");
}

/* QEMU's form: "paused (postmigrate)" for a state beyond running/paused. */
static void info_status(struct monitor_session *s)
{
	bool running = s->ctl.ops->running(s->ctl.opaque);
	const char *state = s->ctl.ops->run_state ? s->ctl.ops->run_state(s->ctl.opaque) : NULL;

	if (state && !running)
		out(s, "VM status: paused (%s)\n", state);
	else
		out(s, "VM status: %s\n", running ? "running" : "paused");
}

/* info uuid: -uuid's, or QEMU's nil UUID. */
static void info_uuid(struct monitor_session *s)
{
	uint8_t u[16] = { 0 };

	if (!s->ctl.ops->uuid || !s->ctl.ops->uuid(s->ctl.opaque, u))
		memset(u, 0, sizeof(u));
	out(s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n", u[0],
	    u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
	    u[15]);
}

/* Base memory only: vmm has no memory hotplug. */
static void info_memory_size_summary(struct monitor_session *s)
{
	uint64_t ram = s->ctl.ops->ram_size ? s->ctl.ops->ram_size(s->ctl.opaque) : 0;
	out(s, "base memory: %llu\nplugged memory: 0\n", (unsigned long long)ram);
}

/* The memory backends, in QEMU's layout (query-memdev's figures). */
static void info_memdev(struct monitor_session *s)
{
	struct vmctl_memdev d[8];
	unsigned n = s->ctl.ops->memdevs ? s->ctl.ops->memdevs(s->ctl.opaque, d, 8) : 0;

	for (unsigned i = 0; i < n; i++)
		out(s, "memory backend: %s\n  size:  %llu\n  merge: %s\n  dump: %s\n"
		    "  prealloc: %s\n  share: %s\n  reserve: %s\n  policy: default\n\n", d[i].id,
		    (unsigned long long)d[i].size, d[i].merge ? "true" : "false",
		    d[i].dump ? "true" : "false", d[i].prealloc ? "true" : "false",
		    d[i].share ? "true" : "false", d[i].reserve ? "true" : "false");
}

/* No iothreads, no TPM: QEMU prints nothing for a machine without them. */
static void info_nothing(struct monitor_session *s)
{
	(void)s;
}

static void info_migrate(struct monitor_session *s)
{
	struct vmctl_migration mi;

	if (!s->ctl.ops->query_migrate)
		return;
	s->ctl.ops->query_migrate(s->ctl.opaque, &mi);
	out(s, "capabilities: events: %s\n", mi.events ? "on" : "off");
	if (!strcmp(mi.status, "none"))
		return;
	out(s, "Migration status: %s\n", mi.status);
	if (mi.error)
		out(s, "error: %s\n", mi.error);
	if (!mi.has_stats)
		return;
	out(s, "setup: %lld ms\ntotal time: %lld ms\n%s: %lld ms\n", (long long)mi.setup_ms,
	    (long long)mi.total_ms, strcmp(mi.status, "completed") ? "expected downtime" : "downtime",
	    (long long)mi.downtime_ms);
	out(s, "transferred ram: %llu kbytes\nremaining ram: %llu kbytes\ntotal ram: %llu kbytes\n"
	    "duplicate: %llu pages\nnormal: %llu pages\nnormal bytes: %llu kbytes\n"
	    "dirty sync count: %llu\n",
	    (unsigned long long)(mi.transferred >> 10), (unsigned long long)(mi.remaining >> 10),
	    (unsigned long long)(mi.total >> 10), (unsigned long long)mi.duplicate,
	    (unsigned long long)mi.normal, (unsigned long long)(mi.normal * 4),
	    (unsigned long long)mi.dirty_sync_count);
}

/* migrate [-d] URI: as QMP's; -d (detach) is accepted, the transfer runs
 * from the main loop either way. */
static void cmd_migrate(struct monitor_session *s, const char *arg)
{
	char err[256];

	if (!strncmp(arg, "-d", 2) && (arg[2] == ' ' || arg[2] == '\t'))
		arg += 2 + strspn(arg + 2, " \t");
	if (!*arg) {
		out(s, "Error: migrate: expected a URI\n");
		return;
	}
	if (!s->ctl.ops->migrate)
		out(s, "Error: migration is not available\n");
	else if (s->ctl.ops->migrate(s->ctl.opaque, arg, err, sizeof(err)) < 0)
		out(s, "Error: %s\n", err);
}

/* migrate_set_parameter downtime-limit MS | max-bandwidth BYTES/S
 * (QEMU's underscore spellings too) */
static void cmd_migrate_set_parameter(struct monitor_session *s, const char *arg)
{
	char name[32];
	const char *value = arg + strcspn(arg, " \t");
	size_t len = (size_t)(value - arg);
	uint64_t v;

	value += strspn(value, " \t");
	const char *end = scan_uint(value, 10, &v);
	if (!len || len >= sizeof(name) || !end || *end) {
		out(s, "Error: migrate_set_parameter: expected NAME VALUE\n");
		return;
	}
	memcpy(name, arg, len);
	name[len] = 0;
	for (char *c = name; *c; c++)
		if (*c == '_')
			*c = '-';
	int ret = s->ctl.ops->migrate_set_parameter
			  ? s->ctl.ops->migrate_set_parameter(s->ctl.opaque, name, v) : -ENOENT;
	if (ret == -ENOENT)
		out(s, "Error: Parameter '%s' is not supported by vmm (downtime-limit, "
		    "max-bandwidth)\n", name);
	else if (ret == -ERANGE)
		out(s, "Error: Parameter '%s' is out of range\n", name);
	else if (ret < 0)
		out(s, "Error: There's a migration process in progress\n");
}

static void info_migrate_parameters(struct monitor_session *s)
{
	struct vmctl_migration mi;

	if (!s->ctl.ops->query_migrate)
		return;
	s->ctl.ops->query_migrate(s->ctl.opaque, &mi);
	out(s, "downtime-limit: %llu ms\nmax-bandwidth: %llu bytes/second\n",
	    (unsigned long long)mi.downtime_limit_ms, (unsigned long long)mi.max_bandwidth);
}

static void cmd_migrate_cancel(struct monitor_session *s, const char *arg)
{
	if (s->ctl.ops->migrate_cancel)
		s->ctl.ops->migrate_cancel(s->ctl.opaque);
}

/* migrate_set_capability NAME on|off */
static void cmd_migrate_set_capability(struct monitor_session *s, const char *arg)
{
	char name[64];
	const char *state = arg + strcspn(arg, " \t");
	size_t len = (size_t)(state - arg);

	state += strspn(state, " \t");
	if (!len || len >= sizeof(name) || (strcmp(state, "on") && strcmp(state, "off"))) {
		out(s, "Error: migrate_set_capability: expected NAME on|off\n");
		return;
	}
	memcpy(name, arg, len);
	name[len] = 0;
	int ret = s->ctl.ops->migrate_set_capability
			  ? s->ctl.ops->migrate_set_capability(s->ctl.opaque, name, !strcmp(state, "on"))
			  : -ENOENT;
	if (ret == -ENOENT)
		out(s, "Error: Capability '%s' is not supported by vmm\n", name);
	else if (ret < 0)
		out(s, "Error: There's a migration process in progress\n");
}

static void info_cpus(struct monitor_session *s)
{
	struct vmctl_cpu cpus[256];
	unsigned n = s->ctl.ops->cpus(s->ctl.opaque, cpus, ARRAY_SIZE(cpus));

	for (unsigned i = 0; i < n && i < ARRAY_SIZE(cpus); i++)
		out(s, "%c CPU #%u: thread_id=%ld\n", i == 0 ? '*' : ' ', cpus[i].index,
		    (long)cpus[i].thread_id);
}

static void info_version(struct monitor_session *s)
{
	out(s, "%s (vmm %s)\n", VMM_QEMU_VERSION, VMM_VERSION);
}

/* QEMU prints "balloon: actual=MB"; the guest's figures follow, as
 * name=value pairs, once the driver has reported them. */
static void info_balloon(struct monitor_session *s)
{
	struct vmctl_balloon b;
	char line[512];
	int n;

	if (!s->ctl.ops->balloon_query || s->ctl.ops->balloon_query(s->ctl.opaque, &b) < 0) {
		out(s, "Error: No balloon device has been activated\n");
		return;
	}
	n = snprintf(line, sizeof(line), "balloon: actual=%llu", (unsigned long long)(b.actual >> 20));
	for (unsigned t = 0; t < VMCTL_BALLOON_NSTATS; t++) {
		const char *name = virtio_balloon_stat_name(t);
		if (name && (b.stats_valid & (1u << t)) && n > 0 && (size_t)n < sizeof(line))
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%llu", name,
				      (unsigned long long)b.stats[t]);
	}
	out(s, "%s\n", line);
}

/* QEMU's layout of "info vnc". */
static void info_vnc(struct monitor_session *s)
{
	struct vnc *v = vnc_current();
	struct vnc_info i;

	if (!v) {
		out(s, "VNC is disabled\n");
		return;
	}
	vnc_query(v, &i);
	out(s, "default:\n");
	if (!strcmp(i.family, "unix"))
		out(s, "  Server: %s (unix)\n", i.host);
	else
		out(s, "  Server: %s:%s (%s)\n", i.host, i.service, i.family);
	out(s, "    Auth: %s (Sub: none)\n", i.auth);
	out(s, "  Clients: %u\n", i.clients);
}

static void info_mice(struct monitor_session *s)
{
	if (input_has_mouse())
		out(s, "* Mouse #0: QEMU PS/2 Mouse\n");
	else
		out(s, "No mouse devices connected\n");
}

/* QEMU's layout of "info network" for a NIC and the backend under it (a
 * NIC without id= is MODEL.N, as QEMU names it), then the cable's state,
 * which QEMU does not print, on a line of its own. */
static void info_network(struct monitor_session *s)
{
	struct vmctl_nic nics[32];
	unsigned n = s->ctl.ops->nics ? s->ctl.ops->nics(s->ctl.opaque, nics, ARRAY_SIZE(nics)) : 0;

	for (unsigned i = 0; i < n && i < ARRAY_SIZE(nics); i++) {
		const struct vmctl_nic *c = &nics[i];
		const uint8_t *m = c->mac;
		unsigned same = 0;
		for (unsigned j = 0; j < i; j++)
			same += !strcmp(nics[j].model, c->model);
		if (c->id)
			out(s, "%s: ", c->id);
		else
			out(s, "%s.%u: ", c->model, same);
		out(s, "index=0,type=nic,model=%s,macaddr=%02x:%02x:%02x:%02x:%02x:%02x\n", c->model,
		    m[0], m[1], m[2], m[3], m[4], m[5]);
		out(s, " \\ %s: index=0,type=netdev\n", c->netdev ? c->netdev : "?");
		out(s, "   link: %s\n", c->link_up ? "up" : "down");
	}
}

/* set_link NAME on|off: QEMU's (a NIC's id= or its -netdev's id). */
static void cmd_set_link(struct monitor_session *s, const char *arg)
{
	char name[128];
	const char *state = arg + strcspn(arg, " \t");
	size_t len = (size_t)(state - arg);

	state += strspn(state, " \t");
	if (!len || len >= sizeof(name) || (strcmp(state, "on") && strcmp(state, "off"))) {
		out(s, "Error: set_link: expected NAME on|off\n");
		return;
	}
	memcpy(name, arg, len);
	name[len] = 0;
	if (!s->ctl.ops->set_link ||
	    s->ctl.ops->set_link(s->ctl.opaque, name, !strcmp(state, "on")) < 0)
		out(s, "Error: Device '%s' not found\n", name);
}

/* ---- VM snapshots: savevm, loadvm, delvm, info snapshots ---- */

static void snapshot_cmd(struct monitor_session *s, enum vmctl_snapshot_op op, const char *arg,
			 const char *usage)
{
	/* savevm replaces a snapshot of the same name, as QEMU's does */
	const struct vmctl_snapshot_req req = { .tag = arg, .overwrite = true };
	char err[256];

	if (!s->ctl.ops->snapshot) {
		out(s, "Error: this machine has no snapshots\n");
		return;
	}
	if (op != VMCTL_SNAPSHOT_SAVE && !*arg) {
		out(s, "Error: %s\n", usage);
		return;
	}
	if (s->ctl.ops->snapshot(s->ctl.opaque, op, &req, err, sizeof(err)) < 0)
		out(s, "Error: %s\n", err);
}

static void cmd_savevm(struct monitor_session *s, const char *arg)
{
	snapshot_cmd(s, VMCTL_SNAPSHOT_SAVE, arg, NULL);
}

static void cmd_loadvm(struct monitor_session *s, const char *arg)
{
	snapshot_cmd(s, VMCTL_SNAPSHOT_LOAD, arg, "loadvm: expected a snapshot name");
}

static void cmd_delvm(struct monitor_session *s, const char *arg)
{
	snapshot_cmd(s, VMCTL_SNAPSHOT_DELETE, arg, "delvm: expected a snapshot name");
}

static void print_to_session(void *ctx, const char *text)
{
	out(ctx, "%s", text);
}

static void info_snapshots(struct monitor_session *s)
{
	if (!s->ctl.ops->snapshot_info)
		out(s, "No available block device supports snapshots\n");
	else
		s->ctl.ops->snapshot_info(s->ctl.opaque, print_to_session, s);
}

/* ---- block devices and removable media ---- */

#define MAX_BLOCKS 32

static unsigned list_blocks(struct monitor_session *s, struct vmctl_block **b)
{
	*b = xzalloc(MAX_BLOCKS * sizeof(**b));
	return s->ctl.ops->blocks ? s->ctl.ops->blocks(s->ctl.opaque, *b, MAX_BLOCKS) : 0;
}

/* QEMU's layout of "info block". */
static void info_block(struct monitor_session *s)
{
	struct vmctl_block *b;
	unsigned n = list_blocks(s, &b);

	for (unsigned i = 0; i < n; i++) {
		const struct vmctl_block *k = &b[i];
		if (i)
			out(s, "\n");
		if (k->inserted)
			out(s, "%s (#block%03u): %s (%s%s)\n", k->device, (k->node * 2) % 1000, k->file,
			    k->format, k->ro ? ", read-only" : "");
		else
			out(s, "%s: [not inserted]\n", k->device);
		out(s, "    Attached to:      %s\n", k->qdev);
		if (k->removable)
			out(s, "    Removable device: %slocked, tray %s\n", k->locked ? "" : "not ",
			    k->tray_open ? "open" : "closed");
		if (!k->inserted)
			continue;
		out(s, "    Cache mode:       %s%s%s\n", k->cache_writeback ? "writeback" : "writethrough",
		    k->cache_direct ? ", direct" : "", k->cache_no_flush ? ", ignore flushes" : "");
		if (k->backing_file)
			out(s, "    Backing file:     %s (chain depth: %u)\n", k->backing_file,
			    k->backing_depth);
	}
	free(b);
}

static void info_blockstats(struct monitor_session *s)
{
	struct vmctl_block *b;
	unsigned n = list_blocks(s, &b);

	for (unsigned i = 0; i < n; i++) {
		const struct vmctl_block_stats *t = &b[i].stats;
		out(s, "%s: rd_bytes=%llu wr_bytes=%llu rd_operations=%llu wr_operations=%llu "
		    "flush_operations=%llu wr_total_time_ns=%llu rd_total_time_ns=%llu "
		    "flush_total_time_ns=%llu rd_merged=0 wr_merged=0 idle_time_ns=%lld\n",
		    b[i].device, (unsigned long long)t->rd_bytes, (unsigned long long)t->wr_bytes,
		    (unsigned long long)t->rd_operations, (unsigned long long)t->wr_operations,
		    (unsigned long long)t->flush_operations, (unsigned long long)t->wr_total_time_ns,
		    (unsigned long long)t->rd_total_time_ns, (unsigned long long)t->flush_total_time_ns,
		    (long long)(t->idle_time_ns < 0 ? 0 : t->idle_time_ns));
	}
	free(b);
}

/* Splits the next blank-separated word off *p into w; false if none. */
static bool next_word(const char **p, char *w, size_t len)
{
	const char *a = *p + strspn(*p, " \t");
	size_t n = strcspn(a, " \t");

	if (!n || n >= len)
		return false;
	memcpy(w, a, n);
	w[n] = 0;
	*p = a + n;
	return true;
}

/* eject [-f] DEVICE: QEMU's. */
static void cmd_eject(struct monitor_session *s, const char *arg)
{
	char dev[128], err[256];
	bool force = false;

	if (!strncmp(arg, "-f", 2) && (arg[2] == ' ' || arg[2] == '\t')) {
		force = true;
		arg += 2;
	}
	if (!next_word(&arg, dev, sizeof(dev)) || arg[strspn(arg, " \t")]) {
		out(s, "Error: eject: expected [-f] DEVICE\n");
		return;
	}
	if (!s->ctl.ops->block_tray)
		out(s, "Error: Device '%s' not found\n", dev);
	else if (s->ctl.ops->block_tray(s->ctl.opaque, dev, NULL, VMCTL_EJECT, force, err,
					sizeof(err)))
		out(s, "Error: %s\n", err);
}

/* change DEVICE FILE [FORMAT [READ-ONLY-MODE]]: QEMU's (blockdev-change-medium). */
static void cmd_change(struct monitor_session *s, const char *arg)
{
	char dev[128], file[MONITOR_MAX_LINE], fmt[32], ro[32], err[512];
	bool has_fmt, has_ro;

	if (!next_word(&arg, dev, sizeof(dev)) || !next_word(&arg, file, sizeof(file))) {
		out(s, "Error: change: expected DEVICE FILE [FORMAT [READ-ONLY-MODE]]\n");
		return;
	}
	has_fmt = next_word(&arg, fmt, sizeof(fmt));
	has_ro = has_fmt && next_word(&arg, ro, sizeof(ro));
	if (arg[strspn(arg, " \t")]) {
		out(s, "Error: change: expected DEVICE FILE [FORMAT [READ-ONLY-MODE]]\n");
		return;
	}
	if (!s->ctl.ops->block_change_medium)
		out(s, "Error: Device '%s' not found\n", dev);
	else if (s->ctl.ops->block_change_medium(s->ctl.opaque, dev, NULL, file,
						 has_fmt ? fmt : NULL, has_ro ? ro : NULL, false,
						 err, sizeof(err)))
		out(s, "Error: %s\n", err);
}

/* ---- inspection: x, xp, p, cpu, info registers/pci/chardev/mtree ---- */

#define MAX_DUMP_BYTES (64 * 1024) /* x/xp: count * size at most */
#define EXPR_MAX_DEPTH 32

struct expr {
	struct monitor_session *s;
	const char *p;
	const char *err; /* the first error */
	unsigned depth;
};

static void skip_blanks(struct expr *e)
{
	e->p += strspn(e->p, " \t");
}

static uint64_t expr_sum(struct expr *e);

/* A number (C's bases: 0x, 0, decimal), a register ($name, $pc), a
 * parenthesised expression, or a unary -, +, ~. */
static uint64_t expr_unary(struct expr *e)
{
	uint64_t v = 0;

	skip_blanks(e);
	if (e->err)
		return 0;
	if (e->depth >= EXPR_MAX_DEPTH) {
		e->err = "expression nested too deeply";
		return 0;
	}
	e->depth++;
	char c = *e->p;
	if (c == '-' || c == '+' || c == '~') {
		e->p++;
		v = expr_unary(e);
		v = c == '-' ? (uint64_t)0 - v : c == '~' ? ~v : v;
	} else if (c == '(') {
		e->p++;
		v = expr_sum(e);
		skip_blanks(e);
		if (e->err)
			;
		else if (*e->p != ')')
			e->err = "')' expected";
		else
			e->p++;
	} else if (c == '$') {
		char name[16];
		size_t n = strspn(++e->p, "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (!n || n >= sizeof(name)) {
			e->err = "invalid register name";
		} else {
			memcpy(name, e->p, n);
			name[n] = 0;
			e->p += n;
			if (!e->s->ctl.ops->cpu_register ||
			    e->s->ctl.ops->cpu_register(e->s->ctl.opaque, e->s->cpu, name, &v) < 0)
				e->err = "unknown register";
		}
	} else if (c >= '0' && c <= '9') {
		const char *end = scan_uint(e->p, 0, &v);
		if (!end)
			e->err = "invalid number";
		else
			e->p = end;
	} else {
		e->err = c ? "invalid char in expression" : "unexpected end of expression";
	}
	e->depth--;
	return v;
}

static uint64_t expr_product(struct expr *e)
{
	uint64_t v = expr_unary(e);

	for (;;) {
		skip_blanks(e);
		char op = *e->p;
		if (e->err || (op != '*' && op != '/' && op != '%' && op != '&'))
			return v;
		e->p++;
		uint64_t r = expr_unary(e);
		if ((op == '/' || op == '%') && !r) {
			e->err = "division by zero";
			return 0;
		}
		v = op == '*' ? v * r : op == '/' ? v / r : op == '%' ? v % r : v & r;
	}
}

static uint64_t expr_sum(struct expr *e)
{
	uint64_t v = expr_product(e);

	for (;;) {
		skip_blanks(e);
		char op = *e->p;
		if (e->err || (op != '+' && op != '-' && op != '|' && op != '^'))
			return v;
		e->p++;
		uint64_t r = expr_product(e);
		v = op == '+' ? v + r : op == '-' ? v - r : op == '|' ? (v | r) : (v ^ r);
	}
}

/* Evaluates 'text' whole; false with the reason printed. */
static bool eval(struct monitor_session *s, const char *text, uint64_t *v)
{
	struct expr e = { .s = s, .p = text };

	*v = expr_sum(&e);
	skip_blanks(&e);
	if (!e.err && *e.p)
		e.err = "invalid char in expression";
	if (e.err)
		out(s, "Error: %s\n", e.err);
	return !e.err;
}

/* "/[count][format][size]": QEMU's; false with the reason printed. */
static bool parse_fmt(struct monitor_session *s, const char **arg, uint64_t *count, char *fmt,
		      char *size)
{
	const char *p = *arg;

	*count = 1;
	*fmt = default_fmt;
	*size = default_size;
	if (*p != '/')
		return true;
	p++;
	if (*p >= '0' && *p <= '9') {
		const char *end = scan_uint(p, 10, count);
		if (!end) {
			out(s, "Error: invalid count\n");
			return false;
		}
		p = end;
	}
	for (; *p && *p != ' ' && *p != '\t'; p++) {
		if (strchr("xduoc", *p)) {
			*fmt = *p;
		} else if (strchr("bhwg", *p)) {
			*size = *p;
		} else if (*p == 'i') {
			out(s, "Error: format 'i' (disassembly) is not supported by vmm\n");
			return false;
		} else {
			out(s, "Error: invalid char in format: '%c'\n", *p);
			return false;
		}
	}
	*arg = p + strspn(p, " \t");
	default_fmt = *fmt;
	default_size = *size;
	return true;
}

static void print_char(struct monitor_session *s, uint8_t c)
{
	if (c == '\\' || c == '\'')
		out(s, " '\\%c'", c);
	else if (c == '\n')
		out(s, " '\\n'");
	else if (c == '\r')
		out(s, " '\\r'");
	else if (c >= 32 && c < 127)
		out(s, " '%c'", c);
	else
		out(s, " '\\x%02x'", c);
}

static void print_item(struct monitor_session *s, char fmt, unsigned wsize, uint64_t v)
{
	unsigned bits = wsize * 8;

	switch (fmt) {
	case 'x':
		out(s, " 0x%0*llx", (int)(wsize * 2), (unsigned long long)v);
		break;
	case 'o':
		out(s, " %#*llo", (int)((bits + 2) / 3), (unsigned long long)v);
		break;
	case 'u':
		out(s, " %*llu", (int)((bits * 10 + 32) / 33), (unsigned long long)v);
		break;
	case 'd': {
		int64_t sv = bits == 64 ? (int64_t)v : (int64_t)(v << (64 - bits)) >> (64 - bits);
		out(s, " %*lld", (int)((bits * 10 + 32) / 33), (long long)sv);
		break;
	}
	case 'c':
		print_char(s, (uint8_t)v);
		break;
	}
}

/* x and xp: count items of 'size' at 'addr', 16 bytes a line (8 for
 * bytes), each line read from the guest at once; a line that is not all
 * guest RAM ends the dump with QEMU's "Cannot access memory". */
static void memory_dump(struct monitor_session *s, const char *arg, bool physical)
{
	uint64_t count, addr;
	char fmt, size;

	if (!parse_fmt(s, &arg, &count, &fmt, &size))
		return;
	if (!*arg) {
		out(s, "Error: %s: expected /FMT ADDR\n", physical ? "xp" : "x");
		return;
	}
	if (!eval(s, arg, &addr))
		return;
	unsigned wsize = size == 'b' ? 1 : size == 'h' ? 2 : size == 'w' ? 4 : 8;
	if (count > MAX_DUMP_BYTES / wsize) {
		out(s, "Error: at most %u bytes at a time\n", MAX_DUMP_BYTES);
		return;
	}
	if (!s->ctl.ops->read_memory) {
		out(s, "Error: no guest memory to read\n");
		return;
	}
	/* As QEMU: c prints every byte of count items of the size in force */
	uint64_t left = count * wsize;
	if (fmt == 'c')
		wsize = 1;
	unsigned line = wsize == 1 ? 8 : 16;
	while (left) {
		uint8_t buf[16];
		unsigned n = (unsigned)MIN(left, (uint64_t)line);
		out(s, "%016llx:", (unsigned long long)addr);
		int r = addr + n < addr ? -EFAULT
					: s->ctl.ops->read_memory(s->ctl.opaque, physical ? -1 : (int)s->cpu,
								  addr, buf, n);
		if (r < 0) {
			out(s, " Cannot access memory\n");
			return;
		}
		for (unsigned i = 0; i < n; i += wsize) {
			uint64_t v = 0;
			for (unsigned b = 0; b < wsize; b++)
				v |= (uint64_t)buf[i + b] << (8 * b);
			print_item(s, fmt, wsize, v);
		}
		out(s, "\n");
		addr += n;
		left -= n;
	}
}

static void cmd_x(struct monitor_session *s, const char *arg)
{
	memory_dump(s, arg, false);
}

static void cmd_xp(struct monitor_session *s, const char *arg)
{
	memory_dump(s, arg, true);
}

/* p[/FMT] EXPR (print): in the format in force (x at first), as QEMU. */
static void cmd_print(struct monitor_session *s, const char *arg)
{
	uint64_t count, v;
	char fmt, size;

	if (!parse_fmt(s, &arg, &count, &fmt, &size))
		return;
	if (!*arg) {
		out(s, "Error: p: expected an expression\n");
		return;
	}
	if (!eval(s, arg, &v))
		return;
	switch (fmt) {
	case 'x':
		out(s, "%#llx\n", (unsigned long long)v);
		break;
	case 'o':
		out(s, "%#llo\n", (unsigned long long)v);
		break;
	case 'u':
		out(s, "%llu\n", (unsigned long long)v);
		break;
	case 'c':
		print_char(s, (uint8_t)v);
		out(s, "\n");
		break;
	default:
		out(s, "%lld\n", (long long)v);
		break;
	}
}

/* cpu N: the vCPU x, p and info registers look at. */
static void cmd_cpu(struct monitor_session *s, const char *arg)
{
	struct vmctl_cpu cpus[256];
	unsigned n = s->ctl.ops->cpus(s->ctl.opaque, cpus, ARRAY_SIZE(cpus));
	uint64_t v;
	const char *end = scan_uint(arg, 10, &v);

	if (!end || *end || v >= n)
		out(s, "Error: invalid CPU index\n");
	else
		s->cpu = (unsigned)v;
}

static void info_registers_of(struct monitor_session *s, unsigned cpu)
{
	if (!s->ctl.ops->cpu_registers ||
	    s->ctl.ops->cpu_registers(s->ctl.opaque, cpu, print_to_session, s) < 0)
		out(s, "Error: cannot read the registers of CPU %u\n", cpu);
}

/* info registers [-a]: the current vCPU's, or each one's under a
 * "CPU#N" heading. */
static void info_registers(struct monitor_session *s, const char *arg)
{
	struct vmctl_cpu cpus[256];

	if (strcmp(arg, "-a")) {
		info_registers_of(s, s->cpu);
		return;
	}
	unsigned n = s->ctl.ops->cpus(s->ctl.opaque, cpus, ARRAY_SIZE(cpus));
	for (unsigned i = 0; i < n && i < ARRAY_SIZE(cpus); i++) {
		out(s, "\nCPU#%u\n", i);
		info_registers_of(s, i);
	}
}

#define MAX_PCI 64

/* QEMU's layout of info pci. */
static void info_pci(struct monitor_session *s)
{
	struct vmctl_pci *d = xzalloc(MAX_PCI * sizeof(*d));
	unsigned n = s->ctl.ops->pci_devices ? s->ctl.ops->pci_devices(s->ctl.opaque, d, MAX_PCI) : 0;

	for (unsigned i = 0; i < n; i++) {
		const struct vmctl_pci *f = &d[i];
		const char *desc = f->desc;
		out(s, "  Bus %2u, device %3u, function %u:\n", f->bus, f->slot, f->function);
		if (desc)
			out(s, "    %s: PCI device %04x:%04x\n", desc, f->vendor, f->device);
		else
			out(s, "    Class %04x: PCI device %04x:%04x\n", f->class_code, f->vendor, f->device);
		out(s, "      PCI subsystem %04x:%04x\n", f->subsystem_vendor, f->subsystem);
		if (f->irq_pin)
			out(s, "      IRQ %u, pin %c\n", f->irq, 'A' + f->irq_pin - 1);
		for (unsigned b = 0; b < f->nbars; b++) {
			const struct vmctl_pci_bar *r = &f->bars[b];
			if (r->bar == 6)
				out(s, "      ROM: ");
			else
				out(s, "      BAR%d: ", r->bar);
			if (r->io && r->address == UINT64_MAX)
				out(s, "I/O (not mapped)\n");
			else if (r->io)
				out(s, "I/O at 0x%04llx [0x%04llx].\n", (unsigned long long)r->address,
				    (unsigned long long)(r->address + r->size - 1));
			else if (r->address == UINT64_MAX)
				out(s, "%s%s memory (not mapped)\n", r->mem64 ? "64 bit" : "32 bit",
				    r->prefetch ? " prefetchable" : "");
			else
				out(s, "%s%s memory at 0x%08llx [0x%08llx].\n",
				    r->mem64 ? "64 bit" : "32 bit", r->prefetch ? " prefetchable" : "",
				    (unsigned long long)r->address,
				    (unsigned long long)(r->address + r->size - 1));
		}
		out(s, "      id \"%s\"\n", f->qdev_id);
	}
	free(d);
}

#define MAX_CHARDEVS 32

static void info_chardev(struct monitor_session *s)
{
	struct vmctl_chardev *c = xzalloc(MAX_CHARDEVS * sizeof(*c));
	unsigned n = s->ctl.ops->chardevs ? s->ctl.ops->chardevs(s->ctl.opaque, c, MAX_CHARDEVS) : 0;

	for (unsigned i = 0; i < n; i++)
		out(s, "%s: filename=%s\n", c[i].label, c[i].filename);
	free(c);
}

static void info_mtree(struct monitor_session *s)
{
	if (s->ctl.ops->mtree)
		s->ctl.ops->mtree(s->ctl.opaque, print_to_session, s);
}

static void info_qtree(struct monitor_session *s)
{
	if (s->ctl.ops->qtree)
		s->ctl.ops->qtree(s->ctl.opaque, print_to_session, s);
}

static const struct {
	const char *name;
	void (*fn)(struct monitor_session *s);
	const char *help;
} infos[] = {
	{ "pci", info_pci, "show PCI info" },
	{ "chardev", info_chardev, "show the character devices" },
	{ "mtree", info_mtree, "show memory tree" },
	{ "qtree", info_qtree, "show device tree" },
	{ "block", info_block, "show the block devices" },
	{ "blockstats", info_blockstats, "show block device statistics" },
	{ "vnc", info_vnc, "show the vnc server status" },
	{ "mice", info_mice, "show which guest mouse is receiving events" },
	{ "status", info_status, "show the current VM status (running|paused)" },
	{ "uuid", info_uuid, "show the current VM UUID" },
	{ "cpus", info_cpus, "show infos for each CPU" },
	{ "version", info_version, "show the version of vmm" },
	{ "balloon", info_balloon, "show balloon information" },
	{ "network", info_network, "show the NICs, their netdevs and links" },
	{ "migrate", info_migrate, "show the migration status and figures" },
	{ "migrate_parameters", info_migrate_parameters, "show the migration parameters" },
	{ "snapshots", info_snapshots, "show the VM snapshots of the disks" },
	{ "memory_size_summary", info_memory_size_summary, "show the amount of initially allocated and present hotpluggable (if enabled) memory in bytes." },
	{ "memdev", info_memdev, "show memory backends" },
	{ "iothreads", info_nothing, "show iothreads" },
	{ "tpm", info_nothing, "show the TPM device" },
};

static void cmd_info(struct monitor_session *s, const char *arg)
{
	if (!strncmp(arg, "registers", 9) && (!arg[9] || arg[9] == ' ' || arg[9] == '\t')) {
		info_registers(s, arg + 9 + strspn(arg + 9, " \t"));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(infos); i++)
		if (!strcmp(arg, infos[i].name)) {
			infos[i].fn(s);
			return;
		}
	if (*arg)
		out(s, "unknown info sub-command: '%.64s'\n", arg);
	for (size_t i = 0; i < ARRAY_SIZE(infos); i++)
		out(s, "info %-18s -- %s\n", infos[i].name, infos[i].help);
	out(s, "info %-18s -- %s\n", "registers [-a]",
	    "show the CPU registers (-a: of every CPU)");
}

#define ACTION(fn_name, op)                                                       \
	static void fn_name(struct monitor_session *s, const char *arg)          \
	{                                                                         \
		s->ctl.ops->op(s->ctl.opaque);                                    \
	}
ACTION(cmd_stop, stop)

static void cmd_cont(struct monitor_session *s, const char *arg)
{
	char err[256];

	if (s->ctl.ops->cont(s->ctl.opaque, err, sizeof(err)) < 0)
		out(s, "Error: %s\n", err);
}
ACTION(cmd_reset, reset)
ACTION(cmd_powerdown, powerdown)
ACTION(cmd_quit, quit)

/* balloon MB: the guest RAM the balloon should leave, in MiB. */
static void cmd_balloon(struct monitor_session *s, const char *arg)
{
	char *end;
	errno = 0;
	long long mb = strtoll(arg, &end, 0);

	if (!*arg || *end || errno) {
		out(s, "Error: balloon: expected a size in MB, got '%.64s'\n", arg);
		return;
	}
	if (mb <= 0 || mb > (long long)(INT64_MAX >> 20)) {
		out(s, "Error: Parameter 'target' expects a size\n");
		return;
	}
	if (!s->ctl.ops->balloon_set || s->ctl.ops->balloon_set(s->ctl.opaque, (uint64_t)mb << 20) < 0)
		out(s, "Error: No balloon device has been activated\n");
}

/* screendump FILE [-f ppm|png] (QEMU's syntax; a format is also taken
 * from nothing else: PPM unless -f png). */
static void cmd_screendump(struct monitor_session *s, const char *arg)
{
	char path[1024], why[256] = "";
	int fmt = 0;
	const char *f = strstr(arg, " -f ");
	size_t n = f ? (size_t)(f - arg) : strlen(arg);

	if (f) {
		const char *name = f + 4;
		while (*name == ' ')
			name++;
		if (!strcmp(name, "png"))
			fmt = 1;
		else if (strcmp(name, "ppm")) {
			out(s, "Error: Parameter 'format' does not accept value '%.32s'\n", name);
			return;
		}
	}
	if (!n || n >= sizeof(path)) {
		out(s, "Error: screendump: expected a file name\n");
		return;
	}
	memcpy(path, arg, n);
	path[n] = 0;
	int r = s->ctl.ops->screendump ? s->ctl.ops->screendump(s->ctl.opaque, path, fmt, why,
								  sizeof(why))
				       : -ENODEV;
	if (r == -ENODEV)
		out(s, "Error: There is no QemuConsole I can screendump from.\n");
	else if (r < 0)
		out(s, "Error: %s\n", why);
}

/* sendkey KEYS: QEMU's syntax, keys joined by '-' ("ctrl-alt-delete"),
 * each a QKeyCode name or a set-1 number ("0x1c"); pressed in order, then
 * released in reverse order. */
static void cmd_sendkey(struct monitor_session *s, const char *arg)
{
	int keys[16];
	size_t n = 0;
	char name[32];
	const char *p = arg;

	while (*p && *p != ' ') {
		size_t len = strcspn(p, "- ");
		if (!len || len >= sizeof(name) || n == ARRAY_SIZE(keys)) {
			out(s, "Error: sendkey: expected keys like ctrl-alt-delete\n");
			return;
		}
		memcpy(name, p, len);
		name[len] = 0;
		char *end;
		unsigned long code = strtoul(name, &end, 0);
		int k = (name[0] >= '0' && name[0] <= '9' && len > 1 && !*end)
				? input_key_by_scancode((unsigned)MIN(code, 0x10000ul))
				: input_key_by_name(name);
		if (!k) {
			out(s, "Error: Parameter 'keys' does not accept value '%.31s'\n", name);
			return;
		}
		keys[n++] = k;
		p += len;
		if (*p == '-')
			p++;
	}
	if (!n) {
		out(s, "Error: sendkey: expected keys like ctrl-alt-delete\n");
		return;
	}
	for (size_t i = 0; i < n; i++)
		input_key(keys[i], true);
	for (size_t i = n; i-- > 0;)
		input_key(keys[i], false);
}

/* gdbserver [DEV]: QEMU's words, so scripts that wait for them work. */
static void cmd_gdbserver(struct monitor_session *s, const char *arg)
{
	const char *dev = *arg ? arg : "tcp::1234";
	char err[256];

	if (!s->ctl.ops->gdbserver) {
		out(s, "Error: no gdb stub in this machine\n");
		return;
	}
	if (s->ctl.ops->gdbserver(s->ctl.opaque, dev, err, sizeof(err)) < 0)
		out(s, "Error: gdbserver: %s\n", err);
	else if (!strcmp(dev, "none"))
		out(s, "Disabled gdbserver\n");
	else
		out(s, "Waiting for gdb connection on device '%.200s'\n", dev);
}

/* memsave / pmemsave ADDR SIZE FILE: ADDR and SIZE are expressions of
 * one word each (QEMU reads "16 /tmp/f" as a division; vmm does not). */
static void memory_save(struct monitor_session *s, const char *arg, bool physical)
{
	char a[128], n[128], err[512];
	uint64_t addr, size;
	const char *name = physical ? "pmemsave" : "memsave";

	if (!next_word(&arg, a, sizeof(a)) || !next_word(&arg, n, sizeof(n)) ||
	    !*(arg += strspn(arg, " \t"))) {
		out(s, "Error: %s: expected ADDR SIZE FILE\n", name);
		return;
	}
	if (!eval(s, a, &addr) || !eval(s, n, &size))
		return;
	if (vmctl_memsave(&s->ctl, physical ? -1 : (int)s->cpu, addr, size, arg, err,
			  sizeof(err)) < 0)
		out(s, "Error: %s\n", err);
}

static void cmd_memsave(struct monitor_session *s, const char *arg)
{
	memory_save(s, arg, false);
}

static void cmd_pmemsave(struct monitor_session *s, const char *arg)
{
	memory_save(s, arg, true);
}

static void cmd_nmi(struct monitor_session *s, const char *arg)
{
	if (!s->ctl.ops->inject_nmi || s->ctl.ops->inject_nmi(s->ctl.opaque) < 0)
		out(s, "Error: Could not inject an NMI\n");
}

static void cmd_system_wakeup(struct monitor_session *s, const char *arg)
{
	out(s, "Error: wake-up from suspend is not supported by this guest\n");
}

static void cmd_help(struct monitor_session *s, const char *arg);

static const struct {
	const char *name, *alias;
	void (*fn)(struct monitor_session *s, const char *arg);
	const char *help;
} commands[] = {
	/* its help line lists the subcommands of infos[] (cmd_help) */
	{ "info", NULL, cmd_info, NULL },
	{ "x", NULL, cmd_x, "x /fmt addr -- virtual memory dump starting at 'addr' (fmt: count, x/d/u/o/c, b/h/w/g)" },
	{ "xp", NULL, cmd_xp, "xp /fmt addr -- physical memory dump starting at 'addr'" },
	{ "print", "p", cmd_print, "print|p [/fmt] expr -- print expression value (use $ for CPU registers)" },
	{ "cpu", NULL, cmd_cpu, "cpu index -- set the default CPU" },
	{ "eject", NULL, cmd_eject, "eject [-f] DEVICE -- open the tray of a removable drive and take its medium out (-f: even if the guest locked it)" },
	{ "change", NULL, cmd_change, "change DEVICE FILE [FORMAT [READ-ONLY-MODE]] -- put the image FILE in a removable drive" },
	{ "sendkey", NULL, cmd_sendkey, "sendkey KEYS -- send keys to the guest (e.g. ctrl-alt-delete)" },
	{ "stop", "s", cmd_stop, "stop|s -- stop the vCPUs" },
	{ "cont", "c", cmd_cont, "cont|c -- resume the vCPUs" },
	{ "system_reset", NULL, cmd_reset, "system_reset -- reset the machine" },
	{ "system_powerdown", NULL, cmd_powerdown, "system_powerdown -- press the ACPI power button" },
	{ "balloon", NULL, cmd_balloon, "balloon MB -- ask the guest to leave itself MB of RAM (virtio-balloon)" },
	{ "set_link", NULL, cmd_set_link, "set_link NAME on|off -- plug or unplug a NIC's cable (NAME: its id or its netdev's)" },
	{ "screendump", NULL, cmd_screendump, "screendump FILE [-f ppm|png] -- save the screen to FILE" },
	{ "migrate", NULL, cmd_migrate, "migrate [-d] URI -- send the machine to URI (unix:, tcp:, exec:, file:)" },
	{ "migrate_cancel", NULL, cmd_migrate_cancel, "migrate_cancel -- stop the migration; the guest runs on" },
	{ "migrate_set_capability", NULL, cmd_migrate_set_capability, "migrate_set_capability events on|off -- MIGRATION events on QMP" },
	{ "migrate_set_parameter", NULL, cmd_migrate_set_parameter, "migrate_set_parameter downtime-limit MS|max-bandwidth BYTES -- pre-copy's limits" },
	{ "savevm", NULL, cmd_savevm, "savevm [TAG] -- save the machine into a snapshot of its qcow2 disks (TAG: a name from the date if none; an existing TAG is replaced)" },
	{ "loadvm", NULL, cmd_loadvm, "loadvm TAG -- go back to the snapshot TAG: disks, RAM and devices" },
	{ "delvm", NULL, cmd_delvm, "delvm TAG -- delete the snapshot TAG from every disk" },
	{ "memsave", NULL, cmd_memsave, "memsave addr size file -- save to disk virtual memory dump starting at 'addr' of size 'size'" },
	{ "pmemsave", NULL, cmd_pmemsave, "pmemsave addr size file -- save to disk physical memory dump starting at 'addr' of size 'size'" },
	{ "nmi", NULL, cmd_nmi, "nmi -- inject an NMI" },
	{ "system_wakeup", NULL, cmd_system_wakeup, "system_wakeup -- wakeup guest from suspend" },
	{ "gdbserver", NULL, cmd_gdbserver, "gdbserver [DEV] -- gdb stub on DEV (tcp:[HOST]:PORT, unix:PATH; default tcp::1234; none: off)" },
	{ "quit", "q", cmd_quit, "quit|q -- quit vmm" },
	{ "help", "?", cmd_help, "help|? [COMMAND] -- list the commands, or show COMMAND's use" },
};

/* help [COMMAND]: every command's line, or the one COMMAND's (by name or alias). */
static void cmd_help(struct monitor_session *s, const char *arg)
{
	bool found = false;

	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (*arg && strcmp(arg, commands[i].name) &&
		    (!commands[i].alias || strcmp(arg, commands[i].alias)))
			continue;
		found = true;
		if (commands[i].help) {
			out(s, "%s\n", commands[i].help);
			continue;
		}
		out(s, "info ");
		for (size_t k = 0; k < ARRAY_SIZE(infos); k++)
			out(s, "%s|", infos[k].name);
		out(s, "registers [-a] -- show machine information ('info' alone: each "
		    "subcommand)\n");
	}
	if (!found)
		out(s, "unknown command: '%.64s'\n", arg);
}

static void execute(struct monitor_session *s, char *line)
{
	char *cmd = line + strspn(line, " \t");
	char *arg = cmd + strcspn(cmd, " \t/");
	char fmt[32] = "";

	/* "x/4xw ADDR", "p/x EXPR": the format sticks to the name */
	if (*arg == '/') {
		size_t n = strcspn(arg, " \t");
		snprintf(fmt, sizeof(fmt), "%.*s", (int)MIN(n, sizeof(fmt) - 1), arg);
		memset(arg, ' ', n);
	}
	if (*arg)
		*arg++ = 0;
	arg += strspn(arg, " \t");
	char joined[MONITOR_MAX_LINE + sizeof(fmt) + 1];
	if (fmt[0]) { /* the format goes back in front of the argument */
		snprintf(joined, sizeof(joined), "%s %s", fmt, arg);
		arg = joined;
	}
	for (char *e = arg + strlen(arg); e > arg && (e[-1] == ' ' || e[-1] == '\t'); e--)
		e[-1] = 0;
	if (!*cmd)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(cmd, commands[i].name) ||
		    (commands[i].alias && !strcmp(cmd, commands[i].alias))) {
			commands[i].fn(s, arg);
			return;
		}
	out(s, "unknown command: '%.64s'\n", cmd);
}

void monitor_session_input(struct monitor_session *s, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '\n') {
			if (s->overflow)
				out(s, "line too long (the limit is %d bytes)\n", MONITOR_MAX_LINE - 1);
			else {
				s->line[s->len] = 0;
				execute(s, s->line);
			}
			s->len = 0;
			s->overflow = false;
			prompt(s);
		} else if (c == '\r' || c == '\0') {
			continue;
		} else if (s->len + 1 >= sizeof(s->line)) {
			s->overflow = true;
		} else {
			s->line[s->len++] = c;
		}
	}
}

void monitor_session_prompt(struct monitor_session *s)
{
	prompt(s);
}

struct monitor_session *monitor_session_new(const struct vmctl *ctl, monitor_sink sink,
					    void *sink_opaque)
{
	struct monitor_session *s = xzalloc(sizeof(*s));
	s->ctl = *ctl;
	s->sink = sink;
	s->sink_opaque = sink_opaque;
	out(s, "vmm %s monitor - type 'help' for more information\n", VMM_VERSION);
	prompt(s);
	return s;
}

void monitor_session_free(struct monitor_session *s)
{
	free(s);
}

static void collect(void *opaque, const char *data, size_t len)
{
	strbuf_append(opaque, data, len);
}

char *monitor_run_line(const struct vmctl *ctl, const char *line, unsigned cpu)
{
	struct strbuf b = { 0 };
	struct monitor_session *s = monitor_session_new(ctl, collect, &b);
	char *copy = xstrdup(line);

	s->cpu = cpu;
	b.len = 0; /* not the banner and prompt */
	for (char *c = copy; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	if (strlen(copy) < sizeof(s->line)) {
		execute(s, copy);
	} else {
		out(s, "line too long (the limit is %d bytes)\n", MONITOR_MAX_LINE - 1);
	}
	free(copy);
	monitor_session_free(s);
	strbuf_append(&b, "", 1);
	return b.data;
}
