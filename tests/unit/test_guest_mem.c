// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest RAM's backends (issues 19 and 21): the command line that picks one
 * (-object memory-backend-ram|file|memfd, -machine memory-backend=,
 * -mem-path, -mem-prealloc, -machine mem-merge=, -overcommit) and
 * guest_mem_init_backend, which maps it: a shared file sees what is
 * written into guest RAM, a directory gets an unlinked file, a memfd is
 * shared, a size that does not fit is one line, prealloc populates.
 */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "guest_mem.h"
#include "machine.h"
#include "util.h"

static char err[600];

static enum cli_result parse(struct machine_config *cfg, const char *const *args)
{
	char *argv[32] = { "vmm" };
	int argc = 1;
	while (*args)
		argv[argc++] = (char *)*args++;
	return cli_parse(argc, argv, cfg, err, sizeof(err));
}

/* Parses a command line that must fail, with exactly 'msg'. */
static void parse_fails(const char *const *args, const char *msg)
{
	struct machine_config cfg;

	assert_int_equal(parse(&cfg, args), CLI_ERROR);
	assert_string_equal(err, msg);
	cli_config_free(&cfg);
}

/* ---- the command line ---------------------------------------------------- */

static void test_default_ram(void **state)
{
	struct machine_config cfg;
	static const char *const none[] = { "-m", "256", NULL };

	assert_int_equal(parse(&cfg, none), CLI_RUN);
	assert_int_equal(cfg.ram.kind, RAM_BACKEND_RAM);
	assert_null(cfg.ram.id);
	assert_int_equal(cfg.ram.size, 256 * MiB);
	assert_false(cfg.ram.share);
	assert_false(cfg.ram.prealloc);
	assert_true(cfg.ram.merge); /* QEMU's mem-merge default */
	assert_true(cfg.ram.dump);
	assert_false(cfg.ram.reserve); /* vmm's lazy mapping */
	assert_false(cfg.mem_lock);
	cli_config_free(&cfg);
}

static void test_backend_by_id(void **state)
{
	struct machine_config cfg;
	/* -m left out: the backend's size is the machine's */
	static const char *const file[] = {
		"-object", "memory-backend-file,id=mem0,size=64M,mem-path=/dev/shm,share=on,"
		"prealloc=on,discard-data=on,merge=off,dump=off,prealloc-threads=3",
		"-machine", "pc,memory-backend=mem0", NULL,
	};
	assert_int_equal(parse(&cfg, file), CLI_RUN);
	assert_int_equal(cfg.ram_size, 64 * MiB);
	assert_int_equal(cfg.ram.kind, RAM_BACKEND_FILE);
	assert_string_equal(cfg.ram.id, "mem0");
	assert_string_equal(cfg.ram.mem_path, "/dev/shm");
	assert_int_equal(cfg.ram.size, 64 * MiB);
	assert_true(cfg.ram.share && cfg.ram.prealloc && cfg.ram.discard_data);
	assert_false(cfg.ram.merge || cfg.ram.dump);
	assert_int_equal(cfg.ram.prealloc_threads, 3);
	assert_true(cfg.ram.reserve); /* QEMU's default for a backend */
	cli_config_free(&cfg);

	/* memfd: shared and sealed unless told; -m the same size is fine */
	static const char *const memfd[] = {
		"-m", "32M", "-object", "memory-backend-memfd,id=m,size=32M", "-machine",
		"memory-backend=m", NULL,
	};
	assert_int_equal(parse(&cfg, memfd), CLI_RUN);
	assert_int_equal(cfg.ram.kind, RAM_BACKEND_MEMFD);
	assert_true(cfg.ram.share && cfg.ram.seal && cfg.ram.merge);
	assert_false(cfg.ram.hugetlb);
	static const char *const noreserve[] = {
		"-object", "memory-backend-memfd,id=m,size=32M,reserve=off,policy=default",
		"-machine", "memory-backend=m", NULL,
	};
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, noreserve), CLI_RUN);
	assert_false(cfg.ram.reserve);
	cli_config_free(&cfg);

	/* -mem-prealloc and mem-merge=off are every backend's defaults,
	 * unless the backend says otherwise */
	static const char *const sugar[] = {
		"-mem-prealloc", "-machine", "mem-merge=off",
		"-object", "memory-backend-ram,id=a,size=16M",
		"-object", "memory-backend-ram,id=b,size=16M,prealloc=off,merge=on",
		"-machine", "memory-backend=b", NULL,
	};
	assert_int_equal(parse(&cfg, sugar), CLI_RUN);
	assert_int_equal(cfg.nmem_backends, 2);
	assert_true(cfg.mem_backends[0].prealloc);
	assert_false(cfg.mem_backends[0].merge);
	assert_string_equal(cfg.ram.id, "b");
	assert_false(cfg.ram.prealloc);
	assert_true(cfg.ram.merge);
	cli_config_free(&cfg);
}

