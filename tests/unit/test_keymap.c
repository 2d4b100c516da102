// SPDX-License-Identifier: GPL-2.0-or-later
/* -k keyboard layouts (src/ui/keymap.c): the keysym table XKB gives for
 * QEMU's layout names, and the Shift/AltGr pressed or lifted around a key
 * (what the guest's keyboard receives, as set 2 bytes). Needs libxkbcommon
 * and xkb-data (tools/deps.sh). */
#include "unit.h"

#include <string.h>

#include "input.h"
#include "keymap.h"
#include "util.h"
#include "vnc.h"

static struct keymap *load(const char *name)
{
	char err[256] = "";
	struct keymap *m = keymap_load(name, err, sizeof(err));
	if (!m)
		fail_msg("keymap_load(%s): %s", name, err);
	return m;
}

static int key(const char *name)
{
	int k = input_key_by_name(name);
	assert_true(k > 0);
	return k;
}

/* keysym ks is key 'name' with Shift/AltGr as given; set_shift/set_altgr:
 * whether that state is forced */
static void expect_key(const struct keymap *m, unsigned ks, const char *name, bool shift,
		       bool altgr, bool set_shift, bool set_altgr)
{
	struct keymap_key k;
	if (!keymap_lookup(m, ks, &k))
		fail_msg("keysym 0x%x: not in the table", ks);
	if (k.key != key(name) || k.shift != shift || k.altgr != altgr ||
	    k.set_shift != set_shift || k.set_altgr != set_altgr)
		fail_msg("keysym 0x%x: key %s shift %d/%d altgr %d/%d, want %s shift %d/%d altgr %d/%d",
			 ks, input_key_name(k.key), k.shift, k.set_shift, k.altgr, k.set_altgr, name,
			 shift, set_shift, altgr, set_altgr);
}

static void test_names(void **state)
{
	static const char *const qemu[] = {
		"ar", "bepo", "cz", "da", "de", "de-ch", "en-gb", "en-us", "es", "et", "fi", "fo",
		"fr", "fr-be", "fr-ca", "fr-ch", "hr", "hu", "is", "it", "ja", "lt", "lv", "mk",
		"nl", "no", "pl", "pt", "pt-br", "ru", "sl", "sv", "th", "tr",
	};
	const char *layout, *variant;

	/* every name QEMU takes compiles, and gives a keyboard's worth */
	for (size_t i = 0; i < ARRAY_SIZE(qemu); i++) {
		assert_true(keymap_known(qemu[i]));
		assert_true(strlen(qemu[i]) < KEYMAP_NAME_MAX);
		struct keymap *m = load(qemu[i]);
		if (keymap_size(m) < 100)
			fail_msg("-k %s: only %zu keysyms", qemu[i], keymap_size(m));
		expect_key(m, 0xff0d, "ret", false, false, false, false);
		keymap_free(m);
	}
	assert_true(keymap_xkb_names("fr-ch", &layout, &variant));
	assert_string_equal(layout, "ch");
	assert_string_equal(variant, "fr");
	assert_true(keymap_xkb_names("en-gb", &layout, &variant));
	assert_string_equal(layout, "gb");
	assert_string_equal(variant, "");
	assert_false(keymap_known("xx"));
	assert_false(keymap_known("de-"));
	assert_false(keymap_known(""));
	char err[128] = "";
	assert_null(keymap_load("klingon", err, sizeof(err)));
	assert_string_equal(err, "-k klingon: unknown keyboard layout");
}

