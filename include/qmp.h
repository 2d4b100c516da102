/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP, QEMU's JSON control protocol, for one client connection: the greeting,
 * capabilities negotiation, command dispatch and events. The session is a
 * pure state machine: bytes in (qmp_session_input), bytes out through a sink
 * callback, machine actions through struct vmctl. src/board/machine_pc.c connects
 * it to a socket (struct chan); tests/unit/test_qmp.c to buffers.
 */
#ifndef VMM_QMP_H
#define VMM_QMP_H

#include <stddef.h>

#include "vmctl.h"

/* Bounds on what a hostile client can make us hold per message. */
#define QMP_MAX_MESSAGE (64 * 1024)

typedef void (*qmp_sink)(void *opaque, const char *data, size_t len);

struct qmp_session;

/* Creates a session and sends the greeting through the sink. */
struct qmp_session *qmp_session_new(const struct vmctl *ctl, qmp_sink sink, void *sink_opaque);
void qmp_session_free(struct qmp_session *s);
/* Feeds client bytes; any number, split anywhere. Replies go to the sink. */
void qmp_session_input(struct qmp_session *s, const char *buf, size_t len);
/* Sends an event (data: a JSON object text or NULL) if the client is past
 * capabilities negotiation. */
void qmp_session_event(struct qmp_session *s, const char *name, const char *data_json);

#endif