static void test_legacy_options(void **state)
{
	struct machine_config cfg;
	static const char *const legacy[] = {
		"-m", "64", "-mem-path", "/dev/hugepages", "-mem-prealloc", "-machine",
		"mem-merge=off", "-overcommit", "mem-lock=on,cpu-pm=off", NULL,
	};
	assert_int_equal(parse(&cfg, legacy), CLI_RUN);
	assert_int_equal(cfg.ram.kind, RAM_BACKEND_FILE);
	assert_null(cfg.ram.id);
	assert_string_equal(cfg.ram.mem_path, "/dev/hugepages");
	assert_false(cfg.ram.share); /* QEMU's -mem-path maps private */
	assert_true(cfg.ram.reserve);
	assert_true(cfg.ram.prealloc);
	assert_false(cfg.ram.merge);
	assert_int_equal(cfg.ram.size, 64 * MiB);
	assert_true(cfg.mem_lock);
	cli_config_free(&cfg);
}

static void test_bad_values(void **state)
{
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,size=16M", NULL },
		    "-object memory-backend-ram: id= is required");
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,id=m", NULL },
		    "-object memory-backend-ram,id=m: size= is required");
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,id=m,size=0", NULL },
		    "-object memory-backend-ram,id=m: can't create backend with size 0");
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,id=m,size=lots", NULL },
		    "-object memory-backend-ram: invalid size 'lots'");
	parse_fails((const char *const[]){ "-object", "memory-backend-file,id=m,size=16M", NULL },
		    "-object memory-backend-file,id=m: mem-path= is required");
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,id=m,size=16M,"
					   "mem-path=/tmp", NULL },
		    "-object memory-backend-ram: unknown parameter 'mem-path'");
	parse_fails((const char *const[]){ "-object", "memory-backend-file,id=m,size=16M,"
					   "mem-path=/tmp,hugetlb=on", NULL },
		    "-object memory-backend-file: unknown parameter 'hugetlb'");
	parse_fails((const char *const[]){ "-object", "memory-backend-memfd,id=m,size=16M,"
					   "colour=red", NULL },
		    "-object memory-backend-memfd: unknown parameter 'colour'");
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,id=m,size=16M,"
					   "share=maybe", NULL },
		    "-object memory-backend-ram: share: expected 'on' or 'off', got 'maybe'");
	parse_fails((const char *const[]){ "-object", "memory-backend-memfd,id=m,size=16M,"
					   "hugetlbsize=2M", NULL },
		    "-object memory-backend-memfd,id=m: hugetlbsize= needs hugetlb=on");
	parse_fails((const char *const[]){ "-object", "memory-backend-memfd,id=m,size=16M,"
					   "hugetlb=on,hugetlbsize=3M", NULL },
		    "-object memory-backend-memfd: hugetlbsize= must be a power of two, not '3M'");
	parse_fails((const char *const[]){ "-object", "rng-builtin,id=m", "-object",
					   "memory-backend-ram,id=m,size=16M", NULL },
		    "-object memory-backend-ram: duplicate id 'm'");
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,id=m,size=16M,"
					   "policy=bind,host-nodes=1", NULL },
		    "-object memory-backend-ram: policy=bind: not supported by vmm (one NUMA node)");
	parse_fails((const char *const[]){ "-machine", "memory-backend=nope", NULL },
		    "-machine memory-backend=nope: Memory backend 'nope' not found");
	parse_fails((const char *const[]){ "-m", "128", "-object", "memory-backend-ram,id=m,"
					   "size=64M", "-machine", "memory-backend=m", NULL },
		    "-m: the size (128 MiB) must match the size of the memory backend 'm' "
		    "(67108864 bytes), or be left out");
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,id=m,size=1M",
					   "-machine", "memory-backend=m", NULL },
		    "-machine memory-backend=m: guest RAM must be a multiple of 4 KiB between "
		    "2 MiB and 64 TiB (the backend has 1048576 bytes)");
	parse_fails((const char *const[]){ "-object", "memory-backend-ram,id=m,size=4097K",
					   "-machine", "memory-backend=m", NULL },
		    "-machine memory-backend=m: guest RAM must be a multiple of 4 KiB between "
		    "2 MiB and 64 TiB (the backend has 4195328 bytes)");
	parse_fails((const char *const[]){ "-mem-path", "/tmp", "-object", "memory-backend-ram,"
					   "id=m,size=16M", "-machine", "memory-backend=m", NULL },
		    "-mem-path cannot be used with -machine memory-backend=m");
	parse_fails((const char *const[]){ "-overcommit", "cpu-pm=on", NULL },
		    "-overcommit cpu-pm=on: not supported by vmm (the vCPUs exit on HLT, MWAIT "
		    "and PAUSE)");
	parse_fails((const char *const[]){ "-overcommit", "mem-lock=sometimes", NULL },
		    "-overcommit: mem-lock: expected 'on' or 'off', got 'sometimes'");
	parse_fails((const char *const[]){ "-overcommit", "swap=on", NULL },
		    "-overcommit: unknown parameter 'swap' (mem-lock, cpu-pm)");
	parse_fails((const char *const[]){ "-machine", "mem-merge=perhaps", NULL },
		    "-machine: mem-merge: expected 'on' or 'off', got 'perhaps'");
}

