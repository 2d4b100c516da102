/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared libraries loaded with dlopen() the first time a feature needs
 * them, instead of being linked: a library linked into vmm is mapped,
 * relocated and initialised in every vmm process, and its pages count in
 * each one's resident set whether the machine uses it or not (libslirp
 * with glib, zlib, liburing: about 1.2 MiB of a 2 MiB process).
 */
#ifndef VMM_LAZYLIB_H
#define VMM_LAZYLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct lazysym {
	const char *name;
	void **slot; /* where the address goes: (void **)&api.fn */
};

struct lazylib {
	const char *soname;
	const struct lazysym *syms; /* ended by { NULL } */
	pthread_mutex_t lock;       /* PTHREAD_MUTEX_INITIALIZER */
	bool tried, ok;
	char error[160];
};

#define LAZYLIB_INIT(so, symbols) \
	{ .soname = (so), .syms = (symbols), .lock = PTHREAD_MUTEX_INITIALIZER }

/* Any thread: loads the library and resolves every symbol, once; later
 * calls return the first outcome. 0, or -1 with a one-line reason. */
int lazylib_load(struct lazylib *l, char *err, size_t errlen);

#endif
