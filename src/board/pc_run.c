// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The main loop of a running machine: the event loop, exit signals, and
 * the requests (reset, power-off, exit) vCPUs and devices make.
 */
#include "pc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "chardev.h"
#include "control.h"
#include "util.h"

/* SIGTERM, SIGINT and SIGHUP end vmm cleanly (sockets and the pidfile are
 * removed); blocked here before any vCPU thread exists, so only the main
 * loop sees them, through a signalfd. */
int block_exit_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		die_errno("signalfd");
	return fd;
}

static void handle_signal(void *opaque, int fd, unsigned revents)
{
	struct machine *m = opaque;
	struct signalfd_siginfo si;
	if (read(m->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	report("terminating on signal %u from pid %u", si.ssi_signo, si.ssi_pid);
	if (dump_cpus_enabled)
		machine_dump_cpus(m, stderr);
	machine_request_from(m, MACHINE_REQ_EXIT, 0, CAUSE_HOST_SIGNAL);
}

static void shutdown_event(struct machine *m, bool guest, const char *reason)
{
	char data[96];
	snprintf(data, sizeof(data), "{\"guest\": %s, \"reason\": \"%s\"}",
		 guest ? "true" : "false", reason);
	control_event(m->control, "SHUTDOWN", data);
}

/* Handles a pending request; returns -1 to go on running, or the process
 * exit status. */
static int handle_request(struct machine *m, int req)
{
	bool guest = atomic_load(&m->cause) == CAUSE_GUEST;

	stop_vcpus(m);
	switch (req) {
	case MACHINE_REQ_RESET:
		if (m->cfg.no_reboot) {
			shutdown_event(m, guest, guest ? "guest-reset" : "host-qmp-system-reset");
			return 0;
		}
		debug("system reset");
		machine_reset(m);
		atomic_store(&m->request, MACHINE_REQ_NONE);
		atomic_fetch_and(&m->hold, ~(HOLD_REQUEST | HOLD_DEBUG));
		m->gdb_pending.valid = false;
		/* New vCPUs: the stub's breakpoints and steps again. */
		machine_gdb_reapply(m);
		start_vcpus(m);
		control_event(m->control, "RESET",
			      guest ? "{\"guest\": true, \"reason\": \"guest-reset\"}"
				    : "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}");
		return -1;
	case MACHINE_REQ_POWEROFF:
		shutdown_event(m, true, "guest-shutdown");
		return 0;
	case MACHINE_REQ_EXIT:
		switch (atomic_load(&m->cause)) {
		case CAUSE_HOST_QMP: shutdown_event(m, false, "host-qmp-quit"); break;
		case CAUSE_HOST_SIGNAL: shutdown_event(m, false, "host-signal"); break;
		case CAUSE_HOST_UI: shutdown_event(m, false, "host-ui"); break;
		default: break; /* isa-debug-exit: QEMU exits without an event */
		}
		return atomic_load(&m->exit_status);
	default:
		return 1;
	}
}

/* machine_request_from wrote the eventfd; the round's end looks at the
 * request. Also a balloon change whose post did not fit the queue. */
static void handle_wakeup(void *opaque, int fd, unsigned revents)
{
	uint64_t count;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		die_errno("eventfd read");
	struct machine *m = opaque;
	balloon_event(m);
	/* Tested here, not only inside: the stub's code sits in the late
	 * objects (Makefile, LATE_SRCS), which a machine without one should
	 * not map in. */
	if (m->gdb)
		machine_gdb_poll(m); /* a debug exit whose post did not fit the queue */
}

static void sync_disks(void *opaque)
{
	machine_images_flush(opaque);
}

static void ui_quit(void *opaque)
{
	machine_request_from(opaque, MACHINE_REQ_EXIT, 0, CAUSE_HOST_UI);
}

int machine_run(struct machine *m)
{
	struct vmctl ctl = { &machine_vmctl_ops, m };

	control_start(m->control, &ctl);
	if (m->gdb)
		machine_gdb_start(m);
	chardev_start_all(); /* server sockets with wait=on */
	if (!event_fd_add(m->loop, m->event_fd, POLLIN, handle_wakeup, m) ||
	    !event_fd_add(m->loop, m->signal_fd, POLLIN, handle_signal, m))
		die_errno("event loop");
	control_attach(m->control, m->loop);
	chardev_attach_loop(m->loop, ui_quit, m);
	chardev_set_sync(sync_disks, m);
	start_balloon_timers(m);
	if (m->mig.incoming || m->cfg.start_paused || m->cfg.loadvm) {
		start_vcpus_paused(m);
		if (!m->mig.incoming)
			m->run_state = "prelaunch";
		if (m->cfg.loadvm && !m->mig.incoming)
			machine_loadvm_attach(m); /* then runs it, unless -S */
		machine_incoming_attach(m);
	} else {
		start_vcpus(m);
	}
	for (;;) {
		int ret = event_loop_run_once(m->loop, -1);
		if (ret < 0 && ret != -EINTR)
			die("event loop: %s", strerror(-ret));
		int req = atomic_load(&m->request);
		if (req == MACHINE_REQ_NONE)
			continue;
		int status = handle_request(m, req);
		if (status >= 0)
			return status;
	}
}