/* ---- mapping ------------------------------------------------------------- */

static struct ram_backend backend(enum ram_backend_kind kind, uint64_t size, const char *path)
{
	return (struct ram_backend){ .kind = kind, .id = "m", .size = size, .mem_path = path,
				     .dump = true, .merge = true };
}

static void tmpdir(char *out, size_t size)
{
	snprintf(out, size, "/tmp/vmm-test-guest-mem-XXXXXX");
	assert_non_null(mkdtemp(out));
}

static unsigned entries(const char *dir)
{
	DIR *d = opendir(dir);
	unsigned n = 0;
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* share=on: another mapping of the same file sees what the guest wrote,
 * at the offset of its guest-physical address. */
static void test_shared_file_sees_guest_ram(void **state)
{
	char dir[64], path[128];
	struct guest_mem m;

	tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/ram", dir);
	struct ram_backend b = backend(RAM_BACKEND_FILE, 4 * MiB, path);
	b.share = true;
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	assert_true(m.shared);
	static const char marker[] = "VMM-MARKER";
	assert_true(guest_write(&m, 0x123000, marker, sizeof(marker)));

	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 4 * MiB); /* created and sized */
	char buf[sizeof(marker)];
	assert_int_equal(pread(fd, buf, sizeof(buf), 0x123000), sizeof(buf));
	assert_memory_equal(buf, marker, sizeof(marker));
	close(fd);
	guest_mem_destroy(&m);

	/* an existing file keeps its contents: the guest sees them */
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	assert_true(guest_read(&m, 0x123000, buf, sizeof(buf)));
	assert_memory_equal(buf, marker, sizeof(marker));
	guest_mem_destroy(&m);
	unlink(path);
	rmdir(dir);
}

