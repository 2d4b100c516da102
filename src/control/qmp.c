// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP written from the protocol's documented semantics (docs/interop/qmp-spec
 * in QEMU's manual): a greeting, then "capabilities negotiation" mode where
 * only qmp_capabilities is accepted, then "command" mode with events.
 *
 * Framing: QMP has none besides JSON itself, so messages are cut out of the
 * byte stream by tracking brackets and strings. A message that grows past
 * QMP_MAX_MESSAGE or nests deeper than JSON_MAX_DEPTH is answered with an
 * error and the rest of its line is discarded, so the stream resynchronises
 * at the next newline instead of misreading the remainder as new messages.
 */
#include "qmp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "input.h"
#include "json.h"
#include "sdl.h"
#include "util.h"
#include "vnc.h"
#include "watchdog.h"

struct qmp_session {
	struct vmctl ctl;
	qmp_sink sink;
	void *sink_opaque;
	bool negotiated;
	/* framing */
	char *buf;
	size_t len;
	unsigned depth;
	bool in_string, escape;
	bool scalar;  /* a top-level value that is no object or array: ends at '\n' */
	bool discard; /* skipping the rest of an oversized line */
};

struct qmp_error {
	const char *class;
	char desc[256];
};

typedef struct json *(*qmp_handler)(struct qmp_session *s, const struct json *args,
				     struct qmp_error *e);

struct qmp_arg {
	const char *name;
	enum json_type type;
	const char *type_name;
};

struct qmp_command {
	const char *name;
	qmp_handler fn;
	const struct qmp_arg *args; /* all optional; NULL-terminated */
};

