// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The SDL2 window (include/sdl.h), with libSDL2 loaded on demand.
 */
#include "sdl.h"

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL2/SDL.h>

#include "display.h"
#include "event.h"
#include "input.h"
#include "lazylib.h"
#include "util.h"

#define SDL_ROUND_NS (33 * 1000 * 1000)

/* ---- libSDL2, loaded on demand --------------------------------------------- */

static struct {
	int (*init)(Uint32);
	void (*quit)(void);
	SDL_bool (*set_hint)(const char *, const char *);
	const char *(*get_error)(void);
	SDL_Window *(*create_window)(const char *, int, int, int, int, Uint32);
	void (*destroy_window)(SDL_Window *);
	SDL_Surface *(*window_surface)(SDL_Window *);
	int (*update_rects)(SDL_Window *, const SDL_Rect *, int);
	void (*set_window_size)(SDL_Window *, int, int);
	void (*get_window_size)(SDL_Window *, int *, int *);
	void (*set_title)(SDL_Window *, const char *);
	int (*set_fullscreen)(SDL_Window *, Uint32);
	int (*poll_event)(SDL_Event *);
	SDL_Surface *(*surface_from)(void *, int, int, int, int, Uint32);
	void (*free_surface)(SDL_Surface *);
	int (*blit)(SDL_Surface *, const SDL_Rect *, SDL_Surface *, SDL_Rect *);
	int (*blit_scaled)(SDL_Surface *, const SDL_Rect *, SDL_Surface *, SDL_Rect *);
	int (*relative_mouse)(SDL_bool);
	void (*set_grab)(SDL_Window *, SDL_bool);
} sdl;

static const struct lazysym sdl_syms[] = {
	{ "SDL_Init", (void **)&sdl.init },
	{ "SDL_Quit", (void **)&sdl.quit },
	{ "SDL_SetHint", (void **)&sdl.set_hint },
	{ "SDL_GetError", (void **)&sdl.get_error },
	{ "SDL_CreateWindow", (void **)&sdl.create_window },
	{ "SDL_DestroyWindow", (void **)&sdl.destroy_window },
	{ "SDL_GetWindowSurface", (void **)&sdl.window_surface },
	{ "SDL_UpdateWindowSurfaceRects", (void **)&sdl.update_rects },
	{ "SDL_SetWindowSize", (void **)&sdl.set_window_size },
	{ "SDL_GetWindowSize", (void **)&sdl.get_window_size },
	{ "SDL_SetWindowTitle", (void **)&sdl.set_title },
	{ "SDL_SetWindowFullscreen", (void **)&sdl.set_fullscreen },
	{ "SDL_PollEvent", (void **)&sdl.poll_event },
	{ "SDL_CreateRGBSurfaceWithFormatFrom", (void **)&sdl.surface_from },
	{ "SDL_FreeSurface", (void **)&sdl.free_surface },
	{ "SDL_UpperBlit", (void **)&sdl.blit },
	{ "SDL_UpperBlitScaled", (void **)&sdl.blit_scaled },
	{ "SDL_SetRelativeMouseMode", (void **)&sdl.relative_mouse },
	{ "SDL_SetWindowGrab", (void **)&sdl.set_grab },
	{ NULL, NULL },
};

static struct lazylib libsdl = LAZYLIB_INIT("libSDL2-2.0.so.0", sdl_syms);

struct sdl {
	struct sdl_config cfg;
	char name[64];
	SDL_Window *window;
	unsigned width, height;     /* the guest's picture, as last shown */
	struct display_surface *surface;
	struct display_client view;
	struct event_timer *timer;
	struct sdl_host host;
	bool grabbed, full_screen;
	bool ctrl, alt, rctrl;      /* the hot keys' modifiers, as the host has them */
	iconv_t latin1[2];          /* held open: see sdl_create */
};

static struct sdl *current;

struct sdl *sdl_current(void)
{
	return current;
}

const struct sdl_config *sdl_options(const struct sdl *s)
{
	return &s->cfg;
}

/* ---- -display sdl ------------------------------------------------------------ */

