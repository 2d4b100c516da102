/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CPU topology: how "-smp N,sockets=S,cores=C,threads=T,maxcpus=M" maps
 * vCPU indexes to APIC IDs. An APIC ID packs thread, core and socket numbers
 * into bit fields each rounded up to a power of two, as on real x86 parts;
 * CPUID (src/core/cpuid.c) describes the same fields, so the guest's view of its
 * topology and the IDs it finds in the MADT agree.
 */
#ifndef VMM_TOPOLOGY_H
#define VMM_TOPOLOGY_H

#include <stddef.h>

/* The highest APIC ID an xAPIC can address; 0xFF is the broadcast ID. */
#define XAPIC_MAX_ID 254

struct cpu_topology {
	unsigned cpus;    /* vCPUs that run */
	unsigned sockets;
	unsigned cores;   /* per socket */
	unsigned threads; /* per core */
	unsigned maxcpus; /* sockets * cores * threads */
};

/* Fills in the values left 0 as QEMU 7 does for a PC ("prefer cores": a
 * bare -smp N is one socket of N cores) and checks the result. Returns 0, or
 * -1 with a one-line reason in err. */
int topology_resolve(struct cpu_topology *t, char *err, size_t errlen);

unsigned topology_smt_bits(const struct cpu_topology *t);
unsigned topology_core_bits(const struct cpu_topology *t);
unsigned topology_apic_id(const struct cpu_topology *t, unsigned index);
/* One more than the highest APIC ID of the maxcpus possible vCPUs: the
 * range SeaBIOS builds its MADT and MP table entries over. */
unsigned topology_apic_id_limit(const struct cpu_topology *t);

#endif
