// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Keyboard layouts for VNC keysyms (include/keymap.h), from XKB through
 * libxkbcommon, loaded on demand.
 *
 * The compiled keymap and its context live only while the table is built
 * (a few ms, before the sandbox): what stays is a sorted array of
 * keysym -> key and modifiers, looked up with a binary search by the VNC
 * thread.
 */
#include "keymap.h"

#include <linux/input-event-codes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xkbcommon/xkbcommon.h>

#include "input.h"
#include "lazylib.h"
#include "util.h"

/* ---- QEMU's layout names --------------------------------------------- */

static const struct {
	const char *qemu, *layout, *variant;
} layouts[] = {
	{ "ar", "ara", "" },     { "bepo", "fr", "bepo" }, { "cz", "cz", "" },
	{ "da", "dk", "" },      { "de", "de", "" },       { "de-ch", "ch", "" },
	{ "en-gb", "gb", "" },   { "en-us", "us", "" },    { "es", "es", "" },
	{ "et", "ee", "" },      { "fi", "fi", "" },       { "fo", "fo", "" },
	{ "fr", "fr", "" },      { "fr-be", "be", "" },    { "fr-ca", "ca", "" },
	{ "fr-ch", "ch", "fr" }, { "hr", "hr", "" },       { "hu", "hu", "" },
	{ "is", "is", "" },      { "it", "it", "" },       { "ja", "jp", "" },
	{ "lt", "lt", "" },      { "lv", "lv", "" },       { "mk", "mk", "" },
	{ "nl", "nl", "" },      { "no", "no", "" },       { "pl", "pl", "" },
	{ "pt", "pt", "" },      { "pt-br", "br", "" },    { "ru", "ru", "" },
	{ "sl", "si", "" },      { "sv", "se", "" },       { "th", "th", "" },
	{ "tr", "tr", "" },
};

bool keymap_xkb_names(const char *name, const char **layout, const char **variant)
{
	for (size_t i = 0; i < ARRAY_SIZE(layouts); i++)
		if (!strcmp(name, layouts[i].qemu)) {
			*layout = layouts[i].layout;
			*variant = layouts[i].variant;
			return true;
		}
	return false;
}

bool keymap_known(const char *name)
{
	const char *l, *v;
	return keymap_xkb_names(name, &l, &v);
}

/* ---- libxkbcommon, loaded on demand ------------------------------------ */

static struct {
	struct xkb_context *(*context_new)(enum xkb_context_flags);
	void (*context_unref)(struct xkb_context *);
	void (*set_log_level)(struct xkb_context *, enum xkb_log_level);
	int (*include_default)(struct xkb_context *);
	struct xkb_keymap *(*keymap_new)(struct xkb_context *, const struct xkb_rule_names *,
					 enum xkb_keymap_compile_flags);
	void (*keymap_unref)(struct xkb_keymap *);
	xkb_keycode_t (*min_keycode)(struct xkb_keymap *);
	xkb_keycode_t (*max_keycode)(struct xkb_keymap *);
	xkb_level_index_t (*num_levels)(struct xkb_keymap *, xkb_keycode_t, xkb_layout_index_t);
	int (*syms_by_level)(struct xkb_keymap *, xkb_keycode_t, xkb_layout_index_t,
			     xkb_level_index_t, const xkb_keysym_t **);
	size_t (*mods_for_level)(struct xkb_keymap *, xkb_keycode_t, xkb_layout_index_t,
				 xkb_level_index_t, xkb_mod_mask_t *, size_t);
	xkb_mod_index_t (*mod_index)(struct xkb_keymap *, const char *);
	struct xkb_state *(*state_new)(struct xkb_keymap *);
	void (*state_unref)(struct xkb_state *);
	enum xkb_state_component (*state_update_key)(struct xkb_state *, xkb_keycode_t,
						     enum xkb_key_direction);
	xkb_mod_mask_t (*state_mods)(struct xkb_state *, enum xkb_state_component);
	xkb_keysym_t (*to_upper)(xkb_keysym_t);
	xkb_keysym_t (*to_lower)(xkb_keysym_t);
	uint32_t (*to_utf32)(xkb_keysym_t);
} xkb;

