/* SPDX-License-Identifier: GPL-2.0-or-later */
/* QEMU-compatible command line: one table drives parsing and --help. */
#ifndef VMM_CLI_H
#define VMM_CLI_H

#include "machine.h"

enum cli_result { CLI_RUN, CLI_EXIT_OK, CLI_ERROR };

/* Parses argv into cfg. On CLI_ERROR, a one-line message is in err. */
enum cli_result cli_parse(int argc, char **argv, struct machine_config *cfg, char *err,
			  size_t errlen);

/* Frees what cli_parse allocated in cfg (the device list, -global,
 * drive and netdev ids, chardevs), after success or error. */
void cli_config_free(struct machine_config *cfg);

#endif