static void test_de(void **state)
{
	struct keymap *m = load("de");
	struct keymap_key k;

	assert_int_equal(keymap_altgr_key(m), key("alt_r"));
	/* Z and Y change places; a letter's case is left to the client, and
	 * AltGr, which would give another character, is not held */
	expect_key(m, 'z', "y", false, false, false, true);
	expect_key(m, 'Z', "y", true, false, false, true);
	expect_key(m, 'y', "z", false, false, false, true);
	expect_key(m, 'a', "a", false, false, false, true);
	/* the umlauts and sharp s where US has [ ; ' and - */
	expect_key(m, 0xfc, "bracket_left", false, false, false, true);  /* udiaeresis */
	expect_key(m, 0xdc, "bracket_left", true, false, false, true);   /* Udiaeresis */
	expect_key(m, 0xf6, "semicolon", false, false, false, true);     /* odiaeresis */
	expect_key(m, 0xe4, "apostrophe", false, false, false, true);    /* adiaeresis */
	expect_key(m, 0xdf, "minus", false, false, true, true);          /* ssharp */
	/* the same as Unicode keysyms */
	expect_key(m, 0x10000fc, "bracket_left", false, false, false, true);
	expect_key(m, 0x10020ac, "e", false, true, false, true);
	/* AltGr's row */
	expect_key(m, '@', "q", false, true, true, true);
	expect_key(m, 0x20ac, "e", false, true, false, true);            /* EuroSign */
	expect_key(m, '{', "7", false, true, true, true);
	expect_key(m, '\\', "minus", false, true, true, true);
	expect_key(m, '|', "less", false, true, true, true);
	/* shifted digits */
	expect_key(m, '"', "2", true, false, true, true);
	expect_key(m, '&', "6", true, false, true, true);
	expect_key(m, '/', "7", true, false, true, true);
	expect_key(m, '=', "0", true, false, true, true);
	/* unshifted where US shifts */
	expect_key(m, '#', "backslash", false, false, true, true);
	expect_key(m, '<', "less", false, false, true, true);
	expect_key(m, '+', "bracket_right", false, false, true, true);
	/* keys rather than characters: the client's modifiers pass */
	expect_key(m, 0xffe1, "shift", false, false, false, false);      /* Shift_L */
	expect_key(m, 0xfe03, "alt_r", false, false, false, false);      /* ISO_Level3_Shift */
	expect_key(m, 0xff09, "tab", false, false, false, false);
	expect_key(m, 0xfe20, "tab", true, false, true, false);          /* ISO_Left_Tab */
	expect_key(m, 0xffbe, "f1", false, false, false, false);
	expect_key(m, 0xfe52, "grave_accent", false, false, true, true); /* dead_circumflex */
	/* no key on a German keyboard: the caller falls back to US */
	assert_false(keymap_lookup(m, 0x5e, &k));     /* asciicircum (dead there) */
	assert_false(keymap_lookup(m, 0x1000000, &k));
	assert_false(keymap_lookup(m, 0xffffffffu, &k));
	keymap_free(m);
}

static void test_fr(void **state)
{
	struct keymap *m = load("fr");

	/* AZERTY: A and Q, Z and W, M where US has ';' */
	expect_key(m, 'a', "q", false, false, false, true);
	expect_key(m, 'q', "a", false, false, false, true);
	expect_key(m, 'z', "w", false, false, false, true);
	expect_key(m, 'w', "z", false, false, false, true);
	expect_key(m, 'm', "semicolon", false, false, false, true);
	/* digits need Shift; the plain row is & é " ' ( - è _ ç à */
	expect_key(m, '1', "1", true, false, true, true);
	expect_key(m, '2', "2", true, false, true, true);
	expect_key(m, '0', "0", true, false, true, true);
	expect_key(m, '&', "1", false, false, true, true);
	expect_key(m, 0xe9, "2", false, false, true, true);  /* eacute */
	expect_key(m, '@', "0", false, true, true, true);
	keymap_free(m);
}

static void test_en_gb(void **state)
{
	struct keymap *m = load("en-gb");

	expect_key(m, '#', "backslash", false, false, true, true);
	expect_key(m, '~', "backslash", true, false, true, true);
	expect_key(m, 0xa3, "3", true, false, true, false);  /* sterling (AltGr+3 too) */
	expect_key(m, '"', "2", true, false, true, true);
	expect_key(m, '@', "apostrophe", true, false, true, true);
	/* the 102nd key when no other key without AltGr has it */
	expect_key(m, '\\', "less", false, false, true, true);
	keymap_free(m);
}

/* en-us gives every key vnc_keysym_to_key gives, with the Shift the US
 * table leaves to the client; no AltGr. */
