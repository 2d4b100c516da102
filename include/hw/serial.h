/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NS16550A UART (8 registers at 'base', e.g. COM1 0x3F8 with IRQ 4).
 *
 * Transmission is instantaneous: every byte written to THR outside loopback
 * mode goes straight to the backend's write callback (called with the
 * device lock held; it must not call back into this UART), and THR/TSR are
 * empty again at once. Input comes from serial_receive(), which takes only
 * what fits in the receive FIFO (16 bytes, or 1 with FIFOs off); the
 * rx-ready callback tells the feeder when the guest has made room. The
 * modem inputs read CTS, DSR and DCD asserted outside loopback mode.
 * The interrupt output is a level (no OUT2 gating, as in QEMU).
 */
#ifndef VMM_HW_SERIAL_H
#define VMM_HW_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ  4
#define SERIAL_FIFO_SIZE 16

struct serial;

typedef void (*serial_write_fn)(void *opaque, const uint8_t *buf, size_t len);

struct serial *serial_create(struct irq_line irq, serial_write_fn write, void *opaque);
void serial_destroy(struct serial *s);

/* Maps the 8 registers at 'base'. Returns 0 or -errno from bus_map(). */
int serial_map(struct serial *s, struct io_bus *pio, uint16_t base);

/* Queues host input; thread-safe. Returns how many bytes were accepted
 * (0 while in loopback mode or with the receiver full). */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

/* A break on the receive line (Ctrl-A b): a zero character with LSR BI. */
void serial_break(struct serial *s);
/* Free space in the receiver right now (what serial_receive would take). */
size_t serial_rx_space(struct serial *s);

/* 'cb' runs (without the device lock, from the vCPU thread that read RBR,
 * reset the FIFO or left loopback) whenever receiver space becomes
 * available. Set it before the guest runs. */
void serial_set_rx_ready_cb(struct serial *s, void (*cb)(void *opaque), void *opaque);

/* Registers to power-on values; lowers the IRQ; drops pending input. */
void serial_reset(struct serial *s);

/* Saved state (section "serial", include/savestate.h). serial_load
 * checks every value before it replaces the device's; false (reason in
 * r->err) leaves the device as it was. */
struct ss_writer;
struct ss_reader;
void serial_save(struct serial *s, struct ss_writer *w, uint32_t instance);
bool serial_load(struct serial *s, struct ss_reader *r, uint32_t instance);

#endif
