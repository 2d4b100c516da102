// SPDX-License-Identifier: GPL-2.0-or-later
/* -display sdl's options and the scan code table (src/ui/sdl.c); the window
 * itself is tested under Xvfb in tests/fw/test_sdl.py. */
#include "unit.h"

#include <SDL2/SDL_scancode.h>

#include "input.h"
#include "sdl.h"

static void test_parse(void **state)
{
	struct sdl_config c = { 0 };
	char err[256];

	assert_int_equal(sdl_parse("", &c, err, sizeof(err)), 0);
	assert_true(c.enabled && c.window_close && !c.full_screen && !c.grab_rctrl);
	assert_int_equal(sdl_parse("window-close=off,grab-mod=rctrl,full-screen=on,gl=off", &c,
				   err, sizeof(err)), 0);
	assert_true(!c.window_close && c.full_screen && c.grab_rctrl);
	static const char *const bad[] = { "gl=on", "window-close=2", "grab-mod=lalt", "zoom=on" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(sdl_parse(bad[i], &c, err, sizeof(err)), -1);
		assert_true(!strncmp(err, "-display sdl", 12));
	}
}

static void test_scancodes(void **state)
{
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_A), input_key_by_name("a"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_Z), input_key_by_name("z"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_1), input_key_by_name("1"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_0), input_key_by_name("0"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_F12), input_key_by_name("f12"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_KP_0), input_key_by_name("kp_0"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_KP_9), input_key_by_name("kp_9"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_RALT), input_key_by_name("alt_r"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_PRINTSCREEN), input_key_by_name("print"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_NONUSBACKSLASH), input_key_by_name("less"));
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_UNKNOWN), 0);
	assert_int_equal(sdl_scancode_to_key(SDL_SCANCODE_F24), 0);
	/* every key a PC keyboard has is reachable */
	int reached = 0;
	for (unsigned sc = 0; sc < SDL_NUM_SCANCODES; sc++)
		reached += sdl_scancode_to_key(sc) != 0;
	assert_true(reached >= 104);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_scancodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
