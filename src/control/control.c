// SPDX-License-Identifier: GPL-2.0-or-later
#include "control.h"

#include <stdlib.h>
#include <string.h>

#include "chardev.h"
#include "monitor.h"
#include "qmp.h"
#include "util.h"

#define FLUSH_TIMEOUT_MS 500

struct link {
	struct chan chan;
	bool is_qmp;
	struct qmp_session *qmp;
	struct monitor_session *mon;
	struct control *owner;
	int first_fd; /* this link's slice of the pollfd array */
	int nfds;
};

/* The human monitor on a multiplexer (-serial mon:stdio, -nographic): a
 * second front end of COM1's chardev rather than a channel of its own. */
struct mux_monitor {
	struct chardev *cd;
	struct monitor_session *mon;
	bool shown;   /* has had the keyboard once: the banner was shown */
	bool last_cr; /* the terminal's Enter is CR (or CR LF): one line end */
};

struct control {
	struct link links[CONTROL_MAX_CHANS];
	unsigned n;
	struct vmctl vm;
	struct event_source *source;
	struct mux_monitor mux;
};

static void mux_sink(void *opaque, const char *data, size_t len)
{
	struct mux_monitor *mm = opaque;
	chardev_write_monitor(mm->cd, data, len);
}

/* A raw terminal sends CR for Enter, a pipe LF: both end a line. */
static size_t mux_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct mux_monitor *mm = opaque;

	for (size_t i = 0; i < len; i++) {
		char ch = (char)buf[i];
		bool lf_after_cr = ch == '\n' && mm->last_cr;
		mm->last_cr = ch == '\r';
		if (lf_after_cr)
			continue;
		if (ch == '\r')
			ch = '\n';
		monitor_session_input(mm->mon, &ch, 1);
	}
	return len;
}

/* The first switch shows what was held (the banner and the prompt);
 * later ones a fresh prompt, as QEMU's monitor does. */
static void mux_focus(void *opaque, bool focused)
{
	struct mux_monitor *mm = opaque;

	if (!focused)
		return;
	if (mm->shown)
		monitor_session_prompt(mm->mon);
	mm->shown = true;
}

void control_add_mux_monitor(struct control *c, struct chardev *cd)
{
	c->mux.cd = cd;
}

bool control_has_channels(const struct control *c)
{
	return c && (c->n || c->mux.cd);
}

static void start_mux_monitor(struct control *c)
{
	struct mux_monitor *mm = &c->mux;
	struct chardev_frontend fe = { .receive = mux_receive, .focus = mux_focus, .opaque = mm };

	mm->mon = monitor_session_new(&c->vm, mux_sink, mm);
	if (chardev_attach_monitor(mm->cd, &fe) < 0)
		die("the monitor cannot share '%s'", chardev_label(mm->cd));
}

static void sink(void *opaque, const char *data, size_t len)
{
	struct link *l = opaque;
	chan_write(&l->chan, data, len);
}

static void link_opened(void *opaque)
{
	struct link *l = opaque;
	if (l->is_qmp)
		l->qmp = qmp_session_new(&l->owner->vm, sink, l);
	else
		l->mon = monitor_session_new(&l->owner->vm, sink, l);
}

static void link_input(void *opaque, const char *buf, size_t len)
{
	struct link *l = opaque;
	if (l->qmp)
		qmp_session_input(l->qmp, buf, len);
	else if (l->mon)
		monitor_session_input(l->mon, buf, len);
}

static void link_closed(void *opaque)
{
	struct link *l = opaque;
	qmp_session_free(l->qmp);
	monitor_session_free(l->mon);
	l->qmp = NULL;
	l->mon = NULL;
}

static const struct chan_handler link_handler = { link_opened, link_input, link_closed };

static void add_link(struct control *c, const struct chan_config *cfg, bool is_qmp,
		     const char *opt)
{
	char err[256];
	struct link *l = &c->links[c->n];

	if (chan_init(&l->chan, cfg, err, sizeof(err)) < 0)
		die("%s %s: %s", opt, cfg->spec, err);
	l->is_qmp = is_qmp;
	l->owner = c;
	chan_set_handler(&l->chan, &link_handler, l);
	c->n++;
}

struct control *control_create(const struct chan_config *qmp, unsigned nqmp,
			       const struct chan_config *monitor)
{
	struct control *c = xzalloc(sizeof(*c));

	for (unsigned i = 0; i < nqmp && i < CONTROL_MAX_QMP; i++)
		add_link(c, &qmp[i], true, "-qmp");
	if (monitor && monitor->kind != CHAN_NONE)
		add_link(c, monitor, false, "-monitor");
	return c;
}

void control_start(struct control *c, const struct vmctl *vm)
{
	if (!c)
		return;
	c->vm = *vm;
	for (unsigned i = 0; i < c->n; i++)
		chan_start(&c->links[i].chan);
	if (c->mux.cd)
		start_mux_monitor(c);
}

int control_poll_fill(struct control *c, struct pollfd *fds)
{
	int n = 0;
	for (unsigned i = 0; c && i < c->n; i++) {
		struct link *l = &c->links[i];
		l->first_fd = n;
		l->nfds = chan_poll_fill(&l->chan, fds + n);
		n += l->nfds;
	}
	return n;
}

void control_poll_handle(struct control *c, const struct pollfd *fds)
{
	for (unsigned i = 0; c && i < c->n; i++) {
		struct link *l = &c->links[i];
		if (l->nfds)
			chan_poll_handle(&l->chan, fds + l->first_fd);
	}
}

static int source_fill(void *opaque, struct pollfd *fds, int max)
{
	(void)max; /* CONTROL_MAX_FDS, as registered */
	return control_poll_fill(opaque, fds);
}

static void source_handle(void *opaque, const struct pollfd *fds, int n)
{
	(void)n;
	control_poll_handle(opaque, fds);
}

void control_attach(struct control *c, struct event_loop *loop)
{
	if (c)
		c->source = event_source_add(loop, CONTROL_MAX_FDS, source_fill, source_handle, c);
}

void control_event(struct control *c, const char *name, const char *data_json)
{
	for (unsigned i = 0; c && i < c->n; i++)
		if (c->links[i].qmp)
			qmp_session_event(c->links[i].qmp, name, data_json);
}

void control_destroy(struct control *c)
{
	if (!c)
		return;
	event_source_remove(c->source);
	for (unsigned i = 0; i < c->n; i++) {
		chan_flush(&c->links[i].chan, FLUSH_TIMEOUT_MS);
		chan_close(&c->links[i].chan);
	}
	if (c->mux.cd)
		chardev_detach_monitor(c->mux.cd);
	monitor_session_free(c->mux.mon);
	free(c);
}