static const struct lazysym xkb_syms[] = {
	{ "xkb_context_new", (void **)&xkb.context_new },
	{ "xkb_context_unref", (void **)&xkb.context_unref },
	{ "xkb_context_set_log_level", (void **)&xkb.set_log_level },
	{ "xkb_context_include_path_append_default", (void **)&xkb.include_default },
	{ "xkb_keymap_new_from_names", (void **)&xkb.keymap_new },
	{ "xkb_keymap_unref", (void **)&xkb.keymap_unref },
	{ "xkb_keymap_min_keycode", (void **)&xkb.min_keycode },
	{ "xkb_keymap_max_keycode", (void **)&xkb.max_keycode },
	{ "xkb_keymap_num_levels_for_key", (void **)&xkb.num_levels },
	{ "xkb_keymap_key_get_syms_by_level", (void **)&xkb.syms_by_level },
	{ "xkb_keymap_key_get_mods_for_level", (void **)&xkb.mods_for_level },
	{ "xkb_keymap_mod_get_index", (void **)&xkb.mod_index },
	{ "xkb_state_new", (void **)&xkb.state_new },
	{ "xkb_state_unref", (void **)&xkb.state_unref },
	{ "xkb_state_update_key", (void **)&xkb.state_update_key },
	{ "xkb_state_serialize_mods", (void **)&xkb.state_mods },
	{ "xkb_keysym_to_upper", (void **)&xkb.to_upper },
	{ "xkb_keysym_to_lower", (void **)&xkb.to_lower },
	{ "xkb_keysym_to_utf32", (void **)&xkb.to_utf32 },
	{ NULL, NULL },
};

static struct lazylib libxkbcommon = LAZYLIB_INIT("libxkbcommon.so.0", xkb_syms);

/* ---- evdev key codes to the input layer's keys -------------------------- */

/* XKB's evdev rules number a key by its Linux key code + 8. Codes 1-83
 * (Esc to the keypad's '.') are the PC/XT set 1 make codes themselves;
 * the rest are named here. */
static const struct {
	uint16_t code;
	const char *key;
} evdev_keys[] = {
	{ KEY_102ND, "less" }, { KEY_F11, "f11" }, { KEY_F12, "f12" }, { KEY_RO, "ro" },
	{ KEY_HENKAN, "henkan" }, { KEY_KATAKANAHIRAGANA, "katakanahiragana" },
	{ KEY_MUHENKAN, "muhenkan" }, { KEY_KPENTER, "kp_enter" }, { KEY_RIGHTCTRL, "ctrl_r" },
	{ KEY_KPSLASH, "kp_divide" }, { KEY_SYSRQ, "print" }, { KEY_RIGHTALT, "alt_r" },
	{ KEY_HOME, "home" }, { KEY_UP, "up" }, { KEY_PAGEUP, "pgup" }, { KEY_LEFT, "left" },
	{ KEY_RIGHT, "right" }, { KEY_END, "end" }, { KEY_DOWN, "down" },
	{ KEY_PAGEDOWN, "pgdn" }, { KEY_INSERT, "insert" }, { KEY_DELETE, "delete" },
	{ KEY_MUTE, "audiomute" }, { KEY_VOLUMEDOWN, "volumedown" },
	{ KEY_VOLUMEUP, "volumeup" }, { KEY_POWER, "power" }, { KEY_PAUSE, "pause" },
	{ KEY_YEN, "yen" }, { KEY_LEFTMETA, "meta_l" }, { KEY_RIGHTMETA, "meta_r" },
	{ KEY_COMPOSE, "menu" }, { KEY_SLEEP, "sleep" }, { KEY_WAKEUP, "wake" },
};

/* The input layer's key for a Linux key code, or 0 (a key a PC keyboard
 * does not have, or one of XKB's virtual keys like <LVL3>). */
static int key_of_evdev(unsigned code)
{
	if (code >= KEY_ESC && code <= KEY_KPDOT)
		return input_key_by_scancode(code);
	for (size_t i = 0; i < ARRAY_SIZE(evdev_keys); i++)
		if (evdev_keys[i].code == code)
			return input_key_by_name(evdev_keys[i].key);
	return 0;
}

/* ---- the table ----------------------------------------------------------- */

/* Modifier combinations, as bits. */
enum { COMBO_SHIFT = 1, COMBO_ALTGR = 2, COMBOS = 4 };

#define ENTRY_SET_SHIFT 0x4
#define ENTRY_SET_ALTGR 0x8

