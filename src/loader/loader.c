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

/* The file opened read-only, if it is a regular file of at most max_size
 * bytes; else -1 with the reason in err. */
static int open_regular(const char *path, uint64_t max_size, uint64_t *size, char *err,
			size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return set_err(err, errlen, "%s", strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return set_err(err, errlen, "not a regular file");
	}
	if ((uint64_t)st.st_size > max_size) {
		close(fd);
		return set_err(err, errlen, "%lld bytes, larger than guest RAM", (long long)st.st_size);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static uint8_t *read_whole(int fd, size_t n, char *err, size_t errlen)
{
	uint8_t *buf = xzalloc(n ? n : 1);
	struct elf_source src = { .fd = fd, .size = n };
	if (!elf_source_read(&src, 0, buf, n)) {
		set_err(err, errlen, "%s", errno ? strerror(errno) : "file shrank while reading");
		free(buf);
		return NULL;
	}
	return buf;
}

uint8_t *loader_read_file(const char *path, uint64_t max_size, size_t *size, char *err,
			  size_t errlen)
{
	uint64_t n;
	int fd = open_regular(path, max_size, &n, err, errlen);
	if (fd < 0)
		return NULL;
	uint8_t *buf = read_whole(fd, (size_t)n, err, errlen);
	close(fd);
	if (buf)
		*size = (size_t)n;
	return buf;
}

static int read_initrd(const char *initrd, const struct loader_ram *ram, uint8_t **rd,
		       size_t *rdsize, char *err, size_t errlen)
{
	char why[256];

	*rd = NULL;
	*rdsize = 0;
	if (!initrd)
		return 0;
	*rd = loader_read_file(initrd, ram->below_4g, rdsize, why, sizeof(why));
	return *rd ? 0 : set_err(err, errlen, "initrd '%s': %s", initrd, why);
}

/* A bzImage (k, ksize) or, with k NULL, a PVH ELF open at fd, which the
 * image takes on success; the initrd read for either. */
static int load_linux(const uint8_t *k, size_t ksize, int fd, const char *initrd,
		      const char *append, const struct loader_ram *ram, struct boot_image *out,
		      char *err, size_t errlen)
{
	uint8_t *rd;
	size_t rdsize;

	if (read_initrd(initrd, ram, &rd, &rdsize, err, errlen) < 0)
		return -1;
	int ret = k ? linux_prepare(k, ksize, rd, rdsize, append, ram, out, err, errlen)
		    : pvh_prepare_fd(fd, rd, rdsize, append, ram, out, err, errlen);
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

/* A bzImage or a Multiboot kernel, read whole: their loaders copy it. */
static int load_read_whole(const char *kernel, int fd, uint64_t ksize, const char *initrd,
			   const char *append, const struct loader_ram *ram,
			   struct boot_image *out, char *err, size_t errlen)
{
	if (ksize > ram->below_4g)
		return set_err(err, errlen, "%llu bytes, larger than guest RAM",
			       (unsigned long long)ksize);
	uint8_t *k = read_whole(fd, (size_t)ksize, err, errlen);
	int ret;

	if (!k)
		return -1;
	if (linux_probe(k, ksize))
		ret = load_linux(k, ksize, -1, initrd, append, ram, out, err, errlen);
	else
		ret = load_multiboot(kernel, k, ksize, initrd, append, ram, out, err, errlen);
	free(k);
	return ret;
}

int loader_load(const char *kernel, const char *initrd, const char *append,
		const struct loader_ram *ram, struct boot_image *out, char *err, size_t errlen)
{
	uint8_t head[MB_SEARCH_LEN];
	uint64_t ksize;
	int ret;

	memset(out, 0, sizeof(*out));
	/* A PVH ELF is not read whole: only its segments must fit in RAM
	 * (a debug vmlinux is mostly symbols), which pvh_prepare checks. */
	int fd = open_regular(kernel, UINT64_MAX, &ksize, err, errlen);
	if (fd < 0)
		return -1;
	/* The probes look only at the start of the file (a PVH ELF's at its
	 * headers and notes). */
	size_t hlen = (size_t)MIN(ksize, (uint64_t)sizeof(head));
	struct elf_source src = { .fd = fd, .size = ksize };
	if (!elf_source_read(&src, 0, head, hlen))
		ret = set_err(err, errlen, "%s", errno ? strerror(errno) : "file shrank while reading");
	/* Multiboot before PVH: an ELF with both (Xen's own image) boots as
	 * Multiboot, its -initrd a module list, as QEMU boots it. */
	else if (linux_probe(head, hlen) || multiboot_find_header(head, hlen) >= 0)
		ret = load_read_whole(kernel, fd, ksize, initrd, append, ram, out, err, errlen);
	else if (pvh_entry_of(&src)) {
		ret = load_linux(NULL, 0, fd, initrd, append, ram, out, err, errlen);
		if (ret == 0)
			return 0; /* the image keeps fd */
	} else
		ret = set_err(err, errlen, "not a Linux bzImage, PVH ELF or Multiboot kernel");
	close(fd);
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
	if (img->pvh && img->elf.buf)
		free((void *)img->elf.buf);
	else if (img->pvh)
		close(img->elf.fd);
	memset(img, 0, sizeof(*img));
}
