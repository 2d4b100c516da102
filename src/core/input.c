// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The input layer (include/input.h): keys by QKeyCode name to PS/2 scan
 * code set 2, the keys that are down, the mouse's absolute position, and
 * the one keyboard and one mouse device they go to.
 *
 * Scan codes are those of an IBM PC MF2 keyboard, from the public scan
 * code tables (set 2 as the keyboard sends it, set 1 as the PC/XT and the
 * i8042's translator give it).
 */
#include "input.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Set 2 and set 1 make codes; E0 marks an E0-prefixed key. Print Screen
 * and Pause have sequences of their own (see key_set2). */
struct key_info {
	const char *name;
	uint8_t set2, set1;
	bool e0;
};

enum { KEY_SPECIAL_PRINT = 0xfe, KEY_SPECIAL_PAUSE = 0xff };

static const struct key_info keys[] = {
	{ NULL, 0, 0, false },
	{ "esc", 0x76, 0x01, false },
	{ "1", 0x16, 0x02, false }, { "2", 0x1e, 0x03, false }, { "3", 0x26, 0x04, false },
	{ "4", 0x25, 0x05, false }, { "5", 0x2e, 0x06, false }, { "6", 0x36, 0x07, false },
	{ "7", 0x3d, 0x08, false }, { "8", 0x3e, 0x09, false }, { "9", 0x46, 0x0a, false },
	{ "0", 0x45, 0x0b, false },
	{ "minus", 0x4e, 0x0c, false }, { "equal", 0x55, 0x0d, false },
	{ "backspace", 0x66, 0x0e, false }, { "tab", 0x0d, 0x0f, false },
	{ "q", 0x15, 0x10, false }, { "w", 0x1d, 0x11, false }, { "e", 0x24, 0x12, false },
	{ "r", 0x2d, 0x13, false }, { "t", 0x2c, 0x14, false }, { "y", 0x35, 0x15, false },
	{ "u", 0x3c, 0x16, false }, { "i", 0x43, 0x17, false }, { "o", 0x44, 0x18, false },
	{ "p", 0x4d, 0x19, false },
	{ "bracket_left", 0x54, 0x1a, false }, { "bracket_right", 0x5b, 0x1b, false },
	{ "ret", 0x5a, 0x1c, false }, { "ctrl", 0x14, 0x1d, false },
	{ "a", 0x1c, 0x1e, false }, { "s", 0x1b, 0x1f, false }, { "d", 0x23, 0x20, false },
	{ "f", 0x2b, 0x21, false }, { "g", 0x34, 0x22, false }, { "h", 0x33, 0x23, false },
	{ "j", 0x3b, 0x24, false }, { "k", 0x42, 0x25, false }, { "l", 0x4b, 0x26, false },
	{ "semicolon", 0x4c, 0x27, false }, { "apostrophe", 0x52, 0x28, false },
	{ "grave_accent", 0x0e, 0x29, false }, { "shift", 0x12, 0x2a, false },
	{ "backslash", 0x5d, 0x2b, false },
	{ "z", 0x1a, 0x2c, false }, { "x", 0x22, 0x2d, false }, { "c", 0x21, 0x2e, false },
	{ "v", 0x2a, 0x2f, false }, { "b", 0x32, 0x30, false }, { "n", 0x31, 0x31, false },
	{ "m", 0x3a, 0x32, false },
	{ "comma", 0x41, 0x33, false }, { "dot", 0x49, 0x34, false }, { "slash", 0x4a, 0x35, false },
	{ "shift_r", 0x59, 0x36, false }, { "kp_multiply", 0x7c, 0x37, false },
	{ "alt", 0x11, 0x38, false }, { "spc", 0x29, 0x39, false },
	{ "caps_lock", 0x58, 0x3a, false },
	{ "f1", 0x05, 0x3b, false }, { "f2", 0x06, 0x3c, false }, { "f3", 0x04, 0x3d, false },
	{ "f4", 0x0c, 0x3e, false }, { "f5", 0x03, 0x3f, false }, { "f6", 0x0b, 0x40, false },
	{ "f7", 0x83, 0x41, false }, { "f8", 0x0a, 0x42, false }, { "f9", 0x01, 0x43, false },
	{ "f10", 0x09, 0x44, false },
	{ "num_lock", 0x77, 0x45, false }, { "scroll_lock", 0x7e, 0x46, false },
	{ "kp_7", 0x6c, 0x47, false }, { "kp_8", 0x75, 0x48, false }, { "kp_9", 0x7d, 0x49, false },
	{ "kp_subtract", 0x7b, 0x4a, false },
	{ "kp_4", 0x6b, 0x4b, false }, { "kp_5", 0x73, 0x4c, false }, { "kp_6", 0x74, 0x4d, false },
	{ "kp_add", 0x79, 0x4e, false },
	{ "kp_1", 0x69, 0x4f, false }, { "kp_2", 0x72, 0x50, false }, { "kp_3", 0x7a, 0x51, false },
	{ "kp_0", 0x70, 0x52, false }, { "kp_decimal", 0x71, 0x53, false },
	{ "less", 0x61, 0x56, false }, { "f11", 0x78, 0x57, false }, { "f12", 0x07, 0x58, false },
	/* Japanese keyboards */
	{ "katakanahiragana", 0x13, 0x70, false }, { "ro", 0x51, 0x73, false },
	{ "henkan", 0x64, 0x79, false }, { "muhenkan", 0x67, 0x7b, false },
	{ "yen", 0x6a, 0x7d, false },
	/* the E0 keys */
	{ "kp_enter", 0x5a, 0x1c, true }, { "ctrl_r", 0x14, 0x1d, true },
	{ "kp_divide", 0x4a, 0x35, true }, { "alt_r", 0x11, 0x38, true },
	{ "home", 0x6c, 0x47, true }, { "up", 0x75, 0x48, true }, { "pgup", 0x7d, 0x49, true },
	{ "left", 0x6b, 0x4b, true }, { "right", 0x74, 0x4d, true }, { "end", 0x69, 0x4f, true },
	{ "down", 0x72, 0x50, true }, { "pgdn", 0x7a, 0x51, true },
	{ "insert", 0x70, 0x52, true }, { "delete", 0x71, 0x53, true },
	{ "meta_l", 0x1f, 0x5b, true }, { "meta_r", 0x27, 0x5c, true },
	{ "menu", 0x2f, 0x5d, true },
	{ "power", 0x37, 0x5e, true }, { "sleep", 0x3f, 0x5f, true }, { "wake", 0x5e, 0x63, true },
	{ "audiomute", 0x23, 0x20, true }, { "volumedown", 0x21, 0x2e, true },
	{ "volumeup", 0x32, 0x30, true },
	/* sequences of their own */
	{ "print", KEY_SPECIAL_PRINT, 0x37, true },
	{ "pause", KEY_SPECIAL_PAUSE, 0x45, false },
};

#define KEY_COUNT ((int)ARRAY_SIZE(keys))

/* QEMU's other names for the same keys. */
static const struct {
	const char *alias, *name;
} key_aliases[] = {
	{ "asterisk", "kp_multiply" }, { "compose", "menu" }, { "sysrq", "print" },
};

static struct {
	pthread_mutex_t lock;
	const struct input_keyboard_ops *kbd_ops;
	void *kbd;
	const struct input_mouse_ops *mouse_ops;
	void *mouse;
	uint8_t down[(ARRAY_SIZE(keys) + 7) / 8];
	unsigned buttons;
	bool have_abs;
	int abs_x, abs_y;
	struct input_stats stats;
} in = { .lock = PTHREAD_MUTEX_INITIALIZER };

int input_key_count(void)
{
	return KEY_COUNT;
}

int input_key_by_name(const char *qcode)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_aliases); i++)
		if (!strcmp(qcode, key_aliases[i].alias))
			qcode = key_aliases[i].name;
	for (int k = 1; k < KEY_COUNT; k++)
		if (!strcmp(keys[k].name, qcode))
			return k;
	return 0;
}

