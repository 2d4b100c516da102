// SPDX-License-Identifier: GPL-2.0-or-later
/* The sandbox's own seccomp BPF (src/core/seccomp_bpf.c) against libseccomp's:
 * every thread kind's list, with the sub-options off and all on, compiled
 * both ways and run through a small classic-BPF interpreter for every
 * system call number (native, x32, a foreign architecture) and argument
 * values around every comparison of the lists; every decision must agree.
 * Plus the compiler's own rules: severity order, impossible masks, long
 * blocks. (The filters on a running vmm: tests/fw/test_sandbox.py.) */
#include "unit.h"

#include <sys/socket.h>

#include <errno.h>
#include <linux/audit.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "sandbox.h"
#include "seccomp_bpf.h"

#define NR_LIMIT 460

/* ---- a classic BPF interpreter (the opcodes seccomp programs use) ---------- */

static uint32_t run_bpf(const struct sock_fprog *p, const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };
	const uint8_t *bytes = (const uint8_t *)d;

	for (unsigned pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];
		uint32_t src = BPF_SRC(f->code) == BPF_X ? x : f->k;
		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(f->k % 4 == 0 && f->k + 4 <= sizeof(*d));
			memcpy(&a, bytes + f->k, 4);
			continue;
		case BPF_LD | BPF_MEM:
			a = mem[f->k % BPF_MEMWORDS];
			continue;
		case BPF_LDX | BPF_MEM:
			x = mem[f->k % BPF_MEMWORDS];
			continue;
		case BPF_ST:
			mem[f->k % BPF_MEMWORDS] = a;
			continue;
		case BPF_STX:
			mem[f->k % BPF_MEMWORDS] = x;
			continue;
		case BPF_MISC | BPF_TAX:
			x = a;
			continue;
		case BPF_MISC | BPF_TXA:
			a = x;
			continue;
		case BPF_LD | BPF_IMM:
			a = f->k;
			continue;
		case BPF_ALU | BPF_AND | BPF_K:
		case BPF_ALU | BPF_AND | BPF_X:
			a &= src;
			continue;
		case BPF_ALU | BPF_OR | BPF_K:
		case BPF_ALU | BPF_OR | BPF_X:
			a |= src;
			continue;
		case BPF_JMP | BPF_JA:
			pc += f->k;
			continue;
		case BPF_JMP | BPF_JEQ | BPF_K:
		case BPF_JMP | BPF_JEQ | BPF_X:
			pc += a == src ? f->jt : f->jf;
			continue;
		case BPF_JMP | BPF_JGT | BPF_K:
		case BPF_JMP | BPF_JGT | BPF_X:
			pc += a > src ? f->jt : f->jf;
			continue;
		case BPF_JMP | BPF_JGE | BPF_K:
		case BPF_JMP | BPF_JGE | BPF_X:
			pc += a >= src ? f->jt : f->jf;
			continue;
		case BPF_JMP | BPF_JSET | BPF_K:
		case BPF_JMP | BPF_JSET | BPF_X:
			pc += a & src ? f->jt : f->jf;
			continue;
		case BPF_RET | BPF_K:
			return f->k;
		case BPF_RET | BPF_A:
			return a;
		default:
			fail_msg("opcode 0x%x at %u not interpreted", f->code, pc);
		}
	}
	fail_msg("the program ran off its end");
	return 0;
}

/* ---- the two compilers ------------------------------------------------------- */

static struct sock_fprog ours(const struct bpf_rules *r)
{
	struct sock_fprog p;

	assert_int_equal(bpf_rules_compile(r, &p), 0);
	return p;
}

static struct sock_fprog libseccomps(const struct bpf_rules *r)
{
	scmp_filter_ctx ctx = seccomp_init(bpf_rules_default(r));
	struct scmp_arg_cmp args[6];
	uint32_t action;
	unsigned nargs;
	int nr;

