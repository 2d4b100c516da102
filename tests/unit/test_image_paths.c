// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Files named inside images (issue 12, hole 4): a vmdk descriptor's extents
 * and a qcow2 backing file. An image whose format was probed may only name
 * files in its own directory or beneath it; an absolute name, a ".." or a
 * symbolic link leading out is refused, as is anything such an image names
 * further down the chain. With the format given, names are the user's.
 *
 * Layout: ROOT/img holds the images, ROOT/outside/secret is the host file a
 * hostile image reaches for.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "qcow2.h"

#define SECRET "top secret host data, do not hand to the guest\n"
#define SECRET_SECTORS 1

static char root[64];

static char *at(const char *rel)
{
	static char buf[8][320];
	static unsigned i;
	char *p = buf[i++ & 7];
	snprintf(p, 320, "%s/%s", root, rel);
	return p;
}

static void put(const char *rel, const void *data, size_t len)
{
	int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void put_str(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

/* A monolithicFlat-style descriptor with one extent line. */
static void descriptor(const char *rel, const char *access, const char *extent)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
		 "createType=\"monolithicFlat\"\n\n%s %d FLAT \"%s\" 0\n\n"
		 "ddb.virtualHWVersion = \"4\"\n",
		 access, SECRET_SECTORS, extent);
	put_str(rel, text);
}

