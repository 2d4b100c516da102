/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A control channel (-qmp, -monitor): stdio, or a listening unix or TCP
 * socket serving one client at a time. Everything runs in the main thread's
 * poll loop; sockets are non-blocking and output is buffered up to a cap, so
 * a client that does not read its replies is dropped instead of stalling
 * the loop. A second client waits in the listen backlog until the first
 * disconnects.
 */
#ifndef VMM_CHAN_H
#define VMM_CHAN_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#define CHAN_OUT_CAP (1024 * 1024)
#define CHAN_UNIX_PATH_MAX 108 /* sizeof(sockaddr_un.sun_path) */

enum chan_kind { CHAN_NONE, CHAN_STDIO, CHAN_UNIX, CHAN_TCP };

struct chan_config {
	enum chan_kind kind;
	char path[CHAN_UNIX_PATH_MAX];
	char host[256];
	char port[16];
	bool wait; /* wait=on: block startup until the first client connects */
	const char *spec;
};

struct chan_handler {
	void (*opened)(void *opaque);
	void (*input)(void *opaque, const char *buf, size_t len);
	void (*closed)(void *opaque);
};

struct chan {
	struct chan_config cfg;
	int listen_fd;
	int in_fd, out_fd; /* the client; -1 when none */
	char *out;
	size_t out_len, out_off;
	bool drop;         /* overflowed or failed: close after this round */
	bool stdio;
	const struct chan_handler *h;
	void *opaque;
	int poll_in, poll_out; /* indices into the pollfd array of this round */
};

/* Parses "unix:PATH,server=on,wait=off", "tcp:HOST:PORT,server=on,wait=off"
 * (also "server" and "nowait") or "stdio". One-line error in err. */
int chan_parse(const char *spec, struct chan_config *c, char *err, size_t errlen);
/* Binds and listens (or takes stdio); nothing is accepted yet. */
int chan_init(struct chan *c, const struct chan_config *cfg, char *err, size_t errlen);
/* Binds and listens on a unix or TCP address (non-blocking, close-on-exec;
 * a stale unix socket file is replaced, and removed at exit). Returns the
 * descriptor, or -1 with a one-line error. Also used by chardev.c. */
int chan_listen(struct chan_config *cfg, char *err, size_t errlen);
/* Closes a listener and removes its unix socket file. */
void chan_unlisten(struct chan_config *cfg, int fd);
void chan_set_handler(struct chan *c, const struct chan_handler *h, void *opaque);
/* Starts serving: stdio opens at once; with wait=on this blocks until the
 * first client connects. */
void chan_start(struct chan *c);
/* Adds this channel's descriptors; returns how many (at most 2). */
int chan_poll_fill(struct chan *c, struct pollfd *fds);
void chan_poll_handle(struct chan *c, const struct pollfd *fds);
/* Queues output for the client; dropped when there is none. */
void chan_write(struct chan *c, const void *buf, size_t len);
/* Tries to deliver queued output for up to timeout_ms (at exit). */
void chan_flush(struct chan *c, int timeout_ms);
/* Closes everything and removes a unix socket we created. */
void chan_close(struct chan *c);

#endif
