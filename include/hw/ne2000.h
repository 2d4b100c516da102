/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NE2000-compatible Ethernet cards on one National DP8390 core
 * (hw/net/ne2000.c): QEMU's `ne2k_pci` (the Realtek RTL8029, 10ec:8029,
 * one I/O BAR, INTA) and `ne2k_isa` (32 ports at iobase, one ISA line).
 * The DP8390's register pages 0-2 (command, ring pointers, transmit
 * page and count, interrupt status and mask, receive/transmit/data
 * configuration, remote DMA address and count, station address,
 * multicast filter, tally counters), the data port (byte or word wide by
 * DCR.WTS, 32 bits on the PCI card) and the reset port, the card's
 * 32 KiB of buffer memory at 0x4000-0xBFFF (the 16 KiB ring drivers set
 * up lives in it) and the station address PROM at 0x0000 (each byte
 * doubled, 'WW' at its end, as NE2000 drivers read it).
 */
#ifndef VMM_HW_NE2000_H
#define VMM_HW_NE2000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"
#include "net.h"
#include "pci.h"

#define NE2000_IO_SIZE 0x20       /* registers 0x00-0x0F, data 0x10-0x17, reset 0x18-0x1F */
#define NE2000_PROM_SIZE 32
#define NE2000_MEM_START 0x4000   /* the buffer memory, in the card's address space */
#define NE2000_MEM_END 0xC000
/* Frames held while the ring is full (the backend is refused beyond). */
#define NE2000_RX_PENDING 64

struct ne2000;

/* The PCI card on 'bus' at 'devfn' / the ISA card at 'iobase' on 'irq',
 * transmitting within the register write. rom: an option ROM image (heap;
 * the card frees it) or NULL. NULL if the slot or the ports are taken.
 * Connect with net_attach(backend, ne2000_receive, card). */
struct ne2000 *ne2000_create_pci(struct pci_bus *bus, uint8_t devfn, const uint8_t mac[6],
				 struct net_backend *backend, uint8_t *rom, size_t rom_len);
struct ne2000 *ne2000_create_isa(struct io_bus *pio, uint16_t iobase, struct irq_line irq,
				 const uint8_t mac[6], struct net_backend *backend);
/* The ISA card's power-on state (the PCI card resets through its function). */
void ne2000_reset(struct ne2000 *n);
/* Holds received frames (pause, saving state) until resume, which also
 * runs a transmit still pending (one a loaded state asked for). */
void ne2000_quiesce(struct ne2000 *n);
void ne2000_resume(struct ne2000 *n);
void ne2000_destroy(struct ne2000 *n);
struct net_backend *ne2000_backend(struct ne2000 *n);
struct pci_device *ne2000_pci(struct ne2000 *n); /* NULL for the ISA card */

bool ne2000_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *frame, size_t len);
/* The cable (QMP set_link): the DP8390 has no link bit, so the guest sees
 * only frames stop both ways (a transmit ends with TSR.CRS). Kept across
 * reset, in saved state. ne2000_link: its state now. */
void ne2000_set_link(struct ne2000 *n, bool up);
bool ne2000_link(struct ne2000 *n);
void ne2000_stats(struct ne2000 *n, uint64_t *rx_dropped, uint64_t *tx_dropped);

/* Saved state: section "ne2k_pci" (with the PCI configuration) or
 * "ne2k_isa", version 1. */
struct ss_writer;
struct ss_reader;
void ne2000_save(struct ne2000 *n, struct ss_writer *w, uint32_t instance);
bool ne2000_load(struct ne2000 *n, struct ss_reader *r, uint32_t instance);

#endif
