/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Realtek RTL8139C+ Fast Ethernet (10ec:8139, revision 0x20, QEMU's
 * `rtl8139`), as its data sheet describes it for what drivers use: the C
 * mode (four transmit slots, the receive ring buffer) that 8139too drives
 * and the C+ mode (transmit and receive descriptor rings, checksum offload
 * and large send) that 8139cp drives; the 93C46 EEPROM behind 9346CR, the
 * built-in PHY's MII registers, the multicast filter, TCTR/TimerInt. The
 * I/O window (BAR0) and the memory window (BAR1) map the same 256 bytes.
 */
#ifndef VMM_HW_RTL8139_H
#define VMM_HW_RTL8139_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"
#include "net.h"
#include "pci.h"

#define RTL8139_REGS_SIZE 256
#define RTL8139_EEPROM_WORDS 64
/* Frames held while the guest has no room (the card's receive FIFO). */
#define RTL8139_RX_PENDING 64
/* C+ descriptor rings end at RingEnd, or after this many descriptors. */
#define RTL8139_CP_RING_MAX 1024

struct rtl8139;

/* A card on 'bus' at 'devfn' on 'backend' (connect it with net_attach(
 * backend, rtl8139_receive, card)), transmitting within the register
 * write. cplus: the RTL8139C+ (revision 0x20, 8139cp's), else an RTL8139C
 * (revision 0x10, its TCR version), which 8139too takes. 'clock' gives
 * nanoseconds for TCTR (NULL: CLOCK_MONOTONIC). rom: an option ROM image
 * (heap; the card frees it), or NULL. NULL if the slot cannot be
 * registered. */
struct rtl8139 *rtl8139_create(struct pci_bus *bus, uint8_t devfn, const struct guest_mem *mem,
			       const uint8_t mac[6], bool cplus, struct net_backend *backend,
			       uint8_t *rom, size_t rom_len, int64_t (*clock)(void *opaque),
			       void *clock_opaque);
/* Holds received frames (pause, saving state) until rtl8139_resume. */
void rtl8139_quiesce(struct rtl8139 *n);
void rtl8139_resume(struct rtl8139 *n);
void rtl8139_destroy(struct rtl8139 *n);
/* The backend it was created on (its table entry stops and destroys it). */
struct net_backend *rtl8139_backend(struct rtl8139 *n);
struct pci_device *rtl8139_pci(struct rtl8139 *n);

bool rtl8139_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *frame, size_t len);
/* The cable (QMP set_link): BMSR link, MSR.LINKB (set: down) and ISR
 * LinkChg; no frame either way while down. Kept across reset. */
void rtl8139_set_link(struct rtl8139 *n, bool up);
bool rtl8139_link(struct rtl8139 *n);
void rtl8139_stats(struct rtl8139 *n, uint64_t *rx_dropped, uint64_t *tx_dropped);

/* Saved state: section "rtl8139", version 1. */
struct ss_writer;
struct ss_reader;
void rtl8139_save(struct rtl8139 *n, struct ss_writer *w, uint32_t instance);
bool rtl8139_load(struct rtl8139 *n, struct ss_reader *r, uint32_t instance);

#endif
