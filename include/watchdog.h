/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a watchdog device does when its guest stops feeding it: one action
 * for the whole machine, as QEMU's -watchdog-action (and QMP
 * watchdog-set-action), and the WATCHDOG event before it. The models
 * (hw/i6300esb.c, hw/ib700.c) only call watchdog_expired(); the board
 * supplies the reset, power and pause paths it already has.
 */
#ifndef VMM_WATCHDOG_H
#define VMM_WATCHDOG_H

#include <stdatomic.h>
#include <stdio.h>

enum watchdog_action {
	WATCHDOG_RESET,      /* system reset, as the guest's own (QEMU's default) */
	WATCHDOG_SHUTDOWN,   /* the ACPI power button: the guest shuts down */
	WATCHDOG_POWEROFF,   /* power off at once */
	WATCHDOG_PAUSE,      /* stop the vCPUs (QMP cont resumes) */
	WATCHDOG_DEBUG,      /* one line on stderr, nothing else */
	WATCHDOG_NONE,       /* the event only */
	WATCHDOG_INJECT_NMI, /* an NMI to every vCPU */
	WATCHDOG_ACTION_COUNT,
};

/* The board's side (struct dev_board.watchdog). Every hook may be NULL
 * (unit tests): the event and the action are then only counted. */
struct watchdog_host {
	void (*reset)(void *opaque);
	void (*powerdown)(void *opaque);
	void (*poweroff)(void *opaque);
	void (*pause)(void *opaque);
	void (*inject_nmi)(void *opaque);
	/* A QMP event: name and its "data" object as JSON. */
	void (*event)(void *opaque, const char *name, const char *data_json);
	void *opaque;
	_Atomic int action;        /* enum watchdog_action */
	_Atomic unsigned expiries; /* how many times a watchdog fired */
};

/* QEMU's name of an action ("inject-nmi"), or NULL out of range. */
const char *watchdog_action_name(enum watchdog_action a);
/* -1 if 'name' is no action. */
int watchdog_action_parse(const char *name);
void watchdog_set_action(struct watchdog_host *h, enum watchdog_action a);

/* A watchdog of this host ran out: the WATCHDOG event, then the action.
 * Called on the event loop's thread, without the device's lock held (the
 * action may reset or pause the machine, which reaches the device). */
void watchdog_expired(struct watchdog_host *h);

/* The models -watchdog MODEL accepts (each is also -device MODEL). */
struct watchdog_model {
	const char *name;
	const char *desc;
};
extern const struct watchdog_model watchdog_models[];
extern const unsigned watchdog_nmodels;
const struct watchdog_model *watchdog_model_find(const char *name);
/* -watchdog help: one "name\tdescription" line per model. */
void watchdog_print_models(FILE *out);

#endif
