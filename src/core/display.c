// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The display surface (include/display.h) and the screendump writers.
 */
#include "display.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lazylib.h"
#include "util.h"

static pthread_mutex_t consoles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct display_surface *consoles[DISPLAY_MAX_CONSOLES];

void display_surface_init(struct display_surface *s, const struct display_source_ops *ops,
			  void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->ops = ops;
	s->opaque = opaque;
	s->console = -1;
	display_set_mode(s, DISPLAY_BLANK, 640, 480, 0, 0);
	pthread_mutex_lock(&consoles_lock);
	for (int i = 0; i < DISPLAY_MAX_CONSOLES; i++)
		if (!consoles[i]) {
			consoles[i] = s;
			s->console = i;
			break;
		}
	pthread_mutex_unlock(&consoles_lock);
}

void display_surface_destroy(struct display_surface *s)
{
	pthread_mutex_lock(&consoles_lock);
	if (s->console >= 0 && consoles[s->console] == s)
		consoles[s->console] = NULL;
	pthread_mutex_unlock(&consoles_lock);
	free(s->pixels);
	free(s->cells);
	pthread_mutex_destroy(&s->lock);
	s->pixels = NULL;
	s->cells = NULL;
}

struct display_surface *display_console(unsigned index)
{
	struct display_surface *s = NULL;
	pthread_mutex_lock(&consoles_lock);
	if (index < DISPLAY_MAX_CONSOLES)
		s = consoles[index];
	pthread_mutex_unlock(&consoles_lock);
	return s;
}

int display_set_mode(struct display_surface *s, enum display_kind kind, unsigned width,
		     unsigned height, unsigned cols, unsigned rows)
{
	if (!width || !height || width > DISPLAY_MAX_WIDTH || height > DISPLAY_MAX_HEIGHT ||
	    cols > width || rows > height)
		return -EINVAL;
	if (width != s->width || height != s->height) {
		for (int i = 0; i < DISPLAY_MAX_CLIENTS; i++)
			if (s->clients[i])
				s->clients[i]->resized = true;
		free(s->pixels);
		s->pixels = xzalloc((size_t)width * height * sizeof(uint32_t));
		s->width = width;
		s->height = height;
		display_mark_dirty(s, 0, 0, width, height);
	}
	if (cols != s->cols || rows != s->rows) {
		free(s->cells);
		s->cells = cols && rows ? xzalloc((size_t)cols * rows * sizeof(uint16_t)) : NULL;
		s->cols = cols;
		s->rows = rows;
	}
	if (kind != s->kind) {
		s->kind = kind;
		display_mark_dirty(s, 0, 0, width, height);
	}
	if (kind != DISPLAY_TEXT)
		s->cursor_on = false;
	return 0;
}

/* Grows *r (valid when *has) to cover x, y, w, h. */
static void rect_union(struct display_rect *r, bool *has, unsigned x, unsigned y, unsigned w,
		       unsigned h)
{
	if (!*has) {
		*r = (struct display_rect){ x, y, w, h };
		*has = true;
		return;
	}
	unsigned x1 = MIN(r->x, x), y1 = MIN(r->y, y);
	unsigned x2 = MAX(r->x + r->w, x + w), y2 = MAX(r->y + r->h, y + h);
	*r = (struct display_rect){ x1, y1, x2 - x1, y2 - y1 };
}

void display_mark_dirty(struct display_surface *s, unsigned x, unsigned y, unsigned w,
			unsigned h)
{
	if (x >= s->width || y >= s->height || !w || !h)
		return;
	w = MIN(w, s->width - x);
	h = MIN(h, s->height - y);
	rect_union(&s->dirty, &s->has_dirty, x, y, w, h);
	for (int i = 0; i < DISPLAY_MAX_CLIENTS; i++)
		if (s->clients[i])
			rect_union(&s->clients[i]->dirty, &s->clients[i]->has_dirty, x, y, w, h);
}