static struct json *set_error(struct qmp_error *e, const char *class, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct json *set_error(struct qmp_error *e, const char *class, const char *fmt, ...)
{
	va_list ap;
	e->class = class;
	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
	return NULL;
}

static void send_json(struct qmp_session *s, const struct json *j)
{
	struct strbuf b = { 0 };
	json_serialize(j, &b);
	strbuf_append(&b, "\r\n", 2);
	s->sink(s->sink_opaque, b.data, b.len);
	strbuf_free(&b);
}

/* ---- commands ---------------------------------------------------------- */

static struct json *version_object(void)
{
	struct json *v = json_new_object(), *q = json_new_object();
	json_object_set(q, "micro", json_new_int(VMM_VERSION_MICRO));
	json_object_set(q, "minor", json_new_int(VMM_VERSION_MINOR));
	json_object_set(q, "major", json_new_int(VMM_VERSION_MAJOR));
	json_object_set(v, "qemu", q);
	json_object_set(v, "package", json_new_string("vmm " VMM_VERSION));
	return v;
}

static struct json *cmd_capabilities(struct qmp_session *s, const struct json *args,
				     struct qmp_error *e)
{
	const struct json *enable = json_object_get(args, "enable");

	/* No optional capability (such as "oob") is offered. */
	if (enable && enable->n) {
		const struct json *c = enable->items[0];
		if (c->type != JSON_STRING)
			return set_error(e, "GenericError",
					 "Invalid parameter type for 'enable', expected: array of strings");
		return set_error(e, "GenericError", "Capability '%.64s' not available", c->str);
	}
	s->negotiated = true;
	return json_new_object();
}

static struct json *cmd_query_version(struct qmp_session *s, const struct json *args,
				      struct qmp_error *e)
{
	return version_object();
}

static struct json *cmd_query_status(struct qmp_session *s, const struct json *args,
				     struct qmp_error *e)
{
	bool running = s->ctl.ops->running(s->ctl.opaque);
	const char *state = s->ctl.ops->run_state ? s->ctl.ops->run_state(s->ctl.opaque) : NULL;
	struct json *r = json_new_object();
	json_object_set(r, "running", json_new_bool(running));
	json_object_set(r, "singlestep", json_new_bool(false));
	json_object_set(r, "status", json_new_string(state ? state : running ? "running" : "paused"));
	return r;
}

/* ---- migration ---------------------------------------------------------- */

static struct json *no_migration(struct qmp_error *e, const char *cmd)
{
	return set_error(e, "CommandNotFound", "The command %s has not been found", cmd);
}

/* A string argument without embedded NULs, or NULL with e set. */
static const struct json *string_arg(const struct json *args, const char *name,
				     struct qmp_error *e)
{
	const struct json *v = json_object_get(args, name);
	if (!v)
		set_error(e, "GenericError", "Parameter '%s' is missing", name);
	else if (strlen(v->str) != v->len)
		set_error(e, "GenericError", "Parameter '%s' holds a NUL byte", name);
	else
		return v;
	return NULL;
}

/* migrate {"uri": URI}: QEMU's; the reply comes at once, the transfer
 * follows (query-migrate, the MIGRATION events). QEMU's "channels" form
 * is not offered; detach is accepted and means nothing, as in QEMU. */
static struct json *cmd_migrate(struct qmp_session *s, const struct json *args,
				struct qmp_error *e)
{
	char err[256];

	if (!s->ctl.ops->migrate)
		return no_migration(e, "migrate");
	if (json_object_get(args, "channels"))
		return set_error(e, "GenericError", "migrate: 'channels' is not supported, give 'uri'");
	if (json_object_get(args, "resume") && json_object_get(args, "resume")->boolean)
		return set_error(e, "GenericError", "migrate: resume (postcopy) is not supported");
	const struct json *uri = string_arg(args, "uri", e);
	if (!uri)
		return NULL;
	if (s->ctl.ops->migrate(s->ctl.opaque, uri->str, err, sizeof(err)) < 0)
		return set_error(e, "GenericError", "%s", err);
	return json_new_object();
}

/* migrate_cancel: QEMU's; nothing to cancel is no error. */
static struct json *cmd_migrate_cancel(struct qmp_session *s, const struct json *args,
				       struct qmp_error *e)
{
	if (s->ctl.ops->migrate_cancel)
		s->ctl.ops->migrate_cancel(s->ctl.opaque);
	return json_new_object();
}

static struct json *cmd_migrate_incoming(struct qmp_session *s, const struct json *args,
					 struct qmp_error *e)
{
	char err[256];

	if (!s->ctl.ops->migrate_incoming)
		return no_migration(e, "migrate-incoming");
	const struct json *uri = string_arg(args, "uri", e);
	if (!uri)
		return NULL;
	if (s->ctl.ops->migrate_incoming(s->ctl.opaque, uri->str, err, sizeof(err)) < 0)
		return set_error(e, "GenericError", "%s", err);
	return json_new_object();
}

static struct json *cmd_query_migrate(struct qmp_session *s, const struct json *args,
				      struct qmp_error *e)
{
	struct vmctl_migration mi;
	struct json *r = json_new_object();

	if (!s->ctl.ops->query_migrate)
		return r; /* no migration ever: QEMU's empty answer */
	s->ctl.ops->query_migrate(s->ctl.opaque, &mi);
	if (!strcmp(mi.status, "none"))
		return r;
	json_object_set(r, "status", json_new_string(mi.status));
	if (mi.error)
		json_object_set(r, "error-desc", json_new_string(mi.error));
	if (!mi.has_stats)
		return r;
	json_object_set(r, "setup-time", json_new_int(mi.setup_ms));
	json_object_set(r, "total-time", json_new_int(mi.total_ms));
	if (!strcmp(mi.status, "completed"))
		json_object_set(r, "downtime", json_new_int(mi.downtime_ms));
	else
		json_object_set(r, "expected-downtime", json_new_int(mi.downtime_ms));
	struct json *ram = json_new_object();
	json_object_set(ram, "transferred", json_new_int((int64_t)mi.transferred));
	json_object_set(ram, "remaining", json_new_int((int64_t)mi.remaining));
	json_object_set(ram, "total", json_new_int((int64_t)mi.total));
	json_object_set(ram, "duplicate", json_new_int((int64_t)mi.duplicate));
	json_object_set(ram, "normal", json_new_int((int64_t)mi.normal));
	json_object_set(ram, "normal-bytes", json_new_int((int64_t)(mi.normal * 4096)));
	json_object_set(ram, "dirty-sync-count", json_new_int((int64_t)mi.dirty_sync_count));
	json_object_set(ram, "page-size", json_new_int(4096));
	json_object_set(r, "ram", ram);
	return r;
}

/* ---- VM snapshot jobs ------------------------------------------------------ */

/* snapshot-save / -load / -delete: QEMU 6's job commands, all arguments
 * required as there (vmstate: none for delete). The reply comes once the
 * job is created and running; the work follows from the main loop, with
 * JOB_STATUS_CHANGE events, and query-jobs shows the outcome until
 * job-dismiss. */
static struct json *snapshot_job(struct qmp_session *s, const struct json *args,
				 struct qmp_error *e, enum vmctl_snapshot_op op)
{
	const char *names[32];
	struct vmctl_snapshot_req req = { 0 };
	const struct json *id, *tag, *vmstate = NULL, *devices;
	char err[256];

	if (!s->ctl.ops->job_start)
		return set_error(e, "CommandNotFound", "The command has not been found");
	if (!(id = string_arg(args, "job-id", e)) || !(tag = string_arg(args, "tag", e)))
		return NULL;
	if (op != VMCTL_SNAPSHOT_DELETE && !(vmstate = string_arg(args, "vmstate", e)))
		return NULL;
	devices = json_object_get(args, "devices");
	if (!devices)
		return set_error(e, "GenericError", "Parameter 'devices' is missing");
	if (devices->n > ARRAY_SIZE(names))
		return set_error(e, "GenericError", "Parameter 'devices' lists more than %zu disks",
				 ARRAY_SIZE(names));
	for (size_t i = 0; i < devices->n; i++) {
		const struct json *d = devices->items[i];
		if (d->type != JSON_STRING || strlen(d->str) != d->len)
			return set_error(e, "GenericError", "Invalid parameter type for 'devices[%zu]', "
					 "expected: string", i);
		names[i] = d->str;
	}
	req.tag = tag->str;
	req.vmstate = vmstate ? vmstate->str : NULL;
	req.devices = names;
	req.ndevices = (unsigned)devices->n;
	if (s->ctl.ops->job_start(s->ctl.opaque, id->str, op, &req, err, sizeof(err)) < 0)
		return set_error(e, "GenericError", "%s", err);
	return json_new_object();
}

static struct json *cmd_snapshot_save(struct qmp_session *s, const struct json *args,
				      struct qmp_error *e)
{
	return snapshot_job(s, args, e, VMCTL_SNAPSHOT_SAVE);
}

static struct json *cmd_snapshot_load(struct qmp_session *s, const struct json *args,
				      struct qmp_error *e)
{
	return snapshot_job(s, args, e, VMCTL_SNAPSHOT_LOAD);
}

static struct json *cmd_snapshot_delete(struct qmp_session *s, const struct json *args,
					struct qmp_error *e)
{
	return snapshot_job(s, args, e, VMCTL_SNAPSHOT_DELETE);
}

static struct json *cmd_query_jobs(struct qmp_session *s, const struct json *args,
				   struct qmp_error *e)
{
	struct vmctl_job jobs[64];
	struct json *r = json_new_array();
	unsigned n = s->ctl.ops->jobs ? s->ctl.ops->jobs(s->ctl.opaque, jobs, 64) : 0;

	for (unsigned i = 0; i < n; i++) {
		struct json *j = json_new_object();
		json_object_set(j, "current-progress", json_new_int((int64_t)jobs[i].current_progress));
		json_object_set(j, "status", json_new_string(jobs[i].status));
		json_object_set(j, "total-progress", json_new_int((int64_t)jobs[i].total_progress));
		json_object_set(j, "type", json_new_string(jobs[i].type));
		json_object_set(j, "id", json_new_string(jobs[i].id));
		if (jobs[i].error)
			json_object_set(j, "error", json_new_string(jobs[i].error));
		json_array_append(r, j);
	}
	return r;
}

static struct json *cmd_job_dismiss(struct qmp_session *s, const struct json *args,
				    struct qmp_error *e)
{
	char err[256];
	const struct json *id = string_arg(args, "id", e);

	if (!id)
		return NULL;
	if (!s->ctl.ops->job_dismiss)
		return set_error(e, "GenericError", "Job not found");
	if (s->ctl.ops->job_dismiss(s->ctl.opaque, id->str, err, sizeof(err)) < 0)
		return set_error(e, "GenericError", "%s", err);
	return json_new_object();
}

/* migrate-set-capabilities {"capabilities": [{"capability": C, "state": B}]}:
 * vmm has "events" (MIGRATION and MIGRATION_PASS events, off by default as
 * in QEMU); any other capability QEMU knows is refused by name. Checked
 * whole before any is applied. */
static struct json *cmd_migrate_set_capabilities(struct qmp_session *s, const struct json *args,
						 struct qmp_error *e)
{
	const struct json *caps = json_object_get(args, "capabilities");

	if (!s->ctl.ops->migrate_set_capability)
		return no_migration(e, "migrate-set-capabilities");
	if (!caps)
		return set_error(e, "GenericError", "Parameter 'capabilities' is missing");
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < caps->n; i++) {
			const struct json *c = caps->items[i];
			const struct json *name = c->type == JSON_OBJECT ? json_object_get(c, "capability") : NULL;
			const struct json *state = c->type == JSON_OBJECT ? json_object_get(c, "state") : NULL;
			if (!name || name->type != JSON_STRING || !state || state->type != JSON_BOOL ||
			    strlen(name->str) != name->len)
				return set_error(e, "GenericError", "Invalid parameter type for "
						 "'capabilities', expected: MigrationCapabilityStatus");
			if (pass == 0 && strcmp(name->str, "events"))
				return set_error(e, "GenericError", "Capability '%.64s' is not supported "
						 "by vmm", name->str);
			if (pass == 1 && s->ctl.ops->migrate_set_capability(s->ctl.opaque, name->str,
									   state->boolean) == -EBUSY)
				return set_error(e, "GenericError", "There's a migration process in "
						 "progress");
		}
	}
	return json_new_object();
}

