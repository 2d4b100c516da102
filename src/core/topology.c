// SPDX-License-Identifier: GPL-2.0-or-later
#include "topology.h"

#include <stdio.h>

/* Bits needed to number n items (0 for n <= 1). */
static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

static unsigned or_one(unsigned v)
{
	return v ? v : 1;
}

int topology_resolve(struct cpu_topology *t, char *err, size_t errlen)
{
	if (!t->cpus && !t->maxcpus) {
		t->sockets = or_one(t->sockets);
		t->cores = or_one(t->cores);
		t->threads = or_one(t->threads);
	} else {
		unsigned max = t->maxcpus = t->maxcpus ? t->maxcpus : t->cpus;
		/* Whatever level is missing absorbs the rest; cores first. */
		if (!t->cores) {
			t->sockets = or_one(t->sockets);
			t->threads = or_one(t->threads);
			t->cores = or_one(max / (t->sockets * t->threads));
		} else if (!t->sockets) {
			t->threads = or_one(t->threads);
			t->sockets = or_one(max / (t->cores * t->threads));
		} else if (!t->threads) {
			t->threads = or_one(max / (t->sockets * t->cores));
		}
	}
	unsigned long long total = (unsigned long long)t->sockets * t->cores * t->threads;
	if (total > 4096) {
		snprintf(err, errlen, "-smp: %llu CPUs in sockets*cores*threads is too many", total);
		return -1;
	}
	if (!t->maxcpus)
		t->maxcpus = (unsigned)total;
	if (!t->cpus)
		t->cpus = t->maxcpus;
	if (total != t->maxcpus) {
		snprintf(err, errlen,
			 "-smp: sockets (%u) * cores (%u) * threads (%u) = %llu does not match "
			 "maxcpus (%u)", t->sockets, t->cores, t->threads, total, t->maxcpus);
		return -1;
	}
	if (t->cpus > t->maxcpus) {
		snprintf(err, errlen, "-smp: %u CPUs is more than maxcpus (%u)", t->cpus,
			 t->maxcpus);
		return -1;
	}
	if (topology_apic_id_limit(t) - 1 > XAPIC_MAX_ID) {
		snprintf(err, errlen,
			 "-smp: this topology needs APIC IDs up to %u; vmm uses the xAPIC, "
			 "whose IDs stop at %u (x2APIC is not supported yet)",
			 topology_apic_id_limit(t) - 1, XAPIC_MAX_ID);
		return -1;
	}
	return 0;
}

unsigned topology_smt_bits(const struct cpu_topology *t)
{
	return bits_for(t->threads);
}

unsigned topology_core_bits(const struct cpu_topology *t)
{
	return bits_for(t->cores);
}

unsigned topology_apic_id(const struct cpu_topology *t, unsigned index)
{
	unsigned smt = topology_smt_bits(t), core = topology_core_bits(t);
	unsigned thread_id = index % t->threads;
	unsigned core_id = index / t->threads % t->cores;
	unsigned socket_id = index / (t->threads * t->cores);

	return socket_id << (core + smt) | core_id << smt | thread_id;
}

unsigned topology_apic_id_limit(const struct cpu_topology *t)
{
	return topology_apic_id(t, t->maxcpus - 1) + 1;
}
