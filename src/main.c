// SPDX-License-Identifier: GPL-2.0-or-later
/* vmm: a PC emulator on Linux KVM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "machine.h"
#include "util.h"

static struct machine machine;

int main(int argc, char **argv)
{
	struct machine_config cfg;
	char err[512];
	const char *dbg = getenv("VMM_DEBUG");

	debug_enabled = dbg && *dbg && strcmp(dbg, "0");
	switch (cli_parse(argc, argv, &cfg, err, sizeof(err))) {
	case CLI_EXIT_OK:
		return 0;
	case CLI_ERROR:
		fprintf(stderr, "vmm: %s\n", err);
		return 1;
	case CLI_RUN:
		break;
	}
	machine_create(&machine, &cfg);
	int status = machine_run(&machine);
	machine_destroy(&machine);
	fflush(stdout);
	/* vCPU threads may still be inside KVM_RUN teardown; skip their cleanup. */
	_exit(status);
}
