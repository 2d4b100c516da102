/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * i8042 keyboard controller with a PS/2 keyboard and a PS/2 mouse.
 *
 * Ports 0x60 (data) and 0x64 (status/command) are two separate 1-byte
 * regions, so 0x61 stays free for the speaker port (KVM's or hw/audio/pcspk.c).
 * IRQ 1 follows "output buffer full with keyboard/controller data" and
 * IRQ 12 "... with mouse data", each gated by the config byte; they are
 * levels that drop when the guest reads 0x60 (and rise again if more data
 * is queued). A system reset request (0xFE, any 0xF0-0xFF pulse with bit 0
 * clear, or 0xD1 with bit 0 clear) calls reset_request() without the
 * device lock held. All entry points are thread-safe.
 */
#ifndef VMM_HW_I8042_H
#define VMM_HW_I8042_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64

/* Mouse buttons for i8042_mouse_event(). */
#define I8042_BUTTON_LEFT   0x1
#define I8042_BUTTON_RIGHT  0x2
#define I8042_BUTTON_MIDDLE 0x4
#define I8042_BUTTON_SIDE   0x8  /* button 4: IntelliMouse Explorer only */
#define I8042_BUTTON_EXTRA  0x10 /* button 5 */
#define I8042_BUTTONS_ALL   0x1f

struct i8042;

struct i8042 *i8042_create(struct irq_line kbd_irq, struct irq_line aux_irq,
			   void (*reset_request)(void *opaque), void *opaque);
void i8042_destroy(struct i8042 *k);

/* Maps 0x60 and 0x64. Returns 0 or -errno from bus_map(). */
int i8042_map(struct i8042 *k, struct io_bus *pio);

/* Power-on state for the controller, the keyboard and the mouse. */
void i8042_reset(struct i8042 *k);

/* Feeds one key event as its scan code set 2 byte sequence, make or break
 * (e.g. {0x1C} 'A' down, {0xF0, 0x1C} 'A' up, {0xE0, 0x75} Up arrow down).
 * The keyboard converts to set 1 if the guest selected it, and the
 * controller translates to set 1 when config bit 6 is set. Dropped while
 * the keyboard is disabled (0xF5) or its 16-byte buffer is full. Returns
 * the number of bytes accepted (0 or n). */
size_t i8042_put_keycode(struct i8042 *k, const uint8_t *set2, size_t n);

/* Relative mouse motion in screen terms: dx > 0 right, dy > 0 down,
 * dz > 0 wheel toward the user (reported only after the IntelliMouse
 * sequence); 'buttons' is the full current button state. Sends stream
 * packets when reporting is enabled, else accumulates for 0xEB. */
void i8042_mouse_event(struct i8042 *k, int dx, int dy, int dz, unsigned buttons);

/* Makes this controller's keyboard and mouse the ones the input layer
 * (include/input.h) feeds; i8042_destroy disconnects them. */
void i8042_connect_input(struct i8042 *k);

/* Saved state (section "i8042", include/savestate.h): controller, keyboard,
 * mouse and every queued byte. i8042_load checks every value before it
 * replaces the device's; false (reason in r->err) leaves it as it was. */
struct ss_writer;
struct ss_reader;
void i8042_save(struct i8042 *k, struct ss_writer *w, uint32_t instance);
bool i8042_load(struct i8042 *k, struct ss_reader *r, uint32_t instance);

#endif
