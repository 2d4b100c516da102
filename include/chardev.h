/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Character devices: the host side of a serial port or a virtio-serial
 * port. One backend each (stdio, file, pty, null, a unix or TCP socket,
 * server or client), one frontend (the device) attached to it.
 *
 * Threads. Input is read by the main thread's event loop and handed to the
 * frontend's receive callback, which returns how much it took; the rest is
 * kept, and the descriptor is not polled again until the frontend calls
 * chardev_kick() (from any thread) to say it has room: that is the
 * back-pressure. Output (chardev_write) comes from vCPU or device I/O
 * threads and never blocks on a socket: what the socket does not take at
 * once is buffered (CHARDEV_OUT_CAP) and flushed by the main loop; with no
 * client connected, or past the cap, output is dropped, as QEMU does for a
 * server socket without a client. stdio and files are written directly.
 *
 * A server socket serves one client at a time and takes the next one after
 * a disconnect; a client socket connects once, at creation.
 */
#ifndef VMM_CHARDEV_H
#define VMM_CHARDEV_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define CHARDEV_MAX 16
#define CHARDEV_ID_MAX 64
#define CHARDEV_PATH_MAX 1024
#define CHARDEV_OUT_CAP (64 * 1024)
#define CHARDEV_IN_CHUNK 4096
/* Descriptors one chardev adds to the poll set, at most (listen or client). */
#define CHARDEV_POLL_FDS (CHARDEV_MAX + 1)

enum chardev_kind {
	CHARDEV_NONE,   /* not configured */
	CHARDEV_NULL,
	CHARDEV_STDIO,
	CHARDEV_FILE,
	CHARDEV_PTY,
	CHARDEV_SOCKET,
	CHARDEV_REF,    /* -serial chardev:ID: the chardev named 'id' */
};

struct chardev_config {
	enum chardev_kind kind;
	char id[CHARDEV_ID_MAX];
	const char *path;            /* file: output; also the legacy -debugcon file */
	char path_buf[CHARDEV_PATH_MAX]; /* storage for 'path' when parsed out of a spec */
	char input_path[CHARDEV_PATH_MAX]; /* file: input-path= ("" none) */
	/* socket */
	bool tcp;
	char sock_path[108];
	char host[256];
	char port[16];
	bool server, wait;
	/* stdio */
	bool signal;   /* signal=on: Ctrl-C stays a signal to vmm */
	bool mux_keys; /* Ctrl-A escape keys on a raw terminal (-serial stdio) */
	/* QEMU's multiplexer (-serial mon:stdio, -nographic, -chardev
	 * stdio,mux=on): a second front end (the human monitor) and Ctrl-A c
	 * to switch, the Ctrl-A keys also on a pipe (include/mux_keys.h). */
	bool mux;
	const char *label; /* for messages: "serial0", the id */
};

/* -chardev BACKEND,id=ID[,...]. One-line error in err. */
int chardev_parse(const char *arg, struct chardev_config *c, char *err, size_t errlen);
/* The -serial forms: stdio, mon:stdio, null, none, pty, file:PATH,
 * chardev:ID, unix:PATH[,server][,nowait], tcp:[HOST]:PORT[,server][,nowait]. */
int chardev_parse_legacy(const char *arg, struct chardev_config *c, char *err, size_t errlen);

struct chardev;

struct chardev_frontend {
	/* Main thread: bytes from the backend; returns how many were taken. */
	size_t (*receive)(void *opaque, const uint8_t *buf, size_t len);
	/* Main thread: a client connected (true) or went away (false). For
	 * backends without clients, called once with true at attach. */
	void (*event)(void *opaque, bool connected);
	void *opaque;
	/* Main thread, optional: Ctrl-A b on a multiplexer (a serial break). */
	void (*brk)(void *opaque);
	/* Main thread, optional, the monitor of a multiplexer: it got the
	 * keyboard (true) or gave it back (Ctrl-A c). */
	void (*focus)(void *opaque, bool focused);
};

/* Opens the backend (binds, connects, opens the file). NULL with a
 * one-line error. Registered for chardev_poll_* and chardev_find. */
struct chardev *chardev_create(const struct chardev_config *cfg, char *err, size_t errlen);
struct chardev *chardev_find(const char *id);
/* Attaches the one frontend; -EBUSY if it already has one. */
int chardev_attach(struct chardev *cd, const struct chardev_frontend *fe);
/* A multiplexer's second front end, the monitor (-EINVAL: not a
 * multiplexer, -EBUSY: it has one). The console keeps the keyboard until
 * Ctrl-A c. */
int chardev_attach_monitor(struct chardev *cd, const struct chardev_frontend *fe);
/* The monitor's output: written while it has the keyboard, else held
 * (up to CHARDEV_OUT_CAP, the rest dropped) and written at the switch, so
 * that it never interleaves with the console's. */
void chardev_write_monitor(struct chardev *cd, const void *buf, size_t len);
bool chardev_monitor_focused(const struct chardev *cd);
/* Main thread: the monitor goes away (its session is freed). */
void chardev_detach_monitor(struct chardev *cd);
/* Ctrl-A s: fn(opaque) flushes every disk. */
void chardev_set_sync(void (*fn)(void *opaque), void *opaque);
/* Main thread: the frontend goes away; input is then discarded. */
void chardev_detach(struct chardev *cd);
/* A server with wait=on: blocks until the first client connects. */
void chardev_start_all(void);
/* Any thread: output, never blocking on a socket (see above). */
void chardev_write(struct chardev *cd, const void *buf, size_t len);
/* Any thread: the frontend has room again; held input is offered from the
 * main loop. */
void chardev_kick(struct chardev *cd);
/* Whether a client is connected (always true for non-socket backends). */
bool chardev_connected(struct chardev *cd);
const char *chardev_label(const struct chardev *cd);

/* Serves every chardev from 'loop' (a poll source over the two calls
 * below); on_quit(opaque) when the user types Ctrl-A x. */
void chardev_attach_loop(struct event_loop *loop, void (*on_quit)(void *opaque), void *opaque);
/* Main loop: fills pollfds for every chardev (plus the kick eventfd);
 * returns how many were added (at most CHARDEV_POLL_FDS). */
int chardev_poll_fill(struct pollfd *fds, int max);
/* Handles the round; returns true if the user typed Ctrl-A x. */
bool chardev_poll_handle(const struct pollfd *fds, int n);
/* Restores terminals, closes everything, removes unix sockets. */
void chardev_destroy_all(void);

#endif