static void test_en_us(void **state)
{
	struct keymap *m = load("en-us");
	static const char printable[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		"`~!@#$%^&*()-_=+[{]};:'\",<.>/?\\| ";
	struct keymap_key k;

	assert_int_equal(keymap_altgr_key(m), 0);
	for (const char *p = printable; *p; p++) {
		unsigned ks = (unsigned char)*p;
		if (!keymap_lookup(m, ks, &k))
			fail_msg("en-us: no key for '%c'", *p);
		assert_int_equal(k.key, vnc_keysym_to_key(ks));
		assert_false(k.altgr);
		bool upper = *p >= 'A' && *p <= 'Z';
		bool shifted = upper || strchr("~!@#$%^&*()_+{}:\"<>?|", *p);
		assert_int_equal(k.shift, shifted);
	}
	expect_key(m, 'Q', "q", true, false, false, false);
	expect_key(m, '?', "slash", true, false, true, false);
	/* Shift+',', not the 102nd key XKB gives pc105 US layouts too */
	expect_key(m, '<', "comma", true, false, true, false);
	keymap_free(m);
}

/* ---- what the guest's keyboard gets ---------------------------------------- */

static uint8_t seen[256];
static size_t nseen;

static size_t put_set2(void *opaque, const uint8_t *bytes, size_t n)
{
	assert_true(nseen + n <= sizeof(seen));
	memcpy(seen + nseen, bytes, n);
	nseen += n;
	return n;
}

static const struct input_keyboard_ops kbd_ops = { .put_set2 = put_set2 };
static int kbd;

static void press(const struct keymap *m, unsigned ks)
{
	struct keymap_key k;
	assert_true(keymap_lookup(m, ks, &k));
	keymap_press(m, &k);
	input_key(k.key, false);
}

#define EXPECT_BYTES(...) do { \
		static const uint8_t want_[] = { __VA_ARGS__ }; \
		assert_int_equal(nseen, sizeof(want_)); \
		assert_memory_equal(seen, want_, sizeof(want_)); \
		nseen = 0; \
	} while (0)

static void test_press(void **state)
{
	struct keymap *m = load("de");
	int shift = key("shift"), shift_r = key("shift_r"), altgr = key("alt_r");

	input_attach_keyboard(&kbd_ops, &kbd);
	nseen = 0;
	/* z: the US Y key (set 2 0x35), nothing around it */
	press(m, 'z');
	EXPECT_BYTES(0x35, 0xf0, 0x35);
	/* '"' without Shift held: Shift pressed around the 2 key */
	press(m, '"');
	EXPECT_BYTES(0x12, 0x1e, 0xf0, 0x12, 0xf0, 0x1e);
	/* '"' with the client's Shift: just the key (AltGr not held) */
	input_key(shift, true);
	nseen = 0;
	press(m, '"');
	EXPECT_BYTES(0x1e, 0xf0, 0x1e);
	/* '#' with Shift held (a US client's Shift+3): Shift lifted around
	 * the key, then down again as the client still holds it */
	press(m, '#');
	EXPECT_BYTES(0xf0, 0x12, 0x5d, 0x12, 0xf0, 0x5d);
	assert_true(input_key_is_down(shift));
	/* both Shifts held: both lifted and put back */
	input_key(shift_r, true);
	nseen = 0;
	press(m, '<');
	EXPECT_BYTES(0xf0, 0x12, 0xf0, 0x59, 0x61, 0x59, 0x12, 0xf0, 0x61);
	/* a letter's case stays the client's: 'z' with Shift held is just
	 * the key (the guest sees Shift+Z) */
	press(m, 'z');
	EXPECT_BYTES(0x35, 0xf0, 0x35);
	input_key(shift, false);
	input_key(shift_r, false);
	nseen = 0;
	/* '@': AltGr (E0 11) around Q */
	press(m, '@');
	EXPECT_BYTES(0xe0, 0x11, 0x15, 0xe0, 0xf0, 0x11, 0xf0, 0x15);
	/* AltGr held and '@': just Q */
	input_key(altgr, true);
	nseen = 0;
	press(m, '@');
	EXPECT_BYTES(0x15, 0xf0, 0x15);
	/* AltGr held and 'q': AltGr lifted around Q */
	press(m, 'q');
	EXPECT_BYTES(0xe0, 0xf0, 0x11, 0x15, 0xe0, 0x11, 0xf0, 0x15);
	input_key(altgr, false);
	nseen = 0;
	/* Shift+AltGr both needed? none on de's common keys; Return with
	 * Shift held keeps Shift (Shift+Return is the guest's to decide) */
	input_key(shift, true);
	nseen = 0;
	press(m, 0xff0d);
	EXPECT_BYTES(0x5a, 0xf0, 0x5a);
	input_key(shift, false);
	input_detach_keyboard(&kbd);
	keymap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_de),
		cmocka_unit_test(test_fr),
		cmocka_unit_test(test_en_gb),
		cmocka_unit_test(test_en_us),
		cmocka_unit_test(test_press),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