	assert_non_null(ctx);
	assert_int_equal(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), 0);
	for (unsigned i = 0; bpf_rules_get(r, i, &action, &nr, &nargs, args); i++)
		assert_int_equal(seccomp_rule_add_array(ctx, action, nr, nargs, args), 0);
	int fd = memfd_create("bpf", 0);
	assert_true(fd >= 0);
	assert_int_equal(seccomp_export_bpf(ctx, fd), 0);
	seccomp_release(ctx);
	off_t size = lseek(fd, 0, SEEK_END);
	assert_true(size > 0 && size % sizeof(struct sock_filter) == 0);
	struct sock_fprog p = { (unsigned short)(size / sizeof(struct sock_filter)), malloc(size) };
	assert_int_equal(pread(fd, p.filter, size, 0), size);
	close(fd);
	return p;
}

/* Values of argument argi near every comparison of the rules on it: the
 * value itself, it with each masked bit flipped (a few bits of each half
 * for an equality), with bits outside the mask, with the other half set;
 * and zero and all ones. */
static unsigned interesting_values(const struct bpf_rules *r, unsigned argi, uint64_t *v,
				   unsigned max)
{
	static const int eq_bits[] = { 0, 1, 8, 31, 32, 33, 63 };
	struct scmp_arg_cmp args[6];
	uint32_t action;
	unsigned nargs, n = 0;
	int nr;

	v[n++] = 0;
	v[n++] = ~0ull;
	for (unsigned i = 0; bpf_rules_get(r, i, &action, &nr, &nargs, args); i++) {
		for (unsigned j = 0; j < nargs; j++) {
			if (args[j].arg != argi)
				continue;
			bool masked = args[j].op == SCMP_CMP_MASKED_EQ;
			uint64_t mask = masked ? args[j].datum_a : ~0ull;
			uint64_t val = masked ? args[j].datum_b : args[j].datum_a;
			assert_true(n + 72 < max);
			v[n++] = val;
			v[n++] = val | ~mask;
			v[n++] = val | 1ull << 32;
			v[n++] = val ^ 0xffffffff00000000ull;
			if (masked) {
				for (int b = 0; b < 64; b++)
					if (mask >> b & 1)
						v[n++] = val ^ 1ull << b;
			} else {
				for (size_t b = 0; b < sizeof(eq_bits) / sizeof(eq_bits[0]); b++)
					v[n++] = val ^ 1ull << eq_bits[b];
			}
		}
	}
	return n;
}

static uint32_t decide(const struct sock_fprog *p, uint32_t arch, int nr, unsigned argi,
		       uint64_t val)
{
	struct seccomp_data d;

	memset(&d, 0, sizeof(d));
	d.arch = arch;
	d.nr = nr;
	d.args[argi] = val;
	return run_bpf(p, &d);
}

static void agree(const struct sock_fprog *a, const struct sock_fprog *b, const char *what,
		  uint32_t arch, int nr, unsigned argi, uint64_t val)
{
	uint32_t da = decide(a, arch, nr, argi, val), db = decide(b, arch, nr, argi, val);

	if (da != db)
		fail_msg("%s: arch %#x nr %#x arg%u=%#llx: ours %#x, libseccomp %#x", what, arch,
			 nr, argi, (unsigned long long)val, da, db);
}

/* Every call number (native and x32) and argument value: the same decision
 * both ways; and a foreign architecture's calls. */
static void compare(const struct bpf_rules *r, const char *what)
{
	static uint64_t vals[6][4096];
	unsigned nv[6];
	struct sock_fprog a = ours(r), b = libseccomps(r);

	for (unsigned argi = 0; argi < 6; argi++)
		nv[argi] = interesting_values(r, argi, vals[argi], 4096);
	for (int nr = 0; nr < NR_LIMIT; nr++) {
		for (unsigned argi = 0; argi < 6; argi++)
			for (unsigned i = 0; i < nv[argi]; i++)
				agree(&a, &b, what, AUDIT_ARCH_X86_64, nr, argi, vals[argi][i]);
		agree(&a, &b, what, AUDIT_ARCH_X86_64, nr | 0x40000000, 0, 0);
		agree(&a, &b, what, AUDIT_ARCH_I386, nr, 0, 0);
		agree(&a, &b, what, AUDIT_ARCH_AARCH64, nr, 0, 0);
	}
	free(a.filter);
	free(b.filter);
}

