// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Seccomp allow-lists compiled to classic BPF (see include/seccomp_bpf.h).
 *
 * The program is a header (architecture and ABI checks) and then one
 * block per system call that has rules: "nr == N ? body : next block".
 * A body tests its rules one after the other, each a run of 32-bit
 * comparisons on the halves of the arguments and a return, and ends with
 * the default action; every path through a body returns, so the
 * accumulator holds the call number at each block's test. Calls vmm makes
 * all the time come first, so KVM_RUN's ioctl is found in one comparison.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_bpf.h"

#define MAX_ARGS 3 /* the lists compare at most one; rules stay small */
#define X32_SYSCALL_BIT 0x40000000u

struct rule {
	uint32_t action;
	int nr;
	unsigned nargs;
	struct scmp_arg_cmp args[MAX_ARGS];
};

struct bpf_rules {
	uint32_t default_action, badarch_action;
	struct rule *v;
	unsigned n, cap;
};

/* A growing program; err is set once an append fails. */
struct prog {
	struct sock_filter *v;
	unsigned n, cap;
	int err;
};

/* The calls of the vCPU and I/O loops: their blocks come first. */
static const int hot_calls[] = {
	__NR_ioctl, __NR_futex, __NR_read, __NR_write, __NR_ppoll, __NR_poll,
	__NR_epoll_pwait, __NR_epoll_wait, __NR_io_uring_enter, __NR_pread64,
	__NR_pwrite64, __NR_preadv, __NR_pwritev, __NR_clock_gettime,
};

struct bpf_rules *bpf_rules_new(uint32_t default_action, uint32_t badarch_action)
{
	struct bpf_rules *r = calloc(1, sizeof(*r));

	if (r) {
		r->default_action = default_action;
		r->badarch_action = badarch_action;
	}
	return r;
}

void bpf_rules_free(struct bpf_rules *r)
{
	if (r) {
		free(r->v);
		free(r);
	}
}

uint32_t bpf_rules_default(const struct bpf_rules *r)
{
	return r->default_action;
}

int bpf_rules_add(struct bpf_rules *r, uint32_t action, int nr, unsigned nargs,
		  const struct scmp_arg_cmp *args)
{
	if (nr < 0 || nargs > MAX_ARGS)
		return -EINVAL;
	for (unsigned i = 0; i < nargs; i++) {
		if (args[i].arg >= 6 /* a call has six */ ||
		    (args[i].op != SCMP_CMP_EQ && args[i].op != SCMP_CMP_MASKED_EQ))
			return -EINVAL;
	}
	if (r->n == r->cap) {
		unsigned cap = r->cap ? 2 * r->cap : 64;
		struct rule *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	struct rule *ru = &r->v[r->n++];
	memset(ru, 0, sizeof(*ru));
	ru->action = action;
	ru->nr = nr;
	ru->nargs = nargs;
	if (nargs)
		memcpy(ru->args, args, nargs * sizeof(*args));
	return 0;
}

int bpf_rules_get(const struct bpf_rules *r, unsigned i, uint32_t *action, int *nr,
		  unsigned *nargs, struct scmp_arg_cmp *args)
{
	if (i >= r->n)
		return 0;
	*action = r->v[i].action;
	*nr = r->v[i].nr;
	*nargs = r->v[i].nargs;
	memcpy(args, r->v[i].args, r->v[i].nargs * sizeof(*args));
	return 1;
}

/* ---- the program ------------------------------------------------------------ */

static void emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (p->err)
		return;
	if (p->n == BPF_MAXINSNS) {
		p->err = -E2BIG;
		return;
	}
	if (p->n == p->cap) {
		unsigned cap = p->cap ? 2 * p->cap : 128;
		struct sock_filter *v = realloc(p->v, cap * sizeof(*v));
		if (!v) {
			p->err = -ENOMEM;
			return;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct sock_filter){ code, jt, jf, k };
}

static void emit_prog(struct prog *p, const struct prog *q)
{
	for (unsigned i = 0; i < q->n; i++)
		emit(p, q->v[i].code, q->v[i].jt, q->v[i].jf, q->v[i].k);
	if (q->err && !p->err)
		p->err = q->err;
}

/* Kill process first, then by the kernel's precedence of the action
 * (SECCOMP_RET_ACTION_FULL, lower values win), allow last. */
static uint32_t severity(uint32_t action)
{
	if ((action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_KILL_PROCESS)
		return 0;
	return 1 + ((action & SECCOMP_RET_ACTION_FULL) >> 16);
}

/* One 32-bit test: (word at off & mask) == value. */
struct check {
	uint32_t off, mask, value;
};

/* The 32-bit tests of one comparison: up to two; -1 when it can never
 * hold (masked bits the mask clears). */
static int checks_of(const struct scmp_arg_cmp *c, struct check *out)
{
	uint32_t off = (uint32_t)offsetof(struct seccomp_data, args) + 8u * c->arg;
	uint64_t mask = c->op == SCMP_CMP_MASKED_EQ ? c->datum_a : ~0ull;
	uint64_t value = c->op == SCMP_CMP_MASKED_EQ ? c->datum_b : c->datum_a;
	int n = 0;

	if (value & ~mask)
		return -1;
	/* little-endian: the low half first */
	for (int half = 0; half < 2; half++) {
		uint32_t m = (uint32_t)(mask >> (32 * half));
		if (m)
			out[n++] = (struct check){ off + 4u * half, m, (uint32_t)(value >> (32 * half)) };
	}
	return n;
}

static unsigned check_len(const struct check *c)
{
	return c->mask == ~0u ? 2 : 3;
}

/* One rule: its tests, each failing to the next rule, then its action.
 * False when it cannot match (nothing emitted). */
static bool emit_rule(struct prog *p, const struct rule *ru)
{
	struct check c[2 * MAX_ARGS];
	unsigned n = 0, len = 1;

	for (unsigned i = 0; i < ru->nargs; i++) {
		int k = checks_of(&ru->args[i], c + n);
		if (k < 0)
			return false;
		n += (unsigned)k;
	}
	for (unsigned i = 0; i < n; i++)
		len += check_len(&c[i]);
	unsigned at = 0;
	for (unsigned i = 0; i < n; i++) {
		emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, c[i].off);
		if (c[i].mask != ~0u)
			emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, c[i].mask);
		at += check_len(&c[i]);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(len - at), c[i].value);
	}
	emit(p, BPF_RET | BPF_K, 0, 0, ru->action);
	return true;
}

