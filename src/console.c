// SPDX-License-Identifier: GPL-2.0-or-later
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "hw/serial.h"
#include "util.h"

#define CTRL_A 0x01

struct console {
	enum chardev_kind kind;
	int in_fd, out_fd;
	bool raw_tty;
	struct termios saved;
	bool escape; /* the previous key was Ctrl-A */
	uint8_t pending[256];
	size_t pending_len, pending_off;
};

static struct console *tty_owner; /* for the atexit restore */

static void restore_at_exit(void)
{
	if (tty_owner)
		console_restore(tty_owner);
}

static void make_raw(struct console *c)
{
	struct termios t;

	if (tcgetattr(c->in_fd, &c->saved) < 0)
		return;
	t = c->saved;
	cfmakeraw(&t);
	/* Keep output post-processing so host-side messages stay readable. */
	t.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(c->in_fd, TCSANOW, &t) == 0) {
		c->raw_tty = true;
		tty_owner = c;
		atexit(restore_at_exit);
	}
}

struct console *console_create(const struct chardev_config *cfg, char *err, size_t errlen)
{
	struct console *c = xzalloc(sizeof(*c));
	c->kind = cfg->kind;
	c->in_fd = c->out_fd = -1;

	switch (cfg->kind) {
	case CHARDEV_STDIO:
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		if (isatty(c->in_fd))
			make_raw(c);
		break;
	case CHARDEV_FILE:
		c->out_fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			snprintf(err, errlen, "cannot open '%s': %s", cfg->path, strerror(errno));
			free(c);
			return NULL;
		}
		break;
	case CHARDEV_PTY: {
		int master, slave;
		char name[256];
		struct termios t;
		if (openpty(&master, &slave, name, NULL, NULL) < 0) {
			snprintf(err, errlen, "cannot open a pty: %s", strerror(errno));
			free(c);
			return NULL;
		}
		if (tcgetattr(slave, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(slave, TCSANOW, &t);
		}
		close(slave);
		fcntl(master, F_SETFL, O_NONBLOCK);
		fcntl(master, F_SETFD, FD_CLOEXEC);
		c->in_fd = c->out_fd = master;
		fprintf(stderr, "char device redirected to %s (label serial0)\n", name);
		break;
	}
	default:
		break;
	}
	return c;
}

void console_restore(struct console *c)
{
	if (c && c->raw_tty) {
		tcsetattr(c->in_fd, TCSANOW, &c->saved);
		c->raw_tty = false;
	}
}

void console_destroy(struct console *c)
{
	if (!c)
		return;
	console_restore(c);
	if (tty_owner == c)
		tty_owner = NULL;
	if (c->kind == CHARDEV_FILE || c->kind == CHARDEV_PTY)
		close(c->out_fd);
	free(c);
}

void console_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;

	if (!c || c->out_fd < 0)
		return;
	while (len) {
		ssize_t n = write(c->out_fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* a pty nobody reads, a closed pipe: drop */
		}
		buf += n;
		len -= (size_t)n;
	}
}

int console_poll_fd(struct console *c)
{
	if (!c || c->pending_off < c->pending_len)
		return -1;
	return c->in_fd;
}

void console_feed(struct console *c, struct serial *uart)
{
	if (!c || c->pending_off >= c->pending_len)
		return;
	c->pending_off += serial_receive(uart, c->pending + c->pending_off,
					 c->pending_len - c->pending_off);
}

static const char escape_help[] =
	"\r\nC-a h    print this help\r\n"
	"C-a x    exit emulator\r\n"
	"C-a C-a  sends C-a\r\n";

enum machine_req console_handle_input(struct console *c, struct serial *uart)
{
	uint8_t buf[128];
	ssize_t n = read(c->in_fd, buf, sizeof(buf));

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->in_fd = -1; /* EOF: stop polling */
		return MACHINE_REQ_NONE;
	}
	c->pending_len = c->pending_off = 0;
	for (ssize_t i = 0; i < n; i++) {
		uint8_t ch = buf[i];
		if (c->raw_tty && c->escape) {
			c->escape = false;
			if (ch == 'x') {
				fprintf(stderr, "vmm: terminating on signal from console\r\n");
				return MACHINE_REQ_EXIT;
			}
			if (ch == 'h' || ch == '?') {
				console_write(c, (const uint8_t *)escape_help, sizeof(escape_help) - 1);
				continue;
			}
			if (ch != CTRL_A)
				continue;
		} else if (c->raw_tty && ch == CTRL_A) {
			c->escape = true;
			continue;
		}
		c->pending[c->pending_len++] = ch;
	}
	console_feed(c, uart);
	return MACHINE_REQ_NONE;
}
