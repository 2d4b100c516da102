/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control channels of one vmm process: every -qmp and -monitor, each a
 * struct chan carrying a QMP or human-monitor session. Created (sockets
 * bound) before the machine, so a bad address or a taken port fails before
 * anything starts; served by the main thread's event loop (control_attach).
 */
#ifndef VMM_CONTROL_H
#define VMM_CONTROL_H

#include <poll.h>

#include "chan.h"
#include "event.h"
#include "vmctl.h"

#define CONTROL_MAX_QMP 4
#define CONTROL_MAX_CHANS (CONTROL_MAX_QMP + 1)
#define CONTROL_MAX_FDS (2 * CONTROL_MAX_CHANS)

struct control;

/* Binds every channel; on error prints one line and exits 1. */
struct control *control_create(const struct chan_config *qmp, unsigned nqmp,
			       const struct chan_config *monitor);
struct chardev;
/* The human monitor as the second front end of a multiplexed chardev
 * (-serial mon:stdio, -nographic); started by control_start. */
void control_add_mux_monitor(struct control *c, struct chardev *cd);
/* Whether any monitor or QMP channel exists: without one, nothing can
 * ask for savevm or info snapshots. */
bool control_has_channels(const struct control *c);
/* Starts serving with these machine operations (wait=on blocks here). */
void control_start(struct control *c, const struct vmctl *vm);
/* Serves every channel from 'loop' (a poll source over the two calls
 * below, which tests may also drive by hand). NULL c: nothing. */
void control_attach(struct control *c, struct event_loop *loop);
int control_poll_fill(struct control *c, struct pollfd *fds);
void control_poll_handle(struct control *c, const struct pollfd *fds);
/* Sends a QMP event to every negotiated QMP client. */
void control_event(struct control *c, const char *name, const char *data_json);
/* Delivers pending output (bounded wait), closes, removes unix sockets. */
void control_destroy(struct control *c);

#endif
