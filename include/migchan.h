/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a migration stream goes or comes from (src/core/migchan.c): QEMU's
 * URIs exec:CMD, file:PATH, unix:PATH and tcp:HOST:PORT, as one file
 * descriptor. HOST is numeric (IPv4, [IPv6]) or "localhost": names are
 * not resolved, since the outgoing side runs under the sandbox, which
 * reads no files (an empty HOST listens on every address).
 *
 * Outgoing (QMP migrate): mig_open_out gives a descriptor to write the
 * stream to: the file, a connected socket, or the write end of a pipe to
 * `/bin/sh -c CMD`'s standard input. Incoming (-incoming): mig_open_in
 * gives the file, a listening socket (mig_accept takes the one source), or
 * the read end of a pipe from CMD's standard output; it runs at set-up,
 * before the sandbox, so exec: works there under the sandbox too (the
 * outgoing side refuses exec: with the sandbox on: its filter would apply
 * to the command).
 */
#ifndef VMM_MIGCHAN_H
#define VMM_MIGCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mig_uri_kind { MIG_URI_EXEC, MIG_URI_FILE, MIG_URI_UNIX, MIG_URI_TCP };

#define MIG_URI_MAX 1024

struct mig_uri {
	enum mig_uri_kind kind;
	char arg[MIG_URI_MAX]; /* the command, the path, or the host (no brackets) */
	uint16_t port;         /* tcp: */
};

struct mig_chan {
	int fd;
	pid_t child;    /* exec: the command, 0: none */
	bool launched;  /* ... the launcher's child (include/launcher.h), not vmm's */
	bool listening; /* fd is a listening socket: mig_accept gives the stream */
	char unix_path[MIG_URI_MAX]; /* incoming unix: removed once accepted */
	/* Reads also watch this descriptor (-1: none): readable, they fail
	 * and set 'interrupted' (a destination stuck on a silent source
	 * still ends on SIGTERM: vmm's signalfd). */
	int abort_fd;
	bool interrupted;
};

/* 0, or -1 with one line in err. */
int mig_uri_parse(const char *uri, struct mig_uri *u, char *err, size_t errlen);
int mig_open_out(const struct mig_uri *u, struct mig_chan *c, char *err, size_t errlen);
int mig_open_in(const struct mig_uri *u, struct mig_chan *c, char *err, size_t errlen);
/* The listening socket's first connection replaces it in c->fd. */
int mig_accept(struct mig_chan *c, char *err, size_t errlen);
/* Closes the descriptor and waits for the command: -1 with err if it
 * failed (exit status not 0). */
int mig_close(struct mig_chan *c, char *err, size_t errlen);
/* Closes the descriptor and lets the command go: reaped if it has ended,
 * otherwise left to end by itself (no signal: the sandbox allows none). */
void mig_close_nowait(struct mig_chan *c);

/* mig_write_fn / mig_read_fn over a struct mig_chan (blocking, whole). */
int mig_chan_write(void *chan, const void *buf, size_t len);
int mig_chan_read(void *chan, void *buf, size_t len);

#endif
