// SPDX-License-Identifier: GPL-2.0-or-later
#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "chan.h"
#include "mux_keys.h"
#include "util.h"

struct chardev {
	struct chardev_config cfg;
	struct chan_config listen_cfg; /* server sockets: the address, for chan_listen */
	int listen_fd;
	int in_fd;      /* polled for input: stdin, input-path, pty master, client */
	bool raw_tty;
	struct termios saved;
	struct mux_keys keys; /* the Ctrl-A state, when filtering (see filtering()) */
	bool quit;      /* Ctrl-A x */
	/* Filtering: what was read but not yet filtered (the rest after a
	 * Ctrl-A key that changes where input goes), and the key's action,
	 * done once the bytes before it were taken. */
	uint8_t raw[CHARDEV_IN_CHUNK];
	size_t raw_len, raw_off;
	enum mux_action pending;

	/* Output. For sockets 'out_fd' is the client and changes under 'lock'
	 * (the main thread accepts and closes, other threads write). */
	pthread_mutex_t lock;
	int out_fd;
	bool broken;    /* a write failed: the main loop closes the client */
	uint8_t *out;   /* sockets: what the client has not taken yet */
	size_t out_len;
	uint64_t dropped;

	/* Input read but not yet taken by the frontend. */
	uint8_t in[CHARDEV_IN_CHUNK];
	size_t in_len, in_off;

	struct chardev_frontend fe;
	bool attached;
	int poll_idx;

	/* The multiplexer (cfg.mux): the monitor, a second front end, and
	 * which of the two has the keyboard. Its output while the console has
	 * the focus is held ('held', under 'lock', bounded) until it gets it. */
	struct chardev_frontend mon_fe;
	bool mon_attached;
	bool mon_focus;
	char *held;
	size_t held_len;
};

static struct chardev *devs[CHARDEV_MAX];
static unsigned ndevs;
static int kick_fd = -1;
static int kick_poll_idx = -1;
static struct event_source *loop_source;
static void (*quit_fn)(void *opaque);
static void *quit_opaque;
static void (*sync_fn)(void *opaque);
static void *sync_opaque;

/* ---- option parsing ---------------------------------------------------- */