int sdl_parse(const char *opts, struct sdl_config *c, char *err, size_t errlen)
{
	char field[128];
	const char *p = opts;

	c->enabled = true;
	c->window_close = true;
	while (*p) {
		p = opt_field(p, field, sizeof(field));
		if (!p)
			return set_err(err, errlen, "-display sdl: option too long");
		char *eq = strchr(field, '=');
		const char *v = eq ? eq + 1 : "on";
		if (eq)
			*eq = 0;
		bool *flag = !strcmp(field, "window-close") ? &c->window_close
			     : !strcmp(field, "full-screen") ? &c->full_screen : NULL;
		if (flag) {
			if (parse_on_off(v, flag) < 0)
				return set_err(err, errlen, "-display sdl: %s: expected on or off, got '%s'",
					       field, v);
		} else if (!strcmp(field, "grab-mod")) {
			if (!strcmp(v, "rctrl"))
				c->grab_rctrl = true;
			else if (strcmp(v, "lctrl-lalt") && strcmp(v, "lshift-lctrl-lalt"))
				return set_err(err, errlen,
					       "-display sdl: grab-mod: expected lctrl-lalt or rctrl, got '%s'",
					       v);
		} else if (!strcmp(field, "gl") || !strcmp(field, "show-cursor")) {
			bool on;
			if (parse_on_off(v, &on) < 0 || (on && !strcmp(field, "gl")))
				return set_err(err, errlen, "-display sdl: %s=%s is not supported", field, v);
		} else {
			return set_err(err, errlen, "-display sdl: unknown option '%s'", field);
		}
	}
	return 0;
}

/* ---- keys -------------------------------------------------------------------- */

static const struct {
	unsigned short code;
	const char *key;
} scancodes[] = {
	{ SDL_SCANCODE_RETURN, "ret" }, { SDL_SCANCODE_ESCAPE, "esc" },
	{ SDL_SCANCODE_BACKSPACE, "backspace" }, { SDL_SCANCODE_TAB, "tab" },
	{ SDL_SCANCODE_SPACE, "spc" }, { SDL_SCANCODE_MINUS, "minus" },
	{ SDL_SCANCODE_EQUALS, "equal" }, { SDL_SCANCODE_LEFTBRACKET, "bracket_left" },
	{ SDL_SCANCODE_RIGHTBRACKET, "bracket_right" }, { SDL_SCANCODE_BACKSLASH, "backslash" },
	{ SDL_SCANCODE_NONUSHASH, "backslash" }, { SDL_SCANCODE_SEMICOLON, "semicolon" },
	{ SDL_SCANCODE_APOSTROPHE, "apostrophe" }, { SDL_SCANCODE_GRAVE, "grave_accent" },
	{ SDL_SCANCODE_COMMA, "comma" }, { SDL_SCANCODE_PERIOD, "dot" },
	{ SDL_SCANCODE_SLASH, "slash" }, { SDL_SCANCODE_CAPSLOCK, "caps_lock" },
	{ SDL_SCANCODE_PRINTSCREEN, "print" }, { SDL_SCANCODE_SCROLLLOCK, "scroll_lock" },
	{ SDL_SCANCODE_PAUSE, "pause" }, { SDL_SCANCODE_INSERT, "insert" },
	{ SDL_SCANCODE_HOME, "home" }, { SDL_SCANCODE_PAGEUP, "pgup" },
	{ SDL_SCANCODE_DELETE, "delete" }, { SDL_SCANCODE_END, "end" },
	{ SDL_SCANCODE_PAGEDOWN, "pgdn" }, { SDL_SCANCODE_RIGHT, "right" },
	{ SDL_SCANCODE_LEFT, "left" }, { SDL_SCANCODE_DOWN, "down" }, { SDL_SCANCODE_UP, "up" },
	{ SDL_SCANCODE_NUMLOCKCLEAR, "num_lock" }, { SDL_SCANCODE_KP_DIVIDE, "kp_divide" },
	{ SDL_SCANCODE_KP_MULTIPLY, "kp_multiply" }, { SDL_SCANCODE_KP_MINUS, "kp_subtract" },
	{ SDL_SCANCODE_KP_PLUS, "kp_add" }, { SDL_SCANCODE_KP_ENTER, "kp_enter" },
	{ SDL_SCANCODE_KP_PERIOD, "kp_decimal" }, { SDL_SCANCODE_NONUSBACKSLASH, "less" },
	{ SDL_SCANCODE_APPLICATION, "menu" }, { SDL_SCANCODE_POWER, "power" },
	{ SDL_SCANCODE_MUTE, "audiomute" }, { SDL_SCANCODE_VOLUMEUP, "volumeup" },
	{ SDL_SCANCODE_VOLUMEDOWN, "volumedown" },
	{ SDL_SCANCODE_INTERNATIONAL1, "ro" }, { SDL_SCANCODE_INTERNATIONAL2, "katakanahiragana" },
	{ SDL_SCANCODE_INTERNATIONAL3, "yen" }, { SDL_SCANCODE_INTERNATIONAL4, "henkan" },
	{ SDL_SCANCODE_INTERNATIONAL5, "muhenkan" },
	{ SDL_SCANCODE_LCTRL, "ctrl" }, { SDL_SCANCODE_LSHIFT, "shift" },
	{ SDL_SCANCODE_LALT, "alt" }, { SDL_SCANCODE_LGUI, "meta_l" },
	{ SDL_SCANCODE_RCTRL, "ctrl_r" }, { SDL_SCANCODE_RSHIFT, "shift_r" },
	{ SDL_SCANCODE_RALT, "alt_r" }, { SDL_SCANCODE_RGUI, "meta_r" },
	{ SDL_SCANCODE_SLEEP, "sleep" },
};