struct entry {
	uint32_t keysym;
	uint16_t key;
	uint8_t combo;      /* COMBO_*: what the key needs */
	uint8_t flags;      /* ENTRY_SET_*: which of them must be made so */
	uint16_t evdev;     /* ties between keys: the lowest code wins */
	/* the 102nd key (ISO's, left of Z), which US keyboards lack: a
	 * later choice than Shift on another key, so that a US layout's '<'
	 * is Shift+',' (XKB gives every pc105 layout that key, US too, with
	 * '<' on it) */
	bool iso_extra;
};

struct keymap {
	struct entry *e;
	size_t n, cap;
	int altgr_key;
	int shift_key, shift_r_key;
};

/* The real modifiers each combination needs (Shift; AltGr is whatever the
 * layout's ISO_Level3_Shift key sets, Mod5 in xkb-data). */
struct combo_masks {
	xkb_mod_mask_t shift, altgr;
};

static int add_entry(struct keymap *m, const struct entry *e)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 512;
		struct entry *ne = realloc(m->e, cap * sizeof(*ne));
		if (!ne)
			return -1;
		m->e = ne;
		m->cap = cap;
	}
	m->e[m->n++] = *e;
	return 0;
}

static xkb_mod_mask_t combo_mask(const struct combo_masks *cm, unsigned combo)
{
	return (combo & COMBO_SHIFT ? cm->shift : 0) | (combo & COMBO_ALTGR ? cm->altgr : 0);
}

/* The one keysym a key gives at a level, or 0 (none, or several). */
static xkb_keysym_t sym_at(struct xkb_keymap *km, xkb_keycode_t kc, xkb_level_index_t level)
{
	const xkb_keysym_t *syms;
	return xkb.syms_by_level(km, kc, 0, level, &syms) == 1 ? syms[0] : 0;
}

/* What each combination gives on key kc: the level whose modifier masks
 * include the combination's, else level 0 (XKB's rule for a state its
 * key type does not list). */
static void key_syms(struct xkb_keymap *km, xkb_keycode_t kc, const struct combo_masks *cm,
		     xkb_keysym_t sym[COMBOS])
{
	xkb_level_index_t level[COMBOS] = { 0 };
	bool found[COMBOS] = { false };
	xkb_level_index_t levels = xkb.num_levels(km, kc, 0);

	for (xkb_level_index_t l = 0; l < levels; l++) {
		xkb_mod_mask_t masks[16];
		size_t n = xkb.mods_for_level(km, kc, 0, l, masks, ARRAY_SIZE(masks));
		for (size_t i = 0; i < n; i++)
			for (unsigned c = 0; c < COMBOS; c++)
				if (!found[c] && masks[i] == combo_mask(cm, c)) {
					found[c] = true;
					level[c] = l;
				}
	}
	for (unsigned c = 0; c < COMBOS; c++)
		sym[c] = sym_at(km, kc, level[c]);
}

/* Keysyms of keys rather than characters (Tab, Return, arrows, F-keys,
 * the keypad, modifiers, ISO_Left_Tab), dead keys aside: Shift or AltGr
 * the user holds with them is the user's (Shift+Tab, Shift+Right, even
 * where the layout gives Shift+Tab a keysym of its own); only what such a
 * keysym needs is pressed for it. */
static bool key_keysym(xkb_keysym_t ks)
{
	return ks >= 0xfe00 && ks <= 0xffff && !(ks >= XKB_KEY_dead_grave && ks <= 0xfe8f);
}

/* Whether a and b are the lower and upper case of one letter. */
static bool case_pair(xkb_keysym_t a, xkb_keysym_t b)
{
	return a != b && (xkb.to_upper(a) == b || xkb.to_lower(a) == b);
}

