/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The display surface: what a display device shows, in one form that
 * front-ends (screendump today; the SDL window and VNC later) read without
 * knowing the device.
 *
 * A surface is a picture of width x height pixels, 0x00RRGGBB in a
 * uint32_t each (row-major, stride = width), plus what the device knows
 * about it: the kind of mode (text, graphics, blank), and in text modes the
 * character cells and the cursor. The device draws into it only when asked
 * (display_refresh, from a screendump or a front-end's timer), and only
 * what changed since the last time; it accumulates the changed area as one
 * rectangle that a front-end takes with display_take_dirty.
 *
 * A device refreshes on a timer of the event loop only while a front-end
 * listens (display_listen): a headless machine with nobody looking spends
 * no CPU on its screen, static or not.
 *
 * Surfaces register themselves as consoles (numbered in creation order);
 * screendump writes console 0.
 */
#ifndef VMM_DISPLAY_H
#define VMM_DISPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISPLAY_MAX_WIDTH 16384
#define DISPLAY_MAX_HEIGHT 16384
#define DISPLAY_MAX_CONSOLES 4

enum display_kind {
	DISPLAY_BLANK,    /* nothing shown (screen off, no mode yet) */
	DISPLAY_TEXT,     /* a text mode: cells and cursor are valid */
	DISPLAY_GRAPHICS,
};

struct display_rect {
	unsigned x, y, w, h;
};

struct display_surface;

/* A front-end's own view of what changed: every front-end (the SDL window,
 * the VNC server) takes the changes since its own last look, so two of
 * them never take each other's (display_client_add). */
struct display_client {
	struct display_rect dirty;
	bool has_dirty;
	bool resized;               /* the size or kind changed since the last look */
};

#define DISPLAY_MAX_CLIENTS 4

/* What the device behind a surface does for it. */
struct display_source_ops {
	/* Brings the surface up to date (the device's lock, then the
	 * surface's, are taken by the device itself). */
	void (*refresh)(void *opaque);
	/* The number of listeners changed (0: stop any refresh timer). */
	void (*listeners_changed)(void *opaque, unsigned listeners);
};

struct display_surface {
	pthread_mutex_t lock;       /* the fields below */
	enum display_kind kind;
	unsigned width, height;
	uint32_t *pixels;           /* width * height, 0x00RRGGBB */
	/* Text modes: cols x rows cells, each character | attribute << 8. */
	unsigned cols, rows;
	uint16_t *cells;
	unsigned cursor_col, cursor_row;
	bool cursor_on;
	/* What changed since the last display_take_dirty. */
	struct display_rect dirty;
	bool has_dirty;
	uint64_t updates;           /* refreshes that changed something */
	const struct display_source_ops *ops;
	void *opaque;
	unsigned listeners;
	struct display_client *clients[DISPLAY_MAX_CLIENTS];
	int console;                /* index, or -1 */
};

/* A black 640x480 blank surface, registered as the next console. */
void display_surface_init(struct display_surface *s, const struct display_source_ops *ops,
			  void *opaque);
void display_surface_destroy(struct display_surface *s);

/* ---- for devices (the surface lock held) ------------------------------ */

/* Sets the kind and the size (pixels; text: the cell grid too). A new size
 * clears the picture to black and marks it all dirty. 0 or -EINVAL (a size
 * over DISPLAY_MAX_*, or 0). */
int display_set_mode(struct display_surface *s, enum display_kind kind, unsigned width,
		     unsigned height, unsigned cols, unsigned rows);
/* Marks a rectangle changed (clipped to the surface). */
void display_mark_dirty(struct display_surface *s, unsigned x, unsigned y, unsigned w,
			unsigned h);

/* ---- for front-ends (they take no lock themselves) -------------------- */

/* Has the device bring the surface up to date. */
void display_refresh(struct display_surface *s);
/* The changed area since the last call, then forgets it. false: none. */
bool display_take_dirty(struct display_surface *s, struct display_rect *out);
void display_listen(struct display_surface *s, bool on);
/* A front-end's dirty tracking: added, it first sees the whole picture as
 * changed; -ENOSPC beyond DISPLAY_MAX_CLIENTS. The surface does not own it. */
int display_client_add(struct display_surface *s, struct display_client *c);
void display_client_remove(struct display_surface *s, struct display_client *c);
/* What changed for 'c' since its last call (false: nothing), then
 * forgets it; *resized says the size changed too. With the surface lock
 * held (the caller copies the pixels under the same lock). */
bool display_client_take_locked(struct display_surface *s, struct display_client *c,
				struct display_rect *out, bool *resized);
/* Console 'index' (0: the first display device), or NULL. */
struct display_surface *display_console(unsigned index);

enum display_file_format {
	DISPLAY_FORMAT_PPM,
	DISPLAY_FORMAT_PNG,
};

/* Refreshes the surface and writes it to 'path' (created or truncated,
 * mode 0666 & ~umask): PPM (P6, maxval 255) or PNG (8-bit RGB, through
 * libpng, loaded on first use). 0, or -1 with one line in err. */
int display_screendump(struct display_surface *s, const char *path,
		       enum display_file_format format, char *err, size_t errlen);
/* Maps libpng now (during set-up: under the sandbox no code may be
 * mapped later). A missing libpng fails only PNG screendumps. */
void display_preload_png(void);
/* The bytes of the PPM of the current picture (for tests): malloc'd. */
uint8_t *display_ppm_bytes(struct display_surface *s, size_t *len);

#endif
