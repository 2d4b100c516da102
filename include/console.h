/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The host side of COM1: where guest output goes (stdio, a file, a pty,
 * nowhere) and where input comes from. On a terminal, stdio is put in raw
 * mode and Ctrl-A is the escape key, as in QEMU: Ctrl-A x quits, Ctrl-A h
 * lists the keys, Ctrl-A Ctrl-A sends Ctrl-A.
 */
#ifndef VMM_CONSOLE_H
#define VMM_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"

struct serial;

struct console *console_create(const struct chardev_config *cfg, char *err, size_t errlen);
void console_destroy(struct console *c);
/* Serial backend: guest bytes out. Called from vCPU threads. */
void console_write(void *opaque, const uint8_t *buf, size_t len);
/* Descriptor to poll for input, or -1 (no input, or input is waiting for
 * FIFO space in the UART). */
int console_poll_fd(struct console *c);
/* Reads what is available and feeds it to the UART. Returns a machine
 * request if the user typed an escape command (Ctrl-A x), else NONE. */
enum machine_req console_handle_input(struct console *c, struct serial *uart);
/* The UART drained its FIFO: feed held-back input. */
void console_feed(struct console *c, struct serial *uart);
/* Restores the terminal (also done at exit). */
void console_restore(struct console *c);

#endif