static int add_key(struct keymap *m, struct xkb_keymap *km, xkb_keycode_t kc,
		   const struct combo_masks *cm)
{
	int key = kc >= 8 ? key_of_evdev(kc - 8) : 0;
	if (!key)
		return 0;
	xkb_keysym_t sym[COMBOS];
	key_syms(km, kc, cm, sym);
	for (unsigned c = 0; c < COMBOS; c++) {
		if (!sym[c] || ((c & COMBO_ALTGR) && !cm->altgr))
			continue;
		struct entry e = { .keysym = sym[c], .key = (uint16_t)key, .combo = (uint8_t)c,
				   .evdev = (uint16_t)(kc - 8), .iso_extra = kc - 8 == KEY_102ND };
		xkb_keysym_t other_shift = sym[c ^ COMBO_SHIFT];
		if (key_keysym(sym[c])) {
			e.flags |= (c & COMBO_SHIFT ? ENTRY_SET_SHIFT : 0) |
				   (c & COMBO_ALTGR ? ENTRY_SET_ALTGR : 0);
		} else {
			/* a letter's case is the client's Shift and Caps Lock */
			if (other_shift != sym[c] && !case_pair(sym[c], other_shift))
				e.flags |= ENTRY_SET_SHIFT;
			if (cm->altgr && sym[c ^ COMBO_ALTGR] != sym[c])
				e.flags |= ENTRY_SET_ALTGR;
		}
		if (add_entry(m, &e) < 0)
			return -1;
		/* clients may send a character as its Unicode keysym
		 * (0x1000000 + code point) where XKB names it otherwise */
		uint32_t u = xkb.to_utf32(sym[c]);
		if (u >= 0x20 && u != 0x7f && !key_keysym(sym[c]) && (0x1000000u | u) != sym[c]) {
			e.keysym = 0x1000000u | u;
			if (add_entry(m, &e) < 0)
				return -1;
		}
	}
	return 0;
}

/* The order of preference among the ways to type one keysym: without
 * AltGr before with it, then any other key before the 102nd key, then
 * without Shift before with it. */
static int entry_rank(const struct entry *e)
{
	return (e->combo & COMBO_ALTGR ? 4 : 0) + (e->iso_extra ? 2 : 0) +
	       (e->combo & COMBO_SHIFT ? 1 : 0);
}

static int entry_order(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	if (a->keysym != b->keysym)
		return a->keysym < b->keysym ? -1 : 1;
	if (entry_rank(a) != entry_rank(b))
		return entry_rank(a) - entry_rank(b);
	return a->evdev - b->evdev;
}

/* Sorted by keysym, each keysym's cheapest way first; the others go. */
static void keep_cheapest(struct keymap *m)
{
	size_t out = 0;
	qsort(m->e, m->n, sizeof(*m->e), entry_order);
	for (size_t i = 0; i < m->n; i++)
		if (!out || m->e[out - 1].keysym != m->e[i].keysym)
			m->e[out++] = m->e[i];
	m->n = out;
}

/* The key code whose plain level gives keysym ks (the lowest), or 0. */
static xkb_keycode_t find_keycode(struct xkb_keymap *km, xkb_keysym_t ks)
{
	for (xkb_keycode_t kc = xkb.min_keycode(km); kc <= xkb.max_keycode(km); kc++)
		if (key_of_evdev(kc - 8) && sym_at(km, kc, 0) == ks)
			return kc;
	return 0;
}

/* Shift's real modifier, and those the layout's AltGr key sets (none
 * when no real key of it is ISO_Level3_Shift: then nothing needs it). */
static void find_masks(struct xkb_keymap *km, struct combo_masks *cm, int *altgr_key)
{
	xkb_mod_index_t shift = xkb.mod_index(km, XKB_MOD_NAME_SHIFT);
	cm->shift = shift == XKB_MOD_INVALID ? 0 : 1u << shift;
	cm->altgr = 0;
	*altgr_key = 0;
	xkb_keycode_t kc = find_keycode(km, XKB_KEY_ISO_Level3_Shift);
	struct xkb_state *st = kc ? xkb.state_new(km) : NULL;
	if (st) {
		xkb.state_update_key(st, kc, XKB_KEY_DOWN);
		cm->altgr = xkb.state_mods(st, XKB_STATE_MODS_EFFECTIVE) & ~cm->shift;
		xkb.state_unref(st);
		if (cm->altgr)
			*altgr_key = key_of_evdev(kc - 8);
	}
}

static struct keymap *build(struct xkb_keymap *km)
{
	struct keymap *m = calloc(1, sizeof(*m));
	struct combo_masks cm;

	if (!m)
		return NULL;
	m->shift_key = input_key_by_name("shift");
	m->shift_r_key = input_key_by_name("shift_r");
	find_masks(km, &cm, &m->altgr_key);
	for (xkb_keycode_t kc = xkb.min_keycode(km); kc <= xkb.max_keycode(km); kc++)
		if (add_key(m, km, kc, &cm) < 0) {
			keymap_free(m);
			return NULL;
		}
	keep_cheapest(m);
	return m;
}

