/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Keyboard layouts for VNC keysyms (-k LAYOUT). A VNC client without
 * QEMU's extended key event sends X keysyms (the character, not the key);
 * the guest wants the key a keyboard of its layout would have pressed,
 * and the Shift or AltGr that makes that key give the character. With -k
 * de, keysym 'z' is the key labelled Z on a German keyboard (the US 'y'
 * position), '@' is AltGr with the key labelled Q.
 *
 * The table comes from the XKB description of the layout (xkb-data's
 * rules, compiled by libxkbcommon, which is loaded with dlopen only when
 * -k is given): every key of the layout's first group is asked what each
 * of none, Shift, AltGr and Shift+AltGr gives, and each keysym keeps its
 * simplest way (no AltGr before AltGr; the 102nd key, which US keyboards
 * lack, after the other keys; no Shift before Shift; then the lowest key
 * code). Characters also get their Unicode keysyms (0x1000000 + code
 * point), which some clients send. Keys are the input layer's
 * (include/input.h), from the evdev key codes XKB's evdev rules name.
 *
 * QEMU's layout names (de, en-gb, fr-ch, pt-br, ...) are accepted; each
 * names an XKB layout and variant (en-gb is gb, fr-ch is ch(fr)).
 */
#ifndef VMM_KEYMAP_H
#define VMM_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>

/* The longest QEMU layout name, with its NUL. */
#define KEYMAP_NAME_MAX 8

/* One keysym on the layout: the key, and the modifiers it needs. */
struct keymap_key {
	int key;            /* the input layer's key */
	bool shift, altgr;  /* the state the key needs for the keysym */
	/* Whether that state must be made so (pressed or released around the
	 * key): false when the key gives the keysym either way (Return with
	 * Shift) or the client's own Shift and Caps Lock decide (a letter's
	 * case, as on the client's keyboard). */
	bool set_shift, set_altgr;
};

struct keymap;

/* Whether 'name' is one of QEMU's -k layout names. */
bool keymap_known(const char *name);
/* The XKB layout and variant ("" for none) a QEMU name means; false for
 * an unknown name. */
bool keymap_xkb_names(const char *name, const char **layout, const char **variant);

/* Loads libxkbcommon, compiles the layout and builds its table. NULL with
 * one line in err. */
struct keymap *keymap_load(const char *name, char *err, size_t errlen);
void keymap_free(struct keymap *m);

/* What the layout says for 'keysym'; false: it has no key for it. */
bool keymap_lookup(const struct keymap *m, unsigned keysym, struct keymap_key *out);
/* Presses k's key (input_key) with the Shift and AltGr state the layout
 * needs for its keysym, whatever the front-end's user holds (the input
 * layer knows which keys are down): a modifier not held is pressed around
 * the key, one held that would change the character is lifted around it
 * (Shift+',' from a US client is '<', which a German keyboard types
 * without Shift). The release is the key's alone (input_key). */
void keymap_press(const struct keymap *m, const struct keymap_key *k);
/* The layout's AltGr key (its ISO_Level3_Shift), or 0 when it has none
 * (then no keysym needs AltGr). */
int keymap_altgr_key(const struct keymap *m);
/* How many keysyms the table holds. */
size_t keymap_size(const struct keymap *m);

#endif