static void compare_every_kind(const struct sandbox_config *c, const char *what)
{
	sandbox_init(c);
	for (int k = 0; k < SANDBOX_KINDS; k++) {
		char name[64];
		struct bpf_rules *r = sandbox_rules((enum sandbox_kind)k);
		snprintf(name, sizeof(name), "%s, %s", what, sandbox_kind_name((enum sandbox_kind)k));
		compare(r, name);
		bpf_rules_free(r);
	}
}

static void test_lists_agree_with_libseccomp(void **state)
{
	struct sandbox_config c = { .enabled = true };

	compare_every_kind(&c, "default");
	c.slirp = true;
	compare_every_kind(&c, "user networking");
	c.slirp_unix = true;
	compare_every_kind(&c, "smb share");
	c.vhost = true;
	compare_every_kind(&c, "vhost-net");
	c.obsolete = c.elevate = c.spawn = c.resourcecontrol = true;
	compare_every_kind(&c, "every sub-option");
}

/* ---- the compiler's own rules ------------------------------------------------- */

static uint32_t decide_native(const struct bpf_rules *r, int nr, uint64_t a0, uint64_t a1)
{
	struct sock_fprog p = ours(r);
	struct seccomp_data d;

	memset(&d, 0, sizeof(d));
	d.arch = AUDIT_ARCH_X86_64;
	d.nr = nr;
	d.args[0] = a0;
	d.args[1] = a1;
	uint32_t v = run_bpf(&p, &d);
	free(p.filter);
	return v;
}

/* smb=: the threads that run slirp may make unix sockets (libslirp
 * connects the guest's SMB connections to smbd's launcher), only then,
 * and still neither fork nor exec (the launcher does, outside vmm). */
static void test_smb_share_rules(void **state)
{
	struct sandbox_config c = { .enabled = true, .slirp = true };
	enum sandbox_kind kinds[] = { SANDBOX_NET, SANDBOX_IO };

	for (int with_smb = 0; with_smb < 2; with_smb++) {
		c.slirp_unix = with_smb;
		sandbox_init(&c);
		for (unsigned i = 0; i < 2; i++) {
			struct bpf_rules *r = sandbox_rules(kinds[i]);
			assert_int_equal(decide_native(r, __NR_socket, AF_UNIX, SOCK_STREAM),
					 with_smb ? SCMP_ACT_ALLOW : SCMP_ACT_TRAP);
			assert_int_equal(decide_native(r, __NR_socket, AF_INET, SOCK_STREAM),
					 SCMP_ACT_ALLOW);
			assert_int_equal(decide_native(r, __NR_socket, AF_NETLINK, SOCK_RAW),
					 SCMP_ACT_TRAP);
			assert_int_equal(decide_native(r, __NR_execve, 0, 0), SCMP_ACT_TRAP);
			assert_int_equal(decide_native(r, __NR_fork, 0, 0), SCMP_ACT_TRAP);
			bpf_rules_free(r);
		}
	}
}

/* vhost=on: /dev/vhost-net's ioctls (type 0xAF) and epoll_ctl (the notify
 * eventfd leaves the I/O thread's epoll) on the vCPU and migration threads,
 * which start and stop the kernel's path, only then; never on the I/O
 * thread. */
static void test_vhost_rules(void **state)
{
	const uint64_t set_owner = 0xAF01, kvm_irqfd = 0x4020AE76;

	for (int with_vhost = 0; with_vhost < 2; with_vhost++) {
		struct sandbox_config c = { .enabled = true, .vhost = with_vhost };
		sandbox_init(&c);
		struct bpf_rules *r = sandbox_rules(SANDBOX_VCPU);
		assert_int_equal(decide_native(r, __NR_ioctl, 3, set_owner),
				 with_vhost ? SCMP_ACT_ALLOW : SCMP_ACT_TRAP);
		assert_int_equal(decide_native(r, __NR_epoll_ctl, 3, 2),
				 with_vhost ? SCMP_ACT_ALLOW : SCMP_ACT_TRAP);
		assert_int_equal(decide_native(r, __NR_ioctl, 3, kvm_irqfd), SCMP_ACT_ALLOW);
		bpf_rules_free(r);
		/* migration's pre-copy takes the rings back and, cancelled,
		 * hands them over again */
		r = sandbox_rules(SANDBOX_MIGRATION);
		assert_int_equal(decide_native(r, __NR_ioctl, 3, set_owner),
				 with_vhost ? SCMP_ACT_ALLOW : SCMP_ACT_TRAP);
		assert_int_equal(decide_native(r, __NR_epoll_ctl, 3, 2),
				 with_vhost ? SCMP_ACT_ALLOW : SCMP_ACT_TRAP);
		bpf_rules_free(r);
		r = sandbox_rules(SANDBOX_IO);
		assert_int_equal(decide_native(r, __NR_ioctl, 3, set_owner), SCMP_ACT_TRAP);
		bpf_rules_free(r);
	}
}

