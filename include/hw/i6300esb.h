/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Intel 6300ESB watchdog timer (hw/i6300esb.c): PCI 8086:25ab. */
#ifndef VMM_HW_I6300ESB_H
#define VMM_HW_I6300ESB_H

#include <stdbool.h>
#include <stdint.h>

struct pci_bus;
struct pci_device;
struct event_loop;
struct watchdog_host;
struct ss_writer;
struct ss_reader;
struct i6300esb;

/* How long a stage with this preload lasts: preload << 15 PCI clocks of
 * 30 ns (<< 5 with the 1 MHz prescaler), at least 100 us. */
int64_t i6300esb_stage_ns(uint32_t preload, bool mhz);

/* Registers at 'devfn'; NULL if it is taken. With a NULL loop the counter
 * never runs out (fuzzers); the action goes to 'host'. */
struct i6300esb *i6300esb_create(struct pci_bus *bus, uint8_t devfn, struct event_loop *loop,
				 struct watchdog_host *host);
struct pci_device *i6300esb_pci(struct i6300esb *s);
/* The counting stage (0: stopped) and the time it has left. */
unsigned i6300esb_stage(struct i6300esb *s, int64_t *left_ns);
void i6300esb_save(struct i6300esb *s, struct ss_writer *w, uint32_t instance);
bool i6300esb_load(struct i6300esb *s, struct ss_reader *r, uint32_t instance);
void i6300esb_destroy(struct i6300esb *s);

#endif