const char *input_key_name(int key)
{
	return key > 0 && key < KEY_COUNT ? keys[key].name : NULL;
}

int input_key_by_scancode(unsigned code)
{
	bool e0 = false;
	if ((code & 0xff00) == 0xe000) {
		e0 = true;
		code &= 0xff;
	} else if (code >= 0x80 && code <= 0xff) {
		e0 = true;
		code &= 0x7f;
	} else if (code > 0xff) {
		return 0;
	}
	for (int k = 1; k < KEY_COUNT; k++)
		if (keys[k].set1 == code && keys[k].e0 == e0)
			return k;
	return 0;
}

size_t input_key_set2(int key, bool down, uint8_t out[INPUT_SEQ_MAX])
{
	static const uint8_t print_make[] = { 0xe0, 0x12, 0xe0, 0x7c };
	static const uint8_t print_break[] = { 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12 };
	static const uint8_t pause_make[] = { 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };
	size_t n = 0;

	if (key <= 0 || key >= KEY_COUNT)
		return 0;
	const struct key_info *k = &keys[key];
	if (k->set2 == KEY_SPECIAL_PRINT) {
		n = down ? sizeof(print_make) : sizeof(print_break);
		memcpy(out, down ? print_make : print_break, n);
		return n;
	}
	if (k->set2 == KEY_SPECIAL_PAUSE) {
		/* make and break in one go on press; nothing on release */
		if (!down)
			return 0;
		memcpy(out, pause_make, sizeof(pause_make));
		return sizeof(pause_make);
	}
	if (k->e0)
		out[n++] = 0xe0;
	if (!down)
		out[n++] = 0xf0;
	out[n++] = k->set2;
	return n;
}

/* ---- devices ------------------------------------------------------------- */

