// SPDX-License-Identifier: GPL-2.0-or-later
/* Libraries loaded on first use (see lazylib.h). */
#include "lazylib.h"

#include <dlfcn.h>
#include <stdio.h>

static bool resolve(struct lazylib *l)
{
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(l->error, sizeof(l->error), "cannot load %s: %s", l->soname, dlerror());
		return false;
	}
	for (const struct lazysym *s = l->syms; s->name; s++) {
		*s->slot = dlsym(h, s->name);
		if (!*s->slot) {
			snprintf(l->error, sizeof(l->error), "%s has no %s", l->soname, s->name);
			dlclose(h);
			return false;
		}
	}
	return true; /* kept loaded until exit */
}

int lazylib_load(struct lazylib *l, char *err, size_t errlen)
{
	pthread_mutex_lock(&l->lock);
	if (!l->tried) {
		l->ok = resolve(l);
		l->tried = true;
	}
	bool ok = l->ok;
	pthread_mutex_unlock(&l->lock);
	if (!ok && err)
		snprintf(err, errlen, "%s", l->error);
	return ok ? 0 : -1;
}