/* migrate-set-parameters: "downtime-limit" (ms, 0-2000000) and
 * "max-bandwidth" (bytes/s); every value is checked before any is set.
 * QEMU's other parameters are refused as unexpected (check_args). */
static struct json *cmd_migrate_set_parameters(struct qmp_session *s, const struct json *args,
					       struct qmp_error *e)
{
	static const char *const names[] = { "downtime-limit", "max-bandwidth" };
	int64_t v[2];
	bool given[2] = { false, false };

	if (!s->ctl.ops->migrate_set_parameter)
		return no_migration(e, "migrate-set-parameters");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const struct json *j = json_object_get(args, names[i]);
		if (!j)
			continue;
		if (!json_get_int(j, &v[i]) || v[i] < 0)
			return set_error(e, "GenericError", "Parameter '%s' expects a non-negative "
					 "integer", names[i]);
		if ((i == 0 && v[i] > 2000000) || (i == 1 && (v[i] == 0 || v[i] > INT64_MAX / 1000)))
			return set_error(e, "GenericError", "Parameter '%s' is out of range "
					 "(downtime-limit: 0 to 2000000 ms, max-bandwidth: at least "
					 "1 byte/s)", names[i]);
		given[i] = true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!given[i])
			continue;
		int r = s->ctl.ops->migrate_set_parameter(s->ctl.opaque, names[i], (uint64_t)v[i]);
		if (r == -EBUSY)
			return set_error(e, "GenericError", "There's a migration process in progress");
		if (r < 0)
			return set_error(e, "GenericError", "Parameter '%s' is out of range", names[i]);
	}
	return json_new_object();
}

static struct json *cmd_query_migrate_parameters(struct qmp_session *s, const struct json *args,
						 struct qmp_error *e)
{
	struct vmctl_migration mi = { 0 };
	struct json *r = json_new_object();

	if (!s->ctl.ops->query_migrate)
		return r;
	s->ctl.ops->query_migrate(s->ctl.opaque, &mi);
	json_object_set(r, "downtime-limit", json_new_int((int64_t)mi.downtime_limit_ms));
	json_object_set(r, "max-bandwidth", json_new_int((int64_t)mi.max_bandwidth));
	return r;
}

static struct json *cmd_query_migrate_capabilities(struct qmp_session *s,
						   const struct json *args, struct qmp_error *e)
{
	struct vmctl_migration mi = { 0 };
	struct json *r = json_new_array(), *c = json_new_object();

	if (s->ctl.ops->query_migrate)
		s->ctl.ops->query_migrate(s->ctl.opaque, &mi);
	json_object_set(c, "capability", json_new_string("events"));
	json_object_set(c, "state", json_new_bool(mi.events));
	json_array_append(r, c);
	return r;
}

static struct json *cmd_query_name(struct qmp_session *s, const struct json *args,
				   struct qmp_error *e)
{
	const char *name = s->ctl.ops->name(s->ctl.opaque);
	struct json *r = json_new_object();
	if (name)
		json_object_set(r, "name", json_new_string(name));
	return r;
}

static struct json *cpu_object(const struct vmctl_cpu *c)
{
	char path[64];
	struct json *o = json_new_object(), *props = json_new_object();

	snprintf(path, sizeof(path), "/machine/unattached/device[%u]", c->index);
	json_object_set(o, "cpu-index", json_new_int(c->index));
	json_object_set(o, "qom-path", json_new_string(path));
	json_object_set(o, "thread-id", json_new_int(c->thread_id));
	/* One single-core socket per vCPU, as vmm's CPUID describes them. */
	json_object_set(props, "core-id", json_new_int(0));
	json_object_set(props, "thread-id", json_new_int(0));
	json_object_set(props, "socket-id", json_new_int(c->index));
	json_object_set(o, "props", props);
	json_object_set(o, "target", json_new_string("x86_64"));
	return o;
}

static struct json *cmd_query_cpus_fast(struct qmp_session *s, const struct json *args,
					struct qmp_error *e)
{
	struct vmctl_cpu cpus[256];
	unsigned n = s->ctl.ops->cpus(s->ctl.opaque, cpus, ARRAY_SIZE(cpus));
	struct json *r = json_new_array();

	for (unsigned i = 0; i < n && i < ARRAY_SIZE(cpus); i++)
		json_array_append(r, cpu_object(&cpus[i]));
	return r;
}

static struct json *cmd_query_commands(struct qmp_session *s, const struct json *args,
				       struct qmp_error *e);

static struct json *no_balloon(struct qmp_error *e)
{
	return set_error(e, "DeviceNotActive", "No balloon device has been activated");
}

