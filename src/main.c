// SPDX-License-Identifier: GPL-2.0-or-later
/* vmm: a PC emulator on Linux KVM. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "chardev.h"
#include "control.h"
#include "daemon.h"
#include "gdbstub.h"
#include "launcher.h"
#include "machine.h"
#include "sandbox.h"
#include "sdl.h"
#include "util.h"
#include "vnc.h"

static struct machine machine;

/* Descriptors 0-2 are taken (by /dev/null where they are closed) before
 * vmm opens anything it keeps: a socket, disk image or kernel file that
 * landed there would be replaced by -daemonize's /dev/null, or get the
 * guest's console output. */
static void hold_stdio(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(1); /* no stderr to say so on */
}

/* Closing the SDL window: quit, or the power button (window-close=off). */
static void window_quit(void *opaque)
{
	machine_request_from(opaque, MACHINE_REQ_EXIT, 0, CAUSE_HOST_UI);
}

static void window_power_button(void *opaque)
{
	machine_power_button(opaque);
}

/* The window, if asked for or the default (then a failure is a warning). */
static struct sdl *open_window(const struct machine_config *cfg)
{
	char err[512];
	static const struct sdl_host host = { window_quit, window_power_button, &machine };

	if (!cfg->sdl.enabled)
		return NULL;
	struct sdl *s = sdl_create(&cfg->sdl, cfg->name, err, sizeof(err));
	if (!s && !cfg->sdl_default)
		die("%s", err);
	if (!s) {
		warn("%s; running without a window", err);
		return NULL;
	}
	sdl_start(s, machine.loop, &host);
	return s;
}

int main(int argc, char **argv)
{
	/* The options are parsed straight into the machine (.bss): a copy
	 * on the stack was 15 KiB more of peak RSS, written twice. */
	struct machine_config *cfg = &machine.cfg;
	char err[512];
	const char *dbg = getenv("VMM_DEBUG");

	hold_stdio();
	debug_enabled = dbg && *dbg && strcmp(dbg, "0");
	const char *dump = getenv("VMM_DUMP_CPUS");
	dump_cpus_enabled = dump && !strcmp(dump, "1");
	/* A monitor or console reader that goes away must not kill the VM:
	 * writes report EPIPE and the channel is dropped. */
	signal(SIGPIPE, SIG_IGN);
	switch (cli_parse(argc, argv, cfg, err, sizeof(err))) {
	case CLI_EXIT_OK:
		return 0;
	case CLI_ERROR:
		report("%s", err);
		return 1;
	case CLI_RUN:
		break;
	}
	/* Sockets are bound first, so a taken port fails before anything runs. */
	struct control *control = control_create(cfg->qmp, cfg->nqmp, &cfg->monitor);
	struct gdb_server *gdb = NULL;
	if (cfg->gdb.kind != CHAN_NONE && !(gdb = gdb_server_create(&cfg->gdb, err, sizeof(err)))) {
		report("-gdb %s: %s", cfg->gdb.spec, err);
		return 1;
	}
	struct vnc *vnc = NULL;
	if (cfg->vnc.enabled && !(vnc = vnc_create(&cfg->vnc, cfg->name, err, sizeof(err)))) {
		report("%s", err);
		return 1;
	}
	/* KVM ties a VM to the process that created it, so the fork comes
	 * before the machine; the daemon reports errors on the terminal until
	 * it is ready. */
	if (cfg->daemonize)
		daemon_start();
	if (cfg->pidfile)
		pidfile_create(cfg->pidfile);
	/* After the daemon's forks: the filters name this process's pid. */
	sandbox_init(&cfg->sandbox);
	/* -sandbox on,spawn=allow: commands (migration's exec:) run from a
	 * launcher without vmm's filters (as -runas, in -chroot), forked
	 * now, before guest RAM, while vmm is small */
	if (cfg->sandbox.enabled && cfg->sandbox.spawn && launcher_start(err, sizeof(err)) < 0) {
		report("%s", err);
		return 1;
	}
	machine_create(&machine, cfg);
	machine.control = control;
	/* The human monitor on COM1's multiplexer (-serial mon:stdio,
	 * -nographic) or on a -chardev stdio,mux=on named by -mon. */
	if (cfg->monitor_mux[0])
		control_add_mux_monitor(control, chardev_find(cfg->monitor_mux));
	else if ((cfg->serial_ports & 1) && cfg->serial[0].kind == CHARDEV_STDIO &&
		 cfg->serial[0].mux && machine.serial_cd[0])
		control_add_mux_monitor(control, machine.serial_cd[0]);
	machine.gdb = gdb;
	/* -incoming listens, opens or starts its command before the sandbox. */
	machine_incoming_open(&machine);
	if (vnc)
		vnc_start(vnc); /* the display device exists now */
	struct sdl *window = open_window(cfg);
	/* savevm's snapshot names and info snapshots use local time: the zone
	 * file is read now, before the sandbox forbids opening it. Only a
	 * machine with a monitor or QMP can be asked for either; tzset's
	 * stdio file reading was ~0.1 MiB of an empty guest's peak RSS. */
	if (control_has_channels(control))
		tzset();
	/* Set-up is over: everything vmm opens is open. */
	sandbox_enter();
	/* Ready only now: a failing -runas or -chroot still reaches the
	 * terminal of a daemon. */
	daemon_ready();
	int status = machine_run(&machine);
	/* The channels first: they are served by the machine's event loop. */
	control_destroy(control);
	/* Each only when there is one: their code is in the late objects
	 * (Makefile, LATE_SRCS), and calling in just to return would map a
	 * 64 KiB window of it each (~0.2 MiB of an empty guest's RSS). */
	if (machine.gdb)
		gdb_server_destroy(machine.gdb, true); /* -gdb's, or monitor gdbserver's */
	machine.gdb = NULL;
	if (vnc)
		vnc_destroy(vnc); /* before the display it shows */
	if (window)
		sdl_destroy(window);
	machine_destroy(&machine);
	if (cfg->sandbox.enabled && cfg->sandbox.spawn)
		launcher_stop();
	pidfile_remove();
	fflush(stdout);
	/* A sanitizer build checks for leaks here: _exit skips atexit. */
	/* The options (machine.cfg, first in struct machine) are kept to
	 * the end, as they were when main() held them: what the rest of the
	 * machine still points to is what its destroy failed to free. */
	_Static_assert(offsetof(struct machine, cfg) == 0, "cfg comes first");
	leak_check((char *)&machine + sizeof(machine.cfg), sizeof(machine) - sizeof(machine.cfg));
	/* vCPU threads may still be inside KVM_RUN teardown; skip their cleanup. */
	_exit(status);
}
