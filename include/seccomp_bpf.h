/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sandbox's seccomp filters, compiled to classic BPF by vmm itself.
 *
 * libseccomp's rule database and program generator cost every vmm start
 * about a quarter of a MiB (its heap, its syscall tables, its mapping) for
 * six small allow-lists; the lists need two comparisons (equal, masked
 * equal) on x86-64 only, which fit in a page of code. The rules are still
 * written with libseccomp's header (struct scmp_arg_cmp, SCMP_A0..A5,
 * SCMP_ACT_*, whose values are the kernel's SECCOMP_RET_*), so a list
 * reads as before; tests/unit/test_seccomp_bpf.c checks every list's
 * program against libseccomp's, decision by decision.
 *
 * Semantics: the program answers a foreign architecture or ABI (not
 * x86-64, or an x32 call) with the "bad arch" action; for a call with rules,
 * the first matching rule in order of severity (kill process, kill thread,
 * trap, errno, trace, log, allow; the order of addition among equals) gives
 * the answer; a call no rule matches gets the default action.
 */
#ifndef VMM_SECCOMP_BPF_H
#define VMM_SECCOMP_BPF_H

#include <linux/filter.h>
#include <seccomp.h>
#include <stdint.h>

struct bpf_rules;

/* NULL when out of memory. */
struct bpf_rules *bpf_rules_new(uint32_t default_action, uint32_t badarch_action);
void bpf_rules_free(struct bpf_rules *r);

/* One rule: action for call nr when all nargs comparisons hold (only
 * SCMP_CMP_EQ and SCMP_CMP_MASKED_EQ, at most 3). 0 or -EINVAL/-ENOMEM. */
int bpf_rules_add(struct bpf_rules *r, uint32_t action, int nr, unsigned nargs,
		      const struct scmp_arg_cmp *args);

/* The rules in order of addition (for tests): false past the end. */
int bpf_rules_get(const struct bpf_rules *r, unsigned i, uint32_t *action, int *nr,
		      unsigned *nargs, struct scmp_arg_cmp *args);
uint32_t bpf_rules_default(const struct bpf_rules *r);

/* The program: 0 and prog->filter allocated (free() it), or -E2BIG (over
 * BPF_MAXINSNS) / -ENOMEM. */
int bpf_rules_compile(const struct bpf_rules *r, struct sock_fprog *prog);

/* no_new_privs, then the program for the calling thread (and the threads
 * it creates later). 0 or -errno. */
int bpf_program_load(const struct sock_fprog *prog);

#endif
