/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Ctrl-A keys of a terminal console, as a pure state machine over the
 * input bytes (no I/O), so the chardev and the unit tests share it.
 *
 * Two sets. A plain console on a raw terminal (-serial stdio) has vmm's
 * long-standing three: Ctrl-A x, Ctrl-A h, Ctrl-A Ctrl-A. QEMU's character
 * multiplexer (-serial mon:stdio, -nographic: COM1 and the human monitor
 * sharing stdio) adds Ctrl-A c (switch between console and monitor),
 * Ctrl-A s (flush the disks) and Ctrl-A b (a break to the console's port),
 * and filters its input whether stdin is a terminal or a pipe.
 *
 * A Ctrl-A at the end of one read and its key at the start of the next is
 * one escape: the state carries over between calls.
 */
#ifndef VMM_MUX_KEYS_H
#define VMM_MUX_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MUX_ESCAPE 0x01 /* Ctrl-A */

enum mux_action {
	MUX_NONE,   /* the input ran out */
	MUX_QUIT,   /* Ctrl-A x */
	MUX_HELP,   /* Ctrl-A h or ? */
	MUX_SWITCH, /* Ctrl-A c (multiplexer only) */
	MUX_SYNC,   /* Ctrl-A s (multiplexer only) */
	MUX_BREAK,  /* Ctrl-A b (multiplexer only) */
};

struct mux_keys {
	bool mux;    /* the multiplexer's set (c, s, b) as well */
	bool escape; /* the last byte seen was a lone Ctrl-A */
};

/* Filters in[0..n) into out (room for n): the bytes for the focused front
 * end, with the escapes taken out. Stops just after the first key that
 * asks for an action, so that the caller can act (a switch changes where
 * the rest goes) before calling again with the rest. Returns how many
 * bytes went to out; *used is how many of in were consumed, *act what to
 * do (MUX_NONE when all of in was consumed without a key). */
size_t mux_keys_filter(struct mux_keys *k, const uint8_t *in, size_t n, uint8_t *out,
		       size_t *used, enum mux_action *act);

/* The Ctrl-A h text for this set ("\r\n" line ends: the terminal is raw). */
const char *mux_keys_help(const struct mux_keys *k);

#endif