int sdl_scancode_to_key(unsigned sc)
{
	char name[8] = { 0 };

	if (sc >= SDL_SCANCODE_A && sc <= SDL_SCANCODE_Z) {
		name[0] = (char)('a' + sc - SDL_SCANCODE_A);
		return input_key_by_name(name);
	}
	if (sc >= SDL_SCANCODE_1 && sc <= SDL_SCANCODE_0) {
		name[0] = sc == SDL_SCANCODE_0 ? '0' : (char)('1' + sc - SDL_SCANCODE_1);
		return input_key_by_name(name);
	}
	if (sc >= SDL_SCANCODE_F1 && sc <= SDL_SCANCODE_F12) {
		snprintf(name, sizeof(name), "f%u", sc - SDL_SCANCODE_F1 + 1);
		return input_key_by_name(name);
	}
	if (sc >= SDL_SCANCODE_KP_1 && sc <= SDL_SCANCODE_KP_0) {
		snprintf(name, sizeof(name), "kp_%u",
			 sc == SDL_SCANCODE_KP_0 ? 0 : sc - SDL_SCANCODE_KP_1 + 1);
		return input_key_by_name(name);
	}
	for (size_t i = 0; i < ARRAY_SIZE(scancodes); i++)
		if (scancodes[i].code == sc)
			return input_key_by_name(scancodes[i].key);
	return 0;
}

/* ---- the window ------------------------------------------------------------------ */

static void set_title(struct sdl *s)
{
	char title[160];
	snprintf(title, sizeof(title), "%s%s", s->name,
		 !s->grabbed ? "" : s->cfg.grab_rctrl ? " - Press Right-Ctrl to exit grab"
						      : " - Press Ctrl-Alt-G to exit grab");
	sdl.set_title(s->window, title);
}

static void set_grab(struct sdl *s, bool on)
{
	s->grabbed = on;
	sdl.relative_mouse(on ? SDL_TRUE : SDL_FALSE);
	sdl.set_grab(s->window, on ? SDL_TRUE : SDL_FALSE);
	set_title(s);
}

