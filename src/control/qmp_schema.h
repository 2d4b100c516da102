/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The types of vmm's QMP commands and events, in a small notation of its
 * own, and query-qmp-schema built from them. qmp.c's command table names
 * each command's arguments and return type here; the same member list
 * that checks a command's arguments is what the schema shows, so the two
 * cannot disagree.
 *
 * A member list is "name:type name:type ...", a '*' in front of a name
 * marks it optional. A type is a builtin (str int bool number any null),
 * "[T]" for an array of T, or a name from the table in qmp_schema.c
 * (objects and enums).
 */
#ifndef VMM_QMP_SCHEMA_H
#define VMM_QMP_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

#define QMP_SCHEMA_EMPTY "q_empty" /* the object without members: no arguments, {} */

struct qmp_member {
	char name[64];
	char type[64];
	bool optional;
};

/* The next member of the list at *p into m; false at its end. */
bool qmp_members_next(const char **p, struct qmp_member *m);

/* The JSON type a value of this schema type must have and its name for
 * error messages ("integer", "string"...); false for "any". */
bool qmp_schema_json_type(const char *type, enum json_type *jt, const char **what);

/* A command as the schema sees it: args is a member list (NULL: none),
 * ret a type. */
struct qmp_signature {
	const char *name;
	const char *args;
	const char *ret;
};

/* The events vmm emits, with their data members. */
extern const struct qmp_signature qmp_schema_events[];
extern const size_t qmp_schema_nevents;
bool qmp_schema_event_known(const char *name);

/* query-qmp-schema's answer: a SchemaInfo per command, event and type
 * they reach, under readable (unmasked) names. */
struct json *qmp_schema_build(const struct qmp_signature *cmds, size_t ncmds);

#endif