/* balloon {"value": BYTES}: the guest RAM the balloon should leave. QEMU
 * checks the value first, then that a balloon exists; above the RAM size
 * the request means "no balloon". */
static struct json *cmd_balloon(struct qmp_session *s, const struct json *args,
				struct qmp_error *e)
{
	const struct json *v = json_object_get(args, "value");
	int64_t bytes;

	if (!v)
		return set_error(e, "GenericError", "Parameter 'value' is missing");
	if (!json_get_int(v, &bytes))
		return set_error(e, "GenericError", "Invalid parameter type for 'value', expected: integer");
	if (bytes <= 0)
		return set_error(e, "GenericError", "Parameter 'target' expects a size");
	if (!s->ctl.ops->balloon_set || s->ctl.ops->balloon_set(s->ctl.opaque, (uint64_t)bytes) < 0)
		return no_balloon(e);
	return json_new_object();
}

static struct json *cmd_query_balloon(struct qmp_session *s, const struct json *args,
				      struct qmp_error *e)
{
	struct vmctl_balloon b;

	if (!s->ctl.ops->balloon_query || s->ctl.ops->balloon_query(s->ctl.opaque, &b) < 0)
		return no_balloon(e);
	struct json *r = json_new_object();
	json_object_set(r, "actual", json_new_int((int64_t)b.actual));
	return r;
}

/* watchdog-set-action {"action": "reset"|...}: QEMU's, for the machine. */
static struct json *cmd_watchdog_set_action(struct qmp_session *s, const struct json *args,
					    struct qmp_error *e)
{
	const struct json *action = json_object_get(args, "action");
	int a;

	if (!action)
		return set_error(e, "GenericError", "Parameter 'action' is missing");
	a = strlen(action->str) == action->len ? watchdog_action_parse(action->str) : -1;
	if (a < 0)
		return set_error(e, "GenericError",
				 "Parameter 'action' does not accept value '%.64s'", action->str);
	if (s->ctl.ops->watchdog_set_action)
		s->ctl.ops->watchdog_set_action(s->ctl.opaque, a);
	return json_new_object();
}

/* ---- test hooks: dirty logging of a memory region ------------------------ */

#define DIRTY_PAGES_LISTED 1024

static struct json *dirty_error(struct qmp_error *e, int err, const struct json *region)
{
	if (err == -ENOENT)
		return set_error(e, "GenericError", "No memory region '%.64s'", region->str);
	if (err == -EINVAL)
		return set_error(e, "GenericError", "Dirty logging is off for memory region '%.64s'",
				 region->str);
	return set_error(e, "GenericError", "Memory region '%.64s': %s", region->str,
			 strerror(-err));
}

static const struct json *region_arg(const struct json *args, struct qmp_error *e)
{
	const struct json *region = json_object_get(args, "region");
	if (!region)
		set_error(e, "GenericError", "Parameter 'region' is missing");
	else if (strlen(region->str) != region->len)
		set_error(e, "GenericError", "No memory region '%.64s'", region->str);
	else
		return region;
	return NULL;
}

/* x-dirty-log {"region": NAME, "enable": BOOL}: vmm's own, for tests. */
static struct json *cmd_x_dirty_log(struct qmp_session *s, const struct json *args,
				    struct qmp_error *e)
{
	const struct json *region = region_arg(args, e);
	const struct json *enable = json_object_get(args, "enable");

	if (!region)
		return NULL;
	if (!enable)
		return set_error(e, "GenericError", "Parameter 'enable' is missing");
	if (!s->ctl.ops->dirty_log)
		return set_error(e, "CommandNotFound", "The command x-dirty-log has not been found");
	int err = s->ctl.ops->dirty_log(s->ctl.opaque, region->str, enable->boolean);
	return err ? dirty_error(e, err, region) : json_new_object();
}

/* x-query-dirty-pages {"region": NAME}: the pages vCPUs wrote since the
 * last query (at most DIRTY_PAGES_LISTED addresses listed, all counted),
 * then forgets them. */
static struct json *cmd_x_query_dirty_pages(struct qmp_session *s, const struct json *args,
					    struct qmp_error *e)
{
	const struct json *region = region_arg(args, e);
	uint64_t gpas[DIRTY_PAGES_LISTED];

	if (!region)
		return NULL;
	if (!s->ctl.ops->dirty_pages)
		return set_error(e, "CommandNotFound",
				 "The command x-query-dirty-pages has not been found");
	int64_t n = s->ctl.ops->dirty_pages(s->ctl.opaque, region->str, gpas, ARRAY_SIZE(gpas));
	if (n < 0)
		return dirty_error(e, (int)n, region);
	struct json *r = json_new_object(), *pages = json_new_array();
	for (int64_t i = 0; i < n && i < (int64_t)ARRAY_SIZE(gpas); i++)
		json_array_append(pages, json_new_int((int64_t)gpas[i]));
	json_object_set(r, "page-size", json_new_int(4096));
	json_object_set(r, "count", json_new_int(n));
	json_object_set(r, "pages", pages);
	return r;
}

/* x-state-roundtrip: vmm's own, for tests: saves the machine's state
 * (devices and KVM) and loads it back at once; {"bytes": N}. */
static struct json *cmd_x_state_roundtrip(struct qmp_session *s, const struct json *args,
					  struct qmp_error *e)
{
	char err[256];

	if (!s->ctl.ops->state_roundtrip)
		return set_error(e, "CommandNotFound",
				 "The command x-state-roundtrip has not been found");
	int64_t n = s->ctl.ops->state_roundtrip(s->ctl.opaque, err, sizeof(err));
	if (n < 0)
		return set_error(e, "GenericError", "%s", err);
	struct json *r = json_new_object();
	json_object_set(r, "bytes", json_new_int(n));
	return r;
}

/* screendump {"filename": PATH, "format": "ppm"|"png"}: the first
 * display's picture ("device" and "head" pick a console, of which vmm has
 * one: accepted if they name it). */
static struct json *cmd_screendump(struct qmp_session *s, const struct json *args,
				   struct qmp_error *e)
{
	const struct json *file = json_object_get(args, "filename");
	const struct json *format = json_object_get(args, "format");
	const struct json *head = json_object_get(args, "head");
	char why[256] = "";
	int fmt = 0;

