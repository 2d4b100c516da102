/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the emulated NICs' unit tests (e1000, rtl8139, ne2000, pcnet) stand
 * the card on: guest RAM, the I/O and memory buses, a PCI bus whose INTx
 * lands in 'intx', and a fake backend that records what the card sends
 * and counts net_rx_ready() calls.
 *
 * A test's context starts with NIC_FIXTURE; its fields are then members of
 * the context by name (c->nsent, c->ram) and the whole is c->fx for the
 * helpers below:
 *
 *     struct ctx { NIC_FIXTURE; struct e1000 *e; };
 *     nic_fixture_init(&c->fx, RAM_SIZE);   ...   nic_fixture_fini(&c->fx);
 */
#ifndef VMM_TESTS_NIC_FIXTURE_H
#define VMM_TESTS_NIC_FIXTURE_H

#include "unit.h"

#include <stdlib.h>

#include "bus.h"
#include "guest_mem.h"
#include "net.h"
#include "pci.h"
#include "util.h"

#define NIC_FIXTURE_SENT 64 /* frames recorded; nsent counts them all */

#define NIC_FIXTURE_FIELDS                                                                    \
	struct net_backend be; /* first: the backend's ops get the fixture back */           \
	uint8_t *ram;          /* NULL for a card without bus mastering (ne2000) */           \
	struct guest_mem mem;                                                                 \
	struct io_bus pio, mmio;                                                              \
	struct pci_bus pci;                                                                   \
	int intx; /* the card's interrupt line as the test's board sees it */                 \
	unsigned nsent, rx_ready;                                                             \
	size_t sent_len[NIC_FIXTURE_SENT];                                                    \
	uint8_t sent[NIC_FIXTURE_SENT][2048];

struct nic_fixture {
	NIC_FIXTURE_FIELDS
};

/* The same storage by name and as a whole (a union's common initial
 * sequence: both views are the same fields). */
#define NIC_FIXTURE                                                                           \
	union {                                                                               \
		struct nic_fixture fx;                                                        \
		struct {                                                                      \
			NIC_FIXTURE_FIELDS                                                    \
		};                                                                            \
	}

static inline void nic_fixture_send(struct net_backend *b, const struct net_hdr *hdr,
				    const uint8_t *frame, size_t len)
{
	struct nic_fixture *f = (struct nic_fixture *)b;
	if (f->nsent < NIC_FIXTURE_SENT) {
		f->sent_len[f->nsent] = len;
		memcpy(f->sent[f->nsent], frame, MIN(len, sizeof(f->sent[0])));
	}
	f->nsent++;
}

static inline void nic_fixture_rx_ready(struct net_backend *b)
{
	((struct nic_fixture *)b)->rx_ready++;
}

static const struct net_backend_ops nic_fixture_ops = {
	.send = nic_fixture_send,
	.rx_ready = nic_fixture_rx_ready,
};

static inline void nic_fixture_set_intx(void *opaque, uint8_t devfn, unsigned pin, int level)
{
	((struct nic_fixture *)opaque)->intx = level;
}

/* 'ram_size' bytes of zeroed guest RAM (0: none), the buses, the fake
 * backend (not yet attached: the card's create comes first). */
static inline void nic_fixture_init(struct nic_fixture *f, size_t ram_size)
{
	if (ram_size) {
		f->ram = calloc(1, ram_size);
		assert_non_null(f->ram);
		guest_mem_init_buffer(&f->mem, f->ram, ram_size);
	}
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->pci, &f->pio, &f->mmio);
	f->pci.set_intx = nic_fixture_set_intx;
	f->pci.intx_opaque = f;
	f->be.ops = &nic_fixture_ops;
}

/* After the card is destroyed. */
static inline void nic_fixture_fini(struct nic_fixture *f)
{
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f->ram);
}

#endif
