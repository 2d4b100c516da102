// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * query-qmp-schema: QMP's introspection (a list of SchemaInfo objects, as
 * QEMU's docs/devel/qapi-code-gen describes them) built from the types
 * below and the command table in qmp.c. The types describe what vmm
 * answers, which is sometimes less than QEMU's (enums hold only the
 * values vmm accepts or sends, objects only the members it sends) and
 * sometimes more (vmm's own "x-" members). Type names are readable, not
 * masked as QEMU's; a client must not depend on either.
 *
 * QEMU's unions (KeyValue, InputEvent) appear as objects with a "data"
 * member of type any: vmm checks their variants in the command itself.
 */
#include "qmp_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum schema_meta { SCHEMA_OBJECT, SCHEMA_ENUM };

struct schema_type {
	const char *name;
	enum schema_meta meta;
	const char *body; /* a member list, or the enum's values separated by spaces */
};

#define OBJ(n, b) { n, SCHEMA_OBJECT, b }
#define ENUM(n, b) { n, SCHEMA_ENUM, b }

static const struct schema_type types[] = {
	OBJ(QMP_SCHEMA_EMPTY, ""),
	/* capabilities: vmm offers none (no "oob") */
	ENUM("QMPCapability", ""),
	OBJ("VersionTriple", "major:int minor:int micro:int"),
	OBJ("VersionInfo", "qemu:VersionTriple package:str"),
	ENUM("RunState", "debug inmigrate paused postmigrate prelaunch restore-vm running"),
	OBJ("StatusInfo", "running:bool singlestep:bool status:RunState"),
	OBJ("NameInfo", "*name:str"),
	OBJ("UuidInfo", "UUID:str"),
	ENUM("SysEmuTarget", "x86_64"),
	OBJ("CpuInstanceProperties", "*socket-id:int *core-id:int *thread-id:int"),
	OBJ("CpuInfoFast", "cpu-index:int qom-path:str thread-id:int props:CpuInstanceProperties "
			   "target:SysEmuTarget"),
	OBJ("CommandInfo", "name:str"),
	OBJ("BalloonInfo", "actual:int"),
	ENUM("WatchdogAction", "reset shutdown poweroff pause debug none inject-nmi"),
	ENUM("ImageFormat", "ppm png"),
	ENUM("KeyValueKind", "number qcode"),
	OBJ("KeyValue", "type:KeyValueKind data:any"),
	ENUM("InputEventKind", "key btn rel"),
	OBJ("InputEvent", "type:InputEventKind data:any"),
	OBJ("MouseInfo", "name:str index:int current:bool absolute:bool"),
	ENUM("DisplayType", "none sdl"),
	ENUM("HotKeyMod", "lctrl-lalt rctrl"),
	/* a flat union in QEMU: the sdl variant's member beside the base's */
	OBJ("DisplayOptions", "type:DisplayType *full-screen:bool *window-close:bool "
			      "*grab-mod:HotKeyMod"),
	ENUM("NetworkAddressFamily", "ipv4 ipv6 unix"),
	OBJ("VncClientInfo", "host:str service:str family:NetworkAddressFamily websocket:bool"),
	OBJ("VncInfo", "enabled:bool *host:str *family:NetworkAddressFamily *service:str *auth:str "
		       "*clients:[VncClientInfo] *x-clients:int *x-bytes-sent:int *x-updates:int"),
	OBJ("DirtyPages", "page-size:int count:int pages:[int]"),
	OBJ("StateRoundtrip", "bytes:int"),
	OBJ("ExitCounts", "io:int mmio:int hlt:int intr:int coalesced:int"),
	ENUM("JobType", "snapshot-load snapshot-save snapshot-delete"),
	ENUM("JobStatus", "created running waiting pending aborting concluded null"),
	OBJ("JobInfo", "id:str type:JobType status:JobStatus current-progress:int "
		       "total-progress:int *error:str"),
	ENUM("MigrationStatus", "none setup active completed failed cancelling cancelled"),
	OBJ("MigrationStats", "transferred:int remaining:int total:int duplicate:int normal:int "
			      "normal-bytes:int dirty-sync-count:int page-size:int"),
	OBJ("MigrationInfo", "*status:MigrationStatus *error-desc:str *setup-time:int "
			     "*total-time:int *downtime:int *expected-downtime:int "
			     "*ram:MigrationStats"),
	ENUM("MigrationCapability", "events"),
	OBJ("MigrationCapabilityStatus", "capability:MigrationCapability state:bool"),
	OBJ("MigrationParameters", "*downtime-limit:int *max-bandwidth:int"),
	ENUM("BlockdevChangeReadOnlyMode", "retain read-only read-write"),
	ENUM("BlockDeviceIoStatus", "ok"),
	ENUM("BlockdevDetectZeroesOptions", "off"),
	OBJ("BlockdevCacheInfo", "writeback:bool direct:bool no-flush:bool"),
	OBJ("ImageInfo", "filename:str format:str dirty-flag:bool actual-size:int virtual-size:int "
			 "*backing-filename:str"),
	OBJ("BlockDeviceInfo", "file:str node-name:str ro:bool drv:str *backing_file:str "
			       "backing_file_depth:int active:bool encrypted:bool "
			       "detect_zeroes:BlockdevDetectZeroesOptions bps:int bps_rd:int "
			       "bps_wr:int iops:int iops_rd:int iops_wr:int write_threshold:int "
			       "image:ImageInfo cache:BlockdevCacheInfo"),
	OBJ("BlockInfo", "device:str qdev:str type:str removable:bool locked:bool "
			 "*inserted:BlockDeviceInfo *tray_open:bool io-status:BlockDeviceIoStatus"),
	/* timed_stats is always empty: vmm keeps no latency intervals */
	OBJ("BlockDeviceStats", "rd_bytes:int wr_bytes:int zone_append_bytes:int unmap_bytes:int "
				"rd_operations:int wr_operations:int zone_append_operations:int "
				"flush_operations:int unmap_operations:int rd_total_time_ns:int "
				"wr_total_time_ns:int zone_append_total_time_ns:int "
				"flush_total_time_ns:int unmap_total_time_ns:int "
				"wr_highest_offset:int rd_merged:int wr_merged:int "
				"zone_append_merged:int unmap_merged:int *idle_time_ns:int "
				"failed_rd_operations:int failed_wr_operations:int "
				"failed_zone_append_operations:int failed_flush_operations:int "
				"failed_unmap_operations:int invalid_rd_operations:int "
				"invalid_wr_operations:int invalid_zone_append_operations:int "
				"invalid_flush_operations:int invalid_unmap_operations:int "
				"account_invalid:bool account_failed:bool timed_stats:[any]"),
	OBJ("BlockStatsSpecific", "driver:str discard-nb-ok:int discard-nb-failed:int "
				  "discard-bytes-ok:int"),
	OBJ("BlockStats", "*device:str *qdev:str *node-name:str stats:BlockDeviceStats "
			  "*parent:BlockStats *driver-specific:BlockStatsSpecific"),
	OBJ("KvmInfo", "enabled:bool present:bool"),
	OBJ("MemoryInfo", "base-memory:int *plugged-memory:int"),
	ENUM("HostMemPolicy", "default preferred bind interleave"),
	OBJ("Memdev", "*id:str size:int merge:bool dump:bool prealloc:bool share:bool "
		      "*reserve:bool host-nodes:[int] policy:HostMemPolicy"),
	OBJ("CurrentMachineParams", "wakeup-suspend-support:bool"),
	/* the element types of lists vmm always answers empty: no members */
	OBJ("IOThreadInfo", ""),
	OBJ("BlockJobInfo", ""),
	OBJ("TPMInfo", ""),
	ENUM("TpmModel", ""),
	ENUM("TpmType", ""),
	OBJ("ACPIOSTInfo", ""),
	OBJ("MemoryDeviceInfo", ""),
	OBJ("TargetInfo", "arch:SysEmuTarget"),
	OBJ("MachineInfo", "name:str *alias:str *is-default:bool cpu-max:int "
			   "hotpluggable-cpus:bool numa-mem-supported:bool deprecated:bool "
			   "*default-cpu-type:str *default-ram-id:str acpi:bool"),
	OBJ("CpuDefinitionInfo", "name:str *migration-safe:bool static:bool "
				 "*unavailable-features:[str] typename:str deprecated:bool"),
	OBJ("HotpluggableCPU", "type:str vcpus-count:int props:CpuInstanceProperties *qom-path:str"),
	OBJ("PciDeviceClass", "*desc:str class:int"),
	OBJ("PciDeviceId", "device:int vendor:int subsystem:int subsystem-vendor:int"),
	OBJ("PciMemoryRegion", "bar:int type:str address:int size:int *prefetch:bool "
			       "*mem_type_64:bool"),
	OBJ("PciDeviceInfo", "bus:int slot:int function:int class_info:PciDeviceClass "
			     "id:PciDeviceId *irq:int irq_pin:int qdev_id:str "
			     "regions:[PciMemoryRegion]"),
	OBJ("PciInfo", "bus:int devices:[PciDeviceInfo]"),
	OBJ("ChardevInfo", "label:str filename:str frontend-open:bool"),
	ENUM("SchemaMetaType", "builtin enum array object command event"),
	/* SchemaInfo is a union in QEMU; its variants' members here, optional */
	OBJ("SchemaInfo", "name:str meta-type:SchemaMetaType *json-type:str *values:[str] "
			  "*members:[any] *element-type:str *arg-type:str *ret-type:str"),
	OBJ("ObjectTypeInfo", "name:str *abstract:bool *parent:str"),
	OBJ("ObjectPropertyInfo", "name:str type:str *description:str *default-value:any"),
	ENUM("ShutdownCause", "host-qmp-quit host-qmp-system-reset host-signal host-ui "
			      "guest-shutdown guest-reset"),
};

const struct qmp_signature qmp_schema_events[] = {
	{ "SHUTDOWN", "guest:bool reason:ShutdownCause", NULL },
	{ "RESET", "guest:bool reason:ShutdownCause", NULL },
	{ "POWERDOWN", NULL, NULL },
	{ "STOP", NULL, NULL },
	{ "RESUME", NULL, NULL },
	{ "BALLOON_CHANGE", "actual:int", NULL },
	{ "WATCHDOG", "action:WatchdogAction", NULL },
	{ "DEVICE_TRAY_MOVED", "device:str tray-open:bool id:str", NULL },
	{ "MIGRATION", "status:MigrationStatus", NULL },
	{ "MIGRATION_PASS", "pass:int", NULL },
	{ "JOB_STATUS_CHANGE", "id:str status:JobStatus", NULL },
};
const size_t qmp_schema_nevents = ARRAY_SIZE(qmp_schema_events);

bool qmp_schema_event_known(const char *name)
{
	for (size_t i = 0; i < qmp_schema_nevents; i++)
		if (!strcmp(qmp_schema_events[i].name, name))
			return true;
	return false;
}

/* ---- member lists ---------------------------------------------------------- */

static size_t copy_word(char *dst, size_t cap, const char *src, size_t n)
{
	n = MIN(n, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
	return n;
}

bool qmp_members_next(const char **p, struct qmp_member *m)
{
	const char *s = *p + strspn(*p, " ");
	size_t len = strcspn(s, " ");

	if (!len)
		return false;
	*p = s + len;
	m->optional = *s == '*';
	if (m->optional) {
		s++;
		len--;
	}
	const char *colon = memchr(s, ':', len);
	size_t nlen = colon ? (size_t)(colon - s) : len;
	copy_word(m->name, sizeof(m->name), s, nlen);
	copy_word(m->type, sizeof(m->type), colon ? colon + 1 : "any",
		  colon ? len - nlen - 1 : 3);
	return true;
}

static const struct {
	const char *name;
	const char *json_type; /* SchemaInfoBuiltin's */
	enum json_type jt;
	const char *what;      /* in "expected: ..." errors */
} builtins[] = {
	{ "str", "string", JSON_STRING, "string" },
	{ "int", "int", JSON_NUMBER, "integer" },
	{ "number", "number", JSON_NUMBER, "number" },
	{ "bool", "boolean", JSON_BOOL, "boolean" },
	{ "null", "null", JSON_NULL, "null" },
	{ "any", "value", JSON_NULL, NULL },
};

static int builtin_index(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(builtins); i++)
		if (!strcmp(builtins[i].name, name))
			return (int)i;
	return -1;
}

static const struct schema_type *find_type(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcmp(types[i].name, name))
			return &types[i];
	return NULL;
}

