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
#include "monitor.h"
#include "qmp_lacking.h"
#include "qmp_schema.h"
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

struct qmp_command {
	struct qmp_signature sig;
	qmp_handler fn;
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
	json_object_set(q, "micro", json_new_int(VMM_QEMU_MICRO));
	json_object_set(q, "minor", json_new_int(VMM_QEMU_MINOR));
	json_object_set(q, "major", json_new_int(VMM_QEMU_MAJOR));
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

/* QEMU's answer without -uuid is the nil UUID. */
static struct json *cmd_query_uuid(struct qmp_session *s, const struct json *args,
				   struct qmp_error *e)
{
	uint8_t u[16] = { 0 };
	char text[37];
	struct json *r = json_new_object();

	if (!s->ctl.ops->uuid || !s->ctl.ops->uuid(s->ctl.opaque, u))
		memset(u, 0, sizeof(u));
	snprintf(text, sizeof(text),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	json_object_set(r, "UUID", json_new_string(text));
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
static struct json *cmd_query_qmp_schema(struct qmp_session *s, const struct json *args,
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

/* x-query-exits: vmm's own, for tests: the vCPUs' exits by kind since
 * they were created; {"io": N, "mmio": N, "hlt": N, "intr": N}, and
 * "coalesced": the VGA window writes KVM queued instead of exiting (since
 * vmm started), applied from its ring. */
static struct json *cmd_x_query_exits(struct qmp_session *s, const struct json *args,
				      struct qmp_error *e)
{
	struct vmctl_exits x;

	(void)args;
	if (!s->ctl.ops->exits)
		return set_error(e, "CommandNotFound", "The command x-query-exits has not been found");
	s->ctl.ops->exits(s->ctl.opaque, &x);
	struct json *r = json_new_object();
	json_object_set(r, "io", json_new_int((int64_t)x.io));
	json_object_set(r, "mmio", json_new_int((int64_t)x.mmio));
	json_object_set(r, "hlt", json_new_int((int64_t)x.hlt));
	json_object_set(r, "intr", json_new_int((int64_t)x.intr));
	json_object_set(r, "coalesced", json_new_int((int64_t)x.coalesced));
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
			       : !strcmp(b->str, "middle") ? INPUT_BUTTON_MIDDLE
			       : !strcmp(b->str, "side")   ? INPUT_BUTTON_SIDE
			       : !strcmp(b->str, "extra")  ? INPUT_BUTTON_EXTRA : 0;
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
 * (VNC alone is "none" too, as QEMU's -vnc without -display). It is a
 * flat union: the SDL variant's "grab-mod" sits beside "type". */
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
		json_object_set(r, "grab-mod", json_new_string(c->grab_rctrl ? "rctrl"
									      : "lctrl-lalt"));
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

/* ---- block devices and removable media ------------------------------------ */

#define MAX_BLOCKS 32

/* An optional string argument: NULL if absent; *bad when it holds a NUL. */
static const char *opt_str(const struct json *args, const char *name, bool *bad)
{
	const struct json *v = json_object_get(args, name);

	if (v && strlen(v->str) != v->len)
		*bad = true;
	return v ? v->str : NULL;
}

static bool opt_bool(const struct json *args, const char *name)
{
	const struct json *v = json_object_get(args, name);
	return v && v->boolean;
}

static struct json *block_error(struct qmp_error *e, int ret, const char *err)
{
	return set_error(e, ret == -ENODEV ? "DeviceNotFound" : "GenericError", "%s", err);
}

static struct json *tray_cmd(struct qmp_session *s, const struct json *args, struct qmp_error *e,
			     enum vmctl_tray_op op)
{
	bool bad = false;
	const char *device = opt_str(args, "device", &bad), *id = opt_str(args, "id", &bad);
	char err[256];

	if (bad)
		return set_error(e, "GenericError", "Parameter 'device' or 'id' holds a NUL byte");
	if (!s->ctl.ops->block_tray)
		return set_error(e, "DeviceNotFound", "Device '%.64s' not found",
				 device ? device : id ? id : "");
	int ret = s->ctl.ops->block_tray(s->ctl.opaque, device, id, op, opt_bool(args, "force"), err,
					 sizeof(err));
	return ret ? block_error(e, ret, err) : json_new_object();
}

/* eject {"device"|"id", "force"}: QEMU's: opens the tray (a tray the
 * guest locked only gets an eject request, unless force) and takes the
 * disc out; the tray stays open. */
static struct json *cmd_eject(struct qmp_session *s, const struct json *args, struct qmp_error *e)
{
	return tray_cmd(s, args, e, VMCTL_EJECT);
}

static struct json *cmd_blockdev_open_tray(struct qmp_session *s, const struct json *args,
					   struct qmp_error *e)
{
	return tray_cmd(s, args, e, VMCTL_TRAY_OPEN);
}

static struct json *cmd_blockdev_close_tray(struct qmp_session *s, const struct json *args,
					    struct qmp_error *e)
{
	return tray_cmd(s, args, e, VMCTL_TRAY_CLOSE);
}

/* blockdev-remove-medium {"id"}: QEMU 10 names the device by id only. */
static struct json *cmd_blockdev_remove_medium(struct qmp_session *s, const struct json *args,
					       struct qmp_error *e)
{
	if (!json_object_get(args, "id"))
		return set_error(e, "GenericError", "Parameter 'id' is missing");
	return tray_cmd(s, args, e, VMCTL_MEDIUM_REMOVE);
}

/* blockdev-change-medium {"device"|"id", "filename", "format",
 * "read-only-mode", "force"}: QEMU's. */
static struct json *cmd_blockdev_change_medium(struct qmp_session *s, const struct json *args,
					       struct qmp_error *e)
{
	bool bad = false;
	const char *device = opt_str(args, "device", &bad), *id = opt_str(args, "id", &bad);
	const char *file = opt_str(args, "filename", &bad), *format = opt_str(args, "format", &bad);
	const char *ro = opt_str(args, "read-only-mode", &bad);
	char err[512];

	if (!file)
		return set_error(e, "GenericError", "Parameter 'filename' is missing");
	if (bad)
		return set_error(e, "GenericError", "A parameter holds a NUL byte");
	if (!s->ctl.ops->block_change_medium)
		return set_error(e, "DeviceNotFound", "Device '%.64s' not found",
				 device ? device : id ? id : "");
	int ret = s->ctl.ops->block_change_medium(s->ctl.opaque, device, id, file, format, ro,
						  opt_bool(args, "force"), err, sizeof(err));
	return ret ? block_error(e, ret, err) : json_new_object();
}

static unsigned list_blocks(struct qmp_session *s, struct vmctl_block *b, unsigned max)
{
	return s->ctl.ops->blocks ? s->ctl.ops->blocks(s->ctl.opaque, b, max) : 0;
}

static void node_name(const struct vmctl_block *b, unsigned which, char *out, size_t len)
{
	snprintf(out, len, "#block%03u", (b->node * 2 + which) % 1000);
}

/* QEMU's BlockDeviceInfo of the medium ("inserted"). */
static struct json *inserted_object(const struct vmctl_block *b)
{
	struct json *o = json_new_object(), *img = json_new_object(), *cache = json_new_object();
	char node[16];
	static const char *const zero_limits[] = { "iops_rd", "iops_wr", "iops", "bps_wr",
						   "write_threshold", "bps", "bps_rd" };

	for (size_t i = 0; i < ARRAY_SIZE(zero_limits); i++)
		json_object_set(o, zero_limits[i], json_new_int(0));
	json_object_set(o, "detect_zeroes", json_new_string("off"));
	json_object_set(o, "active", json_new_bool(true));
	json_object_set(img, "virtual-size", json_new_int((int64_t)b->virtual_size));
	json_object_set(img, "filename", json_new_string(b->file));
	json_object_set(img, "format", json_new_string(b->format));
	json_object_set(img, "actual-size", json_new_int((int64_t)b->actual_size));
	json_object_set(img, "dirty-flag", json_new_bool(false));
	if (b->backing_file)
		json_object_set(img, "backing-filename", json_new_string(b->backing_file));
	json_object_set(o, "image", img);
	json_object_set(o, "ro", json_new_bool(b->ro));
	node_name(b, 0, node, sizeof(node));
	json_object_set(o, "node-name", json_new_string(node));
	json_object_set(o, "backing_file_depth", json_new_int(b->backing_depth));
	if (b->backing_file)
		json_object_set(o, "backing_file", json_new_string(b->backing_file));
	json_object_set(o, "drv", json_new_string(b->format));
	json_object_set(o, "encrypted", json_new_bool(false));
	json_object_set(cache, "no-flush", json_new_bool(b->cache_no_flush));
	json_object_set(cache, "direct", json_new_bool(b->cache_direct));
	json_object_set(cache, "writeback", json_new_bool(b->cache_writeback));
	json_object_set(o, "cache", cache);
	json_object_set(o, "file", json_new_string(b->file));
	return o;
}

/* query-block: QEMU's BlockInfo per drive. */
static struct json *cmd_query_block(struct qmp_session *s, const struct json *args,
				    struct qmp_error *e)
{
	struct vmctl_block *b = xzalloc(MAX_BLOCKS * sizeof(*b));
	unsigned n = list_blocks(s, b, MAX_BLOCKS);
	struct json *r = json_new_array();

	for (unsigned i = 0; i < n; i++) {
		struct json *o = json_new_object();
		json_object_set(o, "io-status", json_new_string("ok"));
		json_object_set(o, "device", json_new_string(b[i].device));
		json_object_set(o, "locked", json_new_bool(b[i].locked));
		json_object_set(o, "removable", json_new_bool(b[i].removable));
		if (b[i].inserted)
			json_object_set(o, "inserted", inserted_object(&b[i]));
		json_object_set(o, "qdev", json_new_string(b[i].qdev));
		if (b[i].removable)
			json_object_set(o, "tray_open", json_new_bool(b[i].tray_open));
		json_object_set(o, "type", json_new_string("unknown"));
		json_array_append(r, o);
	}
	free(b);
	return r;
}

/* QEMU's BlockDeviceStats; what vmm does not have (unmap, zone append,
 * merging, latency histograms) is zero, as QEMU shows it unused. */
static struct json *stats_object(const struct vmctl_block_stats *st, bool accounted)
{
	struct json *o = json_new_object();
	const struct { const char *name; uint64_t v; } vals[] = {
		{ "unmap_operations", 0 }, { "unmap_merged", 0 },
		{ "failed_zone_append_operations", 0 },
		{ "flush_total_time_ns", st->flush_total_time_ns },
		{ "wr_highest_offset", st->wr_highest_offset },
		{ "wr_total_time_ns", st->wr_total_time_ns },
		{ "failed_wr_operations", st->failed_wr_operations },
		{ "failed_rd_operations", st->failed_rd_operations },
		{ "wr_merged", 0 }, { "wr_bytes", st->wr_bytes },
		{ "failed_unmap_operations", 0 }, { "zone_append_merged", 0 },
		{ "failed_flush_operations", st->failed_flush_operations },
		{ "rd_total_time_ns", st->rd_total_time_ns }, { "invalid_unmap_operations", 0 },
		{ "flush_operations", st->flush_operations }, { "wr_operations", st->wr_operations },
		{ "unmap_bytes", 0 }, { "rd_merged", 0 }, { "rd_bytes", st->rd_bytes },
		{ "unmap_total_time_ns", 0 }, { "invalid_flush_operations", 0 },
		{ "zone_append_total_time_ns", 0 }, { "zone_append_operations", 0 },
		{ "rd_operations", st->rd_operations }, { "zone_append_bytes", 0 },
		{ "invalid_zone_append_operations", 0 }, { "invalid_wr_operations", 0 },
		{ "invalid_rd_operations", 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
		json_object_set(o, vals[i].name, json_new_int((int64_t)vals[i].v));
	json_object_set(o, "timed_stats", json_new_array());
	json_object_set(o, "account_invalid", json_new_bool(accounted));
	json_object_set(o, "account_failed", json_new_bool(accounted));
	if (st->idle_time_ns >= 0)
		json_object_set(o, "idle_time_ns", json_new_int(st->idle_time_ns));
	return o;
}

/* query-blockstats: the guest's I/O per drive, counted in the block
 * layer; "parent" is the file under the format, as QEMU shows it. */
static struct json *cmd_query_blockstats(struct qmp_session *s, const struct json *args,
					 struct qmp_error *e)
{
	struct vmctl_block *b = xzalloc(MAX_BLOCKS * sizeof(*b));
	unsigned n = list_blocks(s, b, MAX_BLOCKS);
	struct json *r = json_new_array();
	char node[16];

	for (unsigned i = 0; i < n; i++) {
		struct json *o = json_new_object();
		json_object_set(o, "device", json_new_string(b[i].device));
		if (b[i].inserted) {
			struct json *parent = json_new_object(), *ds = json_new_object();
			struct vmctl_block_stats none = { .idle_time_ns = -1 };
			json_object_set(parent, "stats", stats_object(&none, false));
			node_name(&b[i], 1, node, sizeof(node));
			json_object_set(parent, "node-name", json_new_string(node));
			json_object_set(ds, "discard-bytes-ok", json_new_int(0));
			json_object_set(ds, "discard-nb-ok", json_new_int(0));
			json_object_set(ds, "driver", json_new_string("file"));
			json_object_set(ds, "discard-nb-failed", json_new_int(0));
			json_object_set(parent, "driver-specific", ds);
			json_object_set(o, "parent", parent);
		}
		json_object_set(o, "stats", stats_object(&b[i].stats, true));
		if (b[i].inserted) {
			node_name(&b[i], 0, node, sizeof(node));
			json_object_set(o, "node-name", json_new_string(node));
		}
		json_object_set(o, "qdev", json_new_string(b[i].qdev));
		json_array_append(r, o);
	}
	free(b);
	return r;
}

/* ---- the monitor, and what QEMU's introspection queries say -------------- */

/* human-monitor-command {"command-line", "cpu-index"}: the monitor's
 * output as QEMU gives it, lines ending in CR LF. */
static struct json *cmd_human_monitor_command(struct qmp_session *s, const struct json *args,
					      struct qmp_error *e)
{
	const struct json *line = string_arg(args, "command-line", e);
	const struct json *cpu = json_object_get(args, "cpu-index");
	struct vmctl_cpu cpus[256];
	int64_t index = 0;

	if (!line)
		return NULL;
	if (cpu) {
		unsigned n = s->ctl.ops->cpus(s->ctl.opaque, cpus, ARRAY_SIZE(cpus));
		if (!json_get_int(cpu, &index) || index < 0 || index >= (int64_t)n)
			return set_error(e, "GenericError", "Invalid CPU index");
	}
	char *text = monitor_run_line(&s->ctl, line->str, (unsigned)index);
	struct strbuf b = { 0 };
	for (const char *c = text; *c; c++) {
		if (*c == '\n')
			strbuf_append(&b, "\r", 1);
		strbuf_append(&b, c, 1);
	}
	strbuf_append(&b, "", 1);
	struct json *r = json_new_string(b.data);
	strbuf_free(&b);
	free(text);
	return r;
}

static struct json *cmd_query_kvm(struct qmp_session *s, const struct json *args,
				  struct qmp_error *e)
{
	struct json *r = json_new_object();
	json_object_set(r, "enabled", json_new_bool(true));
	json_object_set(r, "present", json_new_bool(true));
	return r;
}

static struct json *cmd_query_target(struct qmp_session *s, const struct json *args,
				     struct qmp_error *e)
{
	struct json *r = json_new_object();
	json_object_set(r, "arch", json_new_string("x86_64"));
	return r;
}

/* query-machines: the one machine vmm is, under QEMU 7.2's name and the
 * "pc" alias. */
static struct json *cmd_query_machines(struct qmp_session *s, const struct json *args,
				       struct qmp_error *e)
{
	struct json *r = json_new_array(), *m = json_new_object();

	json_object_set(m, "hotpluggable-cpus", json_new_bool(false));
	json_object_set(m, "name", json_new_string("pc-i440fx-7.2"));
	json_object_set(m, "numa-mem-supported", json_new_bool(false));
	json_object_set(m, "default-cpu-type", json_new_string("host-x86_64-cpu"));
	json_object_set(m, "acpi", json_new_bool(true));
	json_object_set(m, "is-default", json_new_bool(true));
	json_object_set(m, "cpu-max", json_new_int(255));
	json_object_set(m, "deprecated", json_new_bool(false));
	json_object_set(m, "default-ram-id", json_new_string("pc.ram"));
	json_object_set(m, "alias", json_new_string("pc"));
	json_array_append(r, m);
	return r;
}

/* query-cpu-definitions: the -cpu models vmm takes (include/cpu_model.h). */
static struct json *cmd_query_cpu_definitions(struct qmp_session *s, const struct json *args,
					      struct qmp_error *e)
{
	static const struct { const char *name; bool safe; } models[] = {
		{ "host", false }, { "max", false }, { "qemu64", true }, { "kvm64", true },
	};
	struct json *r = json_new_array();

	for (size_t i = 0; i < ARRAY_SIZE(models); i++) {
		char type[48];
		struct json *c = json_new_object();
		snprintf(type, sizeof(type), "%s-x86_64-cpu", models[i].name);
		json_object_set(c, "name", json_new_string(models[i].name));
		json_object_set(c, "typename", json_new_string(type));
		json_object_set(c, "unavailable-features", json_new_array());
		json_object_set(c, "static", json_new_bool(false));
		json_object_set(c, "migration-safe", json_new_bool(models[i].safe));
		json_object_set(c, "deprecated", json_new_bool(false));
		json_array_append(r, c);
	}
	return r;
}

/* query-hotpluggable-cpus: every vCPU is there from the start, one
 * single-core socket each (vmm plugs none later). */
static struct json *cmd_query_hotpluggable_cpus(struct qmp_session *s, const struct json *args,
						struct qmp_error *e)
{
	struct vmctl_cpu cpus[256];
	unsigned n = s->ctl.ops->cpus(s->ctl.opaque, cpus, ARRAY_SIZE(cpus));
	struct json *r = json_new_array();

	for (unsigned i = n; i-- > 0;) {
		char path[64];
		struct json *c = json_new_object(), *props = json_new_object();
		json_object_set(props, "core-id", json_new_int(0));
		json_object_set(props, "thread-id", json_new_int(0));
		json_object_set(props, "socket-id", json_new_int(cpus[i].index));
		json_object_set(c, "props", props);
		json_object_set(c, "vcpus-count", json_new_int(1));
		snprintf(path, sizeof(path), "/machine/unattached/device[%u]", cpus[i].index);
		json_object_set(c, "qom-path", json_new_string(path));
		json_object_set(c, "type", json_new_string("host-x86_64-cpu"));
		json_array_append(r, c);
	}
	return r;
}

static struct json *pci_device_object(const struct vmctl_pci *f)
{
	struct json *d = json_new_object(), *ci = json_new_object(), *id = json_new_object();
	struct json *regions = json_new_array();

	json_object_set(d, "irq_pin", json_new_int(f->irq_pin));
	json_object_set(d, "bus", json_new_int(f->bus));
	json_object_set(d, "qdev_id", json_new_string(f->qdev_id ? f->qdev_id : ""));
	if (f->irq_pin)
		json_object_set(d, "irq", json_new_int(f->irq));
	json_object_set(d, "slot", json_new_int(f->slot));
	json_object_set(ci, "class", json_new_int(f->class_code));
	if (f->desc)
		json_object_set(ci, "desc", json_new_string(f->desc));
	json_object_set(d, "class_info", ci);
	json_object_set(id, "device", json_new_int(f->device));
	json_object_set(id, "subsystem-vendor", json_new_int(f->subsystem_vendor));
	json_object_set(id, "vendor", json_new_int(f->vendor));
	json_object_set(id, "subsystem", json_new_int(f->subsystem));
	json_object_set(d, "id", id);
	json_object_set(d, "function", json_new_int(f->function));
	for (unsigned b = 0; b < f->nbars && b < ARRAY_SIZE(f->bars); b++) {
		const struct vmctl_pci_bar *bar = &f->bars[b];
		struct json *reg = json_new_object();
		json_object_set(reg, "bar", json_new_int(bar->bar));
		json_object_set(reg, "size", json_new_int((int64_t)bar->size));
		json_object_set(reg, "address", json_new_int(bar->address == UINT64_MAX ? -1
								: (int64_t)bar->address));
		json_object_set(reg, "type", json_new_string(bar->io ? "io" : "memory"));
		if (!bar->io) {
			json_object_set(reg, "mem_type_64", json_new_bool(bar->mem64));
			json_object_set(reg, "prefetch", json_new_bool(bar->prefetch));
		}
		json_array_append(regions, reg);
	}
	json_object_set(d, "regions", regions);
	return d;
}

/* query-pci: QEMU's PciInfo of bus 0. */
static struct json *cmd_query_pci(struct qmp_session *s, const struct json *args,
				  struct qmp_error *e)
{
	struct vmctl_pci *f = xzalloc(64 * sizeof(*f));
	unsigned n = s->ctl.ops->pci_devices ? s->ctl.ops->pci_devices(s->ctl.opaque, f, 64) : 0;
	struct json *r = json_new_array(), *bus = json_new_object(), *devs = json_new_array();

	for (unsigned i = 0; i < n; i++)
		json_array_append(devs, pci_device_object(&f[i]));
	json_object_set(bus, "bus", json_new_int(0));
	json_object_set(bus, "devices", devs);
	json_array_append(r, bus);
	free(f);
	return r;
}

static struct json *cmd_query_chardev(struct qmp_session *s, const struct json *args,
				      struct qmp_error *e)
{
	struct vmctl_chardev *c = xzalloc(32 * sizeof(*c));
	unsigned n = s->ctl.ops->chardevs ? s->ctl.ops->chardevs(s->ctl.opaque, c, 32) : 0;
	struct json *r = json_new_array();

	for (unsigned i = 0; i < n; i++) {
		struct json *o = json_new_object();
		json_object_set(o, "frontend-open", json_new_bool(c[i].frontend_open));
		json_object_set(o, "filename", json_new_string(c[i].filename));
		json_object_set(o, "label", json_new_string(c[i].label));
		json_array_append(r, o);
	}
	free(c);
	return r;
}

/* ---- device types ------------------------------------------------------------ */

#define MAX_TYPES 128

/* Whether type t is 'name' or has it among its ancestors. */
static bool implements(const struct vmctl_type *types, unsigned n, const struct vmctl_type *t,
		       const char *name)
{
	for (unsigned depth = 0; t && depth < n; depth++) {
		if (!strcmp(t->name, name))
			return true;
		const struct vmctl_type *up = NULL;
		for (unsigned i = 0; t->parent && i < n; i++)
			if (!strcmp(types[i].name, t->parent))
				up = &types[i];
		t = up;
	}
	return false;
}

/* qom-list-types {"implements": TYPE, "abstract": BOOL}: QEMU's
 * ObjectTypeInfo for the device types (abstract ones only if asked). */
static struct json *cmd_qom_list_types(struct qmp_session *s, const struct json *args,
				       struct qmp_error *e)
{
	struct vmctl_type *t = xzalloc(MAX_TYPES * sizeof(*t));
	unsigned n = s->ctl.ops->device_types ? s->ctl.ops->device_types(s->ctl.opaque, t,
									 MAX_TYPES) : 0;
	const struct json *impl = json_object_get(args, "implements");
	const struct json *abstract = json_object_get(args, "abstract");
	struct json *r = json_new_array();

	for (unsigned i = 0; i < n; i++) {
		if ((t[i].abstract && !(abstract && abstract->boolean)) ||
		    (impl && !implements(t, n, &t[i], impl->str)))
			continue;
		struct json *o = json_new_object();
		json_object_set(o, "name", json_new_string(t[i].name));
		if (t[i].abstract)
			json_object_set(o, "abstract", json_new_bool(true));
		if (t[i].parent)
			json_object_set(o, "parent", json_new_string(t[i].parent));
		json_array_append(r, o);
	}
	free(t);
	return r;
}

/* device-list-properties {"typename": DRIVER}: QEMU's ObjectPropertyInfo
 * for each property -device DRIVER,help lists. */
static struct json *cmd_device_list_properties(struct qmp_session *s, const struct json *args,
					       struct qmp_error *e)
{
	const struct json *name = string_arg(args, "typename", e);
	struct vmctl_prop *p;
	int n;

	if (!name)
		return NULL;
	p = xzalloc(64 * sizeof(*p));
	n = s->ctl.ops->device_props ? s->ctl.ops->device_props(s->ctl.opaque, name->str, p, 64)
				     : -ENOENT;
	if (n < 0) {
		free(p);
		if (n == -EINVAL)
			return set_error(e, "GenericError",
					 "Parameter 'typename' expects a non-abstract device type");
		return set_error(e, "DeviceNotFound", "Device '%.64s' not found", name->str);
	}
	struct json *r = json_new_array();
	for (int i = 0; i < n; i++) {
		struct json *o = json_new_object();
		json_object_set(o, "name", json_new_string(p[i].name));
		json_object_set(o, "type", json_new_string(p[i].type));
		if (p[i].description[0])
			json_object_set(o, "description", json_new_string(p[i].description));
		if (p[i].def_kind == VMCTL_VALUE_INT)
			json_object_set(o, "default-value", json_new_int((int64_t)p[i].def_int));
		else if (p[i].def_kind == VMCTL_VALUE_BOOL)
			json_object_set(o, "default-value", json_new_bool(p[i].def_bool));
		else if (p[i].def_kind == VMCTL_VALUE_STR)
			json_object_set(o, "default-value", json_new_string(p[i].def_str));
		json_array_append(r, o);
	}
	free(p);
	return r;
}

/* ---- machine-level commands management tools probe ---------------------- */

static struct json *cmd_inject_nmi(struct qmp_session *s, const struct json *args,
				   struct qmp_error *e)
{
	(void)args;
	if (!s->ctl.ops->inject_nmi || s->ctl.ops->inject_nmi(s->ctl.opaque) < 0)
		return set_error(e, "GenericError", "Could not inject an NMI");
	return json_new_object();
}

/* memsave {"val", "size", "filename", "cpu-index"} and pmemsave (no CPU). */
static struct json *memsave(struct qmp_session *s, const struct json *args, struct qmp_error *e,
			    bool physical)
{
	const struct json *file = json_object_get(args, "filename");
	const struct json *cpu = json_object_get(args, "cpu-index");
	int64_t addr = 0, size = 0, index = 0;
	char err[512];

	if (!json_get_int(json_object_get(args, "val"), &addr) ||
	    !json_get_int(json_object_get(args, "size"), &size))
		return set_error(e, "GenericError", "Parameter 'val' and 'size' are needed");
	if (strlen(file->str) != file->len)
		return set_error(e, "GenericError", "Could not open '%.64s'", file->str);
	if (cpu && (!json_get_int(cpu, &index) || index < 0 || index > INT32_MAX))
		return set_error(e, "GenericError", "Parameter 'cpu-index' expects a CPU number");
	if (size < 0)
		return set_error(e, "GenericError", "Invalid addr 0x%016llx/size %lld specified",
				 (unsigned long long)addr, (long long)size);
	if (vmctl_memsave(&s->ctl, physical ? -1 : (int)index, (uint64_t)addr, (uint64_t)size,
			  file->str, err, sizeof(err)) < 0)
		return set_error(e, "GenericError", "%s", err);
	return json_new_object();
}

static struct json *cmd_memsave(struct qmp_session *s, const struct json *args,
				struct qmp_error *e)
{
	return memsave(s, args, e, false);
}

static struct json *cmd_pmemsave(struct qmp_session *s, const struct json *args,
				 struct qmp_error *e)
{
	return memsave(s, args, e, true);
}

/* The guest's RAM is all base memory: vmm has no memory hotplug. */
static struct json *cmd_query_memory_size_summary(struct qmp_session *s,
						  const struct json *args, struct qmp_error *e)
{
	struct json *r = json_new_object();
	uint64_t ram = s->ctl.ops->ram_size ? s->ctl.ops->ram_size(s->ctl.opaque) : 0;

	(void)args;
	(void)e;
	json_object_set(r, "base-memory", json_new_int((int64_t)ram));
	json_object_set(r, "plugged-memory", json_new_int(0));
	return r;
}

/* query-memdev: QEMU's Memdev for each memory backend (vmm binds none to
 * host NUMA nodes: no host-nodes, policy default). */
static struct json *cmd_query_memdev(struct qmp_session *s, const struct json *args,
				     struct qmp_error *e)
{
	struct vmctl_memdev d[8];
	unsigned n = s->ctl.ops->memdevs ? s->ctl.ops->memdevs(s->ctl.opaque, d, 8) : 0;
	struct json *r = json_new_array();

	(void)args;
	(void)e;
	for (unsigned i = 0; i < n; i++) {
		struct json *o = json_new_object();
		json_object_set(o, "id", json_new_string(d[i].id));
		json_object_set(o, "size", json_new_int((int64_t)d[i].size));
		json_object_set(o, "merge", json_new_bool(d[i].merge));
		json_object_set(o, "dump", json_new_bool(d[i].dump));
		json_object_set(o, "prealloc", json_new_bool(d[i].prealloc));
		json_object_set(o, "share", json_new_bool(d[i].share));
		json_object_set(o, "reserve", json_new_bool(d[i].reserve));
		json_object_set(o, "host-nodes", json_new_array());
		json_object_set(o, "policy", json_new_string("default"));
		json_array_append(r, o);
	}
	return r;
}

/* vmm's PIIX4 PM implements S5 only (hw/chipset/piix_pm.c): no S3 to wake. */
static struct json *cmd_query_current_machine(struct qmp_session *s, const struct json *args,
					      struct qmp_error *e)
{
	struct json *r = json_new_object();

	(void)s;
	(void)args;
	(void)e;
	json_object_set(r, "wakeup-suspend-support", json_new_bool(false));
	return r;
}

static struct json *cmd_system_wakeup(struct qmp_session *s, const struct json *args,
				      struct qmp_error *e)
{
	(void)s;
	(void)args;
	return set_error(e, "GenericError", "wake-up from suspend is not supported by this guest");
}

/* Objects vmm does not have (iothreads, block jobs, a TPM, ACPI hotplug
 * slots, memory devices): the empty list QEMU gives a machine without
 * them, so that a tool's probe learns the truth rather than an error. */
static struct json *cmd_empty_list(struct qmp_session *s, const struct json *args,
				   struct qmp_error *e)
{
	(void)s;
	(void)args;
	(void)e;
	return json_new_array();
}

/* vmm's RTC owes no ticks (its periodic interrupt is not coalesced), so
 * there is nothing to forget. */
static struct json *cmd_rtc_reset_reinjection(struct qmp_session *s, const struct json *args,
					      struct qmp_error *e)
{
	(void)s;
	(void)args;
	(void)e;
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

static struct json *cmd_cont(struct qmp_session *s, const struct json *args, struct qmp_error *e)
{
	char err[256];

	if (s->ctl.ops->cont(s->ctl.opaque, err, sizeof(err)) < 0)
		return set_error(e, "GenericError", "%s", err);
	return json_new_object();
}
SIMPLE_ACTION(cmd_system_reset, reset)
SIMPLE_ACTION(cmd_system_powerdown, powerdown)
SIMPLE_ACTION(cmd_quit, quit)

/* Each command's arguments (a member list, see qmp_schema.h: check_args
 * checks them and query-qmp-schema shows them) and return type. */
static const struct qmp_command commands[] = {
	{ { "qmp_capabilities", "*enable:[QMPCapability]", QMP_SCHEMA_EMPTY }, cmd_capabilities },
	{ { "query-version", NULL, "VersionInfo" }, cmd_query_version },
	{ { "query-status", NULL, "StatusInfo" }, cmd_query_status },
	{ { "query-name", NULL, "NameInfo" }, cmd_query_name },
	{ { "query-uuid", NULL, "UuidInfo" }, cmd_query_uuid },
	{ { "query-cpus-fast", NULL, "[CpuInfoFast]" }, cmd_query_cpus_fast },
	{ { "query-commands", NULL, "[CommandInfo]" }, cmd_query_commands },
	{ { "query-qmp-schema", NULL, "[SchemaInfo]" }, cmd_query_qmp_schema },
	{ { "stop", NULL, QMP_SCHEMA_EMPTY }, cmd_stop },
	{ { "cont", NULL, QMP_SCHEMA_EMPTY }, cmd_cont },
	{ { "system_reset", NULL, QMP_SCHEMA_EMPTY }, cmd_system_reset },
	{ { "system_powerdown", NULL, QMP_SCHEMA_EMPTY }, cmd_system_powerdown },
	{ { "quit", NULL, QMP_SCHEMA_EMPTY }, cmd_quit },
	{ { "balloon", "value:int", QMP_SCHEMA_EMPTY }, cmd_balloon },
	{ { "query-balloon", NULL, "BalloonInfo" }, cmd_query_balloon },
	{ { "watchdog-set-action", "action:WatchdogAction", QMP_SCHEMA_EMPTY },
	  cmd_watchdog_set_action },
	{ { "screendump", "filename:str *format:ImageFormat *device:str *head:int",
	    QMP_SCHEMA_EMPTY }, cmd_screendump },
	{ { "send-key", "keys:[KeyValue] *hold-time:int", QMP_SCHEMA_EMPTY }, cmd_send_key },
	{ { "input-send-event", "events:[InputEvent] *device:str *head:int", QMP_SCHEMA_EMPTY },
	  cmd_input_send_event },
	{ { "query-mice", NULL, "[MouseInfo]" }, cmd_query_mice },
	{ { "query-display-options", NULL, "DisplayOptions" }, cmd_query_display_options },
	{ { "query-vnc", NULL, "VncInfo" }, cmd_query_vnc },
	{ { "change-vnc-password", "password:str", QMP_SCHEMA_EMPTY }, cmd_change_vnc_password },
	{ { "set_link", "name:str up:bool", QMP_SCHEMA_EMPTY }, cmd_set_link },
	{ { "x-dirty-log", "region:str enable:bool", QMP_SCHEMA_EMPTY }, cmd_x_dirty_log },
	{ { "x-query-dirty-pages", "region:str", "DirtyPages" }, cmd_x_query_dirty_pages },
	{ { "x-state-roundtrip", NULL, "StateRoundtrip" }, cmd_x_state_roundtrip },
	{ { "x-query-exits", NULL, "ExitCounts" }, cmd_x_query_exits },
	{ { "snapshot-save", "job-id:str tag:str vmstate:str devices:[str]", QMP_SCHEMA_EMPTY },
	  cmd_snapshot_save },
	{ { "snapshot-load", "job-id:str tag:str vmstate:str devices:[str]", QMP_SCHEMA_EMPTY },
	  cmd_snapshot_load },
	{ { "snapshot-delete", "job-id:str tag:str devices:[str]", QMP_SCHEMA_EMPTY },
	  cmd_snapshot_delete },
	{ { "query-jobs", NULL, "[JobInfo]" }, cmd_query_jobs },
	{ { "job-dismiss", "id:str", QMP_SCHEMA_EMPTY }, cmd_job_dismiss },
	/* channels and resume are named so that their refusal says why */
	{ { "migrate", "uri:str *channels:[any] *detach:bool *resume:bool", QMP_SCHEMA_EMPTY },
	  cmd_migrate },
	{ { "migrate-incoming", "uri:str", QMP_SCHEMA_EMPTY }, cmd_migrate_incoming },
	{ { "migrate_cancel", NULL, QMP_SCHEMA_EMPTY }, cmd_migrate_cancel },
	{ { "query-migrate", NULL, "MigrationInfo" }, cmd_query_migrate },
	{ { "migrate-set-capabilities", "capabilities:[MigrationCapabilityStatus]",
	    QMP_SCHEMA_EMPTY }, cmd_migrate_set_capabilities },
	{ { "query-migrate-capabilities", NULL, "[MigrationCapabilityStatus]" },
	  cmd_query_migrate_capabilities },
	{ { "migrate-set-parameters", "*downtime-limit:int *max-bandwidth:int", QMP_SCHEMA_EMPTY },
	  cmd_migrate_set_parameters },
	{ { "query-migrate-parameters", NULL, "MigrationParameters" },
	  cmd_query_migrate_parameters },
	{ { "eject", "*device:str *id:str *force:bool", QMP_SCHEMA_EMPTY }, cmd_eject },
	{ { "blockdev-open-tray", "*device:str *id:str *force:bool", QMP_SCHEMA_EMPTY },
	  cmd_blockdev_open_tray },
	{ { "blockdev-close-tray", "*device:str *id:str", QMP_SCHEMA_EMPTY },
	  cmd_blockdev_close_tray },
	{ { "blockdev-remove-medium", "id:str", QMP_SCHEMA_EMPTY }, cmd_blockdev_remove_medium },
	{ { "blockdev-change-medium", "*device:str *id:str filename:str *format:str "
	    "*read-only-mode:BlockdevChangeReadOnlyMode *force:bool", QMP_SCHEMA_EMPTY },
	  cmd_blockdev_change_medium },
	{ { "query-block", NULL, "[BlockInfo]" }, cmd_query_block },
	{ { "query-blockstats", "*flat:bool *query-nodes:bool", "[BlockStats]" },
	  cmd_query_blockstats },
	{ { "human-monitor-command", "command-line:str *cpu-index:int", "str" },
	  cmd_human_monitor_command },
	{ { "inject-nmi", NULL, QMP_SCHEMA_EMPTY }, cmd_inject_nmi },
	{ { "memsave", "val:int size:int filename:str *cpu-index:int", QMP_SCHEMA_EMPTY },
	  cmd_memsave },
	{ { "pmemsave", "val:int size:int filename:str", QMP_SCHEMA_EMPTY }, cmd_pmemsave },
	{ { "query-memory-size-summary", NULL, "MemoryInfo" }, cmd_query_memory_size_summary },
	{ { "query-memdev", NULL, "[Memdev]" }, cmd_query_memdev },
	{ { "query-current-machine", NULL, "CurrentMachineParams" }, cmd_query_current_machine },
	{ { "system_wakeup", NULL, QMP_SCHEMA_EMPTY }, cmd_system_wakeup },
	{ { "rtc-reset-reinjection", NULL, QMP_SCHEMA_EMPTY }, cmd_rtc_reset_reinjection },
	{ { "query-iothreads", NULL, "[IOThreadInfo]" }, cmd_empty_list },
	{ { "query-block-jobs", NULL, "[BlockJobInfo]" }, cmd_empty_list },
	{ { "query-tpm", NULL, "[TPMInfo]" }, cmd_empty_list },
	{ { "query-tpm-models", NULL, "[TpmModel]" }, cmd_empty_list },
	{ { "query-tpm-types", NULL, "[TpmType]" }, cmd_empty_list },
	{ { "query-acpi-ospm-status", NULL, "[ACPIOSTInfo]" }, cmd_empty_list },
	{ { "query-memory-devices", NULL, "[MemoryDeviceInfo]" }, cmd_empty_list },
	{ { "query-kvm", NULL, "KvmInfo" }, cmd_query_kvm },
	{ { "query-target", NULL, "TargetInfo" }, cmd_query_target },
	{ { "query-machines", NULL, "[MachineInfo]" }, cmd_query_machines },
	{ { "query-cpu-definitions", NULL, "[CpuDefinitionInfo]" }, cmd_query_cpu_definitions },
	{ { "query-hotpluggable-cpus", NULL, "[HotpluggableCPU]" }, cmd_query_hotpluggable_cpus },
	{ { "query-pci", NULL, "[PciInfo]" }, cmd_query_pci },
	{ { "query-chardev", NULL, "[ChardevInfo]" }, cmd_query_chardev },
	{ { "qom-list-types", "*implements:str *abstract:bool", "[ObjectTypeInfo]" },
	  cmd_qom_list_types },
	{ { "device-list-properties", "typename:str", "[ObjectPropertyInfo]" },
	  cmd_device_list_properties },
};

static struct json *cmd_query_commands(struct qmp_session *s, const struct json *args,
				       struct qmp_error *e)
{
	struct json *r = json_new_array();
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		struct json *c = json_new_object();
		json_object_set(c, "name", json_new_string(commands[i].sig.name));
		json_array_append(r, c);
	}
	return r;
}

/* query-qmp-schema: from the table above and qmp_schema.c's types. */
static struct json *cmd_query_qmp_schema(struct qmp_session *s, const struct json *args,
					 struct qmp_error *e)
{
	struct qmp_signature sigs[ARRAY_SIZE(commands)];

	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		sigs[i] = commands[i].sig;
	return qmp_schema_build(sigs, ARRAY_SIZE(sigs));
}

/* ---- dispatch ---------------------------------------------------------- */

/* The arguments against the command's member list: no unknown name, each
 * value of its member's JSON type, every member that is not optional given
 * (QEMU's wording for each). */
static bool check_args(const struct qmp_command *c, const struct json *args, struct qmp_error *e)
{
	struct qmp_member m;
	const char *p;

	for (size_t i = 0; args && i < args->n; i++) {
		bool found = false;
		p = c->sig.args ? c->sig.args : "";
		while (!found && qmp_members_next(&p, &m))
			found = !strcmp(m.name, args->keys[i]);
		if (!found || strlen(args->keys[i]) != args->keylens[i]) {
			set_error(e, "GenericError", "Parameter '%.64s' is unexpected", args->keys[i]);
			return false;
		}
		enum json_type jt;
		const char *what;
		if (qmp_schema_json_type(m.type, &jt, &what) && args->items[i]->type != jt) {
			set_error(e, "GenericError", "Invalid parameter type for '%s', expected: %s",
				  m.name, what);
			return false;
		}
	}
	p = c->sig.args ? c->sig.args : "";
	while (qmp_members_next(&p, &m))
		if (!m.optional && !json_object_get(args, m.name)) {
			set_error(e, "GenericError", "Parameter '%s' is missing", m.name);
			return false;
		}
	return true;
}

static const struct qmp_command *find_command(const struct json *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strlen(commands[i].sig.name) == name->len && !strcmp(commands[i].sig.name, name->str))
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
	const char *why = c ? NULL : qmp_lacking_why(name->str);
	if (why)
		return set_error(e, "CommandNotFound",
				 "The command %s has not been found (not supported by vmm: %s)",
				 name->str, why);
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