int display_client_add(struct display_surface *s, struct display_client *c)
{
	int ret = -ENOSPC;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < DISPLAY_MAX_CLIENTS; i++)
		if (!s->clients[i]) {
			s->clients[i] = c;
			c->dirty = (struct display_rect){ 0, 0, s->width, s->height };
			c->has_dirty = true;
			c->resized = true;
			ret = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void display_client_remove(struct display_surface *s, struct display_client *c)
{
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < DISPLAY_MAX_CLIENTS; i++)
		if (s->clients[i] == c)
			s->clients[i] = NULL;
	pthread_mutex_unlock(&s->lock);
}

bool display_client_take_locked(struct display_surface *s, struct display_client *c,
				struct display_rect *out, bool *resized)
{
	bool any = c->has_dirty;
	*resized = c->resized;
	if (any) {
		/* the rectangle may predate a smaller mode */
		struct display_rect r = c->dirty;
		r.x = MIN(r.x, s->width);
		r.y = MIN(r.y, s->height);
		r.w = MIN(r.w, s->width - r.x);
		r.h = MIN(r.h, s->height - r.y);
		*out = r;
		any = r.w && r.h;
	}
	if (*resized) {
		*out = (struct display_rect){ 0, 0, s->width, s->height };
		any = true;
	}
	c->has_dirty = false;
	c->resized = false;
	return any;
}

void display_refresh(struct display_surface *s)
{
	if (s->ops && s->ops->refresh)
		s->ops->refresh(s->opaque);
}

bool display_take_dirty(struct display_surface *s, struct display_rect *out)
{
	pthread_mutex_lock(&s->lock);
	bool any = s->has_dirty;
	if (any)
		*out = s->dirty;
	s->has_dirty = false;
	pthread_mutex_unlock(&s->lock);
	return any;
}

void display_listen(struct display_surface *s, bool on)
{
	pthread_mutex_lock(&s->lock);
	if (on)
		s->listeners++;
	else if (s->listeners)
		s->listeners--;
	unsigned n = s->listeners;
	pthread_mutex_unlock(&s->lock);
	if (s->ops && s->ops->listeners_changed)
		s->ops->listeners_changed(s->opaque, n);
}

/* ---- screendump ------------------------------------------------------- */

static void rgb_row(const uint32_t *px, unsigned width, uint8_t *out)
{
	for (unsigned x = 0; x < width; x++) {
		out[3 * x] = (uint8_t)(px[x] >> 16);
		out[3 * x + 1] = (uint8_t)(px[x] >> 8);
		out[3 * x + 2] = (uint8_t)px[x];
	}
}

/* The PPM as QEMU writes it: "P6\n<w> <h>\n255\n", then RGB rows. */
static uint8_t *ppm_locked(struct display_surface *s, size_t *len)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "P6\n%u %u\n255\n", s->width, s->height);
	size_t row = (size_t)s->width * 3;
	uint8_t *buf = xzalloc((size_t)n + row * s->height);

	memcpy(buf, head, (size_t)n);
	for (unsigned y = 0; y < s->height; y++)
		rgb_row(s->pixels + (size_t)y * s->width, s->width, buf + n + row * y);
	*len = (size_t)n + row * s->height;
	return buf;
}