bool qmp_schema_json_type(const char *type, enum json_type *jt, const char **what)
{
	int b = builtin_index(type);
	const struct schema_type *t;

	if (b >= 0) {
		*jt = builtins[b].jt;
		*what = builtins[b].what;
		return builtins[b].what != NULL;
	}
	if (type[0] == '[') {
		*jt = JSON_ARRAY;
		*what = "array";
		return true;
	}
	t = find_type(type);
	*jt = t && t->meta == SCHEMA_ENUM ? JSON_STRING : JSON_OBJECT;
	*what = t && t->meta == SCHEMA_ENUM ? "string" : "object";
	return true;
}

/* ---- the schema -------------------------------------------------------------- */

/* Types still to describe, and those described, by name; a type is
 * described once however many commands reach it. */
struct type_queue {
	char **names;
	const char **bodies; /* the member list of an implicit argument type, else NULL */
	size_t n, cap;
};

static void enqueue(struct type_queue *q, const char *name, const char *body)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->names[i], name))
			return;
	if (q->n == q->cap)
		return; /* cannot happen: the capacity counts every possible name */
	q->names[q->n] = xstrdup(name);
	q->bodies[q->n++] = body;
}

static struct json *info(const char *name, const char *meta)
{
	struct json *o = json_new_object();
	json_object_set(o, "name", json_new_string(name));
	json_object_set(o, "meta-type", json_new_string(meta));
	return o;
}

