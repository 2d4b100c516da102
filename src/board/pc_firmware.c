// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PC's firmware: where the BIOS image is found (-L, -bios, the
 * distribution's SeaBIOS directories) and how it is read into the guest's
 * ROM mapping.
 */
#include "pc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define DEFAULT_BIOS "bios-256k.bin"

static const char *const default_firmware_dirs[] = {
	"/usr/share/seabios",
	"/usr/share/qemu",
	"/usr/lib/ipxe/qemu", /* Debian's ipxe-qemu: the NICs' option ROMs */
};

/* The largest option ROM a PCI ROM BAR takes here (iPXE's EFI+BIOS
 * images are a few hundred KiB). */
#define OPTION_ROM_MAX (16 * MiB)

static char *find_firmware(const struct machine_config *cfg, const char *name)
{
	char path[4096];
	const char *env = getenv("VMM_FIRMWARE_DIR");

	if (strchr(name, '/'))
		return xstrdup(name);
	for (unsigned i = 0; i < cfg->nfirmware_dirs; i++) {
		snprintf(path, sizeof(path), "%s/%s", cfg->firmware_dirs[i], name);
		if (access(path, R_OK) == 0)
			return xstrdup(path);
	}
	if (env) {
		snprintf(path, sizeof(path), "%s/%s", env, name);
		if (access(path, R_OK) == 0)
			return xstrdup(path);
	}
	for (size_t i = 0; i < ARRAY_SIZE(default_firmware_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", default_firmware_dirs[i], name);
		if (access(path, R_OK) == 0)
			return xstrdup(path);
	}
	/* -bios with a bare name in the current directory. */
	if (cfg->bios_path && access(name, R_OK) == 0)
		return xstrdup(name);
	return NULL;
}

/* Finds the firmware and checks its size; the open file, read later by
 * read_bios() straight into the guest's ROM mapping (no heap copy: that
 * would add the image's size to vmm's peak RSS). */
int open_bios(const struct machine_config *cfg, uint64_t *size, char **path_out)
{
	const char *name = cfg->bios_path ? cfg->bios_path : DEFAULT_BIOS;
	char *path = find_firmware(cfg, name);
	struct stat st;

	if (!path)
		die("could not find firmware '%s' (install Debian's 'seabios' package, "
		    "or give -bios PATH or -L DIR)", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die_errno("could not open firmware '%s'", path);
	if (fstat(fd, &st) < 0)
		die_errno("could not stat firmware '%s'", path);
	if (st.st_size <= 0 || st.st_size % (64 * 1024) || st.st_size > 16 * (off_t)MiB)
		die("firmware '%s' has size %lld: it must be a non-zero multiple of 64 KiB, "
		    "at most 16 MiB", path, (long long)st.st_size);
	*size = (uint64_t)st.st_size;
	*path_out = path;
	return fd;
}

void read_bios(int fd, char *path, uint8_t *dst, uint64_t size)
{
	if (read(fd, dst, (size_t)size) != (ssize_t)size)
		die_errno("could not read firmware '%s'", path);
	close(fd);
	free(path);
}

uint8_t *read_option_rom(const struct machine_config *cfg, const char *name, size_t *len,
			 char *err, size_t errlen)
{
	char *path = find_firmware(cfg, name);
	struct stat st;
	uint8_t *data = NULL;
	int fd;

	if (!path) {
		snprintf(err, errlen, "romfile '%s' not found (Debian's seabios and ipxe-qemu "
			 "packages have the cards' ROMs; or give romfile=PATH, or romfile= for "
			 "none)", name);
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "romfile '%s': %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size < 3 || st.st_size > (off_t)OPTION_ROM_MAX) {
		snprintf(err, errlen, "romfile '%s': %lld bytes is not an option ROM", path,
			 (long long)st.st_size);
		goto out;
	}
	data = xzalloc((size_t)st.st_size);
	if (read(fd, data, (size_t)st.st_size) != (ssize_t)st.st_size) {
		snprintf(err, errlen, "romfile '%s': short read", path);
		free(data);
		data = NULL;
		goto out;
	}
	if (data[0] != 0x55 || data[1] != 0xAA) {
		snprintf(err, errlen, "romfile '%s': no option ROM signature (55 AA)", path);
		free(data);
		data = NULL;
		goto out;
	}
	*len = (size_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return data;
}
