// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * -netdev user,smb=DIR: a private smbd configuration and the launcher
 * process that runs one smbd per guest connection. The design (and why it
 * keeps the sandbox's guarantees) is in include/smb_share.h.
 */
#include "smb_share.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <ftw.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* smbd's own directories under the private one */
/* a malloc'ed "a/b" */
static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = xzalloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static const char *const subdirs[] = { "private", "lock", "state", "cache", "ncalrpc", "log" };

void smb_conf_write(FILE *f, const char *priv, const char *shared, const char *user)
{
	fprintf(f, "# written by vmm for -netdev user,smb=; removed when vmm ends\n"
		   "[global]\n");
	/* every file smbd keeps, in the private directory */
	fprintf(f, "pid directory = %s\n", priv);
	fprintf(f, "private dir = %s/private\n", priv);
	fprintf(f, "smb passwd file = %s/private/smbpasswd\n", priv);
	fprintf(f, "lock directory = %s/lock\n", priv);
	fprintf(f, "state directory = %s/state\n", priv);
	fprintf(f, "cache directory = %s/cache\n", priv);
	fprintf(f, "ncalrpc dir = %s/ncalrpc\n", priv);
	fprintf(f, "log file = %s/log/smbd.log\n", priv);
	/* smbd only ever talks over the socket it is given (inetd mode):
	 * it listens on nothing, it loads no printers, it shares no home
	 * directories and takes no user shares */
	fprintf(f, "interfaces = 127.0.0.1\n"
		   "bind interfaces only = yes\n"
		   "load printers = no\n"
		   "printing = bsd\n"
		   "disable spoolss = yes\n"
		   "usershare max shares = 0\n"
		   /* the guest logs in as anyone (or no one) and is the
		    * guest account, which the share maps to 'user' */
		   "security = user\n"
		   "map to guest = Bad User\n");
	fprintf(f, "guest account = %s\n", user);
	fprintf(f, "\n[qemu]\n"
		   "path = %s\n"
		   "read only = no\n"
		   "guest ok = yes\n"
		   "force user = %s\n",
		shared, user);
}

char *smb_find_smbd(void)
{
	const char *env = getenv("VMM_SMBD");
	if (env && *env)
		return access(env, X_OK) == 0 ? xstrdup(env) : NULL;

	const char *path = getenv("PATH");
	const char *search = path ? path : "/usr/bin:/bin";
	size_t n = strlen(search) + 32;
	char *dirs = xzalloc(n);
	snprintf(dirs, n, "%s:/usr/sbin:/usr/local/sbin", search); /* smbd is in sbin */
	char *save = NULL, *found = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p = path_join(*d ? d : ".", "smbd");
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(dirs);
	return found;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return 0; /* keep going: remove what can be removed */
	return 0;
}

static void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The directory, its subdirectories and smb.conf. */
static int make_private_dir(struct smb_share *s, const char *shared, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	char templ[sizeof(s->dir)];

	/* the socket's path must fit a sun_path */
	if (!tmp || !*tmp || strlen(tmp) + sizeof("/vmm-smb.XXXXXX/smbd.sock") > sizeof(s->sock))
		tmp = "/tmp";
	snprintf(templ, sizeof(templ), "%s/vmm-smb.XXXXXX", tmp);
	if (!mkdtemp(templ)) { /* mode 0700 */
		snprintf(err, errlen, "smb=: cannot make a private directory in %s: %s", tmp,
			 strerror(errno));
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", templ);
	snprintf(s->sock, sizeof(s->sock), "%s/smbd.sock", s->dir);
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		char *p = path_join(s->dir, subdirs[i]);
		int r = mkdir(p, 0700);
		free(p);
		if (r < 0)
			goto fail;
	}
	struct passwd *pw = getpwuid(getuid());
	if (!pw) {
		snprintf(err, errlen, "smb=: user %u has no name (smbd's force user)", getuid());
		remove_tree(s->dir);
		return -1;
	}
	char *conf = path_join(s->dir, "smb.conf");
	FILE *f = fopen(conf, "wx");
	free(conf);
	if (!f)
		goto fail;
	smb_conf_write(f, s->dir, shared, pw->pw_name);
	if (fclose(f) != 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "smb=: cannot set up %s: %s", s->dir, strerror(errno));
	remove_tree(s->dir);
	return -1;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* smbd in inetd mode, on 'sock' as its stdin and stdout. */
static _Noreturn void exec_smbd(int sock, const char *smbd, const char *dir)
{
	char logbase[sizeof(((struct smb_share *)0)->dir) + 8], conf[sizeof(logbase) + 8];
	char *argv[] = { (char *)smbd, "-l", logbase, "-s", conf, NULL };

	snprintf(logbase, sizeof(logbase), "%s/log", dir);
	snprintf(conf, sizeof(conf), "%s/smb.conf", dir);
	if (dup2(sock, 0) < 0 || dup2(sock, 1) < 0)
		_exit(127);
	close(sock);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	execv(smbd, argv);
	_exit(127);
}

/* A connected pair of loopback TCP sockets. smbd asks its client's
 * address (it fails on a unix socket: "get_remote_hostname failed"), so
 * it gets a TCP socket, as libslirp's own exec forwarding gives. The
 * accepted end is checked to be our own connection, not another local
 * process's that raced to the ephemeral port. 0 or -1. */
static int tcp_pair(int pair[2])
{
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in mine, peer;
	socklen_t len = sizeof(la);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, a = -1;

	if (l < 0 || bind(l, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&la, &len) < 0)
		goto fail;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&la, sizeof(la)) < 0)
		goto fail;
	len = sizeof(mine);
	if (getsockname(c, (struct sockaddr *)&mine, &len) < 0)
		goto fail;
	for (int tries = 0; tries < 4; tries++) {
		len = sizeof(peer);
		a = accept4(l, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
		if (a < 0)
			goto fail;
		if (peer.sin_port == mine.sin_port && peer.sin_addr.s_addr == mine.sin_addr.s_addr)
			break;
		close(a); /* someone else's */
		a = -1;
	}
	if (a < 0)
		goto fail;
	close(l);
	pair[0] = a;
	pair[1] = c;
	return 0;
fail:
	if (l >= 0)
		close(l);
	if (c >= 0)
		close(c);
	return -1;
}

/* Copies what one side has to the other; false at its end of file or an
 * error (then the other side gets the end of file). */
static bool relay_once(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n <= 0)
		return false;
	for (ssize_t done = 0; done < n;) {
		ssize_t w = write(to, buf + done, (size_t)(n - done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		done += w;
	}
	return true;
}

/* One guest connection (the unix socket slirp connected): an smbd on a
 * TCP pair, and the copying between the two until both ends close. */
static _Noreturn void serve_connection(int conn, const char *smbd, const char *dir)
{
	int pair[2];

	if (tcp_pair(pair) < 0)
		_exit(1);
	pid_t pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid == 0) {
		close(conn);
		close(pair[1]);
		exec_smbd(pair[0], smbd, dir);
	}
	close(pair[0]);
	int fds[2] = { conn, pair[1] };
	bool open_[2] = { true, true };
	while (open_[0] || open_[1]) {
		struct pollfd p[2] = { { .fd = open_[0] ? fds[0] : -1, .events = POLLIN },
				       { .fd = open_[1] ? fds[1] : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (!open_[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!relay_once(fds[i], fds[!i])) {
				open_[i] = false;
				shutdown(fds[!i], SHUT_WR);
			}
		}
	}
	close(conn);
	close(pair[1]);
	waitpid(pid, NULL, 0);
	_exit(0);
}

enum { LAUNCH_LISTEN_FD = 1000, LAUNCH_KEEP_FD = 1001 };
/* guest connections served at once (a Windows guest opens a few) */
#define SMB_MAX_CONNECTIONS 64

/* Forgets the connections that ended; true while some are left. */
static bool reap(pid_t *conns)
{
	pid_t pid;
	bool left = false;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		for (unsigned i = 0; i < SMB_MAX_CONNECTIONS; i++)
			if (conns[i] == pid)
				conns[i] = 0;
	for (unsigned i = 0; i < SMB_MAX_CONNECTIONS; i++)
		left |= conns[i] != 0;
	return left;
}

/* Each connection is a process group: the relay and its smbd. */
static void end_connections(const pid_t *conns, int sig)
{
	for (unsigned i = 0; i < SMB_MAX_CONNECTIONS; i++)
		if (conns[i])
			kill(-conns[i], sig);
}

/* The launcher: accepts until vmm's end of the pipe closes, then ends its
 * smbd processes and removes the directory. Never returns. */
static _Noreturn void launcher(int lfd, int keep, const char *smbd, const char *dir)
{
	sigset_t none;
	pid_t conns[SMB_MAX_CONNECTIONS] = { 0 };

	/* a terminal's Ctrl-C reaches vmm, which ends cleanly; the launcher
	 * follows the pipe, not signals */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* vmm blocks its exit signals */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (dup2(lfd, LAUNCH_LISTEN_FD) < 0 || dup2(keep, LAUNCH_KEEP_FD) < 0)
		_exit(1);
	/* nothing of vmm's (KVM, images, sockets) reaches smbd */
	close_range(3, LAUNCH_LISTEN_FD - 1, 0);
	close_range(LAUNCH_KEEP_FD + 1, ~0u, 0);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		if (null > 2)
			close(null);
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = LAUNCH_LISTEN_FD, .events = POLLIN },
				       { .fd = LAUNCH_KEEP_FD, .events = POLLIN } };
		int r = poll(p, 2, 1000);
		reap(conns);
		if (r < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break; /* vmm is gone */
		if (!(p[0].revents & POLLIN))
			continue;
		int conn = accept4(LAUNCH_LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		unsigned slot = 0;
		while (slot < SMB_MAX_CONNECTIONS && conns[slot])
			slot++;
		if (slot == SMB_MAX_CONNECTIONS) {
			close(conn); /* the guest sees the connection reset */
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			/* a group of its own, with its smbd: ended as one */
			setpgid(0, 0);
			close(LAUNCH_LISTEN_FD);
			close(LAUNCH_KEEP_FD);
			serve_connection(conn, smbd, dir);
		}
		if (pid > 0) {
			setpgid(pid, pid); /* also here: no race with the kill below */
			conns[slot] = pid;
		}
		close(conn);
	}
	/* its smbd processes, then the directory they kept their files in */
	end_connections(conns, SIGTERM);
	for (int i = 0; i < 40 && reap(conns); i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	end_connections(conns, SIGKILL);
	remove_tree(dir);
	_exit(0);
}

int smb_share_start(struct smb_share *s, const char *shared, char *err, size_t errlen)
{
	struct stat st;
	int pipefd[2];

	memset(s, 0, sizeof(*s));
	s->keepalive_fd = -1;
	/* smb.conf is line-based: a line break would end the path line */
	if (strpbrk(shared, "\n\r")) {
		snprintf(err, errlen, "smb=: the directory's name has a line break");
		return -1;
	}
	if (stat(shared, &st) < 0) {
		snprintf(err, errlen, "smb=%s: %s", shared, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "smb=%s: not a directory", shared);
		return -1;
	}
	char *smbd = smb_find_smbd();
	if (!smbd) {
		snprintf(err, errlen, "smb=: could not find 'smbd', please install it "
				      "(Debian: apt-get install samba)");
		return -1;
	}
	if (make_private_dir(s, shared, err, errlen) < 0) {
		free(smbd);
		return -1;
	}
	int lfd = listen_unix(s->sock);
	if (lfd < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "smb=: cannot listen on %s: %s", s->sock, strerror(errno));
		goto fail;
	}
	/* flush stdio first: the child must not write vmm's buffers again */
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "smb=: fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		goto fail;
	}
	if (pid == 0) {
		close(pipefd[1]);
		launcher(lfd, pipefd[0], smbd, s->dir);
	}
	close(pipefd[0]);
	close(lfd);
	free(smbd);
	s->launcher = pid;
	s->keepalive_fd = pipefd[1];
	return 0;
fail:
	if (lfd >= 0)
		close(lfd);
	free(smbd);
	remove_tree(s->dir);
	s->dir[0] = 0;
	return -1;
}

void smb_share_stop(struct smb_share *s)
{
	if (s->launcher <= 0)
		return; /* none started (a zeroed struct too) */
	close(s->keepalive_fd);
	s->keepalive_fd = -1;
	/* it removes the directory (-daemonize forks before the machine is
	 * made, so the launcher is this process's child either way) */
	waitpid(s->launcher, NULL, 0);
	s->launcher = 0;
}