static int setup(void **state)
{
	char secret[512] = SECRET;
	strcpy(root, "/tmp/vmm-paths-XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_int_equal(mkdir(at("img"), 0755), 0);
	assert_int_equal(mkdir(at("img/data"), 0755), 0);
	assert_int_equal(mkdir(at("outside"), 0755), 0);
	put("outside/secret", secret, sizeof(secret));
	put("img/data/inside", secret, sizeof(secret));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void secret_untouched(void)
{
	char buf[512] = { 0 };
	int fd = open(at("outside/secret"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 512);
	close(fd);
	assert_memory_equal(buf, SECRET, strlen(SECRET));
}

/* Opening 'rel' with 'fmt' fails with 'needle' in the reason. */
static void refused(const char *rel, const char *fmt, bool ro, const char *needle)
{
	char err[512] = "";
	struct block_dev *bd = block_open(at(rel), fmt, ro, NULL, err, sizeof(err));
	if (bd) {
		block_close(bd);
		fail_msg("%s opened: its named file escapes the image's directory", rel);
	}
	if (!strstr(err, needle))
		fail_msg("%s: '%s' lacks '%s'", rel, err, needle);
}

/* Opening 'rel' with 'fmt' works and reads the secret's bytes. */
static void opens_and_reads(const char *rel, const char *fmt)
{
	char err[512] = "", buf[512];
	struct block_dev *bd = block_open(at(rel), fmt, true, NULL, err, sizeof(err));
	if (!bd)
		fail_msg("%s: %s", rel, err);
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 0), 0);
	assert_memory_equal(buf, SECRET, strlen(SECRET));
	block_close(bd);
}

static void test_probed_vmdk_absolute_extent(void **state)
{
	descriptor("img/evil.vmdk", "RW", at("outside/secret"));
	/* Read-write, as a guest disk: the RW extent would be the host file. */
	refused("img/evil.vmdk", NULL, false, "outside the directory");
	refused("img/evil.vmdk", NULL, true, "outside the directory");
	secret_untouched();
	/* The user who names the format vouches for the names inside. */
	opens_and_reads("img/evil.vmdk", "vmdk");
}

static void test_probed_vmdk_dotdot_and_symlink(void **state)
{
	descriptor("img/up.vmdk", "RW", "../outside/secret");
	refused("img/up.vmdk", NULL, false, "outside the directory");
	/* ".." that stays inside is still inside. */
	descriptor("img/back.vmdk", "RDONLY", "data/../data/inside");
	opens_and_reads("img/back.vmdk", NULL);
	/* Beneath the image's own directory, not its parent's. */
	descriptor("img/data/sub.vmdk", "RDONLY", "../data/inside");
	refused("img/data/sub.vmdk", NULL, true, "outside the directory");
	/* A symbolic link in the image's directory that leads out (as a
	 * downloaded archive may carry). */
	assert_int_equal(symlink(at("outside/secret"), at("img/link-flat.vmdk")), 0);
	descriptor("img/linked.vmdk", "RW", "link-flat.vmdk");
	refused("img/linked.vmdk", NULL, false, "outside the directory");
	/* A directory on the way that is a link out. */
	assert_int_equal(symlink(at("outside"), at("img/out")), 0);
	descriptor("img/viadir.vmdk", "RDONLY", "out/secret");
	refused("img/viadir.vmdk", NULL, true, "outside the directory");
	secret_untouched();
	/* In the directory or beneath it is fine. */
	descriptor("img/ok.vmdk", "RDONLY", "data/inside");
	opens_and_reads("img/ok.vmdk", NULL);
}

static void make_qcow2(const char *rel, const char *backing, const char *bfmt)
{
	char err[256];
	struct qcow2_create_opts o = { .size = 1 << 20, .backing_file = backing,
				       .backing_fmt = bfmt };
	if (qcow2_create(at(rel), &o, err, sizeof(err)) < 0)
		fail_msg("create %s: %s", rel, err);
}

static void test_probed_qcow2_backing(void **state)
{
	make_qcow2("img/abs.qcow2", at("outside/secret"), "raw");
	refused("img/abs.qcow2", NULL, false, "outside the directory");
	make_qcow2("img/up.qcow2", "../outside/secret", NULL);
	refused("img/up.qcow2", NULL, true, "outside the directory");
	secret_untouched();
	/* Given the format, the backing file may be anywhere (QEMU's rule). */
	opens_and_reads("img/abs.qcow2", "qcow2");
	opens_and_reads("img/up.qcow2", "qcow2");
	/* An overlay beside its backing file works probed. */
	make_qcow2("img/near.qcow2", "data/inside", "raw");
	opens_and_reads("img/near.qcow2", NULL);
}

/* A trusted overlay (format given) whose backing format is not recorded:
 * the backing file is probed, so what IT names is confined. A probed
 * chain stays untrusted all the way down, recorded formats or not. */
static void test_untrusted_down_the_chain(void **state)
{
	descriptor("img/mid.vmdk", "RW", at("outside/secret"));
	make_qcow2("img/top-nofmt.qcow2", "mid.vmdk", NULL);
	refused("img/top-nofmt.qcow2", "qcow2", true, "outside the directory");
	/* Recorded by a trusted overlay: the user's chain. */
	make_qcow2("img/top-fmt.qcow2", "mid.vmdk", "vmdk");
	opens_and_reads("img/top-fmt.qcow2", "qcow2");
	/* ...but not when the top itself was probed. */
	refused("img/top-fmt.qcow2", NULL, true, "outside the directory");
	/* Two qcow2 levels: the lower one's absolute backing is refused. */
	make_qcow2("img/low.qcow2", at("outside/secret"), "raw");
	make_qcow2("img/high.qcow2", "low.qcow2", "qcow2");
	refused("img/high.qcow2", NULL, true, "outside the directory");
	opens_and_reads("img/high.qcow2", "qcow2");
}

/* -snapshot of a probed image: the scratch overlay in $TMPDIR records the
 * probed format, which must not turn the image into a trusted one. */
static void test_snapshot_of_probed_image(void **state)
{
	char err[512] = "";
	descriptor("img/snap-evil.vmdk", "RW", at("outside/secret"));
	struct block_dev *bd = block_open_snapshot(at("img/snap-evil.vmdk"), NULL, err,
						   sizeof(err));
	assert_null(bd);
	assert_non_null(strstr(err, "outside the directory"));
	descriptor("img/snap-ok.vmdk", "RW", "data/inside");
	bd = block_open_snapshot(at("img/snap-ok.vmdk"), NULL, err, sizeof(err));
	if (!bd)
		fail_msg("snapshot: %s", err);
	char buf[512];
	assert_int_equal(block_pread(bd, buf, sizeof(buf), 0), 0);
	assert_memory_equal(buf, SECRET, strlen(SECRET));
	block_close(bd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probed_vmdk_absolute_extent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probed_vmdk_dotdot_and_symlink, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_probed_qcow2_backing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_down_the_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_of_probed_image, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