void input_attach_keyboard(const struct input_keyboard_ops *ops, void *opaque)
{
	pthread_mutex_lock(&in.lock);
	in.kbd_ops = ops;
	in.kbd = opaque;
	memset(in.down, 0, sizeof(in.down));
	pthread_mutex_unlock(&in.lock);
}

void input_detach_keyboard(void *opaque)
{
	pthread_mutex_lock(&in.lock);
	if (in.kbd == opaque) {
		in.kbd_ops = NULL;
		in.kbd = NULL;
		memset(in.down, 0, sizeof(in.down));
	}
	pthread_mutex_unlock(&in.lock);
}

void input_attach_mouse(const struct input_mouse_ops *ops, void *opaque)
{
	pthread_mutex_lock(&in.lock);
	in.mouse_ops = ops;
	in.mouse = opaque;
	in.buttons = 0;
	in.have_abs = false;
	pthread_mutex_unlock(&in.lock);
}

void input_detach_mouse(void *opaque)
{
	pthread_mutex_lock(&in.lock);
	if (in.mouse == opaque) {
		in.mouse_ops = NULL;
		in.mouse = NULL;
		in.buttons = 0;
	}
	pthread_mutex_unlock(&in.lock);
}

bool input_has_keyboard(void)
{
	pthread_mutex_lock(&in.lock);
	bool yes = in.kbd_ops != NULL;
	pthread_mutex_unlock(&in.lock);
	return yes;
}

bool input_has_mouse(void)
{
	pthread_mutex_lock(&in.lock);
	bool yes = in.mouse_ops != NULL;
	pthread_mutex_unlock(&in.lock);
	return yes;
}

/* ---- keys ------------------------------------------------------------------ */

static bool is_down(int key) { return in.down[key / 8] & (1u << (key % 8)); }

static void set_down(int key, bool down)
{
	if (down)
		in.down[key / 8] |= (uint8_t)(1u << (key % 8));
	else
		in.down[key / 8] &= (uint8_t)~(1u << (key % 8));
}

/* The lock held. */
static void send_key(int key, bool down)
{
	uint8_t seq[INPUT_SEQ_MAX];
	size_t n = input_key_set2(key, down, seq);

	set_down(key, down);
	if (!n)
		return;
	if (in.kbd_ops->put_set2(in.kbd, seq, n) == n)
		in.stats.keys++;
	else
		in.stats.keys_dropped++;
}

bool input_key(int key, bool down)
{
	if (key <= 0 || key >= KEY_COUNT)
		return false;
	pthread_mutex_lock(&in.lock);
	bool ok = in.kbd_ops != NULL;
	if (ok && (down || is_down(key)))
		send_key(key, down);
	pthread_mutex_unlock(&in.lock);
	return ok;
}

bool input_key_is_down(int key)
{
	if (key <= 0 || key >= KEY_COUNT)
		return false;
	pthread_mutex_lock(&in.lock);
	bool down = is_down(key);
	pthread_mutex_unlock(&in.lock);
	return down;
}

/* ---- mouse ------------------------------------------------------------------ */

/* The lock held. */
static void send_mouse(int dx, int dy, int dz, unsigned buttons)
{
	in.buttons = buttons & INPUT_BUTTONS_ALL;
	if (!in.mouse_ops)
		return;
	in.mouse_ops->event(in.mouse, dx, dy, dz, in.buttons);
	in.stats.mouse_events++;
}

void input_release_all(void)
{
	pthread_mutex_lock(&in.lock);
	if (in.kbd_ops)
		for (int k = 1; k < KEY_COUNT; k++)
			if (is_down(k))
				send_key(k, false);
	memset(in.down, 0, sizeof(in.down));
	if (in.buttons)
		send_mouse(0, 0, 0, 0);
	pthread_mutex_unlock(&in.lock);
}

void input_mouse_rel(int dx, int dy, int dz, unsigned buttons)
{
	pthread_mutex_lock(&in.lock);
	send_mouse(dx, dy, dz, buttons);
	pthread_mutex_unlock(&in.lock);
}

void input_mouse_abs(int x, int y, int dz, unsigned buttons)
{
	pthread_mutex_lock(&in.lock);
	int dx = in.have_abs ? x - in.abs_x : 0;
	int dy = in.have_abs ? y - in.abs_y : 0;
	in.abs_x = x;
	in.abs_y = y;
	in.have_abs = true;
	if (dx || dy || dz || (buttons & INPUT_BUTTONS_ALL) != in.buttons)
		send_mouse(dx, dy, dz, buttons);
	pthread_mutex_unlock(&in.lock);
}

void input_mouse_abs_reset(void)
{
	pthread_mutex_lock(&in.lock);
	in.have_abs = false;
	pthread_mutex_unlock(&in.lock);
}

void input_stats(struct input_stats *out)
{
	pthread_mutex_lock(&in.lock);
	*out = in.stats;
	pthread_mutex_unlock(&in.lock);
}