uint8_t *display_ppm_bytes(struct display_surface *s, size_t *len)
{
	display_refresh(s);
	pthread_mutex_lock(&s->lock);
	uint8_t *buf = ppm_locked(s, len);
	pthread_mutex_unlock(&s->lock);
	return buf;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* libpng, loaded during set-up by the display device (display_preload_png)
 * so that a screendump under the sandbox maps no code. */
static struct {
	png_structp (*create_write_struct)(png_const_charp, png_voidp, png_error_ptr,
					   png_error_ptr);
	png_infop (*create_info_struct)(png_const_structrp);
	jmp_buf *(*set_longjmp_fn)(png_structrp, png_longjmp_ptr, size_t);
	void (*init_io)(png_structrp, png_FILE_p);
	void (*set_IHDR)(png_const_structrp, png_inforp, png_uint_32, png_uint_32, int, int, int,
			 int, int);
	void (*write_info)(png_structrp, png_const_inforp);
	void (*write_row)(png_structrp, png_const_bytep);
	void (*write_end)(png_structrp, png_inforp);
	void (*destroy_write_struct)(png_structpp, png_infopp);
} png;

static const struct lazysym png_syms[] = {
	{ "png_create_write_struct", (void **)&png.create_write_struct },
	{ "png_create_info_struct", (void **)&png.create_info_struct },
	{ "png_set_longjmp_fn", (void **)&png.set_longjmp_fn },
	{ "png_init_io", (void **)&png.init_io },
	{ "png_set_IHDR", (void **)&png.set_IHDR },
	{ "png_write_info", (void **)&png.write_info },
	{ "png_write_row", (void **)&png.write_row },
	{ "png_write_end", (void **)&png.write_end },
	{ "png_destroy_write_struct", (void **)&png.destroy_write_struct },
	{ NULL, NULL },
};

static struct lazylib libpng = LAZYLIB_INIT("libpng16.so.16", png_syms);

void display_preload_png(void)
{
	lazylib_load(&libpng, NULL, 0);
}

static void png_quiet(png_structp p, png_const_charp msg)
{
	(void)p;
	(void)msg;
}

/* Rows are converted one at a time into 'row' (the caller's, so that
 * nothing needs freeing after a longjmp). */
static int png_write_locked(struct display_surface *s, FILE *f, uint8_t *row)
{
	png_structp p = png.create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_quiet, png_quiet);
	png_infop info = p ? png.create_info_struct(p) : NULL;

	if (!info) {
		png.destroy_write_struct(&p, NULL);
		return -1;
	}
	if (setjmp(*png.set_longjmp_fn(p, longjmp, sizeof(jmp_buf)))) {
		png.destroy_write_struct(&p, &info);
		return -1;
	}
	png.init_io(p, f);
	png.set_IHDR(p, info, s->width, s->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png.write_info(p, info);
	for (unsigned y = 0; y < s->height; y++) {
		rgb_row(s->pixels + (size_t)y * s->width, s->width, row);
		png.write_row(p, row);
	}
	png.write_end(p, info);
	png.destroy_write_struct(&p, &info);
	return 0;
}

int display_screendump(struct display_surface *s, const char *path,
		       enum display_file_format format, char *err, size_t errlen)
{
	char why[160];
	int ret = 0;

	if (format == DISPLAY_FORMAT_PNG && lazylib_load(&libpng, why, sizeof(why)) < 0)
		return set_err(err, errlen, "cannot write PNG: %s", why);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return set_err(err, errlen, "Could not open '%s': %s", path, strerror(errno));
	display_refresh(s);
	pthread_mutex_lock(&s->lock);
	if (format == DISPLAY_FORMAT_PPM) {
		size_t len;
		uint8_t *buf = ppm_locked(s, &len);
		if (write_all(fd, buf, len) < 0)
			ret = set_err(err, errlen, "failed to write '%s': %s", path,
				      strerror(errno ? errno : EIO));
		free(buf);
		close(fd);
	} else {
		FILE *f = fdopen(fd, "wb");
		uint8_t *row = xzalloc((size_t)s->width * 3);
		if (!f) {
			close(fd);
			ret = set_err(err, errlen, "failed to write '%s'", path);
		} else {
			if (png_write_locked(s, f, row) < 0)
				ret = set_err(err, errlen, "failed to write '%s': libpng error", path);
			if (fclose(f) != 0 && !ret)
				ret = set_err(err, errlen, "failed to write '%s': %s", path,
					      strerror(errno));
		}
		free(row);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}