static void set_full_screen(struct sdl *s, bool on)
{
	s->full_screen = on;
	sdl.set_fullscreen(s->window, on ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
	if (!on && s->width)
		sdl.set_window_size(s->window, (int)s->width, (int)s->height);
	s->width = 0; /* redraw all of it at the next round */
}

/* Copies what changed (all of it after a new size or a scaled window) to
 * the window; the surface's lock is held while its pixels are read. */
static void update_picture(struct sdl *s)
{
	struct display_surface *d = s->surface;
	struct display_rect r;
	bool resized;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	bool any = display_client_take_locked(d, &s->view, &r, &resized);
	if (d->width != s->width || d->height != s->height) {
		if (!s->full_screen)
			sdl.set_window_size(s->window, (int)d->width, (int)d->height);
		s->width = d->width;
		s->height = d->height;
		r = (struct display_rect){ 0, 0, d->width, d->height };
		any = true;
	}
	SDL_Surface *win = any ? sdl.window_surface(s->window) : NULL;
	SDL_Surface *src = win ? sdl.surface_from(d->pixels, (int)d->width, (int)d->height, 32,
						  (int)d->width * 4, SDL_PIXELFORMAT_RGB888)
			       : NULL;
	if (src) {
		SDL_Rect sr = { (int)r.x, (int)r.y, (int)r.w, (int)r.h };
		if (win->w == (int)d->width && win->h == (int)d->height) {
			SDL_Rect dr = sr;
			sdl.blit(src, &sr, win, &dr);
			sdl.update_rects(s->window, &sr, 1);
		} else { /* full screen or a window the desktop resized: scaled */
			SDL_Rect all = { 0, 0, (int)d->width, (int)d->height };
			SDL_Rect dst = { 0, 0, win->w, win->h };
			sdl.blit_scaled(src, &all, win, &dst);
			sdl.update_rects(s->window, &dst, 1);
		}
		sdl.free_surface(src);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Ctrl-Alt-G / Ctrl-Alt-F (or Right Ctrl with grab-mod=rctrl): the window's
 * own keys, not the guest's. true: handled. */
static bool hot_key(struct sdl *s, const SDL_KeyboardEvent *k)
{
	bool down = k->type == SDL_KEYDOWN;
	switch (k->keysym.scancode) {
	case SDL_SCANCODE_LCTRL: s->ctrl = down; return false;
	case SDL_SCANCODE_LALT: s->alt = down; return false;
	case SDL_SCANCODE_RCTRL:
		s->rctrl = down;
		if (s->cfg.grab_rctrl && !down && s->grabbed) {
			set_grab(s, false);
			return true;
		}
		return s->cfg.grab_rctrl;
	default: break;
	}
	bool mods = s->cfg.grab_rctrl ? s->rctrl : s->ctrl && s->alt;
	if (!mods)
		return false;
	if (k->keysym.scancode == SDL_SCANCODE_G) {
		if (down && !k->repeat)
			set_grab(s, !s->grabbed);
		return true;
	}
	if (k->keysym.scancode == SDL_SCANCODE_F) {
		if (down && !k->repeat)
			set_full_screen(s, !s->full_screen);
		return true;
	}
	return false;
}

static unsigned buttons_of(Uint32 state)
{
	return (state & SDL_BUTTON_LMASK ? INPUT_BUTTON_LEFT : 0) |
	       (state & SDL_BUTTON_RMASK ? INPUT_BUTTON_RIGHT : 0) |
	       (state & SDL_BUTTON_MMASK ? INPUT_BUTTON_MIDDLE : 0) |
	       (state & SDL_BUTTON_X1MASK ? INPUT_BUTTON_SIDE : 0) |
	       (state & SDL_BUTTON_X2MASK ? INPUT_BUTTON_EXTRA : 0);
}

static unsigned buttons_now;

static void handle_event(struct sdl *s, const SDL_Event *e)
{
	switch (e->type) {
	case SDL_QUIT:
		if (s->cfg.window_close)
			s->host.quit(s->host.opaque);
		else
			s->host.power_button(s->host.opaque);
		break;
	case SDL_KEYDOWN:
	case SDL_KEYUP:
		if (!hot_key(s, &e->key)) {
			int key = sdl_scancode_to_key(e->key.keysym.scancode);
			if (key)
				input_key(key, e->type == SDL_KEYDOWN);
		}
		break;
	case SDL_MOUSEMOTION:
		if (s->grabbed)
			input_mouse_rel(e->motion.xrel, e->motion.yrel, 0, buttons_of(e->motion.state));
		break;
	case SDL_MOUSEBUTTONDOWN:
	case SDL_MOUSEBUTTONUP: {
		if (!s->grabbed) { /* a click takes the mouse; the guest sees the next ones */
			if (e->type == SDL_MOUSEBUTTONUP && e->button.button == SDL_BUTTON_LEFT)
				set_grab(s, true);
			break;
		}
		unsigned bit = e->button.button == SDL_BUTTON_LEFT    ? INPUT_BUTTON_LEFT
			       : e->button.button == SDL_BUTTON_RIGHT  ? INPUT_BUTTON_RIGHT
			       : e->button.button == SDL_BUTTON_MIDDLE ? INPUT_BUTTON_MIDDLE
			       : e->button.button == SDL_BUTTON_X1     ? INPUT_BUTTON_SIDE
			       : e->button.button == SDL_BUTTON_X2     ? INPUT_BUTTON_EXTRA : 0;
		buttons_now = e->type == SDL_MOUSEBUTTONDOWN ? buttons_now | bit : buttons_now & ~bit;
		input_mouse_rel(0, 0, 0, buttons_now);
		break;
	}
	case SDL_MOUSEWHEEL:
		if (s->grabbed) /* SDL's y > 0 is away from the user */
			input_mouse_rel(0, 0, -e->wheel.y, buttons_now);
		break;
	case SDL_WINDOWEVENT:
		if (e->window.event == SDL_WINDOWEVENT_FOCUS_LOST) {
			/* keys held while focus goes elsewhere would stay down */
			input_release_all();
			buttons_now = 0;
			s->ctrl = s->alt = s->rctrl = false;
		} else if (e->window.event == SDL_WINDOWEVENT_EXPOSED ||
			   e->window.event == SDL_WINDOWEVENT_SIZE_CHANGED) {
			s->width = 0; /* redraw it all */
		}
		break;
	default:
		break;
	}
}

static void tick(void *opaque)
{
	struct sdl *s = opaque;
	SDL_Event e;

	while (sdl.poll_event(&e))
		handle_event(s, &e);
	update_picture(s);
}

/* ---- set-up ------------------------------------------------------------------------ */

struct sdl *sdl_create(const struct sdl_config *c, const char *name, char *err, size_t errlen)
{
	char why[200];
	const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");

	/* only a desktop's window: not SDL's console drivers (KMS/DRM) */
	if (!(x && *x) && !(wl && *wl)) {
		set_err(err, errlen, "-display sdl: no display server ($DISPLAY and "
			"$WAYLAND_DISPLAY are not set)");
		return NULL;
	}
	setenv("SDL_VIDEODRIVER", x && *x ? "x11" : "wayland", 0);
	if (lazylib_load(&libsdl, why, sizeof(why)) < 0) {
		set_err(err, errlen, "-display sdl: %s (Debian: libsdl2-2.0-0)", why);
		return NULL;
	}
	/* vmm handles SIGINT/SIGTERM itself; no input method daemon (its
	 * D-Bus threads would come after the sandbox); the picture is
	 * drawn in software */
	sdl.set_hint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
	sdl.set_hint(SDL_HINT_IME_INTERNAL_EDITING, "1");
	sdl.set_hint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
	sdl.set_hint(SDL_HINT_VIDEO_X11_NET_WM_PING, "0");
	sdl.set_hint("SDL_VIDEO_X11_XINPUT2", "0");
	sdl.set_hint(SDL_HINT_GRAB_KEYBOARD, "1");
	setenv("SDL_IM_MODULE", "none", 0);
	if (sdl.init(SDL_INIT_VIDEO) < 0) {
		set_err(err, errlen, "-display sdl: %s", sdl.get_error());
		return NULL;
	}
	struct sdl *s = xzalloc(sizeof(*s));
	s->cfg = *c;
	if (name)
		snprintf(s->name, sizeof(s->name), "vmm - %s", name);
	else
		snprintf(s->name, sizeof(s->name), "vmm");
	s->window = sdl.create_window(s->name, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
				      640, 480, SDL_WINDOW_SHOWN);
	if (!s->window) {
		set_err(err, errlen, "-display sdl: cannot open the window: %s", sdl.get_error());
		sdl.quit();
		free(s);
		return NULL;
	}
	/* Xlib converts a key's text through iconv, whose ISO 8859-1
	 * module glibc would map (executable code) at the first key press,
	 * under the sandbox: loaded now, and kept loaded while these are open */
	s->latin1[0] = iconv_open("UTF-8", "ISO-8859-1");
	s->latin1[1] = iconv_open("ISO-8859-1", "UTF-8");
	/* the window's surface (and on X11 its shared memory) now, under no filter */
	sdl.window_surface(s->window);
	if (c->full_screen)
		set_full_screen(s, true);
	current = s;
	return s;
}

void sdl_start(struct sdl *s, struct event_loop *loop, const struct sdl_host *host)
{
	s->host = *host;
	s->surface = display_console(0);
	if (s->surface && display_client_add(s->surface, &s->view) < 0)
		s->surface = NULL;
	if (s->surface)
		display_listen(s->surface, true);
	s->timer = event_timer_new(loop, EVENT_CLOCK_HOST, tick, s);
	event_timer_arm_in(s->timer, SDL_ROUND_NS, SDL_ROUND_NS);
}

void sdl_destroy(struct sdl *s)
{
	if (!s)
		return;
	if (current == s)
		current = NULL;
	if (s->timer)
		event_timer_free(s->timer);
	if (s->surface) {
		display_listen(s->surface, false);
		display_client_remove(s->surface, &s->view);
	}
	/* not SDL_Quit: it restores signal handlers (rt_sigaction), which the
	 * sandbox forbids; the process ends next, taking the connection */
	sdl.destroy_window(s->window);
	for (int i = 0; i < 2; i++)
		if (s->latin1[i] != (iconv_t)-1)
			iconv_close(s->latin1[i]);
	free(s);
}