/* share=off: the file is only the initial contents; guest writes stay private. */
static void test_private_file_keeps_writes_to_itself(void **state)
{
	char dir[64], path[128];
	struct guest_mem m;

	tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/ram", dir);
	struct ram_backend b = backend(RAM_BACKEND_FILE, 4 * MiB, path);
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	assert_false(m.shared);
	assert_true(guest_write(&m, 0x2000, "X", 1));
	int fd = open(path, O_RDONLY);
	char c = 1;
	assert_int_equal(pread(fd, &c, 1, 0x2000), 1);
	assert_int_equal(c, 0);
	close(fd);
	guest_mem_destroy(&m);
	unlink(path);
	rmdir(dir);
}

/* discard-data=on: the file's pages are dropped at exit (its size stays). */
static void test_discard_data_at_exit(void **state)
{
	char dir[64], path[128], c = 1;
	struct guest_mem m;

	tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/ram", dir);
	struct ram_backend b = backend(RAM_BACKEND_FILE, 4 * MiB, path);
	b.share = b.discard_data = true;
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	assert_true(guest_write(&m, 0x3000, "X", 1));
	int fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, &c, 1, 0x3000), 1);
	assert_int_equal(c, 'X');
	guest_mem_destroy(&m);
	assert_int_equal(pread(fd, &c, 1, 0x3000), 1);
	assert_int_equal(c, 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 4 * MiB);
	close(fd);
	unlink(path);
	rmdir(dir);
}

/* A directory: an unlinked temporary file in it, so nothing is left. */
static void test_directory_gets_unlinked_file(void **state)
{
	char dir[64];
	struct guest_mem m;

	tmpdir(dir, sizeof(dir));
	struct ram_backend b = backend(RAM_BACKEND_FILE, 4 * MiB, dir);
	b.share = true;
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	assert_int_equal(entries(dir), 0);
	assert_true(m.fd_open);
	struct stat st;
	assert_int_equal(fstat(m.fd, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_size, 4 * MiB);
	assert_true(guest_write(&m, 0x1000, "A", 1));
	char c;
	assert_int_equal(pread(m.fd, &c, 1, 0x1000), 1);
	assert_int_equal(c, 'A');
	guest_mem_destroy(&m);
	rmdir(dir);
}

static void test_memfd_is_shared(void **state)
{
	struct guest_mem m;
	struct ram_backend b = backend(RAM_BACKEND_MEMFD, 4 * MiB, NULL);
	b.share = b.seal = true;

	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	assert_true(m.fd_open && m.shared);
	assert_int_equal(m.page_size, 4096);
	assert_true(guest_write(&m, 0x5000, "memfd", 5));
	char buf[5];
	assert_int_equal(pread(m.fd, buf, 5, 0x5000), 5);
	assert_memory_equal(buf, "memfd", 5);
	/* sealed: the guest's RAM cannot shrink under it */
	assert_int_equal(ftruncate(m.fd, 2 * MiB), -1);
	guest_mem_destroy(&m);
}

static void test_init_errors(void **state)
{
	struct guest_mem m;
	char dir[64], path[128];

	struct ram_backend b = backend(RAM_BACKEND_FILE, 4 * MiB, "/nonexistent/dir/ram");
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "-object memory-backend-file,id=m: can't open backing store "
			    "/nonexistent/dir/ram for guest RAM: No such file or directory");

	/* a file smaller than the backend is refused, and kept as it was */
	tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/small", dir);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_int_equal(ftruncate(fd, 1 * MiB), 0);
	close(fd);
	b.mem_path = path;
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "-object memory-backend-file,id=m: backing store size 0x100000 "
			    "does not match 'size' option 0x400000");
	unlink(path);

	/* a file vmm created for a backend that then fails is removed */
	b.size = 4 * MiB + 512;
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "-object memory-backend-file,id=m: size 4194816 is not a "
			    "multiple of the page size of its backing (4 KiB)");
	assert_int_equal(entries(dir), 0);
	rmdir(dir);

	/* -mem-path names itself */
	b = backend(RAM_BACKEND_FILE, 4 * MiB, "/nonexistent/ram");
	b.id = NULL;
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "-mem-path /nonexistent/ram: can't open backing store "
			    "/nonexistent/ram for guest RAM: No such file or directory");

	/* huge pages: the size must be a multiple of one (2 MiB by default);
	 * checked before any is reserved, so this host needs none */
	b = backend(RAM_BACKEND_MEMFD, 3 * MiB, NULL);
	b.hugetlb = true;
	int r = guest_mem_init_backend(&m, &b, err, sizeof(err));
	assert_int_equal(r, -1);
	assert_true(!strcmp(err, "-object memory-backend-memfd,id=m: size 3145728 is not a "
			    "multiple of the page size of its backing (2 MiB)") ||
		    /* a kernel without hugetlbfs refuses the memfd itself */
		    !strncmp(err, "-object memory-backend-memfd,id=m: cannot create a memfd of "
			     "huge pages", 70));
}

