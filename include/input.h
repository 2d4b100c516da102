/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input layer: what front-ends (the SDL window, VNC, QMP send-key and
 * input-send-event) call with the user's keys and mouse, and what the
 * keyboard and mouse devices (the i8042's PS/2 keyboard and mouse) attach
 * to.
 *
 * Keys are named by QEMU's QKeyCode names ("a", "ret", "ctrl_r",
 * "print", ...), which QMP uses; each has the scan code set 2 bytes a real
 * PS/2 keyboard sends for it, make and break (E0-prefixed keys, Print
 * Screen's four-byte make, Pause's eight bytes and no break). The keyboard
 * device turns set 2 into what the guest asked for (set 1 by the keyboard
 * or through the i8042's translator), as real hardware does.
 *
 * The layer remembers which keys are down, so a front-end that loses focus
 * or a client that goes away releases them (input_release_all) and no key
 * stays stuck in the guest. A key pressed again while down is sent again:
 * that is the typematic repeat, paced by the host's own auto-repeat.
 *
 * The mouse is relative (PS/2 has no absolute mode): an absolute position
 * (a VNC pointer, an unGrabbed SDL window) becomes the motion from the
 * previous one.
 *
 * Thread safety: every function may be called from any thread. Devices
 * are called with the layer's lock held, which makes attach/detach
 * exclusive with calls in flight (a detached device is never called
 * again); a device must not call back into the layer.
 */
#ifndef VMM_INPUT_H
#define VMM_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INPUT_BUTTON_LEFT   0x1
#define INPUT_BUTTON_RIGHT  0x2
#define INPUT_BUTTON_MIDDLE 0x4
#define INPUT_BUTTON_SIDE   0x8  /* QEMU's "side" and "extra": buttons 4 and 5 */
#define INPUT_BUTTON_EXTRA  0x10
#define INPUT_BUTTONS_ALL   0x1f

/* The longest set 2 sequence of one event (Pause's make). */
#define INPUT_SEQ_MAX 8

/* Keys, by number: 1..input_key_count()-1 (0 is no key). */
int input_key_count(void);
/* The key of a QKeyCode name ("a", "kp_enter"), or 0. */
int input_key_by_name(const char *qcode);
/* Its name, or NULL for a number out of range. */
const char *input_key_name(int key);
/* The key whose set 1 make code (the PC/XT "scan code" QEMU's
 * input-send-event "number" and VNC's extended key event carry: 0xE0
 * prefixed keys as 0xE0xx or 0x80|xx) is 'code', or 0. */
int input_key_by_scancode(unsigned code);
/* Key 'key' down or up as set 2 bytes; returns their number (0: none, as
 * Pause's break). */
size_t input_key_set2(int key, bool down, uint8_t out[INPUT_SEQ_MAX]);

/* What a keyboard device takes: set 2 bytes of one event; returns how many
 * it accepted (all or none: a full buffer drops the event, as a real
 * keyboard does). */
struct input_keyboard_ops {
	size_t (*put_set2)(void *opaque, const uint8_t *bytes, size_t n);
};
/* What a mouse device takes: relative motion (dx > 0 right, dy > 0 down,
 * dz > 0 the wheel towards the user) and the buttons now down. */
struct input_mouse_ops {
	void (*event)(void *opaque, int dx, int dy, int dz, unsigned buttons);
};

/* One keyboard and one mouse (the last attached wins); detach only the one
 * that is attached (others are left alone). */
void input_attach_keyboard(const struct input_keyboard_ops *ops, void *opaque);
void input_detach_keyboard(void *opaque);
void input_attach_mouse(const struct input_mouse_ops *ops, void *opaque);
void input_detach_mouse(void *opaque);
bool input_has_keyboard(void);
bool input_has_mouse(void);

/* ---- for front-ends ---------------------------------------------------- */

/* Key down or up. Up for a key that is not down is dropped (a release the
 * guest never saw a press for). false: no such key or no keyboard. */
bool input_key(int key, bool down);
/* Whether key 'key' is down (pressed by any front-end and not released). */
bool input_key_is_down(int key);
/* Releases every key that is down, and every mouse button. */
void input_release_all(void);
/* Relative motion, wheel and the buttons now down (INPUT_BUTTON_*). */
void input_mouse_rel(int dx, int dy, int dz, unsigned buttons);
/* An absolute pointer position: moves by the difference from the last
 * absolute position (the first one only sets it). */
void input_mouse_abs(int x, int y, int dz, unsigned buttons);
/* Forgets the last absolute position (a new client, a new mode). */
void input_mouse_abs_reset(void);

/* Counts for tests and figures: events the devices accepted. */
struct input_stats {
	uint64_t keys, keys_dropped, mouse_events;
};
void input_stats(struct input_stats *out);

#endif
