// SPDX-License-Identifier: GPL-2.0-or-later
#include "chan.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

#define CHAN_READ_CHUNK 4096
/* stdio may be a blocking pipe: never write more than the pipe guarantees
 * to take at once after POLLOUT. */
#define CHAN_STDIO_CHUNK 4096

/* ---- option parsing ---------------------------------------------------- */

static int parse_params(const char *p, struct chan_config *c, const char *spec, char *err,
			size_t errlen)
{
	bool server = false;
	char field[64];

	c->wait = true; /* QEMU's default for a server */
	while (*p) {
		p = opt_field(p, field, sizeof(field));
		if (!p)
			return set_err(err, errlen, "'%s': parameter too long", spec);
		char *eq = strchr(field, '=');
		const char *val = eq ? eq + 1 : "on";
		bool b;
		if (eq)
			*eq = 0;
		if (!strcmp(field, "nowait") && !eq) {
			c->wait = false;
			continue;
		}
		if (strcmp(field, "server") && strcmp(field, "wait"))
			return set_err(err, errlen, "'%s': unknown parameter '%s'", spec, field);
		if (parse_on_off(val, &b) < 0)
			return set_err(err, errlen, "'%s': %s: expected 'on' or 'off', got '%s'", spec,
				    field, val);
		if (!strcmp(field, "server"))
			server = b;
		else
			c->wait = b;
	}
	if (!server)
		return set_err(err, errlen, "'%s': only server mode is supported (add server=on,wait=off)",
			    spec);
	return 0;
}

static int parse_tcp(const char *addr, struct chan_config *c, const char *spec, char *err,
		     size_t errlen)
{
	const char *colon = strrchr(addr, ':');
	const char *host = addr;
	size_t hlen;
	char *end;

	if (!colon)
		return set_err(err, errlen, "'%s': expected tcp:HOST:PORT", spec);
	hlen = (size_t)(colon - addr);
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
		host++; /* [IPv6] */
		hlen -= 2;
	}
	if (hlen >= sizeof(c->host))
		return set_err(err, errlen, "'%s': host name too long", spec);
	memcpy(c->host, host, hlen);
	c->host[hlen] = 0;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port == 0 || port > 65535)
		return set_err(err, errlen, "'%s': invalid port '%s'", spec, colon + 1);
	snprintf(c->port, sizeof(c->port), "%lu", port);
	return 0;
}

int chan_parse(const char *spec, struct chan_config *c, char *err, size_t errlen)
{
	char addr[512];
	const char *rest;

	memset(c, 0, sizeof(*c));
	c->spec = spec;
	if (!strcmp(spec, "stdio")) {
		c->kind = CHAN_STDIO;
		return 0;
	}
	if (!strncmp(spec, "unix:", 5)) {
		c->kind = CHAN_UNIX;
		rest = opt_field(spec + 5, addr, sizeof(addr));
		if (!rest || strlen(addr) >= sizeof(c->path))
			return set_err(err, errlen, "'%s': socket path longer than %zu bytes", spec,
				    sizeof(c->path) - 1);
		if (!addr[0])
			return set_err(err, errlen, "'%s': empty socket path", spec);
		memcpy(c->path, addr, strlen(addr) + 1);
	} else if (!strncmp(spec, "tcp:", 4)) {
		c->kind = CHAN_TCP;
		rest = opt_field(spec + 4, addr, sizeof(addr));
		if (!rest || parse_tcp(addr, c, spec, err, errlen) < 0)
			return rest ? -1 : set_err(err, errlen, "'%s': address too long", spec);
	} else {
		return set_err(err, errlen, "'%s': unsupported (use unix:PATH,server=on,wait=off, "
			    "tcp:HOST:PORT,server=on,wait=off or stdio)", spec);
	}
	return parse_params(rest, c, spec, err, errlen);
}

/* ---- sockets ----------------------------------------------------------- */