struct keymap *keymap_load(const char *name, char *err, size_t errlen)
{
	const char *layout, *variant;
	char why[200];

	if (!keymap_xkb_names(name, &layout, &variant)) {
		set_err(err, errlen, "-k %s: unknown keyboard layout", name);
		return NULL;
	}
	if (lazylib_load(&libxkbcommon, why, sizeof(why)) < 0) {
		set_err(err, errlen, "-k %s: %s (Debian: libxkbcommon0)", name, why);
		return NULL;
	}
	/* XKB_DEFAULT_* from the environment must not change the layout; the
	 * data's path is added after the log level is set, so that a failure
	 * is our one line (libxkbcommon's own messages only with VMM_DEBUG) */
	struct xkb_context *ctx =
		xkb.context_new(XKB_CONTEXT_NO_ENVIRONMENT_NAMES | XKB_CONTEXT_NO_DEFAULT_INCLUDES);
	if (!ctx) {
		set_err(err, errlen, "-k %s: libxkbcommon cannot start", name);
		return NULL;
	}
	xkb.set_log_level(ctx, debug_enabled ? XKB_LOG_LEVEL_ERROR : XKB_LOG_LEVEL_CRITICAL);
	if (xkb.include_default(ctx) < 1) {
		set_err(err, errlen, "-k %s: no XKB data found (Debian: xkb-data)", name);
		xkb.context_unref(ctx);
		return NULL;
	}
	struct xkb_rule_names names = {
		.rules = "evdev", .model = "pc105", .layout = layout, .variant = variant,
		.options = "",
	};
	struct xkb_keymap *km = xkb.keymap_new(ctx, &names, XKB_KEYMAP_COMPILE_NO_FLAGS);
	struct keymap *m = NULL;
	if (!km)
		set_err(err, errlen, "-k %s: cannot compile XKB layout %s%s%s%s (Debian: xkb-data)",
			name, layout, variant[0] ? "(" : "", variant, variant[0] ? ")" : "");
	else if (!(m = build(km)))
		set_err(err, errlen, "-k %s: out of memory", name);
	if (km)
		xkb.keymap_unref(km);
	xkb.context_unref(ctx);
	return m;
}

void keymap_free(struct keymap *m)
{
	if (!m)
		return;
	free(m->e);
	free(m);
}

bool keymap_lookup(const struct keymap *m, unsigned keysym, struct keymap_key *out)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->e[mid].keysym < keysym)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == m->n || m->e[lo].keysym != keysym)
		return false;
	const struct entry *e = &m->e[lo];
	*out = (struct keymap_key){
		.key = e->key,
		.shift = e->combo & COMBO_SHIFT,
		.altgr = e->combo & COMBO_ALTGR,
		.set_shift = e->flags & ENTRY_SET_SHIFT,
		.set_altgr = e->flags & ENTRY_SET_ALTGR,
	};
	return true;
}

/* ---- typing -------------------------------------------------------------- */

void keymap_press(const struct keymap *m, const struct keymap_key *k)
{
	struct {
		int key;
		bool down;
	} undo[3];
	unsigned n = 0;

	if (k->set_shift) {
		bool l = input_key_is_down(m->shift_key), r = input_key_is_down(m->shift_r_key);
		if (k->shift && !l && !r) {
			input_key(m->shift_key, true);
			undo[n].key = m->shift_key, undo[n++].down = false;
		}
		for (int i = 0; i < 2 && !k->shift; i++) {
			int key = i ? m->shift_r_key : m->shift_key;
			if (i ? r : l) {
				input_key(key, false);
				undo[n].key = key, undo[n++].down = true;
			}
		}
	}
	if (k->set_altgr && m->altgr_key && input_key_is_down(m->altgr_key) != k->altgr) {
		input_key(m->altgr_key, k->altgr);
		undo[n].key = m->altgr_key, undo[n++].down = !k->altgr;
	}
	input_key(k->key, true);
	while (n--)
		input_key(undo[n].key, undo[n].down);
}

int keymap_altgr_key(const struct keymap *m)
{
	return m->altgr_key;
}

size_t keymap_size(const struct keymap *m)
{
	return m->n;
}
