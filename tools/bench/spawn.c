// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * spawn: runs one command and reports its wall time and peak RSS.
 *
 * usage: spawn -o RESULT [-t SECONDS] -- COMMAND [ARGS...]
 * Writes "STATUS SECONDS MAXRSS_KIB TIMED_OUT TSC_HZ" to RESULT, where STATUS
 * is the exit status (128+N for a signal), SECONDS runs from just before the
 * command is spawned to just after wait4() reaps it, MAXRSS_KIB is the
 * command's ru_maxrss, and TSC_HZ is the host TSC rate over that interval
 * (to turn TSC counts that a guest reports into seconds).
 * stdin/stdout/stderr are passed through.
 *
 * Why not measure from Python: Linux keeps the high-water RSS of the image
 * a process had *before* execve (a forked Python child starts at ~14 MiB),
 * so the spawner has to be small. This one is linked statically.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

extern char **environ;

static volatile sig_atomic_t timed_out;
static volatile pid_t child;

static void on_alarm(int sig __attribute__((unused)))
{
	timed_out = 1;
	if (child > 0)
		kill(child, SIGKILL);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	const char *result = NULL;
	unsigned timeout = 0;
	int opt;

	while ((opt = getopt(argc, argv, "+o:t:")) != -1) {
		switch (opt) {
		case 'o': result = optarg; break;
		case 't': timeout = (unsigned)strtoul(optarg, NULL, 0); break;
		default: goto usage;
		}
	}
	if (!result || optind >= argc)
		goto usage;

	FILE *out = fopen(result, "w");
	if (!out) {
		fprintf(stderr, "spawn: %s: %s\n", result, strerror(errno));
		return 125;
	}
	struct sigaction sa = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &sa, NULL);

	pid_t pid;
	double start = now();
	uint64_t tsc0 = __rdtsc();
	int err = posix_spawn(&pid, argv[optind], NULL, NULL, argv + optind, environ);
	if (err) {
		fprintf(stderr, "spawn: %s: %s\n", argv[optind], strerror(err));
		return 127;
	}
	child = pid;
	if (timeout)
		alarm(timeout);

	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("spawn: wait4");
			return 125;
		}
	}
	uint64_t tsc1 = __rdtsc();
	double seconds = now() - start;
	alarm(0);

	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	fprintf(out, "%d %.6f %ld %d %.0f\n", code, seconds, ru.ru_maxrss, (int)timed_out,
		seconds > 0 ? (double)(tsc1 - tsc0) / seconds : 0.0);
	return fclose(out) ? 125 : 0;

usage:
	fprintf(stderr, "usage: spawn -o RESULT [-t SECONDS] -- COMMAND [ARGS...]\n");
	return 125;
}
