/* SPDX-License-Identifier: GPL-2.0-or-later */
/* -daemonize and -pidfile. */
#ifndef VMM_DAEMON_H
#define VMM_DAEMON_H

/* Forks; the original process waits and exits 0 once daemon_ready() runs
 * in the daemon, or 1 if the daemon dies first. The daemon is in its own
 * session and keeps the terminal as stderr until it is ready, so startup
 * errors still reach the user. */
void daemon_start(void);
/* In the daemon: stdio to /dev/null, then release the waiting parent. */
void daemon_ready(void);

/* Creates PATH with our pid, holding a write lock on it for the life of
 * the process so a second vmm cannot take it. Exits 1 with one line on
 * error. The file is removed by pidfile_remove() and at exit(). */
void pidfile_create(const char *path);
void pidfile_remove(void);

#endif
