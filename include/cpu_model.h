/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VMM_CPU_MODEL_H
#define VMM_CPU_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_cpuid2;

#define CPU_MODEL_MAX_FLAGS 48

/*
 * -cpu MODEL[,+feat|-feat|feat=on|off]... as QEMU spells it.
 *   host, max       every feature KVM supports (the default)
 *   qemu64, kvm64   QEMU's models of those names under KVM: the baseline
 *                   x86-64 features (with KVM's paravirtual clock, EOI and
 *                   steal time), the model's family, model and brand
 *                   string, and the host's vendor
 * Flags then add or remove single features, by QEMU's names.
 */
struct cpu_model {
	char name[16];
	bool baseline;
	unsigned nflags;
	struct {
		uint16_t feature; /* index into the feature table */
		bool on;
	} flags[CPU_MODEL_MAX_FLAGS];
};

/* Parses a -cpu argument; -1 with a one-line message in err. */
int cpu_model_parse(const char *arg, struct cpu_model *m, char *err, size_t errlen);
/* Applies the model to KVM's supported CPUID (before the topology patch).
 * A feature asked for that KVM lacks is an error, as nothing could make
 * the guest see it. */
int cpu_model_apply(const struct cpu_model *m, struct kvm_cpuid2 *c, char *err, size_t errlen);
/* Writes the known feature names, space-separated (for -cpu help). */
void cpu_model_list(char *out, size_t outlen);

#endif