/* The body of call nr: its rules by severity (a stable insertion sort,
 * so equals keep their order), then the default. */
static void emit_body(struct prog *body, const struct bpf_rules *r, int nr)
{
	unsigned *order = malloc((r->n ? r->n : 1) * sizeof(*order));
	unsigned n = 0;

	if (!order) {
		body->err = -ENOMEM;
		return;
	}
	for (unsigned i = 0; i < r->n; i++) {
		if (r->v[i].nr != nr)
			continue;
		unsigned j = n++;
		while (j && severity(r->v[order[j - 1]].action) > severity(r->v[i].action)) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	bool unconditional = false;
	for (unsigned i = 0; i < n && !unconditional; i++) {
		const struct rule *ru = &r->v[order[i]];
		/* after an unconditional rule the rest is unreachable */
		unconditional = emit_rule(body, ru) && ru->nargs == 0;
	}
	if (!unconditional)
		emit(body, BPF_RET | BPF_K, 0, 0, r->default_action);
	free(order);
}

static bool has_rules(const struct bpf_rules *r, int nr)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->v[i].nr == nr)
			return true;
	return false;
}

static void emit_block(struct prog *p, const struct bpf_rules *r, int nr)
{
	struct prog body = { 0 };

	emit_body(&body, r, nr);
	if (body.n <= 255) {
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)body.n, (uint32_t)nr);
	} else {
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, (uint32_t)nr);
		emit(p, BPF_JMP | BPF_JA, 0, 0, body.n);
	}
	emit_prog(p, &body);
	free(body.v);
}

static bool is_hot(int nr)
{
	for (size_t i = 0; i < sizeof(hot_calls) / sizeof(hot_calls[0]); i++)
		if (hot_calls[i] == nr)
			return true;
	return false;
}

static bool seen_before(const struct bpf_rules *r, unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (r->v[j].nr == r->v[i].nr)
			return true;
	return false;
}

int bpf_rules_compile(const struct bpf_rules *r, struct sock_fprog *out)
{
	struct prog p = { 0 };

	emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_X86_64);
	emit(&p, BPF_RET | BPF_K, 0, 0, r->badarch_action);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
	/* x32 calls: the same architecture word, numbers with bit 30 */
	emit(&p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, X32_SYSCALL_BIT);
	emit(&p, BPF_RET | BPF_K, 0, 0, r->badarch_action);
	for (size_t i = 0; i < sizeof(hot_calls) / sizeof(hot_calls[0]); i++)
		if (has_rules(r, hot_calls[i]))
			emit_block(&p, r, hot_calls[i]);
	for (unsigned i = 0; i < r->n; i++)
		if (!is_hot(r->v[i].nr) && !seen_before(r, i))
			emit_block(&p, r, r->v[i].nr);
	emit(&p, BPF_RET | BPF_K, 0, 0, r->default_action);
	if (p.err) {
		free(p.v);
		return p.err;
	}
	out->filter = p.v;
	out->len = (unsigned short)p.n;
	return 0;
}

int bpf_program_load(const struct sock_fprog *prog)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return -errno;
	return 0;
}
