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
#include "json.h"
#include "monitor.h"
#include "qmp.h"
#include "watchdog.h"

/* ---- a fake machine ---------------------------------------------------- */

struct fake {
	bool running;
	int stops, conts, resets, powerdowns, quits;
	const char *name;
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
};

static bool f_running(void *o) { return ((struct fake *)o)->running; }
static void f_stop(void *o) { ((struct fake *)o)->running = false; ((struct fake *)o)->stops++; }
static void f_cont(void *o) { ((struct fake *)o)->running = true; ((struct fake *)o)->conts++; }
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

static const struct vmctl_ops fake_ops = {
	f_running, f_stop, f_cont, f_reset, f_powerdown, f_quit, f_cpus, f_name,
	f_balloon_set, f_balloon_query, f_dirty_log, f_dirty_pages, f_state_roundtrip,
	f_watchdog_set_action, NULL, f_set_link, f_nics, f_run_state, f_migrate, NULL,
	f_query_migrate, f_migrate_set_capability, f_migrate_set_parameter, f_migrate_cancel,
	NULL, NULL, f_job_start, f_jobs, f_job_dismiss, f_gdbserver,
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

	r = cmd(f, "{\"execute\": \"query-commands\"}");
	struct json *list = expect_return(r);
	static const char *const want[] = { "qmp_capabilities", "query-version", "query-status",
		"query-name", "query-cpus-fast", "query-commands", "stop", "cont", "system_reset",
		"system_powerdown", "quit", "set_link" };
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
		     "GenericError", "channels");
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
	assert_int_equal(fk.stops, 1);
	assert_int_equal(fk.conts, 2);
	assert_int_equal(fk.quits, 1);
	assert_int_equal(fk.resets, 1);
	assert_int_equal(fk.powerdowns, 1);

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
		cmocka_unit_test_setup_teardown(test_snapshot_jobs, qmp_setup, qmp_teardown),
		cmocka_unit_test_setup_teardown(test_set_link, qmp_setup, qmp_teardown),
		cmocka_unit_test(test_monitor_set_link),
		cmocka_unit_test(test_monitor_gdbserver),
		cmocka_unit_test(test_monitor_migrate),
		cmocka_unit_test(test_monitor_balloon),
		cmocka_unit_test(test_chan_parse),
		cmocka_unit_test(test_socket_clients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
