// SPDX-License-Identifier: GPL-2.0-or-later
#include "mux_keys.h"

static const char plain_help[] =
	"\r\nC-a h    print this help\r\n"
	"C-a x    exit emulator\r\n"
	"C-a C-a  sends C-a\r\n";

static const char mux_help[] =
	"\r\nC-a h    print this help\r\n"
	"C-a x    exit emulator\r\n"
	"C-a s    save disk data back to file (flush every disk)\r\n"
	"C-a b    send break (the serial console's break)\r\n"
	"C-a c    switch between console and monitor\r\n"
	"C-a C-a  sends C-a\r\n";

const char *mux_keys_help(const struct mux_keys *k)
{
	return k->mux ? mux_help : plain_help;
}

/* The action of the key after a Ctrl-A; MUX_NONE for one that is dropped. */
static enum mux_action key_action(const struct mux_keys *k, uint8_t ch)
{
	switch (ch) {
	case 'x':
		return MUX_QUIT;
	case 'h':
	case '?':
		return MUX_HELP;
	case 'c':
		return k->mux ? MUX_SWITCH : MUX_NONE;
	case 's':
		return k->mux ? MUX_SYNC : MUX_NONE;
	case 'b':
		return k->mux ? MUX_BREAK : MUX_NONE;
	default:
		return MUX_NONE;
	}
}

size_t mux_keys_filter(struct mux_keys *k, const uint8_t *in, size_t n, uint8_t *out,
		       size_t *used, enum mux_action *act)
{
	size_t kept = 0;

	*act = MUX_NONE;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i];
		if (!k->escape) {
			if (ch == MUX_ESCAPE)
				k->escape = true;
			else
				out[kept++] = ch;
			continue;
		}
		k->escape = false;
		if (ch == MUX_ESCAPE) {
			out[kept++] = ch; /* Ctrl-A Ctrl-A: one Ctrl-A for the front end */
			continue;
		}
		*act = key_action(k, ch);
		if (*act != MUX_NONE) {
			*used = i + 1;
			return kept;
		}
		/* any other key after Ctrl-A is swallowed with it */
	}
	*used = n;
	return kept;
}