static int copy_str(char *dst, size_t size, const char *v, const char *what, char *err,
		    size_t errlen)
{
	if (strlen(v) >= size)
		return set_err(err, errlen, "%s longer than %zu bytes", what, size - 1);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int check_port(const char *v, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	unsigned long port = strtoul(v, &end, 10);
	if (!*v || *end || errno || port > 65535)
		return set_err(err, errlen, "invalid port '%s'", v);
	return 0;
}

/* One key=value (or bare key) of a socket: the options -chardev socket and
 * the legacy unix:/tcp: forms share. 1 if handled, 0 if not a socket key. */
static int socket_param(struct chardev_config *c, const char *key, const char *val, bool bare,
			char *err, size_t errlen)
{
	bool b;

	if (!strcmp(key, "nowait") && bare) {
		c->wait = false;
		return 1;
	}
	if (!strcmp(key, "server") || !strcmp(key, "wait")) {
		if (parse_on_off(val, &b) < 0)
			return set_err(err, errlen, "%s: expected 'on' or 'off', got '%s'", key, val);
		if (key[0] == 's')
			c->server = b;
		else
			c->wait = b;
		return 1;
	}
	if (!strcmp(key, "nodelay") || !strcmp(key, "telnet") || !strcmp(key, "ipv4") ||
	    !strcmp(key, "ipv6")) {
		/* accepted for compatibility: TCP_NODELAY is always set, telnet=off */
		if (!strcmp(key, "telnet") && parse_on_off(val, &b) == 0 && b)
			return set_err(err, errlen, "telnet=on is not supported");
		return 1;
	}
	return 0;
}

static void defaults(struct chardev_config *c)
{
	memset(c, 0, sizeof(*c));
	c->wait = true; /* QEMU's default for a server */
	c->signal = true;
}

static int check_socket(struct chardev_config *c, char *err, size_t errlen)
{
	if (!c->sock_path[0] && !c->port[0])
		return set_err(err, errlen, "socket: give path=PATH or host=HOST,port=PORT");
	if (c->sock_path[0] && (c->port[0] || c->host[0]))
		return set_err(err, errlen, "socket: path= and host=/port= exclude each other");
	c->tcp = !c->sock_path[0];
	if (!c->server)
		c->wait = false;
	return 0;
}

int chardev_parse(const char *arg, struct chardev_config *c, char *err, size_t errlen)
{
	char field[CHARDEV_PATH_MAX + 32];
	const char *p = opt_field(arg, field, sizeof(field));
	bool file_path = false;

	defaults(c);
	if (!p)
		return set_err(err, errlen, "backend name too long");
	if (!strcmp(field, "null"))
		c->kind = CHARDEV_NULL;
	else if (!strcmp(field, "stdio"))
		c->kind = CHARDEV_STDIO;
	else if (!strcmp(field, "file"))
		c->kind = CHARDEV_FILE;
	else if (!strcmp(field, "pty"))
		c->kind = CHARDEV_PTY;
	else if (!strcmp(field, "socket"))
		c->kind = CHARDEV_SOCKET;
	else
		return set_err(err, errlen, "'%s' is not a supported backend (null, stdio, file, pty, "
			    "socket)", field[0] ? field : "");
	while (*p) {
		p = opt_field(p, field, sizeof(field));
		if (!p)
			return set_err(err, errlen, "parameter too long");
		char *eq = strchr(field, '=');
		const char *val = eq ? eq + 1 : "on";
		if (eq)
			*eq = 0;
		if (!strcmp(field, "id")) {
			if (copy_str(c->id, sizeof(c->id), val, "id", err, errlen) < 0)
				return -1;
			continue;
		}
		if (c->kind == CHARDEV_STDIO && !strcmp(field, "mux")) {
			if (parse_on_off(val, &c->mux) < 0)
				return set_err(err, errlen, "mux: expected 'on' or 'off', got '%s'", val);
			continue;
		}
		if (c->kind == CHARDEV_STDIO && !strcmp(field, "signal")) {
			if (parse_on_off(val, &c->signal) < 0)
				return set_err(err, errlen, "signal: expected 'on' or 'off', got '%s'", val);
			continue;
		}
		if (c->kind == CHARDEV_FILE && !strcmp(field, "path")) {
			if (copy_str(c->path_buf, sizeof(c->path_buf), val, "path", err, errlen) < 0)
				return -1;
			file_path = true;
			continue;
		}
		if (c->kind == CHARDEV_FILE && !strcmp(field, "input-path")) {
			if (copy_str(c->input_path, sizeof(c->input_path), val, "input-path", err,
				     errlen) < 0)
				return -1;
			continue;
		}
		if (c->kind == CHARDEV_SOCKET) {
			int r;
			if (!strcmp(field, "path"))
				r = copy_str(c->sock_path, sizeof(c->sock_path), val, "socket path", err,
					     errlen);
			else if (!strcmp(field, "host"))
				r = copy_str(c->host, sizeof(c->host), val, "host", err, errlen);
			else if (!strcmp(field, "port"))
				r = check_port(val, err, errlen) < 0 ? -1
					: copy_str(c->port, sizeof(c->port), val, "port", err, errlen);
			else
				r = socket_param(c, field, val, !eq, err, errlen) > 0 ? 0 : -2;
			if (r == -1)
				return -1;
			if (r == 0)
				continue;
		}
		return set_err(err, errlen, "unknown parameter '%s'", field);
	}
	if (!c->id[0])
		return set_err(err, errlen, "id= is required");
	if (c->kind == CHARDEV_FILE && (!file_path || !c->path_buf[0]))
		return set_err(err, errlen, "file: path= is required");
	if (c->kind == CHARDEV_FILE)
		c->path = c->path_buf;
	if (c->kind == CHARDEV_SOCKET && check_socket(c, err, errlen) < 0)
		return -1;
	return 0;
}

/* unix:PATH[,opts] and tcp:[HOST]:PORT[,opts] of -serial. */
static int parse_legacy_socket(const char *arg, struct chardev_config *c, char *err,
			       size_t errlen)
{
	char field[CHARDEV_PATH_MAX];
	bool tcp = arg[0] == 't';
	const char *p = opt_field(arg + (tcp ? 4 : 5), field, sizeof(field));

	c->kind = CHARDEV_SOCKET;
	if (!p)
		return set_err(err, errlen, "address too long");
	if (tcp) {
		char *colon = strrchr(field, ':');
		char *host = field;
		if (!colon)
			return set_err(err, errlen, "expected tcp:[HOST]:PORT");
		*colon = 0;
		if (host[0] == '[' && colon > host + 1 && colon[-1] == ']') {
			host++;
			colon[-1] = 0;
		}
		if (copy_str(c->host, sizeof(c->host), host, "host", err, errlen) < 0 ||
		    check_port(colon + 1, err, errlen) < 0 ||
		    copy_str(c->port, sizeof(c->port), colon + 1, "port", err, errlen) < 0)
			return -1;
	} else {
		if (!field[0])
			return set_err(err, errlen, "empty socket path");
		if (copy_str(c->sock_path, sizeof(c->sock_path), field, "socket path", err,
			     errlen) < 0)
			return -1;
	}
	while (*p) {
		p = opt_field(p, field, sizeof(field));
		if (!p)
			return set_err(err, errlen, "parameter too long");
		char *eq = strchr(field, '=');
		if (eq)
			*eq = 0;
		int r = socket_param(c, field, eq ? eq + 1 : "on", !eq, err, errlen);
		if (r < 0)
			return -1;
		if (r == 0)
			return set_err(err, errlen, "unknown parameter '%s'", field);
	}
	return check_socket(c, err, errlen);
}

int chardev_parse_legacy(const char *arg, struct chardev_config *c, char *err, size_t errlen)
{
	defaults(c);
	/* vmm's serial console has always been raw, with the Ctrl-A keys. */
	c->signal = false;
	if (!strcmp(arg, "stdio") || !strcmp(arg, "mon:stdio")) {
		c->kind = CHARDEV_STDIO;
		c->mux_keys = true;
		c->mux = arg[0] == 'm'; /* QEMU's mux: the monitor shares it */
	} else if (!strcmp(arg, "null") || !strcmp(arg, "none")) {
		c->kind = CHARDEV_NULL;
	} else if (!strcmp(arg, "pty")) {
		c->kind = CHARDEV_PTY;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		c->kind = CHARDEV_FILE;
		c->path = arg + 5;
	} else if (!strncmp(arg, "chardev:", 8) && arg[8]) {
		c->kind = CHARDEV_REF;
		return copy_str(c->id, sizeof(c->id), arg + 8, "chardev id", err, errlen);
	} else if (!strncmp(arg, "unix:", 5) || !strncmp(arg, "tcp:", 4)) {
		return parse_legacy_socket(arg, c, err, errlen);
	} else {
		return set_err(err, errlen, "unsupported character device (use stdio, file:PATH, pty, "
			    "null, chardev:ID, unix:PATH,server,nowait or tcp::PORT,server,nowait)");
	}
	return 0;
}

/* ---- backends ------------------------------------------------------------ */

static void kick(void)
{
	uint64_t one = 1;
	if (kick_fd >= 0 && write(kick_fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the loop */
	}
}

static void restore_at_exit(void);

/* The first terminal made raw registers the restore for exit() (die()'s
 * path; a normal exit restores in chardev_destroy_all): a machine without
 * one does not call atexit, whose libc stub sits alone at the end of
 * vmm's code. */
static void make_raw(struct chardev *cd)
{
	static bool atexit_done;
	struct termios t;

	if (tcgetattr(cd->in_fd, &cd->saved) < 0)
		return;
	t = cd->saved;
	cfmakeraw(&t);
	/* Keep output post-processing so host-side messages stay readable. */
	t.c_oflag |= OPOST | ONLCR;
	if (cd->cfg.signal)
		t.c_lflag |= ISIG;
	if (tcsetattr(cd->in_fd, TCSANOW, &t) < 0)
		return;
	cd->raw_tty = true;
	if (!atexit_done)
		atexit(restore_at_exit);
	atexit_done = true;
}

static void restore_tty(struct chardev *cd)
{
	if (cd->raw_tty) {
		tcsetattr(cd->in_fd, TCSANOW, &cd->saved);
		cd->raw_tty = false;
	}
}

static void restore_at_exit(void)
{
	for (unsigned i = 0; i < ndevs; i++)
		restore_tty(devs[i]);
}

static int open_pty(struct chardev *cd, char *err, size_t errlen)
{
	int master, slave;
	char name[256];
	struct termios t;

	if (openpty(&master, &slave, name, NULL, NULL) < 0)
		return set_err(err, errlen, "cannot open a pty: %s", strerror(errno));
	if (tcgetattr(slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(slave, TCSANOW, &t);
	}
	close(slave);
	fcntl(master, F_SETFL, O_NONBLOCK);
	fcntl(master, F_SETFD, FD_CLOEXEC);
	cd->in_fd = cd->out_fd = master;
	fprintf(stderr, "char device redirected to %s (label %s)\n", name, cd->cfg.label);
	return 0;
}

static int connect_socket(struct chardev *cd, char *err, size_t errlen)
{
	const struct chardev_config *c = &cd->cfg;
	int fd = -1, e = 0;

	if (!c->tcp) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		memcpy(sa.sun_path, c->sock_path, strlen(c->sock_path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
		if (fd < 0)
			return set_err(err, errlen, "cannot connect to '%s': %s", c->sock_path,
				    strerror(e ? e : errno));
	} else {
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_NUMERICSERV };
		struct addrinfo *res;
		const char *host = c->host[0] ? c->host : "localhost";
		int gai = getaddrinfo(host, c->port, &hints, &res);
		if (gai)
			return set_err(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(gai));
		for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
			if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
				e = errno;
				close(fd);
				fd = -1;
			}
		}
		freeaddrinfo(res);
		if (fd < 0)
			return set_err(err, errlen, "cannot connect to %s:%s: %s", host, c->port,
				    strerror(e));
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	cd->in_fd = cd->out_fd = fd;
	return 0;
}

static int open_socket(struct chardev *cd, char *err, size_t errlen)
{
	const struct chardev_config *c = &cd->cfg;
	struct chan_config *l = &cd->listen_cfg;

	if (!c->server)
		return connect_socket(cd, err, errlen);
	memset(l, 0, sizeof(*l));
	l->kind = c->tcp ? CHAN_TCP : CHAN_UNIX;
	memcpy(l->path, c->sock_path, sizeof(l->path));
	memcpy(l->host, c->host, sizeof(l->host));
	memcpy(l->port, c->port, sizeof(l->port));
	cd->listen_fd = chan_listen(l, err, errlen);
	return cd->listen_fd < 0 ? -1 : 0;
}

static int open_backend(struct chardev *cd, char *err, size_t errlen)
{
	const struct chardev_config *c = &cd->cfg;

	switch (c->kind) {
	case CHARDEV_STDIO:
		cd->in_fd = STDIN_FILENO;
		cd->out_fd = STDOUT_FILENO;
		if (isatty(cd->in_fd))
			make_raw(cd);
		return 0;
	case CHARDEV_FILE:
		cd->out_fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (cd->out_fd < 0)
			return set_err(err, errlen, "cannot open '%s': %s", c->path, strerror(errno));
		if (c->input_path[0]) {
			cd->in_fd = open(c->input_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			if (cd->in_fd < 0)
				return set_err(err, errlen, "cannot open '%s': %s", c->input_path,
					    strerror(errno));
		}
		return 0;
	case CHARDEV_PTY:
		return open_pty(cd, err, errlen);
	case CHARDEV_SOCKET:
		return open_socket(cd, err, errlen);
	default:
		return 0;
	}
}

static void free_chardev(struct chardev *cd)
{
	restore_tty(cd);
	if (cd->cfg.kind == CHARDEV_FILE || cd->cfg.kind == CHARDEV_SOCKET ||
	    cd->cfg.kind == CHARDEV_PTY) {
		if (cd->in_fd >= 0 && cd->in_fd != cd->out_fd)
			close(cd->in_fd);
		if (cd->out_fd >= 0)
			close(cd->out_fd);
	}
	if (cd->listen_fd >= 0)
		chan_unlisten(&cd->listen_cfg, cd->listen_fd);
	pthread_mutex_destroy(&cd->lock);
	free(cd->out);
	free(cd->held);
	free(cd);
}

struct chardev *chardev_create(const struct chardev_config *cfg, char *err, size_t errlen)
{
	struct chardev *cd;

	if (ndevs == CHARDEV_MAX) {
		set_err(err, errlen, "at most %d character devices", CHARDEV_MAX);
		return NULL;
	}
	if (kick_fd < 0) {
		kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (kick_fd < 0) {
			set_err(err, errlen, "eventfd: %s", strerror(errno));
			return NULL;
		}
	}
	cd = xzalloc(sizeof(*cd));
	cd->cfg = *cfg;
	if (cfg->path == cfg->path_buf)
		cd->cfg.path = cd->cfg.path_buf;
	if (!cd->cfg.label)
		cd->cfg.label = cd->cfg.id;
	cd->listen_fd = cd->in_fd = cd->out_fd = -1;
	cd->poll_idx = -1;
	cd->keys.mux = cfg->mux;
	pthread_mutex_init(&cd->lock, NULL);
	if (open_backend(cd, err, errlen) < 0) {
		free_chardev(cd);
		return NULL;
	}
	devs[ndevs++] = cd;
	return cd;
}

struct chardev *chardev_find(const char *id)
{
	for (unsigned i = 0; i < ndevs; i++)
		if (devs[i]->cfg.id[0] && !strcmp(devs[i]->cfg.id, id))
			return devs[i];
	return NULL;
}

const char *chardev_label(const struct chardev *cd)
{
	return cd->cfg.label;
}

static bool is_server(const struct chardev *cd)
{
	return cd->cfg.kind == CHARDEV_SOCKET && cd->cfg.server;
}

bool chardev_connected(struct chardev *cd)
{
	if (cd->cfg.kind != CHARDEV_SOCKET)
		return true;
	pthread_mutex_lock(&cd->lock);
	bool c = cd->out_fd >= 0;
	pthread_mutex_unlock(&cd->lock);
	return c;
}

int chardev_attach(struct chardev *cd, const struct chardev_frontend *fe)
{
	if (cd->attached)
		return -EBUSY;
	cd->fe = *fe;
	cd->attached = true;
	if (cd->fe.event && chardev_connected(cd))
		cd->fe.event(cd->fe.opaque, true);
	return 0;
}

int chardev_attach_monitor(struct chardev *cd, const struct chardev_frontend *fe)
{
	if (!cd->cfg.mux)
		return -EINVAL;
	if (cd->mon_attached)
		return -EBUSY;
	cd->mon_fe = *fe;
	cd->mon_attached = true;
	return 0;
}

void chardev_write_monitor(struct chardev *cd, const void *buf, size_t len)
{
	if (!cd || !len)
		return;
	pthread_mutex_lock(&cd->lock);
	if (!cd->mon_focus) {
		/* the console has the keyboard: keep it for the switch, bounded */
		size_t room = CHARDEV_OUT_CAP - cd->held_len;
		if (len > room) {
			cd->dropped += len - room;
			len = room;
		}
		if (len) {
			if (!cd->held)
				cd->held = xzalloc(CHARDEV_OUT_CAP);
			memcpy(cd->held + cd->held_len, buf, len);
			cd->held_len += len;
		}
		pthread_mutex_unlock(&cd->lock);
		return;
	}
	pthread_mutex_unlock(&cd->lock);
	chardev_write(cd, buf, len);
}

void chardev_detach_monitor(struct chardev *cd)
{
	cd->mon_attached = false;
	cd->mon_focus = false;
}

bool chardev_monitor_focused(const struct chardev *cd)
{
	return cd->mon_focus;
}

void chardev_detach(struct chardev *cd)
{
	if (cd)
		cd->attached = false;
}

/* ---- clients ------------------------------------------------------------- */

static void accept_client(struct chardev *cd)
{
	int fd = accept4(cd->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return; /* EAGAIN, or a client that gave up already */
	if (cd->cfg.tcp) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	pthread_mutex_lock(&cd->lock);
	cd->in_fd = cd->out_fd = fd;
	cd->broken = false;
	cd->out_len = 0;
	pthread_mutex_unlock(&cd->lock);
	cd->in_len = cd->in_off = 0;
	if (cd->attached && cd->fe.event)
		cd->fe.event(cd->fe.opaque, true);
}

/* A socket client went away (EOF, error) or a write failed. A client
 * socket is not reconnected: it stays closed, as QEMU without reconnect=. */
static void close_client(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	if (cd->out_fd >= 0)
		close(cd->out_fd);
	cd->in_fd = cd->out_fd = -1;
	cd->out_len = 0;
	cd->broken = false;
	pthread_mutex_unlock(&cd->lock);
	cd->in_len = cd->in_off = 0;
	if (cd->attached && cd->fe.event)
		cd->fe.event(cd->fe.opaque, false);
}

void chardev_start_all(void)
{
	sigset_t none;
	sigemptyset(&none);
	for (unsigned i = 0; i < ndevs; i++) {
		struct chardev *cd = devs[i];
		if (!is_server(cd) || !cd->cfg.wait)
			continue;
		fprintf(stderr, "vmm: waiting for connection on chardev '%s'\n", cd->cfg.label);
		struct pollfd p = { .fd = cd->listen_fd, .events = POLLIN };
		/* As chan_start: let Ctrl-C and SIGTERM end the wait the default way. */
		while (cd->out_fd < 0)
			if (ppoll(&p, 1, NULL, &none) > 0)
				accept_client(cd);
	}
}

/* ---- output -------------------------------------------------------------- */

static void write_all_blocking(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* a pty nobody reads, a closed pipe: drop */
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Socket, lock held: send what the client takes now, buffer the rest. */
static void socket_write(struct chardev *cd, const uint8_t *buf, size_t len)
{
	bool was_empty = cd->out_len == 0;

	if (cd->out_fd < 0 || cd->broken) {
		cd->dropped += len; /* nobody listens */
		return;
	}
	if (was_empty) {
		ssize_t n = send(cd->out_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			cd->broken = true;
			kick();
			return;
		}
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	if (!len)
		return;
	if (len > CHARDEV_OUT_CAP - cd->out_len) {
		cd->dropped += len - (CHARDEV_OUT_CAP - cd->out_len);
		len = CHARDEV_OUT_CAP - cd->out_len;
	}
	if (!cd->out)
		cd->out = xzalloc(CHARDEV_OUT_CAP);
	memcpy(cd->out + cd->out_len, buf, len);
	cd->out_len += len;
	if (was_empty && cd->out_len)
		kick(); /* the main loop must poll for POLLOUT now */
}

void chardev_write(struct chardev *cd, const void *buf, size_t len)
{
	if (!cd || !len)
		return;
	switch (cd->cfg.kind) {
	case CHARDEV_SOCKET:
		pthread_mutex_lock(&cd->lock);
		socket_write(cd, buf, len);
		pthread_mutex_unlock(&cd->lock);
		break;
	case CHARDEV_STDIO:
	case CHARDEV_FILE:
	case CHARDEV_PTY:
		write_all_blocking(cd->out_fd, buf, len);
		break;
	default:
		break;
	}
}

/* Main thread, POLLOUT: the client can take more. */
static void flush_out(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	if (cd->out_fd >= 0 && cd->out_len) {
		ssize_t n = send(cd->out_fd, cd->out, cd->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			memmove(cd->out, cd->out + n, cd->out_len - (size_t)n);
			cd->out_len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			cd->broken = true;
		}
	}
	pthread_mutex_unlock(&cd->lock);
}

/* ---- input --------------------------------------------------------------- */

/* Where input goes: the monitor while it has the focus, else the console. */
static const struct chardev_frontend *focused(const struct chardev *cd)
{
	if (cd->mon_focus && cd->mon_attached)
		return &cd->mon_fe;
	return cd->attached ? &cd->fe : NULL;
}

/* Offers held input to the frontend; true when nothing is held any more. */
static bool offer(struct chardev *cd)
{
	const struct chardev_frontend *fe = focused(cd);

	while (cd->in_off < cd->in_len) {
		size_t n = fe && fe->receive
				   ? fe->receive(fe->opaque, cd->in + cd->in_off,
						 cd->in_len - cd->in_off)
				   : cd->in_len - cd->in_off; /* no frontend: discard */
		if (n == 0)
			return false;
		cd->in_off += MIN(n, cd->in_len - cd->in_off);
	}
	cd->in_len = cd->in_off = 0;
	return true;
}

/* The Ctrl-A keys: on a multiplexer always (a pipe as well, as QEMU's),
 * on a plain console only on a raw terminal (vmm's long-standing keys). */
static bool filtering(const struct chardev *cd)
{
	return cd->cfg.mux || (cd->raw_tty && cd->cfg.mux_keys);
}

/* Main thread: the monitor gets the keyboard, or gives it back. What it
 * printed meanwhile comes first, then it shows its prompt. */
static void switch_focus(struct chardev *cd)
{
	if (!cd->mon_attached)
		return; /* one front end: nothing to switch to */
	cd->mon_focus = !cd->mon_focus;
	if (cd->mon_focus) {
		pthread_mutex_lock(&cd->lock);
		char *held = cd->held;
		size_t len = cd->held_len;
		cd->held = NULL;
		cd->held_len = 0;
		pthread_mutex_unlock(&cd->lock);
		chardev_write(cd, "\r\n", 2);
		if (held)
			chardev_write(cd, held, len);
		free(held);
	}
	if (cd->mon_fe.focus)
		cd->mon_fe.focus(cd->mon_fe.opaque, cd->mon_focus);
}

static void mux_act(struct chardev *cd, enum mux_action act)
{
	const char *help;

	switch (act) {
	case MUX_QUIT:
		fprintf(stderr, "vmm: terminating on signal from console\r\n");
		cd->quit = true;
		break;
	case MUX_HELP:
		help = mux_keys_help(&cd->keys);
		chardev_write(cd, help, strlen(help));
		break;
	case MUX_SWITCH:
		switch_focus(cd);
		break;
	case MUX_SYNC:
		if (sync_fn)
			sync_fn(sync_opaque);
		break;
	case MUX_BREAK:
		/* to the front end with the keyboard, as QEMU's mux: the monitor
		 * has no break */
		if (!cd->mon_focus && cd->attached && cd->fe.brk)
			cd->fe.brk(cd->fe.opaque);
		break;
	case MUX_NONE:
		break;
	}
}

/* Filters what was read and hands it on, up to the next key that acts,
 * which is done only once the bytes before it were taken (after a Ctrl-A c
 * the rest goes to the other front end). Stops while a front end is full;
 * its kick resumes here. */
static void pump(struct chardev *cd)
{
	for (;;) {
		if (!offer(cd))
			return;
		if (cd->pending != MUX_NONE) {
			enum mux_action act = cd->pending;
			cd->pending = MUX_NONE;
			mux_act(cd, act);
			if (cd->quit) {
				cd->raw_len = cd->raw_off = 0;
				return;
			}
		}
		if (cd->raw_off >= cd->raw_len) {
			cd->raw_len = cd->raw_off = 0;
			return;
		}
		size_t used;
		cd->in_len = mux_keys_filter(&cd->keys, cd->raw + cd->raw_off,
					     cd->raw_len - cd->raw_off, cd->in, &used, &cd->pending);
		cd->in_off = 0;
		cd->raw_off += used;
	}
}

static void read_input(struct chardev *cd)
{
	bool filter = filtering(cd);
	ssize_t n = read(cd->in_fd, filter ? cd->raw : cd->in, CHARDEV_IN_CHUNK);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (cd->cfg.kind == CHARDEV_SOCKET)
			close_client(cd);
		else if (cd->cfg.kind == CHARDEV_FILE) {
			close(cd->in_fd); /* input-path read to its end */
			cd->in_fd = -1;
		} else {
			/* EOF on stdin, EIO on a pty whose slave closed: keep the output
			 * side, stop polling (as the serial console always did). */
			cd->in_fd = -1;
		}
		return;
	}
	if (filter) {
		cd->raw_len = (size_t)n;
		cd->raw_off = 0;
		pump(cd);
		return;
	}
	cd->in_len = (size_t)n;
	cd->in_off = 0;
	offer(cd);
}

void chardev_kick(struct chardev *cd)
{
	(void)cd;
	kick();
}

/* ---- main loop ----------------------------------------------------------- */

int chardev_poll_fill(struct pollfd *fds, int max)
{
	int n = 0;

	kick_poll_idx = -1;
	if (kick_fd >= 0 && n < max) {
		fds[n] = (struct pollfd){ .fd = kick_fd, .events = POLLIN };
		kick_poll_idx = n++;
	}
	for (unsigned i = 0; i < ndevs && n < max; i++) {
		struct chardev *cd = devs[i];
		short ev = 0;
		int fd = cd->in_fd;

		cd->poll_idx = -1;
		if (is_server(cd) && cd->out_fd < 0) {
			fds[n] = (struct pollfd){ .fd = cd->listen_fd, .events = POLLIN };
			cd->poll_idx = n++;
			continue;
		}
		/* Held input means the frontend is full: stop reading (back-pressure). */
		if (cd->in_fd >= 0 && cd->in_off >= cd->in_len && cd->raw_off >= cd->raw_len)
			ev |= POLLIN;
		if (cd->cfg.kind == CHARDEV_SOCKET) {
			pthread_mutex_lock(&cd->lock);
			if (cd->out_len)
				ev |= POLLOUT;
			fd = cd->out_fd;
			pthread_mutex_unlock(&cd->lock);
			if (fd < 0)
				continue;
			/* A socket is always polled, so a hang-up is seen even while input
			 * is held back; see chardev_poll_handle. */
		} else if (!ev) {
			continue;
		}
		fds[n] = (struct pollfd){ .fd = fd, .events = ev };
		cd->poll_idx = n++;
	}
	return n;
}

static void handle_one(struct chardev *cd, short rev, short events)
{
	if (is_server(cd) && cd->out_fd < 0) {
		if (rev & POLLIN)
			accept_client(cd);
		return;
	}
	if (rev & POLLOUT)
		flush_out(cd);
	if ((events & POLLIN) && (rev & (POLLIN | POLLHUP | POLLERR)))
		read_input(cd);
	else if (cd->cfg.kind == CHARDEV_SOCKET && (rev & (POLLHUP | POLLERR)))
		close_client(cd); /* gone while we held its input back */
}

bool chardev_poll_handle(const struct pollfd *fds, int n)
{
	bool quit = false;

	if (kick_poll_idx >= 0 && kick_poll_idx < n && (fds[kick_poll_idx].revents & POLLIN)) {
		uint64_t count;
		if (read(kick_fd, &count, sizeof(count)) < 0) {
			/* EAGAIN: someone else drained it */
		}
		for (unsigned i = 0; i < ndevs; i++)
			pump(devs[i]);
	}
	for (unsigned i = 0; i < ndevs; i++) {
		struct chardev *cd = devs[i];
		if (cd->poll_idx >= 0 && cd->poll_idx < n && fds[cd->poll_idx].revents)
			handle_one(cd, fds[cd->poll_idx].revents, fds[cd->poll_idx].events);
		pthread_mutex_lock(&cd->lock);
		bool broken = cd->broken;
		pthread_mutex_unlock(&cd->lock);
		if (broken)
			close_client(cd);
		quit |= cd->quit;
		cd->quit = false;
	}
	return quit;
}

static int source_fill(void *opaque, struct pollfd *fds, int max)
{
	(void)opaque;
	return chardev_poll_fill(fds, max);
}

static void source_handle(void *opaque, const struct pollfd *fds, int n)
{
	(void)opaque;
	if (chardev_poll_handle(fds, n) && quit_fn)
		quit_fn(quit_opaque);
}

void chardev_set_sync(void (*fn)(void *opaque), void *opaque)
{
	sync_fn = fn;
	sync_opaque = opaque;
}

void chardev_attach_loop(struct event_loop *loop, void (*on_quit)(void *opaque), void *opaque)
{
	quit_fn = on_quit;
	quit_opaque = opaque;
	loop_source = event_source_add(loop, CHARDEV_POLL_FDS, source_fill, source_handle, NULL);
}

void chardev_destroy_all(void)
{
	event_source_remove(loop_source);
	loop_source = NULL;
	for (unsigned i = 0; i < ndevs; i++) {
		struct chardev *cd = devs[i];
		/* Give a socket client what it is owed, briefly (as chan_flush). */
		for (int tries = 0; tries < 50; tries++) {
			pthread_mutex_lock(&cd->lock);
			int fd = cd->out_len && !cd->broken ? cd->out_fd : -1;
			pthread_mutex_unlock(&cd->lock);
			if (fd < 0)
				break;
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, 10) > 0)
				flush_out(cd);
		}
		free_chardev(cd);
		devs[i] = NULL;
	}
	ndevs = 0;
	if (kick_fd >= 0)
		close(kick_fd);
	kick_fd = -1;
}
