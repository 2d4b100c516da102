/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_LAUNCHER_H
#define VMM_LAUNCHER_H
/* The command launcher: a process forked before the sandbox that runs
 * `/bin/sh -c CMD` for vmm (migration's exec:). A command started from a
 * sandboxed thread would inherit its seccomp filter, under which a
 * program cannot even map its libraries; the launcher's children have
 * none. vmm talks to it over a socket: it asks for a command, gets back
 * its end of the command's pipe and its pid, and later its exit status.
 * Requests come from the main thread only. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Forks the launcher (before any thread and before guest RAM: its copy
 * of vmm is small). 0, or -1 with one line in err. */
int launcher_start(char *err, size_t errlen);
bool launcher_running(void);
/* `/bin/sh -c cmd` with its stdin (to_command: vmm writes) or its stdout
 * (vmm reads) a pipe; returns vmm's end, the pid in *pid; -1 with one
 * line in err. */
int launcher_spawn(const char *cmd, bool to_command, pid_t *pid, char *err, size_t errlen);
/* The command's wait status once it has ended (waits for it); -1 if the
 * launcher is gone. */
int launcher_wait(pid_t pid, int *status);
/* Reaped whenever it ends, its status unwanted. */
void launcher_forget(pid_t pid);
/* Sends it a signal. */
void launcher_kill(pid_t pid, int sig);
/* Closes vmm's end: the launcher ends. */
void launcher_stop(void);

#endif
