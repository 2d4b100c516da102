/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -netdev user,smb=DIR: the host's smbd serves DIR to the guest as share
 * "qemu" (QEMU's name) at 10.0.2.4:445 (smbserver= moves it).
 *
 * How, with the sandbox on: smb_share_start() runs during set-up, in the
 * main thread before any filter applies to it. It makes a private
 * directory (mode 0700) with smbd's configuration and state, and forks a
 * small launcher process that listens on a unix socket in that directory.
 * libslirp (slirp_add_unix) connects each guest connection to port 445 to
 * that socket, from the thread that feeds it the guest's frames, whose
 * filter then needs socket(AF_UNIX) and nothing more; the launcher, never
 * filtered and never touching guest data, accepts and execs one smbd per
 * connection in inetd mode (the connection as its stdin and stdout).
 * The vmm process itself never forks or execs after set-up. The launcher
 * watches a pipe from vmm: when vmm ends (exit, SIGTERM, even SIGKILL) it
 * ends its smbd processes, removes the private directory and exits;
 * smb_share_stop() waits for that at a normal exit.
 */
#ifndef VMM_SMB_SHARE_H
#define VMM_SMB_SHARE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct smb_share {
	char dir[96];       /* the private directory, "" when none */
	char sock[108];     /* dir/smbd.sock (a sun_path): slirp connects here */
	pid_t launcher;     /* 0 when none */
	int keepalive_fd;   /* the pipe the launcher watches; -1 when none */
};

/* smbd's configuration for share "qemu" = shared (read-write, every guest
 * access as user 'user'), with all of smbd's files under 'priv'. */
void smb_conf_write(FILE *f, const char *priv, const char *shared, const char *user);

/* The smbd program: $VMM_SMBD if set (the tests' stand-in), else smbd on
 * PATH, /usr/sbin/smbd or /usr/local/sbin/smbd. NULL if none is found;
 * else a malloc'ed path. */
char *smb_find_smbd(void);

/* Sets up the directory and starts the launcher. 0, or -1 with one line in
 * err (nothing left behind). */
int smb_share_start(struct smb_share *s, const char *shared, char *err, size_t errlen);

/* Closes the pipe and waits for the launcher's clean-up (nothing if none
 * was started). */
void smb_share_stop(struct smb_share *s);

#endif
