/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The SDL2 window (-display sdl): the first display's picture in a window
 * on the desktop, the keyboard and mouse into the input layer
 * (include/input.h). libSDL2 is loaded with dlopen during set-up, only
 * when the window is asked for (or is the default: a display server is
 * reachable and no -nographic, -display or -vnc says otherwise), so a
 * headless vmm neither maps it nor pays its start-up.
 *
 * It runs on the main thread, on a 30 Hz timer of the event loop (as
 * QEMU's GUI refresh): it takes the window's events, and copies only the
 * rectangle that changed to the window's surface (software: no OpenGL,
 * whose shader compilers would need executable memory under the sandbox).
 *
 * Keys: SDL's scan codes (USB HID usages, independent of the host's
 * layout) become PS/2 keys. Ctrl-Alt-G releases the mouse grab (a click
 * in the window takes it), Ctrl-Alt-F toggles full screen; focus lost
 * releases every key. Closing the window quits vmm, or with
 * window-close=off presses the ACPI power button.
 */
#ifndef VMM_SDL_H
#define VMM_SDL_H

#include <stdbool.h>
#include <stddef.h>

struct event_loop;

struct sdl_config {
	bool enabled;
	bool window_close;  /* window-close=on (default): closing quits */
	bool full_screen;   /* -full-screen, full-screen=on */
	bool grab_rctrl;    /* grab-mod=rctrl: Right Ctrl instead of Ctrl-Alt */
};

/* The options after "sdl" in -display sdl[,...]. 0, or -1 with one line. */
int sdl_parse(const char *opts, struct sdl_config *c, char *err, size_t errlen);

/* What closing the window does. */
struct sdl_host {
	void (*quit)(void *opaque);
	void (*power_button)(void *opaque);
	void *opaque;
};

struct sdl;

/* Loads SDL and opens the window (set-up time). NULL with one line. */
struct sdl *sdl_create(const struct sdl_config *c, const char *name, char *err, size_t errlen);
/* Starts following the display and the events, on 'loop'. */
void sdl_start(struct sdl *s, struct event_loop *loop, const struct sdl_host *host);
void sdl_destroy(struct sdl *s);

/* The window of this process, or NULL; its options (query-display-options). */
struct sdl *sdl_current(void);
const struct sdl_config *sdl_options(const struct sdl *s);

/* The key of an SDL scan code (a USB HID usage), or 0. */
int sdl_scancode_to_key(unsigned scancode);

#endif