	if (!file)
		return set_error(e, "GenericError", "Parameter 'filename' is missing");
	if (strlen(file->str) != file->len || !file->len)
		return set_error(e, "GenericError", "Could not open '%.64s'", file->str);
	if (format) {
		if (!strcmp(format->str, "png"))
			fmt = 1;
		else if (strcmp(format->str, "ppm"))
			return set_error(e, "GenericError",
					 "Parameter 'format' does not accept value '%.32s'",
					 format->str);
	}
	int64_t head_nr = 0;
	if (head && (!json_get_int(head, &head_nr) || head_nr != 0))
		return set_error(e, "GenericError", "Head '%.32s' is not available", head->str);
	int r = s->ctl.ops->screendump ? s->ctl.ops->screendump(s->ctl.opaque, file->str, fmt, why,
								  sizeof(why))
				       : -ENODEV;
	if (r == -ENODEV)
		return set_error(e, "GenericError",
				 "There is no QemuConsole I can screendump from.");
	if (r < 0)
		return set_error(e, "GenericError", "%s", why);
	return json_new_object();
}

/* One key of send-key: {"type": "qcode", "data": NAME} or {"type":
 * "number", "data": SET-1 CODE}. 0 with e set when it names none. */
static int send_key_item(const struct json *k, struct qmp_error *e)
{
	const struct json *type = k->type == JSON_OBJECT ? json_object_get(k, "type") : NULL;
	const struct json *data = k->type == JSON_OBJECT ? json_object_get(k, "data") : NULL;
	int key = 0;
	int64_t n;

	if (!type || !data || type->type != JSON_STRING) {
		set_error(e, "GenericError", "Parameter 'keys' expects KeyValue objects");
		return 0;
	}
	if (!strcmp(type->str, "qcode") && data->type == JSON_STRING)
		key = input_key_by_name(data->str);
	else if (!strcmp(type->str, "number") && json_get_int(data, &n) && n >= 0 && n <= 0xffff)
		key = input_key_by_scancode((unsigned)n);
	else {
		set_error(e, "GenericError", "Parameter 'keys' expects KeyValue objects");
		return 0;
	}
	if (!key)
		set_error(e, "GenericError", "Parameter 'data' does not accept value '%.32s'",
			  data->str);
	return key;
}

/* send-key {"keys": [...]}: presses the keys in order, then releases them
 * in reverse order, as QEMU (hold-time is accepted; the guest sees the
 * bytes in the keyboard's buffer at once). */
static struct json *cmd_send_key(struct qmp_session *s, const struct json *args,
				 struct qmp_error *e)
{
	const struct json *keys = json_object_get(args, "keys");
	int list[16];

	if (!keys)
		return set_error(e, "GenericError", "Parameter 'keys' is missing");
	if (keys->n > ARRAY_SIZE(list) || !keys->n)
		return set_error(e, "GenericError", "send-key takes 1 to %zu keys",
				 ARRAY_SIZE(list));
	for (size_t i = 0; i < keys->n; i++)
		if (!(list[i] = send_key_item(keys->items[i], e)))
			return NULL;
	if (!input_has_keyboard())
		return set_error(e, "GenericError", "No keyboard");
	for (size_t i = 0; i < keys->n; i++)
		input_key(list[i], true);
	for (size_t i = keys->n; i-- > 0;)
		input_key(list[i], false);
	return json_new_object();
}

/* One InputEvent of input-send-event into *dx, *dy, *dz, *buttons (the
 * mouse part, sent once for the whole list) or straight to the keyboard.
 * false with e set when it is not one. */
static bool input_event_item(const struct json *ev, int *dx, int *dy, int *dz,
			     unsigned *buttons, struct qmp_error *e)
{
	const struct json *type = ev->type == JSON_OBJECT ? json_object_get(ev, "type") : NULL;
	const struct json *data = ev->type == JSON_OBJECT ? json_object_get(ev, "data") : NULL;
	if (!type || type->type != JSON_STRING || !data || data->type != JSON_OBJECT) {
		set_error(e, "GenericError", "Parameter 'events' expects InputEvent objects");
		return false;
	}
	const struct json *down = json_object_get(data, "down");
	if (!strcmp(type->str, "key")) {
		const struct json *key = json_object_get(data, "key");
		if (!down || down->type != JSON_BOOL || !key) {
			set_error(e, "GenericError", "Parameter 'data' expects down and key");
			return false;
		}
		int k = send_key_item(key, e);
		if (!k)
			return false;
		input_key(k, down->boolean);
		return true;
	}
	if (!strcmp(type->str, "btn")) {
		const struct json *b = json_object_get(data, "button");
		if (!down || down->type != JSON_BOOL || !b || b->type != JSON_STRING) {
			set_error(e, "GenericError", "Parameter 'data' expects down and button");
			return false;
		}
		unsigned bit = !strcmp(b->str, "left")     ? INPUT_BUTTON_LEFT
			       : !strcmp(b->str, "right")  ? INPUT_BUTTON_RIGHT
			       : !strcmp(b->str, "middle") ? INPUT_BUTTON_MIDDLE : 0;
		if (!strcmp(b->str, "wheel-up") || !strcmp(b->str, "wheel-down")) {
			if (down->boolean)
				*dz += b->str[6] == 'u' ? -1 : 1;
			return true;
		}
		if (!bit) {
			set_error(e, "GenericError", "Parameter 'button' does not accept value '%.32s'",
				  b->str);
			return false;
		}
		*buttons = down->boolean ? *buttons | bit : *buttons & ~bit;
		return true;
	}
	if (!strcmp(type->str, "rel")) {
		const struct json *axis = json_object_get(data, "axis");
		const struct json *value = json_object_get(data, "value");
		int64_t v;
		if (!axis || axis->type != JSON_STRING || !value || !json_get_int(value, &v) ||
		    v < -4096 || v > 4096 || (strcmp(axis->str, "x") && strcmp(axis->str, "y"))) {
			set_error(e, "GenericError", "Parameter 'data' expects axis x|y and a value");
			return false;
		}
		*(axis->str[0] == 'x' ? dx : dy) += (int)v;
		return true;
	}
	set_error(e, "GenericError", "input-send-event: %.16s events need an absolute pointer, "
		  "which the PS/2 mouse is not", type->str);
	return false;
}

