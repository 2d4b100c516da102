/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AMD PCnet-PCI II (Am79C970A, 1022:2000, QEMU's `pcnet`), as its data
 * sheet describes it for what drivers use (Linux's pcnet32, iPXE): the
 * RAP/RDP/BDP/reset ports in 16-bit (WIO) and 32-bit (DWIO) layout in
 * the I/O BAR and the same 32 bytes in a memory BAR, the address PROM,
 * CSR0's control and interrupt bits with CSR3's masks, the init block
 * (CSR1/CSR2), software styles 0, 2 and 3 (BCR20/CSR58) for the init
 * block and the receive and transmit descriptor rings, chained buffers
 * (STP/ENP), CSR15's mode (promiscuous, broadcast, loopback), the
 * logical address filter, the BCRs Linux reads (2, 4 link status, 9, 18,
 * 20) and an MII PHY behind BCR32-34.
 */
#ifndef VMM_HW_PCNET_H
#define VMM_HW_PCNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"
#include "net.h"
#include "pci.h"

#define PCNET_IO_SIZE 0x20
/* Frames held while the receive ring has no descriptor for them. */
#define PCNET_RX_PENDING 64
/* The largest ring (RLEN/TLEN 9) and the largest frame sent. */
#define PCNET_RING_MAX 512
#define PCNET_TX_MAX 16384

struct pcnet;

/* A card on 'bus' at 'devfn' (connect it with net_attach(backend,
 * pcnet_receive, card)), transmitting within the register write. rom: an
 * option ROM image (heap; the card frees it) or NULL. NULL if the slot
 * cannot be registered. */
struct pcnet *pcnet_create(struct pci_bus *bus, uint8_t devfn, const struct guest_mem *mem,
			   const uint8_t mac[6], struct net_backend *backend, uint8_t *rom,
			   size_t rom_len);
/* Holds transmit and received frames (pause, saving state) until resume. */
void pcnet_quiesce(struct pcnet *p);
void pcnet_resume(struct pcnet *p);
void pcnet_destroy(struct pcnet *p);
struct net_backend *pcnet_backend(struct pcnet *p);
struct pci_device *pcnet_pci(struct pcnet *p);

bool pcnet_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *frame, size_t len);
/* The cable (QMP set_link): BCR4-7's LEDOUT for link status and the PHY's
 * BMSR link bit; no frame either way while down (the Am79C970A has no
 * link-change interrupt). Kept across reset, in saved state. */
void pcnet_set_link(struct pcnet *p, bool up);
bool pcnet_link(struct pcnet *p);
void pcnet_stats(struct pcnet *p, uint64_t *rx_dropped, uint64_t *tx_dropped);

/* Saved state: section "pcnet", version 1. */
struct ss_writer;
struct ss_reader;
void pcnet_save(struct pcnet *p, struct ss_writer *w, uint32_t instance);
bool pcnet_load(struct pcnet *p, struct ss_reader *r, uint32_t instance);

#endif
