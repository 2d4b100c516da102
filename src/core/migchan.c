// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Migration channels (include/migchan.h): a URI to one file descriptor.
 */
#include "migchan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"
#include "util.h"

extern char **environ;

static int parse_tcp(const char *s, struct mig_uri *u, char *err, size_t errlen)
{
	const char *colon;
	size_t hlen;

	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return set_err(err, errlen, "migration: tcp:[ADDR]:PORT expected, got 'tcp:%s'", s);
		hlen = (size_t)(end - s - 1);
		s++;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return set_err(err, errlen, "migration: tcp:HOST:PORT expected, got 'tcp:%s'", s);
		hlen = (size_t)(colon - s);
	}
	if (hlen >= sizeof(u->arg))
		return set_err(err, errlen, "migration: host name too long");
	memcpy(u->arg, s, hlen);
	u->arg[hlen] = '\0';
	uint64_t port;
	const char *end = scan_uint(colon + 1, 10, &port);
	if (!end || *end || port == 0 || port > 65535)
		return set_err(err, errlen, "migration: bad port '%s'", colon + 1);
	u->port = (uint16_t)port;
	return 0;
}

int mig_uri_parse(const char *uri, struct mig_uri *u, char *err, size_t errlen)
{
	static const struct { const char *prefix; enum mig_uri_kind kind; } kinds[] = {
		{ "exec:", MIG_URI_EXEC }, { "file:", MIG_URI_FILE },
		{ "unix:", MIG_URI_UNIX }, { "tcp:", MIG_URI_TCP },
	};

	memset(u, 0, sizeof(*u));
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		size_t n = strlen(kinds[i].prefix);
		if (strncmp(uri, kinds[i].prefix, n))
			continue;
		const char *rest = uri + n;
		u->kind = kinds[i].kind;
		if (!*rest)
			return set_err(err, errlen, "migration: '%s' names nothing", uri);
		if (u->kind == MIG_URI_TCP)
			return parse_tcp(rest, u, err, errlen);
		if (strlen(rest) >= sizeof(u->arg) ||
		    (u->kind == MIG_URI_UNIX && strlen(rest) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
			return set_err(err, errlen, "migration: '%.40s...' is too long", uri);
		strcpy(u->arg, rest);
		return 0;
	}
	return set_err(err, errlen, "migration: unknown URI '%.200s' (exec:, file:, unix:, tcp: "
		       "are supported)", uri);
}

/* ---- sockets ------------------------------------------------------------ */

union mig_addr {
	struct sockaddr sa;
	struct sockaddr_un un;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* The socket address of a URI; numeric hosts only (see migchan.h). */
static int uri_addr(const struct mig_uri *u, union mig_addr *a, socklen_t *len, char *err,
		    size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (u->kind == MIG_URI_UNIX) {
		a->un.sun_family = AF_UNIX;
		strcpy(a->un.sun_path, u->arg); /* length checked by the parser */
		*len = sizeof(a->un);
		return 0;
	}
	const char *host = u->arg;
	if (!*host || !strcmp(host, "localhost"))
		host = *host ? "127.0.0.1" : "0.0.0.0";
	if (inet_pton(AF_INET, host, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons(u->port);
		*len = sizeof(a->in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons(u->port);
		*len = sizeof(a->in6);
		return 0;
	}
	return set_err(err, errlen, "migration: tcp: '%s' is not a numeric address (names are "
		       "not resolved; use the IP address or localhost)", u->arg);
}

static int connect_socket(const struct mig_uri *u, char *err, size_t errlen)
{
	union mig_addr a;
	socklen_t len;

	if (uri_addr(u, &a, &len, err, errlen) < 0)
		return -1;
	int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return set_err(err, errlen, "migration: socket: %s", strerror(errno));
	if (connect(fd, &a.sa, len) < 0) {
		int e = errno;
		close(fd);
		return set_err(err, errlen, "migration: cannot connect to %s%s: %s",
			       u->kind == MIG_URI_UNIX ? "unix:" : "tcp:", u->arg, strerror(e));
	}
	return fd;
}

/* A Unix socket left by a process that is gone may be replaced; any
 * other file at the path is refused. */
static int clear_unix_path(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return set_err(err, errlen, "migration: unix:%s exists and is not a socket", path);
	unlink(path);
	return 0;
}

static int listen_socket(const struct mig_uri *u, struct mig_chan *c, char *err, size_t errlen)
{
	union mig_addr a;
	socklen_t len;
	int one = 1;

	if (uri_addr(u, &a, &len, err, errlen) < 0)
		return -1;
	if (u->kind == MIG_URI_UNIX && clear_unix_path(u->arg, err, errlen) < 0)
		return -1;
	int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return set_err(err, errlen, "migration: socket: %s", strerror(errno));
	if (u->kind == MIG_URI_TCP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &a.sa, len) < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return set_err(err, errlen, "migration: cannot listen on %s%s%s%u: %s",
			       u->kind == MIG_URI_UNIX ? "unix:" : "tcp:", u->arg,
			       u->kind == MIG_URI_UNIX ? "" : ":",
			       u->kind == MIG_URI_UNIX ? 0 : u->port, strerror(e));
	}
	if (u->kind == MIG_URI_UNIX)
		snprintf(c->unix_path, sizeof(c->unix_path), "%s", u->arg);
	c->listening = true;
	return fd;
}

/* ---- exec: -------------------------------------------------------------- */

/* /bin/sh -c CMD with one end of a pipe as its stdin (out) or stdout (in).
 * vfork and execve, not posix_spawn: glibc's posix_spawn child resets
 * every signal handler, SIGSYS's too, which the sandbox forbids; the
 * vfork child only moves its descriptor, unblocks the signals vmm blocks
 * for its signalfd and runs the shell. */
static int spawn_command(const char *cmd, bool out, struct mig_chan *c, char *err,
			 size_t errlen)
{
	int p[2];

	/* -sandbox on,spawn=allow: a command forked here would inherit the
	 * thread's filter; the launcher's have none */
	if (launcher_running()) {
		char why[200];
		int fd = launcher_spawn(cmd, out, &c->child, why, sizeof(why));
		if (fd < 0)
			return set_err(err, errlen, "migration: %s", why);
		c->launched = true;
		return fd;
	}
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	sigset_t none;

	if (pipe2(p, O_CLOEXEC) < 0)
		return set_err(err, errlen, "migration: pipe: %s", strerror(errno));
	int theirs = out ? p[0] : p[1], ours = out ? p[1] : p[0], target = out ? 0 : 1;
	sigemptyset(&none);
	pid_t pid = vfork();
	if (pid == 0) {
		if (dup2(theirs, target) == target) {
			sigprocmask(SIG_SETMASK, &none, NULL);
			execve("/bin/sh", argv, environ);
		}
		_exit(127);
	}
	int e = errno;
	close(theirs);
	if (pid < 0) {
		close(ours);
		return set_err(err, errlen, "migration: cannot run /bin/sh: %s", strerror(e));
	}
	c->child = pid;
	return ours;
}

/* ---- both directions ---------------------------------------------------- */

int mig_open_out(const struct mig_uri *u, struct mig_chan *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->abort_fd = -1;
	switch (u->kind) {
	case MIG_URI_FILE:
		c->fd = open(u->arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (c->fd < 0)
			return set_err(err, errlen, "migration: cannot create %s: %s", u->arg,
				       strerror(errno));
		return 0;
	case MIG_URI_EXEC:
		c->fd = spawn_command(u->arg, true, c, err, errlen);
		return c->fd < 0 ? -1 : 0;
	case MIG_URI_UNIX:
	case MIG_URI_TCP:
		c->fd = connect_socket(u, err, errlen);
		return c->fd < 0 ? -1 : 0;
	}
	return set_err(err, errlen, "migration: bad URI kind");
}

int mig_open_in(const struct mig_uri *u, struct mig_chan *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->abort_fd = -1;
	switch (u->kind) {
	case MIG_URI_FILE:
		c->fd = open(u->arg, O_RDONLY | O_CLOEXEC);
		if (c->fd < 0)
			return set_err(err, errlen, "migration: cannot open %s: %s", u->arg,
				       strerror(errno));
		return 0;
	case MIG_URI_EXEC:
		c->fd = spawn_command(u->arg, false, c, err, errlen);
		return c->fd < 0 ? -1 : 0;
	case MIG_URI_UNIX:
	case MIG_URI_TCP:
		c->fd = listen_socket(u, c, err, errlen);
		return c->fd < 0 ? -1 : 0;
	}
	return set_err(err, errlen, "migration: bad URI kind");
}

int mig_accept(struct mig_chan *c, char *err, size_t errlen)
{
	int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return set_err(err, errlen, "migration: accept: %s", strerror(errno));
	/* One source per -incoming: nobody else may connect now. */
	close(c->fd);
	c->fd = fd;
	c->listening = false;
	if (c->unix_path[0]) {
		unlink(c->unix_path);
		c->unix_path[0] = '\0';
	}
	return 0;
}

int mig_close(struct mig_chan *c, char *err, size_t errlen)
{
	int ret = 0, status;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->unix_path[0])
		unlink(c->unix_path);
	c->unix_path[0] = '\0';
	if (c->child > 0) {
		pid_t got;
		if (c->launched)
			got = launcher_wait(c->child, &status) < 0 ? -1 : c->child;
		else
			while ((got = waitpid(c->child, &status, 0)) < 0 && errno == EINTR)
				;
		if (got < 0)
			ret = set_err(err, errlen, "migration: the exec: command is lost: %s",
				      strerror(errno));
		else if (!WIFEXITED(status) || WEXITSTATUS(status))
			ret = set_err(err, errlen, "migration: the exec: command failed (%s %d)",
				      WIFEXITED(status) ? "exit status" : "signal",
				      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		c->child = 0;
		c->launched = false;
	}
	return ret;
}

void mig_close_nowait(struct mig_chan *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->unix_path[0])
		unlink(c->unix_path);
	c->unix_path[0] = '\0';
	if (c->child > 0 && c->launched)
		launcher_forget(c->child);
	else if (c->child > 0)
		waitpid(c->child, NULL, WNOHANG);
	c->child = 0;
	c->launched = false;
}

int mig_chan_write(void *chan, const void *buf, size_t len)
{
	struct mig_chan *c = chan;
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(c->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Waits until the channel has data (or its end), or abort_fd is readable
 * (false: interrupted). */
static bool wait_readable(struct mig_chan *c)
{
	struct pollfd fds[2] = { { c->fd, POLLIN, 0 }, { c->abort_fd, POLLIN, 0 } };

	if (c->abort_fd < 0)
		return true;
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return true; /* let read() report it */
		}
		if (fds[1].revents) {
			c->interrupted = true;
			return false;
		}
		if (fds[0].revents)
			return true;
	}
}

int mig_chan_read(void *chan, void *buf, size_t len)
{
	struct mig_chan *c = chan;
	uint8_t *p = buf;

	while (len) {
		if (!wait_readable(c))
			return -1;
		ssize_t n = read(c->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