/* input-send-event {"events": [...]}: keys go as they come, the mouse's
 * motion, wheel and buttons as one PS/2 report after them. */
static unsigned qmp_buttons; /* the buttons QMP holds down, between calls */

static struct json *cmd_input_send_event(struct qmp_session *s, const struct json *args,
					 struct qmp_error *e)
{
	const struct json *events = json_object_get(args, "events");
	int dx = 0, dy = 0, dz = 0;
	unsigned buttons = qmp_buttons;

	if (!events)
		return set_error(e, "GenericError", "Parameter 'events' is missing");
	if (!input_has_keyboard())
		return set_error(e, "GenericError", "No keyboard");
	for (size_t i = 0; i < events->n; i++)
		if (!input_event_item(events->items[i], &dx, &dy, &dz, &buttons, e))
			return NULL;
	if (dx || dy || dz || buttons != qmp_buttons)
		input_mouse_rel(dx, dy, dz, buttons);
	qmp_buttons = buttons;
	return json_new_object();
}

/* query-display-options: QEMU's DisplayOptions for the window, or "none"
 * (VNC alone is "none" too, as QEMU's -vnc without -display). */
static struct json *cmd_query_display_options(struct qmp_session *s, const struct json *args,
					      struct qmp_error *e)
{
	struct json *r = json_new_object();
	struct sdl *w = sdl_current();

	json_object_set(r, "type", json_new_string(w ? "sdl" : "none"));
	if (w) {
		const struct sdl_config *c = sdl_options(w);
		json_object_set(r, "full-screen", json_new_bool(c->full_screen));
		json_object_set(r, "window-close", json_new_bool(c->window_close));
		struct json *sdl = json_new_object();
		json_object_set(sdl, "grab-mod", json_new_string(c->grab_rctrl ? "rctrl"
										: "lctrl-lalt"));
		json_object_set(r, "sdl", sdl);
	}
	return r;
}

/* query-mice: the PS/2 mouse, relative, as QEMU's pc shows it. */
static struct json *cmd_query_mice(struct qmp_session *s, const struct json *args,
				   struct qmp_error *e)
{
	struct json *r = json_new_array();
	if (!input_has_mouse())
		return r;
	struct json *m = json_new_object();
	json_object_set(m, "name", json_new_string("QEMU PS/2 Mouse"));
	json_object_set(m, "index", json_new_int(0));
	json_object_set(m, "current", json_new_bool(true));
	json_object_set(m, "absolute", json_new_bool(false));
	json_array_append(r, m);
	return r;
}

/* query-vnc: QEMU's VncInfo, with vmm's counters under "x-". */
static struct json *cmd_query_vnc(struct qmp_session *s, const struct json *args,
				  struct qmp_error *e)
{
	struct vnc *v = vnc_current();
	struct json *r = json_new_object();
	struct vnc_info info;

	json_object_set(r, "enabled", json_new_bool(v != NULL));
	if (!v)
		return r;
	vnc_query(v, &info);
	json_object_set(r, "host", json_new_string(info.host));
	json_object_set(r, "service", json_new_string(info.service));
	json_object_set(r, "family", json_new_string(info.family));
	json_object_set(r, "auth", json_new_string(info.auth));
	json_object_set(r, "clients", json_new_array());
	json_object_set(r, "x-clients", json_new_int(info.clients));
	json_object_set(r, "x-bytes-sent", json_new_int((int64_t)info.bytes_sent));
	json_object_set(r, "x-updates", json_new_int((int64_t)info.updates));
	return r;
}

static struct json *cmd_change_vnc_password(struct qmp_session *s, const struct json *args,
					    struct qmp_error *e)
{
	const struct json *pw = json_object_get(args, "password");
	struct vnc *v = vnc_current();

	if (!pw)
		return set_error(e, "GenericError", "Parameter 'password' is missing");
	if (!v)
		return set_error(e, "GenericError", "VNC is not enabled");
	if (vnc_set_password(v, pw->str) < 0)
		return set_error(e, "GenericError", "Could not set password");
	return json_new_object();
}

/* set_link {"name": NIC-OR-NETDEV-ID, "up": BOOL}: QEMU's; an unknown
 * name is QEMU's DeviceNotFound. */
static struct json *cmd_set_link(struct qmp_session *s, const struct json *args,
				 struct qmp_error *e)
{
	const struct json *name = json_object_get(args, "name");
	const struct json *up = json_object_get(args, "up");

	if (!name)
		return set_error(e, "GenericError", "Parameter 'name' is missing");
	if (!up)
		return set_error(e, "GenericError", "Parameter 'up' is missing");
	if (strlen(name->str) != name->len || !s->ctl.ops->set_link ||
	    s->ctl.ops->set_link(s->ctl.opaque, name->str, up->boolean) < 0)
		return set_error(e, "DeviceNotFound", "Device '%.64s' not found", name->str);
	return json_new_object();
}

#define SIMPLE_ACTION(fn_name, op)                                                        \
	static struct json *fn_name(struct qmp_session *s, const struct json *args,      \
				    struct qmp_error *e)                                  \
	{                                                                                 \
		s->ctl.ops->op(s->ctl.opaque);                                            \
		return json_new_object();                                                 \
	}

SIMPLE_ACTION(cmd_stop, stop)
SIMPLE_ACTION(cmd_cont, cont)
SIMPLE_ACTION(cmd_system_reset, reset)
SIMPLE_ACTION(cmd_system_powerdown, powerdown)
SIMPLE_ACTION(cmd_quit, quit)