/* The implicit type of a command's or event's arguments, named as QEMU
 * names them before masking. */
static char *arg_type(struct type_queue *q, const struct qmp_signature *sig)
{
	char name[96];

	if (!sig->args || !sig->args[0]) {
		enqueue(q, QMP_SCHEMA_EMPTY, NULL);
		return xstrdup(QMP_SCHEMA_EMPTY);
	}
	snprintf(name, sizeof(name), "q_obj_%s-arg", sig->name);
	enqueue(q, name, sig->args);
	return xstrdup(name);
}

static struct json *object_info(struct type_queue *q, const char *name, const char *body)
{
	struct json *o = info(name, "object"), *members = json_new_array();
	struct qmp_member m;

	while (qmp_members_next(&body, &m)) {
		struct json *j = json_new_object();
		json_object_set(j, "name", json_new_string(m.name));
		json_object_set(j, "type", json_new_string(m.type));
		if (m.optional)
			json_object_set(j, "default", json_new_null());
		json_array_append(members, j);
		enqueue(q, m.type, NULL);
	}
	json_object_set(o, "members", members);
	return o;
}

static struct json *enum_info(const char *name, const char *body)
{
	struct json *o = info(name, "enum"), *members = json_new_array(), *values = json_new_array();
	struct qmp_member m;