/* Unix sockets we created, removed if we exit early (die()). */
static const char *created_paths[32];

static void remove_created_paths(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(created_paths); i++)
		if (created_paths[i])
			unlink(created_paths[i]);
}

static void forget_path(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(created_paths); i++)
		if (created_paths[i] == path)
			created_paths[i] = NULL;
}

static void remember_path(const char *path)
{
	static bool registered;
	for (size_t i = 0; i < ARRAY_SIZE(created_paths); i++)
		if (!created_paths[i]) {
			created_paths[i] = path;
			break;
		}
	if (!registered)
		atexit(remove_created_paths);
	registered = true;
}

/* A socket file nobody listens on is left over from a process that died:
 * removing it is safe. One with a listener belongs to a running process. */
static bool stale_socket(const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(sa->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	bool stale = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 &&
		     errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int listen_unix(struct chan_config *cfg, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return set_err(err, errlen, "socket: %s", strerror(errno));
	memcpy(sa.sun_path, cfg->path, strlen(cfg->path) + 1);
	if (stale_socket(&sa))
		unlink(cfg->path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		if (e == EADDRINUSE)
			return set_err(err, errlen, "cannot listen on '%s': in use by another process",
				    cfg->path);
		return set_err(err, errlen, "cannot listen on '%s': %s", cfg->path, strerror(e));
	}
	return fd;
}

static int listen_tcp(struct chan_config *cfg, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	int e = 0, fd = -1, one = 1;
	int gai = getaddrinfo(cfg->host[0] ? cfg->host : NULL, cfg->port, &hints, &res);

	if (gai)
		return set_err(err, errlen, "cannot resolve '%s': %s", cfg->host, gai_strerror(gai));
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return set_err(err, errlen, "cannot listen on %s:%s: %s", cfg->host, cfg->port,
			    strerror(e));
	return fd;
}

int chan_listen(struct chan_config *cfg, char *err, size_t errlen)
{
	int fd = -1;

	if (cfg->kind == CHAN_UNIX) {
		fd = listen_unix(cfg, err, errlen);
		if (fd >= 0)
			remember_path(cfg->path);
	} else if (cfg->kind == CHAN_TCP) {
		fd = listen_tcp(cfg, err, errlen);
	}
	return fd;
}

void chan_unlisten(struct chan_config *cfg, int fd)
{
	if (fd < 0)
		return;
	close(fd);
	if (cfg->kind == CHAN_UNIX) {
		unlink(cfg->path);
		forget_path(cfg->path);
	}
}

int chan_init(struct chan *c, const struct chan_config *cfg, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->listen_fd = c->in_fd = c->out_fd = -1;
	c->poll_in = c->poll_out = -1;
	c->stdio = cfg->kind == CHAN_STDIO;
	if (cfg->kind == CHAN_UNIX || cfg->kind == CHAN_TCP)
		c->listen_fd = chan_listen(&c->cfg, err, errlen);
	return c->stdio || c->listen_fd >= 0 ? 0 : -1;
}

void chan_set_handler(struct chan *c, const struct chan_handler *h, void *opaque)
{
	c->h = h;
	c->opaque = opaque;
}

static void open_client(struct chan *c, int in_fd, int out_fd)
{
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->out_len = c->out_off = 0;
	c->drop = false;
	c->h->opened(c->opaque);
}

static void close_client(struct chan *c)
{
	if (c->in_fd < 0 && c->out_fd < 0)
		return;
	c->h->closed(c->opaque);
	if (!c->stdio)
		close(c->in_fd);
	c->in_fd = c->out_fd = -1;
	c->out_len = c->out_off = 0;
}

static void accept_client(struct chan *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return; /* EAGAIN, or a client that gave up already */
	if (c->cfg.kind == CHAN_TCP) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	open_client(c, fd, fd);
}

void chan_start(struct chan *c)
{
	if (c->stdio) {
		open_client(c, STDIN_FILENO, STDOUT_FILENO);
		return;
	}
	if (!c->cfg.wait)
		return;
	fprintf(stderr, "vmm: waiting for connection on %s\n", c->cfg.spec);
	struct pollfd p = { .fd = c->listen_fd, .events = POLLIN };
	sigset_t none;
	sigemptyset(&none);
	/* The exit signals are blocked for the main loop's signalfd, which does
	 * not run yet: let Ctrl-C and SIGTERM end this wait the default way. */
	while (c->in_fd < 0)
		if (ppoll(&p, 1, NULL, &none) > 0)
			accept_client(c);
}

int chan_poll_fill(struct chan *c, struct pollfd *fds)
{
	int n = 0;

	c->poll_in = c->poll_out = -1;
	if (c->in_fd < 0 && c->out_fd < 0) {
		if (c->listen_fd < 0)
			return 0;
		fds[0] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		c->poll_in = 0;
		return 1;
	}
	if (c->in_fd >= 0) {
		fds[n] = (struct pollfd){ .fd = c->in_fd, .events = POLLIN };
		c->poll_in = n++;
	}
	if (c->out_len > c->out_off) {
		if (c->in_fd == c->out_fd && c->poll_in >= 0) {
			fds[c->poll_in].events |= POLLOUT;
			c->poll_out = c->poll_in;
		} else {
			fds[n] = (struct pollfd){ .fd = c->out_fd, .events = POLLOUT };
			c->poll_out = n++;
		}
	}
	return n;
}

static void write_some(struct chan *c)
{
	size_t n = c->out_len - c->out_off;
	if (c->stdio && n > CHAN_STDIO_CHUNK)
		n = CHAN_STDIO_CHUNK;
	ssize_t w = c->stdio ? write(c->out_fd, c->out + c->out_off, n)
			     : send(c->out_fd, c->out + c->out_off, n, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			c->drop = true;
		return;
	}
	c->out_off += (size_t)w;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}

static void read_some(struct chan *c)
{
	char buf[CHAN_READ_CHUNK];
	ssize_t n = read(c->in_fd, buf, sizeof(buf));

	if (n > 0) {
		c->h->input(c->opaque, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (c->stdio) {
		c->in_fd = -1; /* EOF on stdin: keep the output side */
		return;
	}
	c->drop = true;
}

void chan_poll_handle(struct chan *c, const struct pollfd *fds)
{
	if (c->in_fd < 0 && c->out_fd < 0) {
		if (c->poll_in >= 0 && (fds[c->poll_in].revents & POLLIN))
			accept_client(c);
		return;
	}
	if (c->poll_out >= 0 && (fds[c->poll_out].revents & (POLLOUT | POLLERR | POLLHUP)))
		write_some(c);
	if (c->poll_in >= 0 && !c->drop &&
	    (fds[c->poll_in].revents & (POLLIN | POLLHUP | POLLERR)))
		read_some(c);
	if (c->drop)
		close_client(c);
}

void chan_write(struct chan *c, const void *buf, size_t len)
{
	if (c->out_fd < 0 || c->drop)
		return;
	if (c->out_off) { /* compact, so the cap bounds what is really pending */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (len > CHAN_OUT_CAP - c->out_len) {
		warn("%s: client does not read its replies; disconnecting it", c->cfg.spec);
		c->drop = true;
		return;
	}
	if (!c->out)
		c->out = xzalloc(CHAN_OUT_CAP);
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
}

void chan_flush(struct chan *c, int timeout_ms)
{
	struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };

	while (c->out_fd >= 0 && !c->drop && c->out_len > c->out_off) {
		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		write_some(c);
	}
}

void chan_close(struct chan *c)
{
	if (c->h)
		close_client(c);
	chan_unlisten(&c->cfg, c->listen_fd);
	c->listen_fd = -1;
	free(c->out);
	c->out = NULL;
}
