/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A CPU access of 'size' bytes on a bus (port I/O or MMIO), as a vCPU exit
 * makes it; reads are zero-extended, as into a register. */
#ifndef VMM_TESTS_BUS_ACCESS_H
#define VMM_TESTS_BUS_ACCESS_H

#include <stdint.h>

#include "bus.h"

static inline uint64_t bus_rd(struct io_bus *bus, uint64_t addr, unsigned size)
{
	uint64_t v = 0;
	bus_read(bus, addr, &v, size);
	return v;
}

static inline void bus_wr(struct io_bus *bus, uint64_t addr, uint64_t v, unsigned size)
{
	bus_write(bus, addr, &v, size);
}

#endif
