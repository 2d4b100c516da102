// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The watchdog action (include/watchdog.h): QEMU's -watchdog-action
 * meanings. The event goes out first, so a QMP client sees WATCHDOG before
 * the RESET, STOP or SHUTDOWN the action brings.
 */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "watchdog.h"

static const char *const action_names[WATCHDOG_ACTION_COUNT] = {
	[WATCHDOG_RESET] = "reset",
	[WATCHDOG_SHUTDOWN] = "shutdown",
	[WATCHDOG_POWEROFF] = "poweroff",
	[WATCHDOG_PAUSE] = "pause",
	[WATCHDOG_DEBUG] = "debug",
	[WATCHDOG_NONE] = "none",
	[WATCHDOG_INJECT_NMI] = "inject-nmi",
};

const struct watchdog_model watchdog_models[] = {
	{ "ib700", "iBASE 700" },
	{ "i6300esb", "Intel 6300ESB" },
};
const unsigned watchdog_nmodels = ARRAY_SIZE(watchdog_models);

const char *watchdog_action_name(enum watchdog_action a)
{
	return (unsigned)a < WATCHDOG_ACTION_COUNT ? action_names[a] : NULL;
}

int watchdog_action_parse(const char *name)
{
	for (int i = 0; i < WATCHDOG_ACTION_COUNT; i++)
		if (!strcmp(name, action_names[i]))
			return i;
	return -1;
}

void watchdog_set_action(struct watchdog_host *h, enum watchdog_action a)
{
	if ((unsigned)a < WATCHDOG_ACTION_COUNT)
		atomic_store(&h->action, (int)a);
}

static void call(void (*fn)(void *), void *opaque)
{
	if (fn)
		fn(opaque);
}

void watchdog_expired(struct watchdog_host *h)
{
	enum watchdog_action a = (enum watchdog_action)atomic_load(&h->action);
	char data[48];

	if ((unsigned)a >= WATCHDOG_ACTION_COUNT)
		a = WATCHDOG_RESET;
	atomic_fetch_add(&h->expiries, 1);
	snprintf(data, sizeof(data), "{\"action\": \"%s\"}", action_names[a]);
	if (h->event)
		h->event(h->opaque, "WATCHDOG", data);
	switch (a) {
	case WATCHDOG_RESET: call(h->reset, h->opaque); break;
	case WATCHDOG_SHUTDOWN: call(h->powerdown, h->opaque); break;
	case WATCHDOG_POWEROFF: call(h->poweroff, h->opaque); break;
	case WATCHDOG_PAUSE: call(h->pause, h->opaque); break;
	case WATCHDOG_DEBUG: fprintf(stderr, "watchdog: timer fired\n"); break;
	case WATCHDOG_INJECT_NMI: call(h->inject_nmi, h->opaque); break;
	case WATCHDOG_NONE:
	case WATCHDOG_ACTION_COUNT: break;
	}
}

const struct watchdog_model *watchdog_model_find(const char *name)
{
	for (unsigned i = 0; i < watchdog_nmodels; i++)
		if (!strcmp(name, watchdog_models[i].name))
			return &watchdog_models[i];
	return NULL;
}

void watchdog_print_models(FILE *out)
{
	for (unsigned i = 0; i < watchdog_nmodels; i++)
		fprintf(out, "%s\t%s\n", watchdog_models[i].name, watchdog_models[i].desc);
}
