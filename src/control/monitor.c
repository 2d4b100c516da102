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
#include "util.h"
#include "vnc.h"

struct monitor_session {
	struct vmctl ctl;
	monitor_sink sink;
	void *sink_opaque;
	char line[MONITOR_MAX_LINE];
	size_t len;
	bool overflow; /* discarding the rest of an overlong line */
};

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
	out(s, "%s (vmm)\n", VMM_VERSION);
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

static const struct {
	const char *name;
	void (*fn)(struct monitor_session *s);
	const char *help;
} infos[] = {
	{ "vnc", info_vnc, "show the vnc server status" },
	{ "mice", info_mice, "show which guest mouse is receiving events" },
	{ "status", info_status, "show the current VM status (running|paused)" },
	{ "cpus", info_cpus, "show infos for each CPU" },
	{ "version", info_version, "show the version of vmm" },
	{ "balloon", info_balloon, "show balloon information" },
	{ "network", info_network, "show the NICs, their netdevs and links" },
	{ "migrate", info_migrate, "show the migration status and figures" },
	{ "migrate_parameters", info_migrate_parameters, "show the migration parameters" },
	{ "snapshots", info_snapshots, "show the VM snapshots of the disks" },
};

static void cmd_info(struct monitor_session *s, const char *arg)
{
	for (size_t i = 0; i < ARRAY_SIZE(infos); i++)
		if (!strcmp(arg, infos[i].name)) {
			infos[i].fn(s);
			return;
		}
	if (*arg)
		out(s, "unknown info sub-command: '%.64s'\n", arg);
	for (size_t i = 0; i < ARRAY_SIZE(infos); i++)
		out(s, "info %-10s -- %s\n", infos[i].name, infos[i].help);
}

#define ACTION(fn_name, op)                                                       \
	static void fn_name(struct monitor_session *s, const char *arg)          \
	{                                                                         \
		s->ctl.ops->op(s->ctl.opaque);                                    \
	}
ACTION(cmd_stop, stop)
ACTION(cmd_cont, cont)
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

static void cmd_help(struct monitor_session *s, const char *arg);

static const struct {
	const char *name, *alias;
	void (*fn)(struct monitor_session *s, const char *arg);
	const char *help;
} commands[] = {
	{ "info", NULL, cmd_info, "info status|cpus|version|balloon|vnc|mice|network|migrate|migrate_parameters|snapshots -- show machine information" },
	{ "sendkey", NULL, cmd_sendkey, "sendkey KEYS -- send keys to the guest (e.g. ctrl-alt-delete)" },
	{ "stop", "s", cmd_stop, "stop -- stop the vCPUs" },
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
	{ "gdbserver", NULL, cmd_gdbserver, "gdbserver [DEV] -- gdb stub on DEV (tcp:[HOST]:PORT, unix:PATH; default tcp::1234; none: off)" },
	{ "quit", "q", cmd_quit, "quit|q -- quit vmm" },
	{ "help", "?", cmd_help, "help|? -- list the commands" },
};

static void cmd_help(struct monitor_session *s, const char *arg)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		out(s, "%s\n", commands[i].help);
}

static void execute(struct monitor_session *s, char *line)
{
	char *cmd = line + strspn(line, " \t");
	char *arg = cmd + strcspn(cmd, " \t");

	if (*arg)
		*arg++ = 0;
	arg += strspn(arg, " \t");
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