static void test_severity_and_masks(void **state)
{
	struct bpf_rules *r = bpf_rules_new(SCMP_ACT_TRAP, SCMP_ACT_KILL_PROCESS);

	/* an allow added first does not shadow a kill added later */
	assert_int_equal(bpf_rules_add(r, SCMP_ACT_ALLOW, __NR_rt_sigaction, 0, NULL), 0);
	assert_int_equal(bpf_rules_add(r, SCMP_ACT_KILL_PROCESS, __NR_rt_sigaction, 1,
				       &SCMP_A0(SCMP_CMP_EQ, 31)), 0);
	assert_int_equal(decide_native(r, __NR_rt_sigaction, 31, 0), SCMP_ACT_KILL_PROCESS);
	assert_int_equal(decide_native(r, __NR_rt_sigaction, 31 | 1ull << 32, 0), SCMP_ACT_ALLOW);
	/* a value with bits the mask clears can never match */
	assert_int_equal(bpf_rules_add(r, SCMP_ACT_ALLOW, __NR_mmap, 1,
				       &SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf0, 0x0f)), 0);
	assert_int_equal(decide_native(r, __NR_mmap, 0, 0x0f), SCMP_ACT_TRAP);
	assert_int_equal(decide_native(r, __NR_mmap, 0, 0xff), SCMP_ACT_TRAP);
	/* only the two comparisons the lists use */
	assert_int_equal(bpf_rules_add(r, SCMP_ACT_ALLOW, __NR_mmap, 1,
				       &SCMP_A1(SCMP_CMP_GT, 3)), -EINVAL);
	assert_int_equal(bpf_rules_add(r, SCMP_ACT_ALLOW, -1, 0, NULL), -EINVAL);
	/* no rule: the default; x32 and foreign architectures: bad arch */
	assert_int_equal(decide_native(r, __NR_getppid, 0, 0), SCMP_ACT_TRAP);
	assert_int_equal(decide_native(r, __NR_rt_sigaction | 0x40000000, 0, 0),
			 SCMP_ACT_KILL_PROCESS);
	bpf_rules_free(r);
}

static void test_long_block(void **state)
{
	/* one call with more rules than an 8-bit jump can skip */
	struct bpf_rules *r = bpf_rules_new(SCMP_ACT_TRAP, SCMP_ACT_KILL_PROCESS);

	for (unsigned i = 0; i < 200; i++)
		assert_int_equal(bpf_rules_add(r, SCMP_ACT_ALLOW, __NR_ioctl, 1,
					       &SCMP_A1(SCMP_CMP_EQ, 1000 + i)), 0);
	assert_int_equal(bpf_rules_add(r, SCMP_ACT_ALLOW, __NR_read, 0, NULL), 0);
	assert_int_equal(decide_native(r, __NR_ioctl, 0, 1199), SCMP_ACT_ALLOW);
	assert_int_equal(decide_native(r, __NR_ioctl, 0, 1200), SCMP_ACT_TRAP);
	assert_int_equal(decide_native(r, __NR_read, 0, 0), SCMP_ACT_ALLOW);
	compare(r, "long block");
	bpf_rules_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists_agree_with_libseccomp),
		cmocka_unit_test(test_severity_and_masks),
		cmocka_unit_test(test_smb_share_rules),
		cmocka_unit_test(test_vhost_rules),
		cmocka_unit_test(test_long_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