	while (qmp_members_next(&body, &m)) {
		struct json *j = json_new_object();
		json_object_set(j, "name", json_new_string(m.name));
		json_array_append(members, j);
		json_array_append(values, json_new_string(m.name));
	}
	json_object_set(o, "members", members);
	json_object_set(o, "values", values);
	return o;
}

/* The SchemaInfo of the next queued type; NULL for a name the table
 * lacks (a mistake in vmm the unit test catches). */
static struct json *type_info(struct type_queue *q, size_t i)
{
	const char *name = q->names[i];
	int b = builtin_index(name);
	const struct schema_type *t;

	if (q->bodies[i])
		return object_info(q, name, q->bodies[i]);
	if (b >= 0) {
		struct json *o = info(name, "builtin");
		json_object_set(o, "json-type", json_new_string(builtins[b].json_type));
		return o;
	}
	if (name[0] == '[') {
		char elem[64];
		size_t n = strlen(name);
		if (n < 3 || name[n - 1] != ']')
			return NULL;
		copy_word(elem, sizeof(elem), name + 1, n - 2);
		struct json *o = info(name, "array");
		json_object_set(o, "element-type", json_new_string(elem));
		enqueue(q, elem, NULL);
		return o;
	}
	t = find_type(name);
	if (!t)
		return NULL;
	return t->meta == SCHEMA_ENUM ? enum_info(name, t->body) : object_info(q, name, t->body);
}

static struct json *entity_info(struct type_queue *q, const struct qmp_signature *sig,
				bool command)
{
	struct json *o = info(sig->name, command ? "command" : "event");
	char *args = arg_type(q, sig);

	json_object_set(o, "arg-type", json_new_string(args));
	free(args);
	if (command) {
		json_object_set(o, "ret-type", json_new_string(sig->ret));
		enqueue(q, sig->ret, NULL);
	}
	return o;
}

struct json *qmp_schema_build(const struct qmp_signature *cmds, size_t ncmds)
{
	struct json *r = json_new_array();
	struct type_queue q = { 0 };

	/* each table type and builtin, an array of each, an argument type
	 * per command and event */
	q.cap = 2 * (ARRAY_SIZE(types) + ARRAY_SIZE(builtins)) + ncmds + qmp_schema_nevents + 1;
	q.names = xzalloc(q.cap * sizeof(*q.names));
	q.bodies = xzalloc(q.cap * sizeof(*q.bodies));

	for (size_t i = 0; i < ncmds; i++)
		json_array_append(r, entity_info(&q, &cmds[i], true));
	for (size_t i = 0; i < qmp_schema_nevents; i++)
		json_array_append(r, entity_info(&q, &qmp_schema_events[i], false));
	for (size_t i = 0; i < q.n; i++) {
		struct json *t = type_info(&q, i);
		if (t)
			json_array_append(r, t);
	}
	for (size_t i = 0; i < q.n; i++)
		free(q.names[i]);
	free(q.names);
	free(q.bodies);
	return r;
}
