/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The human monitor (-monitor): a "(vmm) " prompt with a few of QEMU's HMP
 * commands. Like the QMP session it is a state machine fed with bytes,
 * writing through a sink and acting through struct vmctl.
 */
#ifndef VMM_MONITOR_H
#define VMM_MONITOR_H

#include <stddef.h>

#include "vmctl.h"

#define MONITOR_MAX_LINE 1024

typedef void (*monitor_sink)(void *opaque, const char *data, size_t len);

struct monitor_session;

/* Creates a session and prints the banner and the first prompt. */
struct monitor_session *monitor_session_new(const struct vmctl *ctl, monitor_sink sink,
					    void *sink_opaque);
void monitor_session_free(struct monitor_session *s);
/* The prompt again (a multiplexed monitor getting the keyboard back). */
void monitor_session_prompt(struct monitor_session *s);
void monitor_session_input(struct monitor_session *s, const char *buf, size_t len);
/* QMP's human-monitor-command: runs one command line on vCPU 'cpu' as a
 * monitor would and returns what it printed (heap, NUL-terminated). */
char *monitor_run_line(const struct vmctl *ctl, const char *line, unsigned cpu);

#endif
