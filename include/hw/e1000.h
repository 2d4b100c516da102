/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Intel 8254x gigabit Ethernet (e1000): the 82540EM (8086:100e, QEMU's
 * default NIC), the 82544GC (8086:100c) and the 82545EM (8086:100f), as
 * the 8254x Software Developer's Manual describes them for what drivers
 * use: legacy and extended (context + data) transmit descriptors with
 * checksum offload and TCP segmentation, the receive ring with its buffer
 * sizes and address/multicast/VLAN filters, the interrupt cause and mask
 * registers, the Microwire EEPROM (bit-banged through EECD, or EERD) and
 * the M88 PHY behind MDIC. PCI INTx only (these parts have no MSI).
 */
#ifndef VMM_HW_E1000_H
#define VMM_HW_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"
#include "net.h"
#include "pci.h"

enum e1000_model {
	E1000_82540EM,
	E1000_82544GC,
	E1000_82545EM,
};

#define E1000_MMIO_SIZE 0x20000
#define E1000_IO_SIZE 0x40
#define E1000_EEPROM_WORDS 64
/* Frames the backend delivered while the receive ring was full, held as
 * the card's receive FIFO holds them; beyond that the backend is refused. */
#define E1000_RX_PENDING 64

struct e1000;

/* A card on 'bus' at 'devfn' (BAR0: registers, BAR1: I/O window, INTA),
 * sending to and receiving from 'backend' (connect it with net_attach(
 * backend, e1000_receive, card)). It transmits within the register write
 * that asks for it, on the caller's thread.
 * rom: an option ROM image for the expansion ROM BAR (heap; the card
 * frees it), or NULL. NULL if the slot cannot be registered. */
struct e1000 *e1000_create(struct pci_bus *bus, uint8_t devfn, const struct guest_mem *mem,
			   enum e1000_model model, const uint8_t mac[6],
			   struct net_backend *backend, uint8_t *rom, size_t rom_len);
/* The machine's timers (its main loop), before the guest runs: interrupt
 * throttling (ITR) needs them. Without, every cause is signalled at once. */
struct event_loop;
void e1000_set_timers(struct e1000 *e, struct event_loop *loop);
/* Holds received frames (pause, saving state) until e1000_resume. */
void e1000_quiesce(struct e1000 *e);
void e1000_resume(struct e1000 *e);
void e1000_destroy(struct e1000 *e);
/* The backend it was created on (its table entry stops and destroys it). */
struct net_backend *e1000_backend(struct e1000 *e);
struct pci_device *e1000_pci(struct e1000 *e);

/* The backend's receive callback (net_receive_fn). */
bool e1000_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *frame, size_t len);

/* The cable: the guest sees LSC and the PHY's link bit change; no frame
 * either way while down. Kept across reset. e1000_link: its state now. */
void e1000_set_link(struct e1000 *e, bool up);
bool e1000_link(struct e1000 *e);

/* What a hostile or broken driver cost: frames dropped either way. */
void e1000_stats(struct e1000 *e, uint64_t *rx_dropped, uint64_t *tx_dropped);

/* Saved state: section "e1000", version 1. */
struct ss_writer;
struct ss_reader;
void e1000_save(struct e1000 *e, struct ss_writer *w, uint32_t instance);
bool e1000_load(struct e1000 *e, struct ss_reader *r, uint32_t instance);

#endif
