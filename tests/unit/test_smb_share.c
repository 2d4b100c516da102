// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * -netdev user,smb=DIR (src/net/smb_share.c): smbd's configuration, the
 * search for smbd, and the launcher's life: its private directory exists
 * (mode 0700) while it runs, a connection to its socket runs the smbd
 * program (here a stand-in script) on a TCP socket, and the directory is
 * gone once it is stopped, or once its owner dies without stopping it.
 */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smb_share.h"

static char *conf_text(const char *priv, const char *shared, const char *user)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	smb_conf_write(f, priv, shared, user);
	fclose(f);
	return buf;
}

static void expect_line(const char *text, const char *line)
{
	char *want = malloc(strlen(line) + 3);
	sprintf(want, "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("smb.conf lacks '%s':\n%s", line, text);
	free(want);
}

static void test_conf(void **state)
{
	char *t = conf_text("/tmp/vmm-smb.AbCdEf", "/srv/share dir", "alice");

	/* every file smbd writes is in the private directory */
	expect_line(t, "pid directory = /tmp/vmm-smb.AbCdEf");
	expect_line(t, "private dir = /tmp/vmm-smb.AbCdEf/private");
	expect_line(t, "smb passwd file = /tmp/vmm-smb.AbCdEf/private/smbpasswd");
	expect_line(t, "lock directory = /tmp/vmm-smb.AbCdEf/lock");
	expect_line(t, "state directory = /tmp/vmm-smb.AbCdEf/state");
	expect_line(t, "cache directory = /tmp/vmm-smb.AbCdEf/cache");
	expect_line(t, "ncalrpc dir = /tmp/vmm-smb.AbCdEf/ncalrpc");
	expect_line(t, "log file = /tmp/vmm-smb.AbCdEf/log/smbd.log");
	/* nothing listens, no printers, no user shares */
	expect_line(t, "bind interfaces only = yes");
	expect_line(t, "load printers = no");
	expect_line(t, "disable spoolss = yes");
	expect_line(t, "usershare max shares = 0");
	/* the share: QEMU's name, read-write, as the invoking user */
	expect_line(t, "[qemu]");
	expect_line(t, "path = /srv/share dir");
	expect_line(t, "read only = no");
	expect_line(t, "guest ok = yes");
	expect_line(t, "map to guest = Bad User");
	expect_line(t, "force user = alice");
	expect_line(t, "guest account = alice");
	/* [global] first, [qemu] once, and no home directories share */
	assert_true(strstr(t, "[global]") < strstr(t, "[qemu]"));
	assert_null(strstr(strstr(t, "[qemu]") + 1, "[qemu]"));
	assert_null(strstr(t, "[homes]"));
	free(t);
}

static void test_find_smbd(void **state)
{
	setenv("VMM_SMBD", "/nonexistent/smbd", 1);
	assert_null(smb_find_smbd());
	setenv("VMM_SMBD", "/bin/sh", 1);
	char *p = smb_find_smbd();
	assert_string_equal(p, "/bin/sh");
	free(p);
	unsetenv("VMM_SMBD");
	/* PATH without smbd, and no smbd in the sbin directories either:
	 * only checkable where samba is not installed */
	if (access("/usr/sbin/smbd", X_OK) != 0 && access("/usr/local/sbin/smbd", X_OK) != 0) {
		char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
		setenv("PATH", "/nonexistent", 1);
		assert_null(smb_find_smbd());
		if (old)
			setenv("PATH", old, 1);
		free(old);
	}
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool wait_gone(const char *p, int ms)
{
	for (int i = 0; i < ms / 10 && access(p, F_OK) == 0; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return access(p, F_OK) != 0;
}

/* The stand-in smbd: writes its arguments and whether stdin is a TCP
 * socket (smbd needs its client's address) into $VMM_TEST_SMB_MARK. */
static char script[64], mark[64];

static void make_stand_in(void)
{
	snprintf(script, sizeof(script), "/tmp/vmm-smb-test-%d.sh", getpid());
	snprintf(mark, sizeof(mark), "/tmp/vmm-smb-test-%d.mark", getpid());
	FILE *f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n"
		   "{ echo \"$@\"; readlink /proc/self/fd/0; } > \"$VMM_TEST_SMB_MARK.tmp\"\n"
		   "mv \"$VMM_TEST_SMB_MARK.tmp\" \"$VMM_TEST_SMB_MARK\"\n"
		   "echo smb-stand-in\n");
	fclose(f);
	chmod(script, 0700);
	unlink(mark);
	setenv("VMM_SMBD", script, 1);
	setenv("VMM_TEST_SMB_MARK", mark, 1);
}

static char *read_all(const char *p)
{
	static char buf[1024];
	FILE *f = fopen(p, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_launcher_runs_smbd_and_cleans_up(void **state)
{
	struct smb_share s;
	char err[256];

	make_stand_in();
	assert_int_equal(smb_share_start(&s, "/tmp", err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(s.dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	char conf[128];
	snprintf(conf, sizeof(conf), "%s/smb.conf", s.dir);
	assert_int_equal(access(conf, R_OK), 0);

	/* a connection, as slirp makes it: smbd runs and answers on it */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s.sock);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char reply[64] = "";
	ssize_t got = 0, n;
	while ((n = read(c, reply + got, sizeof(reply) - 1 - (size_t)got)) > 0)
		got += n;
	close(c);
	assert_string_equal(reply, "smb-stand-in\n");
	char *m = read_all(mark);
	assert_non_null(m);
	char want[256];
	snprintf(want, sizeof(want), "-l %s/log -s %s/smb.conf\nsocket:[", s.dir, s.dir);
	if (strncmp(m, want, strlen(want)))
		fail_msg("smbd ran as '%s', expected '%s'", m, want);

	char dir[sizeof(s.dir)];
	snprintf(dir, sizeof(dir), "%s", s.dir);
	smb_share_stop(&s);
	assert_false(is_dir(dir)); /* stop waits for the clean-up */
	unlink(mark);
	unlink(script);
}

/* vmm killed outright (SIGKILL): the launcher still removes the directory. */
static void test_cleanup_when_owner_dies(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	make_stand_in();
	pid_t owner = fork();
	if (owner == 0) {
		struct smb_share s;
		char err[256];
		if (smb_share_start(&s, "/tmp", err, sizeof(err)) < 0)
			_exit(1);
		if (write(p[1], s.dir, sizeof(s.dir)) != sizeof(s.dir))
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	char dir[sizeof(((struct smb_share *)0)->dir)] = "";
	assert_int_equal(read(p[0], dir, sizeof(dir)), sizeof(dir));
	close(p[0]);
	assert_true(is_dir(dir));
	kill(owner, SIGKILL);
	waitpid(owner, NULL, 0);
	assert_true(wait_gone(dir, 5000));
	unlink(script);
}

static void test_bad_input(void **state)
{
	struct smb_share s;
	char err[256];

	make_stand_in();
	assert_int_equal(smb_share_start(&s, "/nonexistent/share", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(smb_share_start(&s, "/dev/null", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
	char nl[] = "/tmp/vmm-smb-test-XXXXXX\npath = /etc";
	assert_int_equal(smb_share_start(&s, nl, err, sizeof(err)), -1); /* before any stat */
	assert_non_null(strstr(err, "line break"));
	setenv("VMM_SMBD", "/nonexistent/smbd", 1);
	assert_int_equal(smb_share_start(&s, "/tmp", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "could not find 'smbd'"));
	smb_share_stop(&s); /* nothing started: nothing to do */
	unlink(script);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_find_smbd),
		cmocka_unit_test(test_launcher_runs_smbd_and_cleans_up),
		cmocka_unit_test(test_cleanup_when_owner_dies),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