static const struct qmp_arg capabilities_args[] = {
	{ "enable", JSON_ARRAY, "array" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg no_args[] = { { NULL, 0, NULL } };
static const struct qmp_arg balloon_args[] = {
	{ "value", JSON_NUMBER, "integer" },
	{ NULL, 0, NULL },
};

static const struct qmp_arg dirty_log_args[] = {
	{ "region", JSON_STRING, "string" },
	{ "enable", JSON_BOOL, "boolean" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg watchdog_action_args[] = {
	{ "action", JSON_STRING, "string" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg dirty_pages_args[] = {
	{ "region", JSON_STRING, "string" },
	{ NULL, 0, NULL },
};

static const struct qmp_arg screendump_args[] = {
	{ "filename", JSON_STRING, "string" },
	{ "format", JSON_STRING, "string" },
	{ "device", JSON_STRING, "string" },
	{ "head", JSON_NUMBER, "integer" },
	{ NULL, 0, NULL },
};

static const struct qmp_arg send_key_args[] = {
	{ "keys", JSON_ARRAY, "array" },
	{ "hold-time", JSON_NUMBER, "integer" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg input_event_args[] = {
	{ "events", JSON_ARRAY, "array" },
	{ "device", JSON_STRING, "string" },
	{ "head", JSON_NUMBER, "integer" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg set_link_args[] = {
	{ "name", JSON_STRING, "string" },
	{ "up", JSON_BOOL, "boolean" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg password_args[] = {
	{ "password", JSON_STRING, "string" },
	{ NULL, 0, NULL },
};

static const struct qmp_arg snapshot_args[] = {
	{ "job-id", JSON_STRING, "string" },
	{ "tag", JSON_STRING, "string" },
	{ "vmstate", JSON_STRING, "string" },
	{ "devices", JSON_ARRAY, "array" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg snapshot_delete_args[] = {
	{ "job-id", JSON_STRING, "string" },
	{ "tag", JSON_STRING, "string" },
	{ "devices", JSON_ARRAY, "array" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg job_id_args[] = {
	{ "id", JSON_STRING, "string" },
	{ NULL, 0, NULL },
};

static const struct qmp_arg migrate_args[] = {
	{ "uri", JSON_STRING, "string" },
	{ "channels", JSON_ARRAY, "array" },
	{ "detach", JSON_BOOL, "boolean" },
	{ "resume", JSON_BOOL, "boolean" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg migrate_incoming_args[] = {
	{ "uri", JSON_STRING, "string" },
	{ NULL, 0, NULL },
};
static const struct qmp_arg migrate_caps_args[] = {
	{ "capabilities", JSON_ARRAY, "array" },
	{ NULL, 0, NULL },
};

static const struct qmp_arg migrate_params_args[] = {
	{ "downtime-limit", JSON_NUMBER, "integer" },
	{ "max-bandwidth", JSON_NUMBER, "integer" },
	{ NULL, 0, NULL },
};

static const struct qmp_command commands[] = {
	{ "qmp_capabilities", cmd_capabilities, capabilities_args },
	{ "query-version", cmd_query_version, no_args },
	{ "query-status", cmd_query_status, no_args },
	{ "query-name", cmd_query_name, no_args },
	{ "query-cpus-fast", cmd_query_cpus_fast, no_args },
	{ "query-commands", cmd_query_commands, no_args },
	{ "stop", cmd_stop, no_args },
	{ "cont", cmd_cont, no_args },
	{ "system_reset", cmd_system_reset, no_args },
	{ "system_powerdown", cmd_system_powerdown, no_args },
	{ "quit", cmd_quit, no_args },
	{ "balloon", cmd_balloon, balloon_args },
	{ "query-balloon", cmd_query_balloon, no_args },
	{ "watchdog-set-action", cmd_watchdog_set_action, watchdog_action_args },
	{ "screendump", cmd_screendump, screendump_args },
	{ "send-key", cmd_send_key, send_key_args },
	{ "input-send-event", cmd_input_send_event, input_event_args },
	{ "query-mice", cmd_query_mice, no_args },
	{ "query-display-options", cmd_query_display_options, no_args },
	{ "query-vnc", cmd_query_vnc, no_args },
	{ "change-vnc-password", cmd_change_vnc_password, password_args },
	{ "set_link", cmd_set_link, set_link_args },
	{ "x-dirty-log", cmd_x_dirty_log, dirty_log_args },
	{ "x-query-dirty-pages", cmd_x_query_dirty_pages, dirty_pages_args },
	{ "x-state-roundtrip", cmd_x_state_roundtrip, no_args },
	{ "snapshot-save", cmd_snapshot_save, snapshot_args },
	{ "snapshot-load", cmd_snapshot_load, snapshot_args },
	{ "snapshot-delete", cmd_snapshot_delete, snapshot_delete_args },
	{ "query-jobs", cmd_query_jobs, no_args },
	{ "job-dismiss", cmd_job_dismiss, job_id_args },
	{ "migrate", cmd_migrate, migrate_args },
	{ "migrate-incoming", cmd_migrate_incoming, migrate_incoming_args },
	{ "migrate_cancel", cmd_migrate_cancel, no_args },
	{ "query-migrate", cmd_query_migrate, no_args },
	{ "migrate-set-capabilities", cmd_migrate_set_capabilities, migrate_caps_args },
	{ "query-migrate-capabilities", cmd_query_migrate_capabilities, no_args },
	{ "migrate-set-parameters", cmd_migrate_set_parameters, migrate_params_args },
	{ "query-migrate-parameters", cmd_query_migrate_parameters, no_args },
};

static struct json *cmd_query_commands(struct qmp_session *s, const struct json *args,
				       struct qmp_error *e)
{
	struct json *r = json_new_array();
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		struct json *c = json_new_object();
		json_object_set(c, "name", json_new_string(commands[i].name));
		json_array_append(r, c);
	}
	return r;
}

/* ---- dispatch ---------------------------------------------------------- */

static bool check_args(const struct qmp_command *c, const struct json *args, struct qmp_error *e)
{
	for (size_t i = 0; args && i < args->n; i++) {
		const struct qmp_arg *a = c->args;
		while (a->name && strcmp(a->name, args->keys[i]))
			a++;
		if (!a->name || strlen(args->keys[i]) != args->keylens[i]) {
			set_error(e, "GenericError", "Parameter '%.64s' is unexpected", args->keys[i]);
			return false;
		}
		if (args->items[i]->type != a->type) {
			set_error(e, "GenericError", "Invalid parameter type for '%s', expected: %s",
				  a->name, a->type_name);
			return false;
		}
	}
	return true;
}

static const struct qmp_command *find_command(const struct json *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strlen(commands[i].name) == name->len && !strcmp(commands[i].name, name->str))
			return &commands[i];
	return NULL;
}

/* Checks the envelope {"execute", "arguments", "id"}; returns the command
 * name or NULL with e set. */
static const struct json *check_envelope(const struct json *req, struct qmp_error *e)
{
	if (req->type != JSON_OBJECT) {
		set_error(e, "GenericError", "QMP input must be a JSON object");
		return NULL;
	}
	for (size_t i = 0; i < req->n; i++) {
		const char *k = req->keys[i];
		if (strlen(k) != req->keylens[i] ||
		    (strcmp(k, "execute") && strcmp(k, "arguments") && strcmp(k, "id"))) {
			set_error(e, "GenericError", "QMP input member '%.64s' is unexpected", k);
			return NULL;
		}
	}
	const struct json *exec = json_object_get(req, "execute");
	const struct json *args = json_object_get(req, "arguments");
	if (!exec) {
		set_error(e, "GenericError", "QMP input lacks member 'execute'");
		return NULL;
	}
	if (exec->type != JSON_STRING) {
		set_error(e, "GenericError", "QMP input member 'execute' must be a string");
		return NULL;
	}
	if (args && args->type != JSON_OBJECT) {
		set_error(e, "GenericError", "QMP input member 'arguments' must be an object");
		return NULL;
	}
	return exec;
}

static struct json *execute(struct qmp_session *s, const struct json *req, struct qmp_error *e)
{
	const struct json *name = check_envelope(req, e);
	if (!name)
		return NULL;
	const struct qmp_command *c = find_command(name);
	bool is_caps = c && c->fn == cmd_capabilities;

	if (!s->negotiated && !is_caps)
		return set_error(e, "CommandNotFound",
				 "Expecting capabilities negotiation with 'qmp_capabilities'");
	if (s->negotiated && is_caps)
		return set_error(e, "CommandNotFound",
				 "Capabilities negotiation is already complete, command ignored");
	if (!c)
		return set_error(e, "CommandNotFound", "The command %.64s has not been found",
				 name->str);
	const struct json *args = json_object_get(req, "arguments");
	if (!check_args(c, args, e))
		return NULL;
	return c->fn(s, args, e);
}

static void reply(struct qmp_session *s, const struct json *id, struct json *ret,
		  const struct qmp_error *e)
{
	struct json *r = json_new_object();

	if (ret) {
		json_object_set(r, "return", ret);
	} else {
		struct json *err = json_new_object();
		json_object_set(err, "class", json_new_string(e->class));
		json_object_set(err, "desc", json_new_string(e->desc));
		json_object_set(r, "error", err);
	}
	if (id)
		json_object_set(r, "id", json_clone(id));
	send_json(s, r);
	json_free(r);
}

static void handle_message(struct qmp_session *s, const char *msg, size_t len)
{
	struct qmp_error e = { "GenericError", "" };
	char perr[128];
	struct json *req = json_parse(msg, len, perr, sizeof(perr));

	if (!req) {
		set_error(&e, "GenericError", "JSON parse error, %s", perr);
		reply(s, NULL, NULL, &e);
		return;
	}
	const struct json *id = json_object_get(req, "id");
	struct json *ret = execute(s, req, &e);
	reply(s, id, ret, &e);
	json_free(req);
}

/* ---- framing ----------------------------------------------------------- */

static void reset_framing(struct qmp_session *s)
{
	s->len = 0;
	s->depth = 0;
	s->in_string = s->escape = s->scalar = false;
}

static void framing_error(struct qmp_session *s, char c, const char *desc)
{
	struct qmp_error e;
	set_error(&e, "GenericError", "%s", desc);
	reply(s, NULL, NULL, &e);
	reset_framing(s);
	s->discard = c != '\n';
}

static void complete(struct qmp_session *s)
{
	size_t len = s->len;
	reset_framing(s);
	handle_message(s, s->buf, len);
}

/* Tracks strings and brackets; true when c closed a top-level value. */
static bool track(struct qmp_session *s, char c)
{
	if (s->in_string) {
		if (s->escape)
			s->escape = false;
		else if (c == '\\')
			s->escape = true;
		else if (c == '"')
			s->in_string = false;
		return false;
	}
	if (c == '"') {
		s->in_string = true;
	} else if (c == '{' || c == '[') {
		s->depth++;
	} else if ((c == '}' || c == ']') && s->depth) {
		return --s->depth == 0;
	}
	return false;
}

static void input_byte(struct qmp_session *s, char c)
{
	if (s->discard) {
		s->discard = c != '\n';
		return;
	}
	if (s->len == 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
		return;
	if (s->len == 0)
		s->scalar = c != '{' && c != '[';
	if (s->len == QMP_MAX_MESSAGE) {
		framing_error(s, c, "QMP message too long (the limit is 65536 bytes)");
		return;
	}
	s->buf[s->len++] = c;
	if (s->scalar) {
		if (c == '\n')
			complete(s);
		return;
	}
	if (track(s, c)) {
		complete(s);
	} else if (s->depth > JSON_MAX_DEPTH) {
		framing_error(s, c, "QMP message nested too deeply (the limit is 64 levels)");
	}
}

void qmp_session_input(struct qmp_session *s, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		input_byte(s, buf[i]);
}

/* ---- session ----------------------------------------------------------- */

struct qmp_session *qmp_session_new(const struct vmctl *ctl, qmp_sink sink, void *sink_opaque)
{
	struct qmp_session *s = xzalloc(sizeof(*s));
	struct json *g = json_new_object(), *q = json_new_object();

	s->ctl = *ctl;
	s->sink = sink;
	s->sink_opaque = sink_opaque;
	s->buf = xzalloc(QMP_MAX_MESSAGE);
	json_object_set(q, "version", version_object());
	json_object_set(q, "capabilities", json_new_array());
	json_object_set(g, "QMP", q);
	send_json(s, g);
	json_free(g);
	return s;
}

void qmp_session_free(struct qmp_session *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}

void qmp_session_event(struct qmp_session *s, const char *name, const char *data_json)
{
	struct timeval tv;
	struct strbuf b = { 0 };

	if (!s || !s->negotiated)
		return;
	gettimeofday(&tv, NULL);
	strbuf_printf(&b, "{\"timestamp\": {\"seconds\": %lld, \"microseconds\": %ld}, "
		      "\"event\": \"%s\"", (long long)tv.tv_sec, (long)tv.tv_usec, name);
	if (data_json)
		strbuf_printf(&b, ", \"data\": %s", data_json);
	strbuf_append(&b, "}\r\n", 3);
	s->sink(s->sink_opaque, b.data, b.len);
	strbuf_free(&b);
}
