// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * -kernel/-initrd/-append: reads the files, picks the loader, and hands the
 * result, which the board hands to the guest through fw_cfg and our option
 * ROM (loader_install, src/board/pc_fw_cfg.c; see loader.h).
 */
#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

uint8_t *loader_read_file(const char *path, uint64_t max_size, size_t *size, char *err,
			  size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		set_err(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		set_err(err, errlen, "not a regular file");
		close(fd);
		return NULL;
	}
	if ((uint64_t)st.st_size > max_size) {
		set_err(err, errlen, "%lld bytes, larger than guest RAM", (long long)st.st_size);
		close(fd);
		return NULL;
	}
	size_t n = (size_t)st.st_size, done = 0;
	uint8_t *buf = xzalloc(n ? n : 1);
	while (done < n) {
		ssize_t r = read(fd, buf + done, n - done);
		if (r <= 0) {
			set_err(err, errlen, "%s", r < 0 ? strerror(errno) : "file shrank while reading");
			free(buf);
			close(fd);
			return NULL;
		}
		done += (size_t)r;
	}
	close(fd);
	*size = n;
	return buf;
}

/* pvh: on success the image takes *k (which becomes NULL). */
static int load_linux(uint8_t **k, size_t ksize, const char *initrd, const char *append,
		      const struct loader_ram *ram, struct boot_image *out, char *err,
		      size_t errlen, bool pvh)
{
	uint8_t *rd = NULL;
	size_t rdsize = 0;
	char why[256];

	if (initrd) {
		rd = loader_read_file(initrd, ram->below_4g, &rdsize, why, sizeof(why));
		if (!rd)
			return set_err(err, errlen, "initrd '%s': %s", initrd, why);
	}
	int ret = pvh ? pvh_prepare(*k, ksize, rd, rdsize, append, ram, out, err, errlen)
		      : linux_prepare(*k, ksize, rd, rdsize, append, ram, out, err, errlen);
	if (pvh && ret == 0)
		*k = NULL;
	free(rd);
	return ret;
}

static int load_modules(const struct loader_ram *ram,
			struct loader_file *files, int n, const struct mb_module *mods,
			char *err, size_t errlen)
{
	char why[256];
	for (int i = 0; i < n; i++) {
		uint8_t *d = loader_read_file(mods[i].path, ram->below_4g, &files[i].size, why,
					      sizeof(why));
		if (!d)
			return set_err(err, errlen, "module '%s': %s", mods[i].path, why);
		files[i].data = d;
		files[i].name = mods[i].string;
	}
	return 0;
}

static int load_multiboot(const char *kpath, const uint8_t *k, size_t ksize, const char *initrd,
			  const char *append, const struct loader_ram *ram,
			  struct boot_image *out, char *err, size_t errlen)
{
	struct mb_module *mods = NULL;
	int n = 0;

	if (initrd) {
		n = multiboot_parse_modules(initrd, &mods, err, errlen);
		if (n < 0)
			return -1;
	}
	struct loader_file *files = xzalloc((size_t)(n ? n : 1) * sizeof(*files));
	/* The kernel's own string starts with its name, as boot loaders do. */
	size_t clen = strlen(kpath) + 2 + (append ? strlen(append) : 0);
	char *cmdline = xzalloc(clen);
	snprintf(cmdline, clen, "%s%s%s", kpath, append && *append ? " " : "",
		 append ? append : "");

	int ret = load_modules(ram, files, n, mods, err, errlen);
	if (ret == 0)
		ret = multiboot_prepare(k, ksize, cmdline, files, (unsigned)n, ram, out, err, errlen);
	for (int i = 0; i < n; i++)
		free((void *)files[i].data);
	free(files);
	free(cmdline);
	multiboot_free_modules(mods, n);
	return ret;
}

int loader_load(const char *kernel, const char *initrd, const char *append,
		const struct loader_ram *ram, struct boot_image *out, char *err, size_t errlen)
{
	size_t ksize;
	uint8_t *k = loader_read_file(kernel, ram->below_4g, &ksize, err, errlen);
	int ret;

	memset(out, 0, sizeof(*out));
	if (!k)
		return -1;
	if (linux_probe(k, ksize))
		ret = load_linux(&k, ksize, initrd, append, ram, out, err, errlen, false);
	/* Multiboot first: an ELF with both (Xen's own image) boots as
	 * Multiboot, its -initrd a module list, as QEMU boots it. */
	else if (multiboot_find_header(k, ksize) >= 0)
		ret = load_multiboot(kernel, k, ksize, initrd, append, ram, out, err, errlen);
	else if (pvh_entry(k, ksize))
		ret = load_linux(&k, ksize, initrd, append, ram, out, err, errlen, true);
	else
		ret = set_err(err, errlen, "not a Linux bzImage, PVH ELF or Multiboot kernel");
	free(k);
	return ret;
}

void boot_blob_copy(struct boot_blob *b, const void *data, size_t size, uint32_t addr)
{
	b->size = (uint32_t)size;
	b->data = xzalloc(size ? size : 1);
	if (size)
		memcpy(b->data, data, size);
	b->addr = addr;
}

void boot_image_free(struct boot_image *img)
{
	free(img->setup.data);
	free(img->kernel.data);
	free(img->initrd.data);
	free(img->cmdline.data);
	free(img->elf);
	memset(img, 0, sizeof(*img));
}