static unsigned long resident_kib(void *p, uint64_t size)
{
	unsigned char vec[1024];
	unsigned long n = 0;
	uint64_t pages = size / 4096;
	assert_true(pages <= sizeof(vec));
	assert_int_equal(mincore(p, size, vec), 0);
	for (uint64_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n * 4;
}

/* prealloc=on: every page is there before anything touches it. */
static void test_prealloc_populates(void **state)
{
	struct guest_mem m;
	struct ram_backend b = backend(RAM_BACKEND_MEMFD, 4 * MiB, NULL);
	b.share = true;

	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	assert_int_equal(resident_kib(m.ram, 4 * MiB), 0);
	guest_mem_destroy(&m);
	b.prealloc = true;
	b.prealloc_threads = 3; /* parts of unequal length */
	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	assert_int_equal(resident_kib(m.ram, 4 * MiB), 4096);
	guest_mem_destroy(&m);

	/* the threads: one per 256 MiB, at most one per host CPU and 16 */
	assert_int_equal(guest_mem_prealloc_threads(64 * MiB, 0), 1);
	assert_int_equal(guest_mem_prealloc_threads(64 * MiB, 4), 4);
	assert_int_equal(guest_mem_prealloc_threads(64 * MiB, 99), 16);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(guest_mem_prealloc_threads(4 * GiB, 0), MIN(cpus, 16));
}

/* The balloon's discard: shared pages leave the file and read as zeros. */
static void test_discard_shared(void **state)
{
	struct guest_mem m;
	struct ram_backend b = backend(RAM_BACKEND_MEMFD, 4 * MiB, NULL);
	b.share = true;

	assert_int_equal(guest_mem_init_backend(&m, &b, err, sizeof(err)), 0);
	memset(m.ram + 0x10000, 0xAB, 0x2000);
	assert_int_equal(guest_mem_discard(&m, m.ram + 0x10000, 0x1000), 0);
	char c;
	assert_int_equal(pread(m.fd, &c, 1, 0x10000), 1);
	assert_int_equal(c, 0);
	assert_int_equal(m.ram[0x10000], 0);
	assert_int_equal(m.ram[0x11000], 0xAB);
	guest_mem_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_ram),
		cmocka_unit_test(test_backend_by_id),
		cmocka_unit_test(test_legacy_options),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_shared_file_sees_guest_ram),
		cmocka_unit_test(test_private_file_keeps_writes_to_itself),
		cmocka_unit_test(test_discard_data_at_exit),
		cmocka_unit_test(test_directory_gets_unlinked_file),
		cmocka_unit_test(test_memfd_is_shared),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_prealloc_populates),
		cmocka_unit_test(test_discard_shared),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
