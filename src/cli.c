// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "device.h"
#include "gdbstub.h"
#include "hw/fdc.h"
#include "keymap.h"
#include "qemu_names.h"
#include "util.h"
#include "vmctl.h"
#include "watchdog.h"

#define DEFAULT_RAM (128 * MiB)
#define MIN_RAM (2 * MiB)
/* The most RAM MEM_SLOT_CUTS_MAX slot cuts allow; the guest's physical
 * address width is checked when the machine is made. */
#define MAX_RAM (64 * 1024 * GiB)

#define MAX_MONS 5 /* the 4 QMP channels and the one human monitor */

struct cli_state {
	struct machine_config *cfg;
	char *err;
	size_t errlen;
	bool serial_given;
	unsigned nserial;     /* -serial options so far: the next one's index */
	bool display_none;
	bool display_given;   /* any -display: no default window */
	bool full_screen;
	const char *keymap;   /* -k, the last one */
	bool monitor_given;
	bool net_given;       /* a -net, -nic or -netdev: no default NIC */
	bool no_defaults;     /* -nodefaults */
	bool debugcon_given;
	bool ide_taken[MAX_IDE_DRIVES]; /* by -hda..-hdd, -cdrom, -drive if=ide */
	bool watchdog_given;  /* -watchdog (QEMU took one) */
	enum { VGA_DEFAULT, VGA_STD, VGA_CIRRUS, VGA_NONE } vga; /* -vga, the last one */
	struct {
		char chardev[CHARDEV_ID_MAX];
		bool control;
	} mon[MAX_MONS];      /* -mon, resolved once every -chardev is known */
	unsigned nmon;
	bool ram_size_given;  /* -m */
	char memdev[64];      /* -machine memory-backend=ID */
	bool mem_prealloc;    /* -mem-prealloc */
	bool mem_merge;       /* -machine mem-merge= (default on, as QEMU) */
};

typedef int (*opt_handler)(struct cli_state *st, const char *name, const char *arg);

struct option_def {
	const char *name;
	const char *arg;   /* NULL: takes no argument */
	opt_handler handler;
	const char *help;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct cli_state *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, st->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Splits "a=b,c=d" style option strings; a leading bare value is returned
 * under the key given as 'implicit'. Values containing ',' escape it as ",,"
 * in QEMU; that is handled here too. */
struct kv {
	char key[32];
	char value[1024];
};

static int split_opts(struct cli_state *st, const char *opt, const char *arg, const char *implicit,
		      struct kv *out, int max)
{
	int n = 0;
	const char *p = arg;

	while (*p) {
		if (n == max)
			return fail(st, "-%s: too many parameters", opt);
		struct kv *kv = &out[n];
		size_t klen = 0, vlen = 0;
		const char *eq = NULL;
		for (const char *q = p; *q && *q != ','; q++)
			if (*q == '=') {
				eq = q;
				break;
			}
		if (eq) {
			klen = (size_t)(eq - p);
			if (klen >= sizeof(kv->key))
				return fail(st, "-%s: parameter name too long", opt);
			memcpy(kv->key, p, klen);
			kv->key[klen] = 0;
			p = eq + 1;
		} else if (n == 0 && implicit) {
			/* implicit is one of our short key names; a plain copy
			 * keeps printf's machinery out of every start-up */
			size_t ilen = strlen(implicit);
			if (ilen >= sizeof(kv->key))
				return fail(st, "-%s: parameter name too long", opt);
			memcpy(kv->key, implicit, ilen + 1);
		} else {
			/* A bare flag such as "snapshot" means "=on". */
			for (; p[klen] && p[klen] != ','; klen++)
				;
			if (klen >= sizeof(kv->key))
				return fail(st, "-%s: parameter name too long", opt);
			memcpy(kv->key, p, klen);
			kv->key[klen] = 0;
			strcpy(kv->value, "on");
			p += klen;
			if (*p == ',')
				p++;
			n++;
			continue;
		}
		while (*p) {
			if (*p == ',' && p[1] == ',') {
				p++;
			} else if (*p == ',') {
				break;
			}
			if (vlen + 1 >= sizeof(kv->value))
				return fail(st, "-%s: parameter value too long", opt);
			kv->value[vlen++] = *p++;
		}
		kv->value[vlen] = 0;
		if (*p == ',')
			p++;
		n++;
	}
	return n;
}

static int parse_bool(struct cli_state *st, const char *opt, const char *key, const char *v,
		      bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false")) {
		*out = false;
		return 0;
	}
	return fail(st, "-%s: %s: expected 'on' or 'off', got '%s'", opt, key, v);
}

static int parse_uint(struct cli_state *st, const char *opt, const char *v, unsigned long max,
		      unsigned long *out)
{
	uint64_t x = 0;
	const char *end = scan_uint(v, 0, &x);
	*out = 0;
	if (!end || *end || x > max)
		return fail(st, "-%s: invalid number '%s'", opt, v);
	*out = x;
	return 0;
}

static int opt_memory(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[4];
	int n = split_opts(st, name, arg, "size", kv, 4);
	uint64_t size = 0;

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (!strcmp(kv[i].key, "size")) {
			if (!parse_size(kv[i].value, MiB, &size))
				return fail(st, "-m %s: invalid RAM size", arg);
		} else if (strcmp(kv[i].key, "slots") && strcmp(kv[i].key, "maxmem")) {
			return fail(st, "-m: unknown parameter '%s'", kv[i].key);
		}
	}
	if (size < MIN_RAM || size > MAX_RAM)
		return fail(st, "-m %s: RAM size must be between 2 MiB and 64 TiB", arg);
	st->cfg->ram_size = size & ~(uint64_t)(4 * KiB - 1);
	st->ram_size_given = true;
	return 0;
}

/* -mem-path PATH: QEMU's legacy spelling of a memory-backend-file
 * (share=off) for -m's RAM. */
static int opt_mem_path(struct cli_state *st, const char *name, const char *arg)
{
	if (!*arg)
		return fail(st, "-mem-path: the path is empty");
	free((char *)st->cfg->ram.mem_path);
	st->cfg->ram.mem_path = xstrdup(arg);
	return 0;
}

static int opt_mem_prealloc(struct cli_state *st, const char *name, const char *arg)
{
	st->mem_prealloc = true;
	return 0;
}

/* -overcommit mem-lock=on|off[,cpu-pm=off]: mem-lock=on is mlockall(). */
static int opt_overcommit(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[4];
	int n = split_opts(st, name, arg, NULL, kv, 4);

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		bool on = false;
		if (!strcmp(kv[i].key, "mem-lock")) {
			if (parse_bool(st, name, kv[i].key, kv[i].value, &on) < 0)
				return -1;
			st->cfg->mem_lock = on;
		} else if (!strcmp(kv[i].key, "cpu-pm")) {
			if (parse_bool(st, name, kv[i].key, kv[i].value, &on) < 0)
				return -1;
			if (on)
				return fail(st, "-overcommit cpu-pm=on: not supported by vmm (the vCPUs "
					    "exit on HLT, MWAIT and PAUSE)");
		} else {
			return fail(st, "-overcommit: unknown parameter '%s' (mem-lock, cpu-pm)",
				    kv[i].key);
		}
	}
	return 0;
}

static int opt_smp(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[8];
	int n = split_opts(st, name, arg, "cpus", kv, 8);
	struct cpu_topology t = { 0 };
	static const struct {
		const char *key;
		size_t offset;
	} fields[] = {
		{ "cpus", offsetof(struct cpu_topology, cpus) },
		{ "sockets", offsetof(struct cpu_topology, sockets) },
		{ "cores", offsetof(struct cpu_topology, cores) },
		{ "threads", offsetof(struct cpu_topology, threads) },
		{ "maxcpus", offsetof(struct cpu_topology, maxcpus) },
	};

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		size_t f = 0;
		unsigned long v;
		while (f < ARRAY_SIZE(fields) && strcmp(kv[i].key, fields[f].key))
			f++;
		if (f == ARRAY_SIZE(fields))
			return fail(st, "-smp: unknown parameter '%s' (cpus, sockets, cores, threads, "
				    "maxcpus)", kv[i].key);
		if (parse_uint(st, name, kv[i].value, 4096, &v) < 0)
			return -1;
		if (v == 0)
			return fail(st, "-smp %s: %s must be at least 1", arg, kv[i].key);
		*(unsigned *)((char *)&t + fields[f].offset) = (unsigned)v;
	}
	if (topology_resolve(&t, st->err, st->errlen) < 0)
		return -1;
	if (t.cpus > MAX_VCPUS)
		return fail(st, "-smp %s: at most %u vCPUs are supported", arg, MAX_VCPUS);
	st->cfg->smp = t;
	return 0;
}

/* A device of the machine (include/device.h), at the end of the list. */
static struct dev_instance *append_device(struct cli_state *st, struct dev_instance *d)
{
	struct machine_config *cfg = st->cfg;
	unsigned same = 0;

	for (unsigned i = 0; i < cfg->ndevs; i++)
		same += cfg->devs[i].cls == d->cls;
	if (d->cls->max_instances && same >= d->cls->max_instances) {
		if (d->cls->max_instances == 1)
			fail(st, "-device %s: only one %s device is supported", d->cls->name,
			     d->cls->name);
		else
			fail(st, "-device %s: at most %u are supported", d->cls->name,
			     d->cls->max_instances);
		dev_instance_free(d);
		return NULL;
	}
	for (unsigned i = 0; d->id && i < cfg->ndevs; i++) {
		if (cfg->devs[i].id && !strcmp(cfg->devs[i].id, d->id)) {
			fail(st, "-device %s: duplicate id '%s'", d->cls->name, d->id);
			dev_instance_free(d);
			return NULL;
		}
	}
	/* Grown in steps of 8: a typical machine has fewer than 16. */
	if (cfg->ndevs % 8 == 0) {
		cfg->devs = realloc(cfg->devs, (cfg->ndevs + 8) * sizeof(*cfg->devs));
		if (!cfg->devs)
			die("out of memory");
	}
	cfg->devs[cfg->ndevs] = *d;
	return &cfg->devs[cfg->ndevs++];
}

/* An instance that an older option implies (-drive if=virtio, -nic, ...). */
static struct dev_instance *imply_device(struct cli_state *st, const char *driver)
{
	struct dev_instance d;
	const struct dev_class *cls = dev_class_find(driver);

	if (!cls)
		die("device %s is missing from the table", driver);
	dev_instance_init(&d, cls);
	d.from_board = true;
	return append_device(st, &d);
}

/* Sets a property that vmm itself chose or checked the syntax of. */
static int imply_prop(struct cli_state *st, const char *opt, struct dev_instance *d,
		      const char *prop, const char *value)
{
	char why[256];
	if (dev_instance_set(d, prop, value, why, sizeof(why)) < 0)
		return fail(st, "%s: %s", opt, why);
	return 0;
}

static struct named_drive *find_drive(struct machine_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->ndrives; i++)
		if (!strcmp(cfg->drives[i].id, id))
			return &cfg->drives[i];
	return NULL;
}

static struct named_drive *new_drive(struct cli_state *st, const char *opt, const char *id)
{
	struct machine_config *cfg = st->cfg;

	if (find_drive(cfg, id)) {
		fail(st, "-drive: duplicate id '%s'", id);
		return NULL;
	}
	if (cfg->ndrives == MAX_DRIVES) {
		fail(st, "%s: at most %u drives with an id", opt, MAX_DRIVES);
		return NULL;
	}
	struct named_drive *nd = &cfg->drives[cfg->ndrives++];
	nd->id = xstrdup(id);
	return nd;
}

/* -hda..-hdd, -cdrom and -drive if=ide: a drive named as QEMU names them
 * (ide0-hd0 ... ide1-cd1) and an ide-hd or ide-cd device on it at its bus
 * and unit, on the instance list like every other device (what
 * `-device ide-hd,drive=ID,bus=ide.0,unit=0` gives). */
static struct drive_config *set_drive(struct cli_state *st, unsigned index, const char *path,
				     bool cdrom, bool read_only, const char *opt)
{
	char id[32];

	if (st->ide_taken[index]) {
		fail(st, "%s: IDE drive %u (%s) is already in use", opt, index,
		     index == 2 ? "secondary master, the -cdrom slot" : "given twice");
		return NULL;
	}
	if (!cdrom && !(path && *path)) {
		fail(st, "%s: a disk needs a file", opt);
		return NULL;
	}
	st->ide_taken[index] = true;
	snprintf(id, sizeof(id), "ide%u-%s%u", index / 2, cdrom ? "cd" : "hd", index % 2);
	struct named_drive *nd = new_drive(st, opt, id);
	if (!nd)
		return NULL;
	nd->d = (struct drive_config){
		.path = path && *path ? xstrdup(path) : NULL, .present = true, .cdrom = cdrom,
		.read_only = read_only,
	};
	struct dev_instance *d = imply_device(st, cdrom ? "ide-cd" : "ide-hd");
	if (!d || imply_prop(st, opt, d, "drive", id) < 0 ||
	    imply_prop(st, opt, d, "bus", index / 2 ? "ide.1" : "ide.0") < 0 ||
	    imply_prop(st, opt, d, "unit", index % 2 ? "1" : "0") < 0)
		return NULL;
	return &nd->d;
}

/* -fda, -fdb and -drive if=floppy: drive floppy0/floppy1 (QEMU's names)
 * for the board's floppy controller (isa-fdc, always present), which
 * takes it as driveA/driveB (machine_config_finish). */
static struct drive_config *set_floppy(struct cli_state *st, unsigned unit, const char *path,
				       const char *opt)
{
	char id[16];

	if (st->cfg->floppy[unit]) {
		fail(st, "%s: floppy drive %c: is already in use", opt, 'A' + unit);
		return NULL;
	}
	if (!(path && *path)) {
		fail(st, "%s: a floppy needs a file", opt);
		return NULL;
	}
	snprintf(id, sizeof(id), "floppy%u", unit);
	struct named_drive *nd = new_drive(st, opt, id);
	if (!nd)
		return NULL;
	nd->d = (struct drive_config){ .path = xstrdup(path), .present = true };
	nd->user = "isa-fdc";
	st->cfg->floppy[unit] = true;
	return &nd->d;
}

/* A raw floppy image of a size no floppy has is refused here, in one
 * line, before it is opened (the open would first warn that it was
 * probed as raw); an image of another format is checked by the
 * controller, which sees its virtual size. */
static int check_floppy_size(struct cli_state *st, const char *path, const char *format,
			     const char *opt)
{
	uint8_t head[4096];
	struct stat sb;
	char why[256];

	if (format && strcmp(format, "raw"))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* the open at start-up says why */
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return 0;
	}
	ssize_t n = pread(fd, head, sizeof(head), 0);
	close(fd);
	if (!format && n > 0 && strcmp(block_probe(head, (size_t)n), "raw"))
		return 0;
	if (fdc_type_of_size((uint64_t)sb.st_size, why, sizeof(why)))
		return 0;
	return fail(st, "%s %s: %s", opt, path, why);
}

static int opt_fd(struct cli_state *st, const char *name, const char *arg)
{
	if (arg && *arg && check_floppy_size(st, arg, NULL, name - 1) < 0)
		return -1;
	return set_floppy(st, (unsigned)(name[2] - 'a'), arg, name - 1) ? 0 : -1;
}

static int opt_hd(struct cli_state *st, const char *name, const char *arg)
{
	return set_drive(st, (unsigned)(name[2] - 'a'), arg, false, false, name - 1) ? 0 : -1;
}

static int opt_cdrom(struct cli_state *st, const char *name, const char *arg)
{
	return set_drive(st, 2, arg, true, true, "-cdrom") ? 0 : -1;
}

/* -drive if=virtio: its own drive (QEMU names it virtioN) and a
 * virtio-blk-pci on it. */
static int add_virtio_drive(struct cli_state *st, const char *file, const char *format,
			    bool read_only, bool snapshot, int cache, bool discard_ignore)
{
	char id[32];
	unsigned n = 0;

	if (!file || !*file)
		return fail(st, "-drive if=virtio: a disk needs a file");
	for (unsigned i = 0; i < st->cfg->ndevs; i++)
		n += !strcmp(st->cfg->devs[i].cls->name, "virtio-blk-pci");
	if (n == MAX_VIRTIO_DRIVES)
		return fail(st, "-drive if=virtio: at most %u virtio disks", MAX_VIRTIO_DRIVES);
	snprintf(id, sizeof(id), "__virtio%u", st->cfg->ndrives);
	struct named_drive *nd = new_drive(st, "-drive if=virtio", id);
	if (!nd)
		return -1;
	nd->d = (struct drive_config){
		.path = file, .present = true, .read_only = read_only, .cache = cache,
		.discard_ignore = discard_ignore,
		.format = format, .snapshot = snapshot,
	};
	struct dev_instance *d = imply_device(st, "virtio-blk-pci");
	return d ? imply_prop(st, "-drive if=virtio", d, "drive", id) : -1;
}

static int opt_drive(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[16];
	int n = split_opts(st, name, arg, NULL, kv, 16);
	const char *file = NULL, *format = NULL;
	bool cdrom = false, read_only = false, snapshot = false, none = false, virtio = false;
	bool floppy = false;
	int cache = BLOCK_CACHE_WRITEBACK;
	bool discard_ignore = false;
	long index = -1;
	unsigned long v;
	const char *id = NULL;

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *k = kv[i].key, *val = kv[i].value;
		if (!strcmp(k, "id")) {
			id = val; /* new_drive() keeps its own copy */
		} else if (!strcmp(k, "file")) {
			file = xstrdup(val);
		} else if (!strcmp(k, "if")) {
			if (!strcmp(val, "none"))
				none = true;
			else if (!strcmp(val, "virtio"))
				virtio = true;
			else if (!strcmp(val, "floppy"))
				floppy = true;
			else if (strcmp(val, "ide"))
				return fail(st, "-drive: if=%s is not supported (ide, floppy, virtio "
					    "or none)", val);
		} else if (!strcmp(k, "media")) {
			if (!strcmp(val, "cdrom"))
				cdrom = true;
			else if (strcmp(val, "disk"))
				return fail(st, "-drive: media=%s: expected disk or cdrom", val);
		} else if (!strcmp(k, "index")) {
			if (parse_uint(st, name, val, MAX_IDE_DRIVES - 1, &v) < 0)
				return -1;
			index = (long)v;
		} else if (!strcmp(k, "format")) {
			if (strcmp(val, "raw") && (!block_format_find(val) || !strcmp(val, "qed")))
				return fail(st, "-drive: format=%s is not supported (raw, qcow2, "
					    "qcow, vmdk, vdi, vpc, vhdx)", val);
			format = xstrdup(val);
		} else if (!strcmp(k, "readonly")) {
			if (parse_bool(st, name, k, val, &read_only) < 0)
				return -1;
		} else if (!strcmp(k, "snapshot")) {
			if (parse_bool(st, name, k, val, &snapshot) < 0)
				return -1;
		} else if (!strcmp(k, "cache")) {
			cache = block_cache_parse(val);
			if (cache < 0)
				return fail(st, "-drive: cache=%s: expected writeback, none, "
					    "writethrough, directsync or unsafe", val);
		} else if (!strcmp(k, "boot")) {
			bool on;
			/* QEMU's old "if=virtio,boot=on": SeaBIOS boots virtio disks anyway. */
			if (parse_bool(st, name, k, val, &on) < 0)
				return -1;
		} else if (!strcmp(k, "discard")) {
			/* QEMU's discard=ignore|off / unmap|on (vmm defaults to unmap) */
			if (!strcmp(val, "ignore") || !strcmp(val, "off"))
				discard_ignore = true;
			else if (strcmp(val, "unmap") && strcmp(val, "on"))
				return fail(st, "-drive: discard=%s: expected ignore or unmap", val);
		} else if (!strcmp(k, "aio")) {
			/* accepted; vmm picks io_uring or its threads itself */
		} else {
			return fail(st, "-drive: unsupported parameter '%s'", k);
		}
	}
	if (none) {
		if (!id)
			return fail(st, "-drive if=none: id= is required (a -device names it)");
		struct named_drive *nd = new_drive(st, "-drive if=none", id);
		if (!nd)
			return -1;
		nd->d = (struct drive_config){
			.path = file && *file ? file : NULL, .format = format, .present = true,
			.cdrom = cdrom, .read_only = read_only || cdrom, .snapshot = snapshot,
			.cache = cache, .discard_ignore = discard_ignore,
		};
		return 0;
	}
	if (floppy) {
		if (cdrom)
			return fail(st, "-drive if=floppy: media=cdrom is not supported");
		if (index > 1)
			return fail(st, "-drive if=floppy: index=%ld: a floppy controller has drives "
				    "0 and 1", index);
		if (index < 0)
			index = st->cfg->floppy[0] ? 1 : 0;
		if (file && *file && check_floppy_size(st, file, format, "-drive if=floppy") < 0)
			return -1;
		struct drive_config *d = set_floppy(st, (unsigned)index, file, "-drive if=floppy");
		free((char *)file); /* the drive has its own copy */
		if (!d)
			return -1;
		d->format = format;
		d->read_only = read_only;
		d->snapshot = snapshot;
		d->cache = cache;
		d->discard_ignore = discard_ignore;
		return 0;
	}
	if (virtio) {
		if (cdrom)
			return fail(st, "-drive if=virtio: media=cdrom is not supported");
		if (index >= 0)
			return fail(st, "-drive if=virtio: index= is not supported");
		return add_virtio_drive(st, file, format, read_only, snapshot, cache, discard_ignore);
	}
	if (index < 0) {
		for (index = 0; index < MAX_IDE_DRIVES; index++)
			if (!st->ide_taken[index])
				break;
		if (index == MAX_IDE_DRIVES)
			return fail(st, "-drive: no free IDE slot (at most 4 drives)");
	}
	struct drive_config *d = set_drive(st, (unsigned)index, file, cdrom, read_only, "-drive");
	free((char *)file); /* the drive has its own copy */
	if (!d)
		return -1;
	d->format = format;
	d->snapshot = snapshot;
	d->cache = cache;
	d->discard_ignore = discard_ignore;
	return 0;
}

static int opt_snapshot(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->snapshot = true;
	return 0;
}

/* A -boot order= or once= value: up to 3 of a, c, d, n. */
static int boot_letters(struct cli_state *st, const char *v, char *out, size_t size)
{
	if (!*v || strlen(v) > 3 || strspn(v, "acdn") != strlen(v))
		return fail(st, "-boot: invalid boot order '%s' (use letters a, c, d, n)", v);
	snprintf(out, size, "%s", v);
	return 0;
}

/* -boot reboot-timeout= and splash-time=: milliseconds in SeaBIOS's 16-bit range. */
static int boot_ms(struct cli_state *st, const char *k, const char *v, long min, int *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (!*v || *end || errno || x < min || x > 0xFFFF)
		return fail(st, "-boot: %s=%s: expected milliseconds from %ld to 65535", k, v, min);
	*out = (int)x;
	return 0;
}

static int opt_boot(struct cli_state *st, const char *name, const char *arg)
{
	struct machine_config *cfg = st->cfg;
	struct kv kv[8];
	int n = split_opts(st, name, arg, "order", kv, 8);

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		int r = 0;
		if (!strcmp(k, "order"))
			r = boot_letters(st, v, cfg->boot_order, sizeof(cfg->boot_order));
		else if (!strcmp(k, "once"))
			r = boot_letters(st, v, cfg->boot_once, sizeof(cfg->boot_once));
		else if (!strcmp(k, "menu"))
			r = parse_bool(st, name, k, v, &cfg->boot_menu);
		else if (!strcmp(k, "strict"))
			r = parse_bool(st, name, k, v, &cfg->boot_strict);
		else if (!strcmp(k, "reboot-timeout"))
			r = boot_ms(st, k, v, -1, &cfg->reboot_timeout);
		else if (!strcmp(k, "splash-time"))
			r = boot_ms(st, k, v, 0, &cfg->splash_time);
		else if (!strcmp(k, "splash"))
			r = fail(st, "-boot splash=: not supported by vmm (no boot splash image)");
		else
			r = fail(st, "-boot: unknown parameter '%s'", k);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (eras of 400 years,
 * years counted from March so that the leap day comes last). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100) || y % 400 == 0;
	return days[m - 1] + (m == 2 && leap);
}

/* One field of a date: exactly 'digits' digits, then 'sep' (0: the end). */
static const char *date_field(const char *p, unsigned digits, char sep, unsigned *out)
{
	*out = 0;
	for (unsigned i = 0; i < digits; i++, p++) {
		if (*p < '0' || *p > '9')
			return NULL;
		*out = *out * 10 + (unsigned)(*p - '0');
	}
	if (*p != sep)
		return NULL;
	return sep ? p + 1 : p;
}

/* QEMU's -rtc base= dates: "2006-06-17T16:01:21" or "2006-06-17", the
 * time the guest's clock reads at start (no time zone: the registers'). */
static bool parse_rtc_date(const char *v, int64_t *out)
{
	unsigned y, mo, d, h = 0, mi = 0, s = 0;
	const char *p = date_field(v, 4, '-', &y);
	p = p ? date_field(p, 2, '-', &mo) : NULL;
	if (!p || !(p = date_field(p, 2, strlen(p) > 2 ? 'T' : 0, &d)))
		return false;
	if (*p && (!(p = date_field(p, 2, ':', &h)) || !(p = date_field(p, 2, ':', &mi)) ||
		   !date_field(p, 2, 0, &s)))
		return false;
	if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || s > 59)
		return false;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	return true;
}

/* -rtc [base=utc|localtime|DATE][,clock=host|rt|vm][,driftfix=none|slew] */
static int opt_rtc(struct cli_state *st, const char *name, const char *arg)
{
	struct rtc_config *rtc = &st->cfg->rtc;
	struct kv kv[4];
	int n = split_opts(st, name, arg, NULL, kv, 4);

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		if (!strcmp(k, "base")) {
			if (!strcmp(v, "utc")) {
				rtc->base = RTC_BASE_UTC;
			} else if (!strcmp(v, "localtime")) {
				rtc->base = RTC_BASE_LOCALTIME;
			} else if (parse_rtc_date(v, &rtc->date)) {
				rtc->base = RTC_BASE_DATE;
			} else {
				return fail(st, "-rtc base=%s: invalid datetime format (use utc, localtime, "
					    "'2006-06-17T16:01:21' or '2006-06-17')", v);
			}
		} else if (!strcmp(k, "clock")) {
			if (!strcmp(v, "host"))
				rtc->clock = RTC_CLOCK_HOST;
			else if (!strcmp(v, "rt"))
				rtc->clock = RTC_CLOCK_RT;
			else if (!strcmp(v, "vm"))
				rtc->clock = RTC_CLOCK_VM;
			else
				return fail(st, "-rtc clock=%s: expected host, rt or vm", v);
		} else if (!strcmp(k, "driftfix")) {
			if (strcmp(v, "none") && strcmp(v, "slew"))
				return fail(st, "-rtc driftfix=%s: expected none or slew", v);
			rtc->driftfix_slew = !strcmp(v, "slew");
		} else {
			return fail(st, "-rtc: unknown parameter '%s' (base, clock, driftfix)", k);
		}
	}
	return 0;
}

static int opt_no_acpi(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->no_acpi = true;
	return 0;
}

static int opt_no_fd_bootchk(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->no_fd_bootchk = true;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* -uuid 8-4-4-4-12 hex digits, kept in the order written. */
static int opt_uuid(struct cli_state *st, const char *name, const char *arg)
{
	unsigned nbytes = 0;

	for (size_t i = 0; arg[i]; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (arg[i] != '-')
				break;
			continue;
		}
		int hi = hex_digit(arg[i]), lo = arg[i + 1] ? hex_digit(arg[i + 1]) : -1;
		if (hi < 0 || lo < 0 || nbytes == 16)
			break;
		st->cfg->uuid[nbytes++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	if (nbytes != 16 || strlen(arg) != 36)
		return fail(st, "-uuid %s: invalid UUID (expected 8-4-4-4-12 hex digits, e.g. "
			    "12345678-1234-1234-1234-123456789abc)", arg);
	st->cfg->uuid_set = true;
	return 0;
}

/* -msg timestamp=on|off[,guest-name=on|off] */
static int opt_msg(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[4];
	int n = split_opts(st, name, arg, NULL, kv, 4);
	bool on;

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (!strcmp(kv[i].key, "timestamp")) {
			if (parse_bool(st, name, kv[i].key, kv[i].value, &on) < 0)
				return -1;
			msg_timestamp = on;
		} else if (!strcmp(kv[i].key, "guest-name")) {
			if (parse_bool(st, name, kv[i].key, kv[i].value, &on) < 0)
				return -1;
			if (on)
				return fail(st, "-msg guest-name=on: not supported by vmm");
		} else {
			return fail(st, "-msg: unknown parameter '%s' (timestamp)", kv[i].key);
		}
	}
	return 0;
}

static int opt_bios(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->bios_path = arg;
	return 0;
}

static int opt_firmware_dir(struct cli_state *st, const char *name, const char *arg)
{
	if (st->cfg->nfirmware_dirs == ARRAY_SIZE(st->cfg->firmware_dirs))
		return fail(st, "-L: too many directories");
	st->cfg->firmware_dirs[st->cfg->nfirmware_dirs++] = arg;
	return 0;
}

/* QEMU's -serial: the Nth one is COM(N+1), at most 4; "none" leaves that
 * index without a UART (COM1's default included). */
static int opt_serial(struct cli_state *st, const char *name, const char *arg)
{
	struct machine_config *cfg = st->cfg;
	unsigned index = st->nserial;
	char err[256];

	if (index == MAX_ISA_SERIAL)
		return fail(st, "-serial: at most %d serial ports (COM1-COM4) are supported",
			    MAX_ISA_SERIAL);
	st->nserial++;
	st->serial_given = true;
	if (!strcmp(arg, "none")) {
		cfg->serial_ports &= ~(1u << index);
		return 0;
	}
	if (chardev_parse_legacy(arg, &cfg->serial[index], err, sizeof(err)) < 0)
		return fail(st, "-serial %s: %s", arg, err);
	cfg->serial_ports |= 1u << index;
	return 0;
}

/* Adds a -chardev (or -debugcon's own) to the heap array, at most CHARDEV_MAX. */
static struct chardev_config *new_chardev(struct cli_state *st, const char *opt)
{
	struct machine_config *cfg = st->cfg;

	if (cfg->nchardevs == CHARDEV_MAX) {
		fail(st, "%s: at most %d character devices", opt, CHARDEV_MAX);
		return NULL;
	}
	if (!cfg->chardevs)
		cfg->chardevs = xzalloc(CHARDEV_MAX * sizeof(*cfg->chardevs));
	return &cfg->chardevs[cfg->nchardevs];
}

static int check_new_chardev_id(struct cli_state *st, const char *opt, const char *arg)
{
	struct machine_config *cfg = st->cfg;
	const struct chardev_config *c = &cfg->chardevs[cfg->nchardevs];

	for (unsigned i = 0; i < cfg->nchardevs; i++)
		if (!strcmp(cfg->chardevs[i].id, c->id))
			return fail(st, "%s %s: duplicate id '%s'", opt, arg, c->id);
	cfg->nchardevs++;
	return 0;
}

/* QEMU's -debugcon DEV: an isa-debugcon at port 0xE9 on a chardev made from
 * DEV (the -serial forms), whose id is "debugcon"; "none" adds nothing.
 * SeaBIOS logs to port 0x402: -device isa-debugcon,iobase=0x402,chardev=ID. */
static int opt_debugcon(struct cli_state *st, const char *name, const char *arg)
{
	struct chardev_config *c, ref;
	struct dev_instance *d;
	char err[256];

	if (st->debugcon_given)
		return fail(st, "-debugcon: only one is supported (more: -device isa-debugcon)");
	st->debugcon_given = true;
	if (!strcmp(arg, "none"))
		return 0;
	if (chardev_parse_legacy(arg, &ref, err, sizeof(err)) < 0)
		return fail(st, "-debugcon %s: %s", arg, err);
	d = imply_device(st, "isa-debugcon");
	if (!d)
		return -1;
	if (ref.kind == CHARDEV_REF)
		return imply_prop(st, "-debugcon", d, "chardev", ref.id);
	c = new_chardev(st, "-debugcon");
	if (!c)
		return -1;
	*c = ref;
	snprintf(c->id, sizeof(c->id), "debugcon");
	c->label = "debugcon";
	c->signal = true; /* no guest reads this terminal: Ctrl-C stays vmm's */
	if (imply_prop(st, "-debugcon", d, "chardev", "debugcon") < 0)
		return -1;
	return check_new_chardev_id(st, "-debugcon", arg);
}

static int opt_chardev(struct cli_state *st, const char *name, const char *arg)
{
	struct chardev_config *c = new_chardev(st, "-chardev");
	char err[256];

	if (!c)
		return -1;
	if (chardev_parse(arg, c, err, sizeof(err)) < 0)
		return fail(st, "-chardev %s: %s", arg, err);
	return check_new_chardev_id(st, "-chardev", arg);
}

/* -mon chardev=ID[,mode=control|readline][,pretty=on|off] */
static int opt_mon(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[4];
	int n = split_opts(st, name, arg, NULL, kv, 4);
	const char *id = NULL;
	bool control = false, pretty;

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		if (!strcmp(k, "chardev")) {
			id = v;
		} else if (!strcmp(k, "mode")) {
			if (strcmp(v, "control") && strcmp(v, "readline"))
				return fail(st, "-mon mode=%s: expected control or readline", v);
			control = !strcmp(v, "control");
		} else if (!strcmp(k, "pretty")) {
			/* accepted: QMP's replies stay one line each, which every
			 * JSON reader takes as well */
			if (parse_bool(st, name, k, v, &pretty) < 0)
				return -1;
		} else {
			return fail(st, "-mon: unknown parameter '%s' (chardev, mode, pretty)", k);
		}
	}
	if (!id || !*id)
		return fail(st, "-mon: chardev= is required");
	if (strlen(id) >= CHARDEV_ID_MAX)
		return fail(st, "-mon chardev=%s: no such chardev", id);
	if (st->nmon == MAX_MONS)
		return fail(st, "-mon: at most %d", MAX_MONS);
	snprintf(st->mon[st->nmon].chardev, CHARDEV_ID_MAX, "%s", id);
	st->mon[st->nmon++].control = control;
	return 0;
}

static const struct chardev_config *find_chardev(const struct machine_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nchardevs; i++)
		if (!strcmp(cfg->chardevs[i].id, id))
			return &cfg->chardevs[i];
	return NULL;
}

/* A -mon's chardev becomes the channel of a QMP or monitor session (vmm's
 * control channels listen themselves): stdio or a listening socket, taken
 * out of the chardev list so that nothing else opens it. */
static int resolve_mons(struct cli_state *st)
{
	static char specs[MAX_MONS][CHARDEV_ID_MAX + 16]; /* for messages; outlive the parse */
	struct machine_config *cfg = st->cfg;

	for (unsigned i = 0; i < st->nmon; i++) {
		const char *id = st->mon[i].chardev;
		const struct chardev_config *c = find_chardev(cfg, id);
		struct chan_config ch = { 0 };
		if (!c)
			return fail(st, "-mon chardev=%s: no -chardev with id '%s'", id, id);
		if (c->kind == CHARDEV_STDIO && c->mux) {
			/* QEMU's multiplexer: the monitor shares the chardev */
			if (st->mon[i].control)
				return fail(st, "-mon chardev=%s: QMP on a multiplexed chardev "
					    "(mux=on) is not supported by vmm", id);
			if (st->monitor_given)
				return fail(st, "-mon: only one monitor is supported");
			st->monitor_given = true;
			snprintf(cfg->monitor_mux, sizeof(cfg->monitor_mux), "%s", id);
			continue;
		}
		if (c->kind == CHARDEV_STDIO) {
			ch.kind = CHAN_STDIO;
		} else if (c->kind == CHARDEV_SOCKET && c->server) {
			ch.kind = c->tcp ? CHAN_TCP : CHAN_UNIX;
			snprintf(ch.path, sizeof(ch.path), "%s", c->sock_path);
			snprintf(ch.host, sizeof(ch.host), "%s", c->host);
			snprintf(ch.port, sizeof(ch.port), "%s", c->port);
			ch.wait = c->wait;
		} else {
			return fail(st, "-mon chardev=%s: not supported by vmm on this backend (the "
				    "monitor needs -chardev stdio or socket,...,server=on)", id);
		}
		snprintf(specs[i], sizeof(specs[i]), "chardev:%s", id);
		ch.spec = specs[i];
		if (st->mon[i].control) {
			if (cfg->nqmp == ARRAY_SIZE(cfg->qmp))
				return fail(st, "-mon: at most %zu QMP channels", ARRAY_SIZE(cfg->qmp));
			cfg->qmp[cfg->nqmp++] = ch;
		} else {
			if (st->monitor_given)
				return fail(st, "-mon: only one monitor is supported");
			st->monitor_given = true;
			cfg->monitor = ch;
		}
		unsigned k = (unsigned)(c - cfg->chardevs);
		memmove(&cfg->chardevs[k], &cfg->chardevs[k + 1],
			(cfg->nchardevs - k - 1) * sizeof(cfg->chardevs[0]));
		cfg->nchardevs--;
	}
	return 0;
}

/* Whether an -object of either kind already has this id (QEMU's ids are
 * one name space). */
static bool object_id_taken(const struct machine_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nrng_objects; i++)
		if (!strcmp(cfg->rng_objects[i].id, id))
			return true;
	for (unsigned i = 0; i < cfg->nmem_backends; i++)
		if (!strcmp(cfg->mem_backends[i].id, id))
			return true;
	return false;
}

static const char *const mem_backend_types[] = {
	[RAM_BACKEND_RAM] = "memory-backend-ram",
	[RAM_BACKEND_FILE] = "memory-backend-file",
	[RAM_BACKEND_MEMFD] = "memory-backend-memfd",
};

static int mem_backend_kind(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(mem_backend_types); i++)
		if (!strcmp(type, mem_backend_types[i]))
			return (int)i;
	return -1;
}

/* One property of a memory backend; 1 when the key is not one of its kind. */
static int mem_backend_prop(struct cli_state *st, struct ram_backend *b, const char *type,
			    const struct kv *kv)
{
	const char *k = kv->key, *v = kv->value;
	char opt[64];
	unsigned long n;

	snprintf(opt, sizeof(opt), "object %s", type);
	if (!strcmp(k, "size")) {
		if (!parse_size(v, 1, &b->size))
			return fail(st, "-object %s: invalid size '%s'", type, v);
		return 0;
	}
	if (!strcmp(k, "share"))
		return parse_bool(st, opt, k, v, &b->share);
	if (!strcmp(k, "prealloc")) {
		b->prealloc_given = true;
		return parse_bool(st, opt, k, v, &b->prealloc);
	}
	if (!strcmp(k, "merge")) {
		b->merge_given = true;
		return parse_bool(st, opt, k, v, &b->merge);
	}
	if (!strcmp(k, "dump"))
		return parse_bool(st, opt, k, v, &b->dump);
	if (!strcmp(k, "reserve"))
		return parse_bool(st, opt, k, v, &b->reserve);
	if (!strcmp(k, "policy") && !strcmp(v, "default"))
		return 0;
	if (!strcmp(k, "policy") || !strcmp(k, "host-nodes"))
		return fail(st, "-object %s: %s=%s: not supported by vmm (one NUMA node)", type, k, v);
	if (!strcmp(k, "prealloc-threads")) {
		if (parse_uint(st, opt, v, 16, &n) < 0)
			return -1;
		if (!n)
			return fail(st, "-object %s: prealloc-threads must be at least 1", type);
		b->prealloc_threads = (unsigned)n;
		return 0;
	}
	if (b->kind == RAM_BACKEND_FILE && !strcmp(k, "mem-path")) {
		if (!*v)
			return fail(st, "-object %s: mem-path= is empty", type);
		free((char *)b->mem_path);
		b->mem_path = xstrdup(v);
		return 0;
	}
	if (b->kind == RAM_BACKEND_FILE && !strcmp(k, "discard-data"))
		return parse_bool(st, opt, k, v, &b->discard_data);
	if (b->kind == RAM_BACKEND_MEMFD && !strcmp(k, "hugetlb"))
		return parse_bool(st, opt, k, v, &b->hugetlb);
	if (b->kind == RAM_BACKEND_MEMFD && !strcmp(k, "seal"))
		return parse_bool(st, opt, k, v, &b->seal);
	if (b->kind == RAM_BACKEND_MEMFD && !strcmp(k, "hugetlbsize")) {
		if (!parse_size(v, 1, &b->hugetlbsize) || !b->hugetlbsize ||
		    (b->hugetlbsize & (b->hugetlbsize - 1)))
			return fail(st, "-object %s: hugetlbsize= must be a power of two, not '%s'",
				    type, v);
		return 0;
	}
	return 1;
}

/* -object memory-backend-ram|file|memfd,id=ID,size=SIZE[,...]: guest RAM
 * for -machine memory-backend=ID (resolve_ram). */
static int opt_memory_backend(struct cli_state *st, enum ram_backend_kind kind,
			      const struct kv *kv, int n)
{
	struct machine_config *cfg = st->cfg;
	const char *type = mem_backend_types[kind];
	/* QEMU's defaults: share off, but on for memfd; dump on; seal on */
	struct ram_backend b = { .kind = kind, .share = kind == RAM_BACKEND_MEMFD, .dump = true,
				 .seal = true, .reserve = true };
	const char *id = NULL;
	bool size_given = false;
	int ret = -1;

	for (int i = 1; i < n; i++) {
		if (!strcmp(kv[i].key, "id")) {
			id = kv[i].value;
			continue;
		}
		size_given |= !strcmp(kv[i].key, "size");
		int r = mem_backend_prop(st, &b, type, &kv[i]);
		if (r < 0)
			goto out;
		if (r > 0) {
			fail(st, "-object %s: unknown parameter '%s'", type, kv[i].key);
			goto out;
		}
	}
	if (!id || !*id) {
		fail(st, "-object %s: id= is required", type);
	} else if (!size_given) {
		fail(st, "-object %s,id=%s: size= is required", type, id);
	} else if (!b.size) {
		fail(st, "-object %s,id=%s: can't create backend with size 0", type, id);
	} else if (kind == RAM_BACKEND_FILE && !b.mem_path) {
		fail(st, "-object %s,id=%s: mem-path= is required", type, id);
	} else if (b.hugetlbsize && !b.hugetlb) {
		fail(st, "-object %s,id=%s: hugetlbsize= needs hugetlb=on", type, id);
	} else if (object_id_taken(cfg, id)) {
		fail(st, "-object %s: duplicate id '%s'", type, id);
	} else if (cfg->nmem_backends == ARRAY_SIZE(cfg->mem_backends)) {
		fail(st, "-object %s: at most %zu memory backends", type,
		     ARRAY_SIZE(cfg->mem_backends));
	} else {
		b.id = xstrdup(id);
		cfg->mem_backends[cfg->nmem_backends++] = b;
		return 0;
	}
out:
	free((char *)b.mem_path);
	return ret;
}

/* -object rng-random,id=ID[,filename=F] | rng-builtin,id=ID, or a memory
 * backend; QEMU's other types are "not supported by vmm". */
static int opt_object(struct cli_state *st, const char *name, const char *arg)
{
	struct machine_config *cfg = st->cfg;
	struct kv kv[16];
	int n = split_opts(st, name, arg, "qom-type", kv, 16);
	const char *id = NULL, *filename = NULL;

	if (n < 0)
		return -1;
	const char *type = n > 0 && !strcmp(kv[0].key, "qom-type") ? kv[0].value : "";
	int mem_kind = mem_backend_kind(type);
	if (mem_kind >= 0)
		return opt_memory_backend(st, (enum ram_backend_kind)mem_kind, kv, n);
	bool random = !strcmp(type, "rng-random");
	if (!random && strcmp(type, "rng-builtin")) {
		const struct qemu_name *q = qemu_name_unsupported(QEMU_OBJECT, type);
		if (q)
			return fail(st, "-object %s: not supported by vmm (%s)", type, q->why);
		return fail(st, "-object %s: unknown object type (vmm has rng-random, rng-builtin "
			    "and memory-backend-ram, -file and -memfd)", type);
	}
	for (int i = 1; i < n; i++) {
		if (!strcmp(kv[i].key, "id"))
			id = kv[i].value;
		else if (random && !strcmp(kv[i].key, "filename"))
			filename = kv[i].value;
		else
			return fail(st, "-object %s: unknown parameter '%s'", type, kv[i].key);
	}
	if (!id || !*id)
		return fail(st, "-object %s: id= is required", type);
	if (random && filename && !*filename)
		return fail(st, "-object rng-random: filename= is empty");
	if (object_id_taken(cfg, id))
		return fail(st, "-object %s: duplicate id '%s'", type, id);
	if (cfg->nrng_objects == ARRAY_SIZE(cfg->rng_objects))
		return fail(st, "-object %s: at most %zu rng objects", type,
			    ARRAY_SIZE(cfg->rng_objects));
	/* pointers into argv: the kv copies are gone when this returns */
	struct rng_object *o = &cfg->rng_objects[cfg->nrng_objects++];
	o->id = xstrdup(id);
	o->filename = random ? xstrdup(filename ? filename : "/dev/urandom") : NULL;
	return 0;
}

static int opt_nographic(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->nographic = true;
	return 0;
}

/* -vga std|cirrus|none (QEMU's other cards are not built in). */
static int opt_vga(struct cli_state *st, const char *name, const char *arg)
{
	if (!strcmp(arg, "std"))
		st->vga = VGA_STD;
	else if (!strcmp(arg, "cirrus"))
		st->vga = VGA_CIRRUS;
	else if (!strcmp(arg, "none"))
		st->vga = VGA_NONE;
	else if (!strcmp(arg, "vmware") || !strcmp(arg, "qxl") ||
		 !strcmp(arg, "virtio") || !strcmp(arg, "tcx") || !strcmp(arg, "cg3") ||
		 !strcmp(arg, "xenfb") || !strcmp(arg, "ati"))
		return fail(st, "-vga %s: this card is not built in (use std, cirrus or none)", arg);
	else
		return fail(st, "-vga %s: unknown card (use std, cirrus or none)", arg);
	return 0;
}

/* The card -vga asks for, ahead of the -device cards (so it takes slot 2,
 * as QEMU's does). As QEMU's pc, a machine has a standard VGA by default:
 * -vga none, -nodefaults or a display card of its own (-device VGA,
 * bochs-display) leave it out; -nographic and -display none keep it. */
static int add_vga(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;

	if (st->vga == VGA_DEFAULT && !st->no_defaults) {
		bool own_card = false;
		for (unsigned i = 0; i < cfg->ndevs; i++)
			own_card |= (cfg->devs[i].cls->categories & DEV_CAT_DISPLAY) != 0;
		if (!own_card)
			st->vga = VGA_STD;
	}
	if (st->vga != VGA_STD && st->vga != VGA_CIRRUS)
		return 0;
	if (!imply_device(st, st->vga == VGA_CIRRUS ? "cirrus-vga" : "VGA"))
		return -1;
	/* move it to the front of the -device list */
	struct dev_instance vga = cfg->devs[cfg->ndevs - 1];
	memmove(cfg->devs + 1, cfg->devs, (cfg->ndevs - 1) * sizeof(*cfg->devs));
	cfg->devs[0] = vga;
	return 0;
}

/* -vnc none|[HOST]:N|unix:PATH[,password=on][,to=L] (include/vnc.h) */
static int opt_vnc(struct cli_state *st, const char *name, const char *arg)
{
	return vnc_parse(arg, &st->cfg->vnc, st->err, st->errlen);
}

/* -display none | sdl[,...] | vnc=ADDR (QEMU's -display vnc: the
 * window-less VNC) */
static int opt_display(struct cli_state *st, const char *name, const char *arg)
{
	st->display_given = true;
	if (!strcmp(arg, "sdl") || !strncmp(arg, "sdl,", 4)) {
		st->display_none = false;
		return sdl_parse(arg + 3 + (arg[3] == ','), &st->cfg->sdl, st->err, st->errlen);
	}
	st->cfg->sdl.enabled = false;
	if (!strncmp(arg, "vnc=", 4)) {
		st->display_none = true;
		return vnc_parse(arg + 4, &st->cfg->vnc, st->err, st->errlen);
	}
	if (strcmp(arg, "none") && strncmp(arg, "none,", 5))
		return fail(st, "-display %s: unknown display (use none, sdl or vnc=ADDR)", arg);
	st->display_none = true;
	return 0;
}

/* -k LAYOUT: the keyboard layout VNC keysyms are typed on (QEMU's names,
 * include/keymap.h); clients with QEMU's extended key event send scan
 * codes, which need none. */
static int opt_keymap(struct cli_state *st, const char *name, const char *arg)
{
	if (!keymap_known(arg))
		return fail(st, "-k %s: unknown keyboard layout", arg);
	st->keymap = arg;
	return 0;
}

static int opt_sdl(struct cli_state *st, const char *name, const char *arg)
{
	return fail(st, "-sdl: QEMU removed this option; use -display sdl");
}

static struct audiodev_config *find_audiodev(struct machine_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->naudiodevs; i++)
		if (!strcmp(cfg->audiodevs[i].id, id))
			return &cfg->audiodevs[i];
	return NULL;
}

/* -audiodev none|wav,id=ID[,...]: a backend cards name with audiodev=ID. */
static int opt_audiodev(struct cli_state *st, const char *name, const char *arg)
{
	struct machine_config *cfg = st->cfg;
	struct audiodev_config c;

	if (audiodev_parse(arg, &c, st->err, st->errlen) < 0) {
		audiodev_config_free(&c);
		return -1;
	}
	if (find_audiodev(cfg, c.id)) {
		audiodev_config_free(&c);
		return fail(st, "-audiodev: id '%s' is already used by another -audiodev", c.id);
	}
	if (cfg->naudiodevs == AUDIODEV_MAX) {
		audiodev_config_free(&c);
		return fail(st, "-audiodev: at most %d", AUDIODEV_MAX);
	}
	/* on the heap: most machines have none */
	if (!cfg->audiodevs)
		cfg->audiodevs = xzalloc(AUDIODEV_MAX * sizeof(*cfg->audiodevs));
	cfg->audiodevs[cfg->naudiodevs++] = c;
	return 0;
}

static int opt_soundhw(struct cli_state *st, const char *name, const char *arg)
{
	if (!strcmp(arg, "pcspk"))
		return fail(st, "-soundhw pcspk: QEMU 7.2 removed this option; use -machine "
			    "pcspk-audiodev=ID with -audiodev (e.g. -audiodev wav,id=snd,path=out.wav "
			    "-machine pcspk-audiodev=snd)");
	return fail(st, "-soundhw: QEMU 7.2 removed this option; use -device %s with "
		    "-audiodev (e.g. -audiodev wav,id=snd,path=out.wav -device %s,audiodev=snd)",
		    arg, arg);
}

static int opt_full_screen(struct cli_state *st, const char *name, const char *arg)
{
	st->full_screen = true;
	return 0;
}

/* The SDL window: asked for, or QEMU's default GUI when a display server
 * is reachable and nothing says headless (-nographic, -display, -vnc,
 * -daemonize). */
static int choose_display(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;
	const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");

	if (!st->display_given && !cfg->nographic && !cfg->vnc.enabled && !cfg->daemonize &&
	    ((x && *x) || (wl && *wl))) {
		sdl_parse("", &cfg->sdl, st->err, st->errlen);
		cfg->sdl_default = true;
	}
	if (cfg->sdl.enabled && st->full_screen)
		cfg->sdl.full_screen = true;
	/* after every -vnc, whose parse clears the config */
	if (st->keymap)
		snprintf(cfg->vnc.keymap, sizeof(cfg->vnc.keymap), "%s", st->keymap);
	if (cfg->sdl.enabled && cfg->nographic)
		return fail(st, "-display sdl cannot be used with -nographic");
	if (cfg->sdl.enabled && cfg->daemonize)
		return fail(st, "-display sdl cannot be used with -daemonize");
	cfg->sandbox.sdl = cfg->sdl.enabled;
	return 0;
}

static int opt_no_reboot(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->no_reboot = true;
	return 0;
}

static int opt_incoming(struct cli_state *st, const char *name, const char *arg)
{
	struct mig_uri u;
	char why[256];

	/* The URI is checked now (opened at set-up): a typo fails at once. */
	if (strcmp(arg, "defer") && mig_uri_parse(arg, &u, why, sizeof(why)) < 0)
		return fail(st, "-incoming: %s", why);
	st->cfg->incoming = arg;
	return 0;
}

static int opt_loadvm(struct cli_state *st, const char *name, const char *arg)
{
	if (!*arg)
		return fail(st, "-loadvm: a snapshot name is needed");
	st->cfg->loadvm = arg;
	return 0;
}

static int opt_start_paused(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->start_paused = true;
	return 0;
}

/* -gdb DEV, -s (-gdb tcp::1234): the gdb stub's socket. */
static int opt_gdb(struct cli_state *st, const char *name, const char *arg)
{
	char why[256];

	if (!strcmp(name, "s"))
		arg = "tcp::1234";
	if (!strcmp(arg, "none")) {
		st->cfg->gdb.kind = CHAN_NONE;
		return 0;
	}
	if (gdb_parse(arg, &st->cfg->gdb, why, sizeof(why)) < 0)
		return fail(st, "-gdb: %s", why);
	return 0;
}

static int opt_name(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[4];
	int n = split_opts(st, name, arg, "guest", kv, 4);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (!strcmp(kv[i].key, "guest"))
			st->cfg->name = xstrdup(kv[i].value);
	return 0;
}

/* ---- networking ---------------------------------------------------------- */

static struct netdev_config *find_netdev(struct machine_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nnetdev; i++)
		if (!strcmp(cfg->netdev[i].id, id))
			return &cfg->netdev[i];
	return NULL;
}

/* "user" options shared by -netdev, -nic and -net user. Returns 1 if 'k' was
 * one of them, 0 if not, -1 on error. */
static int user_opt(struct cli_state *st, const char *opt, struct netdev_config *nd,
		    const char *k, const char *v)
{
	if (!strcmp(k, "hostfwd")) {
		if (nd->user.nfwd == NET_MAX_HOSTFWD)
			return fail(st, "%s: at most %d hostfwd rules", opt, NET_MAX_HOSTFWD);
		if (net_parse_hostfwd(v, &nd->user.fwd[nd->user.nfwd], st->err, st->errlen) < 0) {
			char tmp[256];
			snprintf(tmp, sizeof(tmp), "%s", st->err);
			return fail(st, "%s: %s", opt, tmp);
		}
		nd->user.nfwd++;
		return 1;
	}
	char err[256] = "";
	int r = net_user_option(&nd->user, k, v, err, sizeof(err));
	if (r < 0)
		return fail(st, "%s: %s", opt, err);
	if (r == 0 && !strcmp(k, "guestfwd"))
		return fail(st, "%s: %s= is not supported", opt, k);
	return r;
}

/* KEY=N, an open descriptor the caller passed (fd=, vhostfd=). 0 or -1. */
static int descriptor_opt(struct cli_state *st, const char *opt, const char *k, const char *v,
			  int *out)
{
	char *end;
	unsigned long fd;

	errno = 0;
	fd = strtoul(v, &end, 10);
	if (!*v || *end || errno || fd > INT32_MAX)
		return fail(st, "%s: %s=%s: expected a descriptor number", opt, k, v);
	*out = (int)fd;
	return 0;
}

/* "tap" options shared by -netdev, -nic and -net tap (QEMU's names).
 * Returns 1 if 'k' was one of them, 0 if not, -1 on error. */
static int tap_opt(struct cli_state *st, const char *opt, struct netdev_config *nd,
		   const char *k, const char *v)
{
	struct net_tap_config *t = &nd->tap;

	if (!strcmp(k, "ifname")) {
		if (!*v || strlen(v) >= 16)
			return fail(st, "%s: ifname=%s: 1 to 15 characters", opt, v);
		t->ifname = xstrdup(v);
	} else if (!strcmp(k, "script")) {
		t->script = xstrdup(v);
	} else if (!strcmp(k, "downscript")) {
		t->downscript = xstrdup(v);
	} else if (!strcmp(k, "fd")) {
		if (descriptor_opt(st, opt, k, v, &t->fd) < 0)
			return -1;
	} else if (!strcmp(k, "vhost") || !strcmp(k, "vhostforce")) {
		/* vhostforce=on: QEMU's name for vhost even without MSI-X; vmm
		 * uses the kernel's path whenever the vectors allow it. */
		if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes"))
			t->vhost = true;
		else if (strcmp(v, "off") && strcmp(v, "false") && strcmp(v, "no"))
			return fail(st, "%s: %s=%s: expected on or off", opt, k, v);
		else if (!strcmp(k, "vhost"))
			t->vhost = false;
	} else if (!strcmp(k, "vhostfd")) {
		if (descriptor_opt(st, opt, k, v, &t->vhostfd) < 0)
			return -1;
		t->vhost = true;
	} else if (!strcmp(k, "vnet_hdr")) {
		if (!strcmp(v, "off"))
			t->no_vnet_hdr = true;
		else if (strcmp(v, "on"))
			return fail(st, "%s: vnet_hdr=%s: expected on or off", opt, v);
	} else if (!strcmp(k, "queues")) {
		char *end;
		unsigned long q = strtoul(v, &end, 10);
		if (!*v || *end || q < 1 || q > NET_MAX_QUEUES)
			return fail(st, "%s: queues=%s: expected 1 to %d", opt, v, NET_MAX_QUEUES);
		t->queues = (unsigned)q;
	} else if (!strcmp(k, "br") || !strcmp(k, "helper") || !strcmp(k, "fds") ||
		   !strcmp(k, "vhostfds")) {
		return fail(st, "%s: %s= is not supported", opt, k);
	} else {
		return 0;
	}
	return 1;
}

/* Options of the backend kind 'nd' has. 1 taken, 0 unknown, -1 error. */
static int backend_opt(struct cli_state *st, const char *opt, struct netdev_config *nd,
		       const char *k, const char *v)
{
	return nd->kind == NETDEV_TAP ? tap_opt(st, opt, nd, k, v) : user_opt(st, opt, nd, k, v);
}

/* After all of a backend's options: a tap's fd= excludes the others; a user
 * backend's addresses must agree (checked here, so a bad one fails before
 * anything starts). */
static int backend_check(struct cli_state *st, const char *opt, struct netdev_config *nd)
{
	const struct net_tap_config *t = &nd->tap;
	if (nd->kind == NETDEV_USER) {
		char err[256] = "";
		struct net_user_config probe = nd->user;
		if (net_user_resolve(&probe, err, sizeof(err)) < 0)
			return fail(st, "%s: %s", opt, err);
	}
	if (nd->kind == NETDEV_TAP && t->fd >= 0 && (t->ifname || t->script || t->downscript))
		return fail(st, "%s: fd= cannot be combined with ifname=, script= or downscript=",
			    opt);
	if (nd->kind == NETDEV_TAP && t->queues > 1 && (t->fd >= 0 || t->vhostfd >= 0))
		return fail(st, "%s: queues=%u cannot be combined with fd= or vhostfd= (one "
			    "descriptor each; vmm opens the queues itself)", opt, t->queues);
	return 0;
}

static int backend_kind(const char *type)
{
	if (!strcmp(type, "user"))
		return NETDEV_USER;
	if (!strcmp(type, "tap"))
		return NETDEV_TAP;
	return -1;
}

static struct netdev_config *new_netdev(struct cli_state *st, const char *opt, const char *id,
					int kind)
{
	struct machine_config *cfg = st->cfg;

	if (find_netdev(cfg, id)) {
		fail(st, "%s: duplicate netdev id '%s'", opt, id);
		return NULL;
	}
	if (cfg->nnetdev == MAX_NETDEVS) {
		fail(st, "%s: at most %d network backends", opt, MAX_NETDEVS);
		return NULL;
	}
	struct netdev_config *nd = &cfg->netdev[cfg->nnetdev++];
	nd->id = xstrdup(id);
	nd->kind = (enum netdev_kind)kind;
	nd->tap.fd = -1;
	nd->tap.vhostfd = -1;
	return nd;
}

static unsigned count_nics(const struct machine_config *cfg)
{
	unsigned n = 0;
	for (unsigned i = 0; i < cfg->ndevs; i++)
		n += cfg->devs[i].cls->categories & DEV_CAT_NETWORK ? 1 : 0;
	return n;
}

/* A NIC that -nic, -net nic or the default implies, of class 'driver'. */
static struct dev_instance *new_nic(struct cli_state *st, const char *opt, const char *netdev,
				    const char *driver)
{
	if (count_nics(st->cfg) == MAX_NETDEVS) {
		fail(st, "%s: at most %d NICs", opt, MAX_NETDEVS);
		return NULL;
	}
	struct dev_instance *nic = imply_device(st, driver);
	if (!nic || imply_prop(st, opt, nic, "netdev", netdev) < 0)
		return NULL;
	return nic;
}

static int opt_netdev(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[32];
	int n = split_opts(st, name, arg, "type", kv, 32);
	const char *id = NULL;
	char opt[32];
	int kind;

	if (n < 0)
		return -1;
	st->net_given = true;
	kind = strcmp(kv[0].key, "type") ? -1 : backend_kind(kv[0].value);
	if (kind < 0)
		return fail(st, "-netdev %s: unsupported backend (supported: user, tap)",
			    n > 0 ? kv[0].value : arg);
	snprintf(opt, sizeof(opt), "-netdev %s", kind == NETDEV_TAP ? "tap" : "user");
	for (int i = 1; i < n; i++)
		if (!strcmp(kv[i].key, "id"))
			id = kv[i].value;
	if (!id)
		return fail(st, "%s: id= is required", opt);
	struct netdev_config *nd = new_netdev(st, "-netdev", id, kind);
	if (!nd)
		return -1;
	for (int i = 1; i < n; i++) {
		if (!strcmp(kv[i].key, "id"))
			continue;
		int r = backend_opt(st, opt, nd, kv[i].key, kv[i].value);
		if (r < 0)
			return -1;
		if (r == 0)
			return fail(st, "%s: unsupported parameter '%s'", opt, kv[i].key);
	}
	return backend_check(st, opt, nd);
}

/* The NIC of -nic and -net nic without model=, and of a machine without
 * network options: QEMU's pc machine's, an e1000 (82540EM). */
#define DEFAULT_NIC_MODEL "e1000"

/* A NIC model= name: QEMU's ("virtio" for virtio-net-pci) or any PCI
 * network card of the device table, by name or alias. NULL if none. */
static const char *nic_model_driver(const char *m)
{
	if (!strcmp(m, "virtio"))
		return "virtio-net-pci";
	const struct dev_class *c = dev_class_find(m);
	if (!c || !(c->categories & DEV_CAT_NETWORK) || c->bus != DEV_BUS_PCI || c->board_only)
		return NULL;
	return c->name;
}

/* model=help, as QEMU prints it: the models, one a line. */
static void print_nic_models(void)
{
	printf("Available NIC models:\n");
	for (unsigned i = 0; i < dev_table_size; i++) {
		const struct dev_class *c = dev_table[i];
		if ((c->categories & DEV_CAT_NETWORK) && c->bus == DEV_BUS_PCI && !c->board_only)
			printf("%s\n", c->name);
	}
}

/* The model= of a -nic or -net nic option: 1 printed help, 0 (and the
 * driver in *driver, or 'dflt' without model=), -1 unknown. */
static int nic_model_option(struct cli_state *st, const char *opt, const struct kv *kv, int n,
			    const char *dflt, const char **driver)
{
	*driver = dflt;
	for (int i = 1; i < n; i++) {
		if (strcmp(kv[i].key, "model"))
			continue;
		if (!strcmp(kv[i].value, "help") || !strcmp(kv[i].value, "?")) {
			print_nic_models();
			return 1;
		}
		*driver = nic_model_driver(kv[i].value);
		if (!*driver)
			return fail(st, "%s: unknown model '%s' (model=help lists them)", opt,
				    kv[i].value);
	}
	return 0;
}

/* -nic user|tap[,model=virtio][,mac=M][,backend options]: a backend and
 * its NIC. */
static int opt_nic(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[32];
	int n = split_opts(st, name, arg, "type", kv, 32);
	char id[32], opt[32];

	if (n < 0)
		return -1;
	st->net_given = true;
	if (!strcmp(kv[0].key, "type") && !strcmp(kv[0].value, "none"))
		return n > 1 ? fail(st, "-nic none: takes no parameters") : 0;
	int kind = strcmp(kv[0].key, "type") ? -1 : backend_kind(kv[0].value);
	if (kind < 0)
		return fail(st, "-nic %s: unsupported backend (supported: user, tap)",
			    n > 0 ? kv[0].value : arg);
	snprintf(opt, sizeof(opt), "-nic %s", kind == NETDEV_TAP ? "tap" : "user");
	const char *driver;
	int model_r = nic_model_option(st, opt, kv, n, DEFAULT_NIC_MODEL, &driver);
	if (model_r != 0)
		return model_r;
	snprintf(id, sizeof(id), "__nic%u", count_nics(st->cfg));
	struct netdev_config *nd = new_netdev(st, "-nic", id, kind);
	struct dev_instance *nic = nd ? new_nic(st, "-nic", id, driver) : NULL;
	if (!nic)
		return -1;
	for (int i = 1; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		if (!strcmp(k, "model")) {
			/* taken above */
		} else if (!strcmp(k, "mac")) {
			if (imply_prop(st, "-nic", nic, "mac", v) < 0)
				return -1;
		} else if (!strcmp(k, "id")) {
			/* accepted */
		} else {
			int r = backend_opt(st, opt, nd, k, v);
			if (r < 0)
				return -1;
			if (r == 0)
				return fail(st, "-nic: unsupported parameter '%s'", k);
		}
	}
	return backend_check(st, opt, nd);
}

/* The old form: -net nic[,model=M][,macaddr=M] and -net user[,hostfwd=..],
 * joined on "hub" 0 (QEMU's vlan 0). */
#define NET_HUB_ID "__hub0"

static int opt_net(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[32];
	int n = split_opts(st, name, arg, "type", kv, 32);

	if (n < 0)
		return -1;
	st->net_given = true;
	if (!strcmp(kv[0].key, "type") && !strcmp(kv[0].value, "none"))
		return n > 1 ? fail(st, "-net none: takes no parameters") : 0;
	if (!strcmp(kv[0].key, "type") && !strcmp(kv[0].value, "nic")) {
		const char *driver;
		int model_r = nic_model_option(st, "-net nic", kv, n, DEFAULT_NIC_MODEL, &driver);
		if (model_r != 0)
			return model_r;
		struct dev_instance *nic = new_nic(st, "-net nic", NET_HUB_ID, driver);
		if (!nic)
			return -1;
		for (int i = 1; i < n; i++) {
			const char *k = kv[i].key, *v = kv[i].value;
			if (!strcmp(k, "model")) {
				/* taken above */
			} else if (!strcmp(k, "macaddr") || !strcmp(k, "mac")) {
				if (imply_prop(st, "-net nic", nic, "mac", v) < 0)
					return -1;
			} else if (strcmp(k, "vlan") && strcmp(k, "name") && strcmp(k, "id")) {
				return fail(st, "-net nic: unsupported parameter '%s'", k);
			}
		}
		return 0;
	}
	int kind = strcmp(kv[0].key, "type") ? -1 : backend_kind(kv[0].value);
	if (kind >= 0) {
		char opt[32];
		snprintf(opt, sizeof(opt), "-net %s", kind == NETDEV_TAP ? "tap" : "user");
		struct netdev_config *nd = new_netdev(st, opt, NET_HUB_ID, kind);
		if (!nd)
			return -1;
		for (int i = 1; i < n; i++) {
			const char *k = kv[i].key;
			if (!strcmp(k, "vlan") || !strcmp(k, "name") || !strcmp(k, "id"))
				continue;
			int r = backend_opt(st, opt, nd, k, kv[i].value);
			if (r < 0)
				return -1;
			if (r == 0)
				return fail(st, "%s: unsupported parameter '%s'", opt, k);
		}
		return backend_check(st, opt, nd);
	}
	return fail(st, "-net %s: supported: nic[,model=M], user and tap", arg);
}

/* QEMU's old form: -balloon none | virtio[,addr=A] (addr is ignored: vmm
 * places its virtio functions itself). */
static int opt_balloon(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[4];
	int n = split_opts(st, name, arg, "driver", kv, 4);
	struct machine_config *cfg = st->cfg;

	if (n < 0)
		return -1;
	if (!strcmp(kv[0].value, "none")) {
		/* No balloon, whatever came before. */
		for (unsigned i = cfg->ndevs; i-- > 0;) {
			if (strcmp(cfg->devs[i].cls->name, "virtio-balloon-pci"))
				continue;
			dev_instance_free(&cfg->devs[i]);
			memmove(&cfg->devs[i], &cfg->devs[i + 1],
				(cfg->ndevs - i - 1) * sizeof(cfg->devs[0]));
			cfg->ndevs--;
		}
		return n > 1 ? fail(st, "-balloon none: takes no parameters") : 0;
	}
	if (strcmp(kv[0].key, "driver") || strcmp(kv[0].value, "virtio"))
		return fail(st, "-balloon %s: supported: none, virtio", arg);
	for (int i = 1; i < n; i++)
		if (strcmp(kv[i].key, "addr"))
			return fail(st, "-balloon virtio: unknown parameter '%s'", kv[i].key);
	return imply_device(st, "virtio-balloon-pci") ? 0 : -1;
}

/* -watchdog MODEL: the old form of -device MODEL (QEMU took one). */
static int opt_watchdog(struct cli_state *st, const char *name, const char *arg)
{
	if (!strcmp(arg, "help") || !strcmp(arg, "?")) {
		watchdog_print_models(stdout);
		return 1;
	}
	if (!watchdog_model_find(arg))
		return fail(st, "-watchdog %s: unknown model (-watchdog help lists them)", arg);
	if (st->watchdog_given)
		return fail(st, "-watchdog: only one watchdog option may be given");
	st->watchdog_given = true;
	return imply_device(st, arg) ? 0 : -1;
}

static int opt_watchdog_action(struct cli_state *st, const char *name, const char *arg)
{
	int a = watchdog_action_parse(arg);
	if (a < 0)
		return fail(st, "-watchdog-action %s: must be one of reset, shutdown, poweroff, "
			    "pause, debug, none, inject-nmi", arg);
	st->cfg->watchdog_action = a;
	return 0;
}

/* QEMU gives a machine without any network option one NIC on user-mode
 * networking (-net nic -net user), an e1000 as QEMU's pc has. -net none,
 * -nic none and -nodefaults keep
 * the machine without it. */
static int add_default_nic(struct cli_state *st)
{
	if (st->net_given || st->no_defaults)
		return 0;
	if (!new_netdev(st, "default NIC", DEFAULT_NETDEV_ID, NETDEV_USER))
		return -1;
	struct dev_instance *nic = new_nic(st, "default NIC", DEFAULT_NETDEV_ID, DEFAULT_NIC_MODEL);
	if (!nic)
		return -1;
	nic->place_last = true; /* so that it moves no other device */
	return 0;
}

static int opt_nodefaults(struct cli_state *st, const char *name, const char *arg)
{
	st->no_defaults = true;
	return 0;
}

/* -device DRIVER[,PROP=VALUE]..., -device help, -device DRIVER,help: all
 * from the device table. */
static int opt_device(struct cli_state *st, const char *name, const char *arg)
{
	struct dev_instance d;
	char driver[64];
	size_t len = strcspn(arg, ",");

	/* a QEMU driver vmm lacks is not a typo: say so */
	if (len < sizeof(driver)) {
		memcpy(driver, arg, len);
		driver[len] = 0;
		const struct qemu_name *q = qemu_name_unsupported(QEMU_DEVICE, driver);
		if (q && !dev_class_find(driver))
			return fail(st, "-device %s: not supported by vmm (%s)", driver, q->why);
	}
	int r = dev_instance_parse(arg, &d, stdout, st->err, st->errlen);

	if (r != 0)
		return r;
	return append_device(st, &d) ? 0 : -1;
}

static int opt_global(struct cli_state *st, const char *name, const char *arg)
{
	struct machine_config *cfg = st->cfg;
	struct dev_global g;

	if (dev_global_parse(arg, &g, st->err, st->errlen) < 0)
		return -1;
	cfg->globals = realloc(cfg->globals, (cfg->nglobals + 1) * sizeof(*cfg->globals));
	if (!cfg->globals)
		die("out of memory");
	cfg->globals[cfg->nglobals++] = g;
	return 0;
}

static int opt_kernel(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->kernel_path = arg;
	return 0;
}

static int opt_initrd(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->initrd_path = arg;
	return 0;
}

static int opt_append(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->append = arg;
	return 0;
}

static int opt_accepted(struct cli_state *st, const char *name, const char *arg)
{
	return 0;
}

/* -accel and -machine accel=: kvm, or a QEMU accelerator vmm lacks. */
static int check_accel(struct cli_state *st, const char *opt, const char *v)
{
	char name[32];
	size_t len = strcspn(v, ",:");

	snprintf(name, sizeof(name), "%.*s", (int)MIN(len, sizeof(name) - 1), v);
	if (!strcmp(name, "kvm"))
		return 0;
	if (qemu_name_unsupported(QEMU_ACCEL, name))
		return fail(st, "%s%s: not supported by vmm (only kvm is supported)", opt, name);
	return fail(st, "%s%s: unknown accelerator (only kvm is supported)", opt, name);
}

static int opt_accel(struct cli_state *st, const char *name, const char *arg)
{
	return check_accel(st, "-accel ", arg);
}

static int opt_machine(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[8];
	int n = split_opts(st, name, arg, "type", kv, 8);

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		if (!strcmp(k, "type")) {
			if (qemu_name_unsupported(QEMU_MACHINE, v))
				return fail(st, "-machine %s: not supported by vmm (unsupported machine; "
					    "supported: pc)", v);
			if (strcmp(v, "pc") && strncmp(v, "pc-i440fx", 9))
				return fail(st, "-machine %s: unsupported machine (supported: pc)", v);
		} else if (!strcmp(k, "accel")) {
			if (check_accel(st, "-machine accel=", v) < 0)
				return -1;
		} else if (!strcmp(k, "acpi")) {
			/* QEMU 9 dropped -no-acpi for this spelling; auto is on for pc */
			bool acpi = true;
			if (strcmp(v, "auto") && parse_bool(st, "machine", k, v, &acpi) < 0)
				return -1;
			st->cfg->no_acpi = !acpi;
		} else if (!strcmp(k, "hpet")) {
			/* QEMU 9's spelling of -no-hpet; vmm has no HPET to give */
			bool hpet = false;
			if (parse_bool(st, "machine", k, v, &hpet) < 0)
				return -1;
			if (hpet)
				return fail(st, "-machine hpet=on: not supported by vmm (no HPET)");
		} else if (!strcmp(k, "vmport")) {
			/* libvirt passes vmport=off; the VMware backdoor (VMMouse)
			 * is not built, so only on is refused */
			bool vmport = false;
			if (strcmp(v, "auto") && parse_bool(st, "machine", k, v, &vmport) < 0)
				return -1;
			if (vmport)
				return fail(st, "-machine vmport=on: not supported by vmm (no VMware "
					    "backdoor port)");
		} else if (!strcmp(k, "pcspk-audiodev")) {
			/* the PC speaker plays through -audiodev v (checked once
			 * every -audiodev is known) */
			if (!*v)
				return fail(st, "-machine pcspk-audiodev=: expected the id of an "
					    "-audiodev");
			free((char *)st->cfg->pcspk_audiodev);
			st->cfg->pcspk_audiodev = xstrdup(v);
		} else if (!strcmp(k, "memory-backend")) {
			if (!*v || strlen(v) >= sizeof(st->memdev))
				return fail(st, "-machine memory-backend=%s: invalid id", v);
			snprintf(st->memdev, sizeof(st->memdev), "%s", v);
		} else if (!strcmp(k, "mem-merge")) {
			if (parse_bool(st, "machine", k, v, &st->mem_merge) < 0)
				return -1;
		} else if (!strcmp(k, "kernel-boot")) {
			if (!strcmp(v, "auto"))
				st->cfg->kernel_boot = KERNEL_BOOT_AUTO;
			else if (!strcmp(v, "firmware"))
				st->cfg->kernel_boot = KERNEL_BOOT_FIRMWARE;
			else if (!strcmp(v, "direct"))
				st->cfg->kernel_boot = KERNEL_BOOT_DIRECT;
			else
				return fail(st, "-machine kernel-boot=%s: expected auto, firmware or "
					    "direct", v);
		} else {
			return fail(st, "-machine: unsupported parameter '%s'", k);
		}
	}
	return 0;
}

static int opt_qmp(struct cli_state *st, const char *name, const char *arg)
{
	struct machine_config *cfg = st->cfg;
	char err[256];

	if (cfg->nqmp == ARRAY_SIZE(cfg->qmp))
		return fail(st, "-qmp: at most %zu QMP channels", ARRAY_SIZE(cfg->qmp));
	if (chan_parse(arg, &cfg->qmp[cfg->nqmp], err, sizeof(err)) < 0)
		return fail(st, "-qmp %s", err);
	cfg->nqmp++;
	return 0;
}

static int opt_monitor(struct cli_state *st, const char *name, const char *arg)
{
	char err[256];

	if (st->monitor_given)
		return fail(st, "-monitor: only one monitor is supported");
	st->monitor_given = true;
	if (!strcmp(arg, "none") || !strcmp(arg, "null")) {
		st->cfg->monitor.kind = CHAN_NONE;
		return 0;
	}
	if (chan_parse(arg, &st->cfg->monitor, err, sizeof(err)) < 0)
		return fail(st, "-monitor %s", err);
	return 0;
}

static int opt_daemonize(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->daemonize = true;
	return 0;
}

static int opt_pidfile(struct cli_state *st, const char *name, const char *arg)
{
	if (!*arg)
		return fail(st, "-pidfile: empty path");
	st->cfg->pidfile = arg;
	return 0;
}

static int opt_sandbox(struct cli_state *st, const char *name, const char *arg)
{
	return sandbox_parse(arg, &st->cfg->sandbox, st->err, st->errlen);
}

static int opt_runas(struct cli_state *st, const char *name, const char *arg)
{
	if (!*arg)
		return fail(st, "-runas: empty user name");
	st->cfg->sandbox.runas = arg;
	return 0;
}

static int opt_chroot(struct cli_state *st, const char *name, const char *arg)
{
	if (!*arg)
		return fail(st, "-chroot: empty path");
	st->cfg->sandbox.chroot = arg;
	return 0;
}

static int opt_cpu(struct cli_state *st, const char *name, const char *arg)
{
	if (!strcmp(arg, "help") || !strcmp(arg, "?")) {
		static char list[2048];
		cpu_model_list(list, sizeof(list));
		printf("Models:\n  host, max       every feature this host's KVM supports (default)\n"
		       "  qemu64, kvm64   the baseline x86-64 features of QEMU's models\n"
		       "Features (+name, -name, name=on|off):\n  %s\n", list);
		return 1;
	}
	return cpu_model_parse(arg, &st->cfg->cpu, st->err, st->errlen);
}

static int opt_help(struct cli_state *st, const char *name, const char *arg);
static int opt_version(struct cli_state *st, const char *name, const char *arg);

static const struct option_def options[] = {
	{ "m", "[size=]SIZE", opt_memory, "guest RAM (default 128M; suffixes K, M, G, T)" },
	{ "mem-path", "PATH", opt_mem_path,
	  "guest RAM from a file (a directory: an unlinked temporary file in it; hugetlbfs: its "
	  "huge pages), mapped private" },
	{ "mem-prealloc", NULL, opt_mem_prealloc,
	  "touch all guest RAM at start (every memory backend's prealloc=on default)" },
	{ "overcommit", "mem-lock=on|off[,cpu-pm=off]", opt_overcommit,
	  "mem-lock=on: lock all of vmm's memory, guest RAM included (mlockall)" },
	{ "smp", "[cpus=]N[,sockets=S][,cores=C][,threads=T][,maxcpus=M]", opt_smp,
	  "vCPUs and their topology (a bare N is one socket of N cores, as QEMU)" },
	{ "cpu", "MODEL[,+FEATURE|-FEATURE|FEATURE=on|off]...", opt_cpu,
	  "CPU model: host (default), max, qemu64, kvm64; -cpu help lists features" },
	{ "hda", "FILE", opt_hd, "IDE primary master disk image" },
	{ "hdb", "FILE", opt_hd, "IDE primary slave disk image" },
	{ "hdc", "FILE", opt_hd, "IDE secondary master disk image" },
	{ "hdd", "FILE", opt_hd, "IDE secondary slave disk image" },
	{ "cdrom", "FILE", opt_cdrom, "CD-ROM image (IDE secondary master)" },
	{ "fda", "FILE", opt_fd, "floppy disk image, drive A: (160K to 2.88M by its size)" },
	{ "fdb", "FILE", opt_fd, "floppy disk image, drive B:" },
	{ "snapshot", NULL, opt_snapshot, "write to temporary overlays; disk images stay unchanged" },
	{ "drive", "file=F[,if=ide|virtio|floppy|none][,media=disk|cdrom][,index=I][,format=raw|qcow2|qcow|vmdk|vdi|vpc|vhdx]"
	  "[,readonly=on][,snapshot=on][,cache=MODE]",
	  opt_drive, "IDE drive, a floppy (if=floppy, index=0 or 1), or a virtio-blk disk "
	  "(if=virtio) on the PCI bus" },
	{ "boot", "[order=]DRIVES[,once=DRIVES][,menu=on|off][,splash-time=MS][,reboot-timeout=MS]"
	  "[,strict=on|off]", opt_boot,
	  "boot order: a floppy, c disk, d CD-ROM, n network (default cad); once= for the first boot only "
	  "(a reset returns to order=); strict=on: only those, never other devices; "
	  "reboot-timeout: ms before SeaBIOS retries when nothing boots (-1: never); "
	  "splash-time: ms the boot menu waits" },
	{ "rtc", "[base=utc|localtime|DATE][,clock=host|rt|vm][,driftfix=none|slew]", opt_rtc,
	  "RTC start: UTC (default), the host's local time (TZ) or DATE (2006-06-17T16:01:21 or "
	  "2006-06-17); clock=host follows the host's clock, rt runs steadily from start, vm "
	  "stops while the guest is paused; driftfix is accepted (no ticks are owed)" },
	{ "uuid", "UUID", opt_uuid, "system UUID (SMBIOS type 1, QMP query-uuid)" },
	{ "no-acpi", NULL, opt_no_acpi, "no ACPI: no PIIX4 power management, no ACPI tables" },
	{ "no-hpet", NULL, opt_accepted, "no HPET (accepted: vmm has none)" },
	{ "no-fd-bootchk", NULL, opt_no_fd_bootchk, "boot a floppy without the 55AAh signature "
	  "check" },
	{ "no-user-config", NULL, opt_accepted, "accepted (vmm reads no configuration files)" },
	{ "msg", "timestamp=on|off", opt_msg, "prefix vmm's messages with the UTC time" },
	{ "kernel", "FILE", opt_kernel, "boot a Linux bzImage or Multiboot kernel directly" },
	{ "initrd", "FILE", opt_initrd,
	  "initial ramdisk (Multiboot: modules, \"FILE args,FILE args\")" },
	{ "append", "CMDLINE", opt_append, "kernel command line" },
	{ "bios", "FILE", opt_bios, "firmware image (default bios-256k.bin from SeaBIOS)" },
	{ "L", "DIR", opt_firmware_dir, "directory searched first for firmware" },
	{ "serial", "DEV", opt_serial,
	  "serial port backend, up to 4 times for COM1-COM4 (0x3f8/IRQ 4, 0x2f8/3, 0x3e8/4, "
	  "0x2e8/3): stdio, mon:stdio (with the monitor, Ctrl-A c), file:PATH, pty, null, "
	  "chardev:ID, unix:PATH,server,nowait, "
	  "tcp:[HOST]:PORT[,server,nowait]; none: no port at that index" },
	{ "chardev", "BACKEND,id=ID[,...]", opt_chardev,
	  "character device: null, stdio[,signal=on|off][,mux=on|off], file,path=P[,input-path=P], pty, "
	  "socket,path=P|host=H,port=N[,server=on|off][,wait=on|off]" },
	{ "nographic", NULL, opt_nographic,
	  "no display; COM1 and the monitor on stdio (Ctrl-A c switches, Ctrl-A x quits)" },
	{ "display", "none|sdl[,window-close=on|off][,grab-mod=rctrl]|vnc=ADDR", opt_display,
	  "display: none, the SDL window (the default with $DISPLAY), or VNC alone" },
	{ "k", "LAYOUT", opt_keymap, "VNC keyboard layout for keysyms (de, fr, en-gb, ...)" },
	{ "full-screen", NULL, opt_full_screen, "start the SDL window full screen (Ctrl-Alt-F toggles)" },
	{ "sdl", NULL, opt_sdl, "removed from QEMU: use -display sdl" },
	{ "audiodev", "none|wav|sdl,id=ID[,path=FILE][,out.frequency=HZ][,out.channels=1|2]"
	  "[,out.format=u8|s8|u16|s16|u32|s32|f32][,out.buffer-length=US][,timer-period=US]",
	  opt_audiodev,
	  "audio backend for a sound card's audiodev=ID: none (played to nowhere, at the right "
	  "pace), wav (a RIFF WAVE file, default vmm.wav) or sdl (SDL2's audio; "
	  "SDL_AUDIODRIVER picks its driver); wav and sdl take u8, s16, s32 or f32; default "
	  "44100 Hz, 2 channels, s16" },
	{ "soundhw", "CARD", opt_soundhw, "removed from QEMU 7.2: use -device CARD,audiodev=ID" },
	{ "vnc", "[HOST]:N|unix:PATH|none[,password=on][,to=L]", opt_vnc,
	  "VNC server on port 5900+N (every interface unless HOST) or a Unix socket" },
	{ "vga", "std|cirrus|none", opt_vga, "the display card: std (VGA with Bochs VBE, the default), cirrus (Cirrus CL-GD5446) or none" },
	{ "no-reboot", NULL, opt_no_reboot, "exit instead of rebooting" },
	{ "incoming", "unix:PATH|tcp:[HOST]:PORT|exec:CMD|file:PATH|defer", opt_incoming,
	  "wait for a migration stream (QMP migrate from another vmm started with the same "
	  "options) and run it; defer: the URI comes from QMP migrate-incoming" },
	{ "loadvm", "TAG", opt_loadvm, "start from the VM snapshot TAG (savevm) of the qcow2 "
	  "disks" },
	{ "S", NULL, opt_start_paused, "start paused (QMP or monitor cont, or gdb, starts the vCPUs)" },
	{ "s", NULL, opt_gdb, "gdb stub on TCP port 1234 (-gdb tcp::1234)" },
	{ "gdb", "tcp:[HOST]:PORT|unix:PATH[,server]|none", opt_gdb,
	  "gdb stub (GDB's remote protocol; the vCPUs are its threads; with -S from the first "
	  "instruction)" },
	{ "name", "NAME", opt_name, "name of the guest" },
	{ "debugcon", "DEV", opt_debugcon,
	  "debug console at port 0xe9 (QEMU's isa-debugcon; DEV as for -serial); SeaBIOS's log "
	  "is port 0x402: -device isa-debugcon,iobase=0x402,chardev=ID" },
	{ "netdev", "user,id=ID[,hostfwd=tcp::HOSTPORT-:GUESTPORT]...[,restrict=on|off]"
	  "[,host-loopback=on|off][,net=ADDR/LEN][,host=A][,dns=A][,dhcpstart=A][,hostname=N]"
	  "[,domainname=D][,dnssearch=D][,ipv4=on|off][,ipv6=on|off][,ipv6-net=ADDR/LEN]"
	  "[,ipv6-host=A][,ipv6-dns=A][,tftp=DIR][,bootfile=FILE][,tftp-server-name=NAME]"
	  "[,smb=DIR[,smbserver=A]] | "
	  "tap,id=ID[,ifname=NAME][,script=PATH|no][,downscript=PATH|no][,fd=N][,vnet_hdr=on|off]"
	  "[,vhost=on|off][,vhostfd=N][,queues=N]",
	  opt_netdev,
	  "network backend: user mode (slirp: NAT, DHCP 10.0.2.15, DNS 10.0.2.3; by default the "
	  "guest reaches the host's 127.0.0.1 as 10.0.2.2, restrict=on isolates it; tftp=DIR is served "
	  "read-only over TFTP and bootfile=FILE named in the DHCP reply, for -boot n; smb=DIR "
	  "is shared read-write by the host's smbd as \\\\10.0.2.4\\qemu, or smbserver=A) or a tap "
	  "interface (scripts default to /etc/qemu-ifup, /etc/qemu-ifdown; vhost=on: the host "
	  "kernel's vhost-net moves a virtio-net card's frames, else vmm warns and moves them; "
	  "queues=N, 1 to 8: a multiqueue interface for virtio-net-pci,mq=on)" },
	{ "nic", "user|tap|none[,model=M][,mac=M][,backend options]", opt_nic,
	  "a NIC (model=e1000 default, e1000-82544gc, e1000-82545em, rtl8139, ne2k_pci, "
	  "pcnet, virtio; "
	  "model=help lists them) and its backend in one option (none: no NIC; without any "
	  "network option there is one e1000 on user networking, as QEMU)" },
	{ "nodefaults", NULL, opt_nodefaults, "no default devices (the default NIC and VGA)" },
	{ "net", "nic[,model=M][,macaddr=M] | user[,...] | tap[,...] | none", opt_net,
	  "old form of -nic: -net nic,model=e1000 -net user|tap (model=help lists the NICs)" },
	{ "device", "DRIVER[,PROP=VALUE]...", opt_device,
	  "add a device; -device help lists the drivers, -device DRIVER,help their "
	  "properties (PCI devices take addr=SLOT[.FN] and multifunction=on|off)" },
	{ "global", "DRIVER.PROP=VALUE", opt_global,
	  "default of a device property, for every device of that driver" },
	{ "balloon", "none|virtio", opt_balloon, "old form of -device virtio-balloon" },
	{ "watchdog", "i6300esb|ib700", opt_watchdog,
	  "old form of -device i6300esb or -device ib700; -watchdog help lists them" },
	{ "watchdog-action", "reset|shutdown|poweroff|pause|debug|none|inject-nmi",
	  opt_watchdog_action, "what a watchdog that runs out does (default reset)" },
	{ "qmp", "unix:PATH|tcp:HOST:PORT,server=on,wait=off", opt_qmp,
	  "QMP control socket (several allowed; also 'stdio')" },
	{ "monitor", "stdio|unix:PATH,server=on,wait=off", opt_monitor,
	  "human monitor: info status|cpus|version, stop, cont, quit, ..." },
	{ "object", "rng-random,id=ID[,filename=FILE]|rng-builtin,id=ID | "
	  "memory-backend-ram,id=ID,size=SIZE[,share=on|off][,prealloc=on|off]"
	  "[,prealloc-threads=N][,merge=on|off][,dump=on|off][,reserve=on|off] | "
	  "memory-backend-file,id=ID,size=SIZE,mem-path=PATH[,share=on|off][,discard-data=on|off]"
	  "[,...] | memory-backend-memfd,id=ID,size=SIZE[,share=on|off][,hugetlb=on|off]"
	  "[,hugetlbsize=SIZE][,seal=on|off][,...]", opt_object,
	  "an entropy source for -device virtio-rng-pci,rng=ID: FILE (default /dev/urandom) or "
	  "getrandom(); or guest RAM for -machine memory-backend=ID: anonymous memory, a file "
	  "(share=on: others mapping it see the guest's RAM) or a memfd (shared by default)" },
	{ "mon", "chardev=ID[,mode=control|readline][,pretty=on|off]", opt_mon,
	  "QMP (mode=control) or the human monitor (readline, the default) on -chardev ID: "
	  "stdio, or a socket with server=on" },
	{ "daemonize", NULL, opt_daemonize,
	  "detach once the machine is ready (needs no stdio chardev)" },
	{ "pidfile", "FILE", opt_pidfile, "write the pid to FILE, locked; removed at exit" },
	{ "sandbox", "on|off[,obsolete=allow|deny][,elevateprivileges=allow|deny|children]"
	  "[,spawn=allow|deny][,resourcecontrol=allow|deny]", opt_sandbox,
	  "seccomp allow-list per thread kind once set-up is done (default on; "
	  "see docs/security.md)" },
	{ "runas", "USER|UID:GID", opt_runas,
	  "drop to USER's uid and gid once /dev/kvm, images and sockets are open" },
	{ "chroot", "DIR", opt_chroot, "chroot to DIR once set-up is done (before -runas)" },
	{ "enable-kvm", NULL, opt_accepted, "use KVM (always on)" },
	{ "accel", "kvm", opt_accel, "accelerator (kvm only)" },
	{ "machine", "[type=]pc[,accel=kvm][,pcspk-audiodev=ID][,memory-backend=ID][,mem-merge=on|off]"
	  "[,kernel-boot=auto|firmware|direct]",
	  opt_machine, "machine type (pc only); pcspk-audiodev: the PC speaker plays through "
	  "-audiodev ID; guest RAM from -object memory-backend-*,id=ID (its size is -m's); "
	  "mem-merge=off: KSM may not merge guest RAM (default on); kernel-boot: how -kernel "
	  "starts: auto enters a 64-bit Linux directly, with vmm's own ACPI tables, unless "
	  "something needs the BIOS; firmware boots it through SeaBIOS" },
	{ "M", "pc", opt_machine, "same as -machine" },
	{ "help", NULL, opt_help, "print this help and exit" },
	{ "h", NULL, opt_help, "same as -help" },
	{ "version", NULL, opt_version, "print the version and exit" },
};

static int opt_help(struct cli_state *st, const char *name, const char *arg)
{
	printf("usage: vmm [options] [disk_image]\n\n"
	       "vmm runs a PC (i440FX + PIIX3, SeaBIOS) on Linux KVM. Options follow QEMU's.\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		char left[512]; /* the longest argument synopsis fits */
		snprintf(left, sizeof(left), "-%s%s%s", options[i].name, options[i].arg ? " " : "",
			 options[i].arg ? options[i].arg : "");
		if (strlen(left) > 28)
			printf("  %s\n  %-28s %s\n", left, "", options[i].help);
		else
			printf("  %-28s %s\n", left, options[i].help);
	}
	/* The drivers, from the device table (-device help groups them). */
	printf("\n-device drivers (-device DRIVER,help lists the properties of one):\n ");
	size_t col = 1;
	for (unsigned i = 0; i < dev_table_size; i++) {
		const struct dev_class *c = dev_table[i];
		if (c->board_only)
			continue;
		if (col + strlen(c->name) + 2 > 78) {
			printf("\n ");
			col = 1;
		}
		col += (size_t)printf(" %s", c->name);
	}
	printf("\n");
	printf("\nDuring emulation with the console on a terminal:\n"
	       "  Ctrl-A x  exit      Ctrl-A h  help      Ctrl-A Ctrl-A  send Ctrl-A\n");
	return 1;
}

static int opt_version(struct cli_state *st, const char *name, const char *arg)
{
	printf("vmm version " VMM_VERSION "\n");
	return 1;
}

/* The user of each -chardev, for messages: COM1 or the device naming it. */
static const char *chardev_users[CHARDEV_MAX];

static int claim_chardev(struct cli_state *st, const char *dev, const char *id)
{
	const struct chardev_config *c = find_chardev(st->cfg, id);
	if (!c)
		return fail(st, "-device %s: no -chardev with id '%s'", dev, id);
	const char **user = &chardev_users[c - st->cfg->chardevs];
	if (*user)
		return fail(st, "-device %s: chardev '%s' is already used by %s", dev, id, *user);
	*user = dev;
	return 0;
}

static int claim_netdev(struct cli_state *st, const char *dev, const char *id,
			const char **users)
{
	const struct netdev_config *nd = find_netdev(st->cfg, id);
	if (!nd && !strcmp(id, NET_HUB_ID))
		return fail(st, "-net nic: no -net user or -net tap to connect it to");
	if (!nd)
		return fail(st, "-device %s: no -netdev with id '%s'", dev, id);
	const char **user = &users[nd - st->cfg->netdev];
	if (*user)
		return fail(st, "netdev '%s' is used by two NICs", id);
	*user = dev;
	return 0;
}

static int claim_drive(struct cli_state *st, const char *dev, const char *id)
{
	struct named_drive *nd = find_drive(st->cfg, id);
	if (!nd)
		return fail(st, "-device %s: no -drive if=none with id '%s'", dev, id);
	if (nd->user)
		return fail(st, "-device %s: drive '%s' is already in use", dev, id);
	nd->user = dev;
	return 0;
}

/* A NIC without netdev= runs unconnected; QEMU warns with its name: its
 * id=, else MODEL.N (N counts the NICs of that model before it). */
static void warn_nics_without_peer(const struct machine_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndevs; i++) {
		const struct dev_instance *d = &cfg->devs[i];
		unsigned same = 0;
		if (!(d->cls->categories & DEV_CAT_NETWORK) || dev_get_str(d, "netdev"))
			continue;
		if (d->id) {
			warn("nic %s has no peer", d->id);
			continue;
		}
		for (unsigned j = 0; j < i; j++)
			same += cfg->devs[j].cls == d->cls;
		warn("nic %s.%u has no peer", d->cls->name, same);
	}
}

/* Every chardev, netdev and drive a device names exists and has one user. */
static int check_device_refs(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;
	const char *netdev_users[MAX_NETDEVS] = { 0 };

	memset(chardev_users, 0, sizeof(chardev_users));
	for (unsigned i = 0; i < MAX_ISA_SERIAL; i++) {
		const struct chardev_config *s = &cfg->serial[i];
		if (!(cfg->serial_ports & (1u << i)) || s->kind != CHARDEV_REF)
			continue;
		const struct chardev_config *c = find_chardev(cfg, s->id);
		if (!c)
			return fail(st, "-serial chardev:%s: no -chardev with id '%s'", s->id, s->id);
		const char **user = &chardev_users[c - cfg->chardevs];
		if (*user)
			return fail(st, "-serial chardev:%s: chardev '%s' is already used by %s", s->id,
				    s->id, *user);
		*user = "-serial";
	}
	for (unsigned i = 0; i < cfg->ndevs; i++) {
		struct dev_instance *d = &cfg->devs[i];
		for (unsigned k = 0; k < dev_class_nprops(d->cls); k++) {
			const struct dev_prop *p = dev_class_prop(d->cls, k);
			const char *id = d->val[k].set ? d->val[k].s : NULL;
			int r = 0;
			if (!id)
				continue;
			if (p->type == PROP_CHARDEV)
				r = claim_chardev(st, d->cls->name, id);
			else if (p->type == PROP_NETDEV)
				r = claim_netdev(st, d->cls->name, id, netdev_users);
			else if (p->type == PROP_DRIVE)
				r = claim_drive(st, d->cls->name, id);
			else if (p->type == PROP_AUDIODEV && !find_audiodev(cfg, id))
				r = fail(st, "-device %s: no -audiodev with id '%s'", d->cls->name, id);
			if (r < 0)
				return -1;
		}
	}
	if (cfg->pcspk_audiodev && !find_audiodev(cfg, cfg->pcspk_audiodev))
		return fail(st, "-machine pcspk-audiodev=%s: no -audiodev with id '%s'",
			    cfg->pcspk_audiodev, cfg->pcspk_audiodev);
	warn_nics_without_peer(cfg);
	for (unsigned j = 0; j < cfg->ndrives; j++)
		if (!cfg->drives[j].user)
			warn("-drive id=%s: no device uses this drive; it is ignored", cfg->drives[j].id);
	return 0;
}

/* A UART for each -serial index (COM1's default included), at the front
 * of the list in index order: -device isa-serial instances come after
 * them, so their check sees which indices and ports -serial took. */
static int imply_serial_ports(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;
	unsigned first = cfg->ndevs, n = 0;
	const struct dev_class *uart = dev_class_find("isa-serial");

	for (unsigned i = 0; i < cfg->ndevs; i++)
		n += cfg->devs[i].cls == uart;
	/* not __builtin_popcount: without -mpopcnt it is a libgcc call linked
	 * at the end of .text, whose page only this would map in */
	for (unsigned i = 0; i < MAX_ISA_SERIAL; i++)
		n += (cfg->serial_ports >> i) & 1;
	if (n > MAX_ISA_SERIAL)
		return fail(st, "-device isa-serial: at most %d serial ports (COM1-COM4), -serial's "
			    "included (-serial none leaves COM1 out)", MAX_ISA_SERIAL);
	for (unsigned i = 0; i < MAX_ISA_SERIAL; i++) {
		char index[4];
		if (!(cfg->serial_ports & (1u << i)))
			continue;
		struct dev_instance *d = imply_device(st, "isa-serial");
		format_uint(index, sizeof(index), i, 10, 1);
		if (!d || imply_prop(st, "-serial", d, "index", index) < 0)
			return -1;
	}
	n = cfg->ndevs - first;
	if (!n || !first)
		return 0;
	struct dev_instance *ports = xzalloc(n * sizeof(*ports));
	memcpy(ports, cfg->devs + first, n * sizeof(*ports));
	memmove(cfg->devs + n, cfg->devs, first * sizeof(*ports));
	memcpy(cfg->devs, ports, n * sizeof(*ports));
	free(ports);
	return 0;
}

/* After every option: -global, the implied virtio-serial bus, the
 * references between devices and backends, each class's own checks, then
 * the board (its fixed devices, PCI slots). */
static int finish_devices(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;
	bool ports = false, bus = false;

	for (unsigned i = 0; i < cfg->ndevs; i++) {
		ports |= cfg->devs[i].cls->bus == DEV_BUS_VIRTIO_SERIAL;
		bus |= !strcmp(cfg->devs[i].cls->name, "virtio-serial-pci");
	}
	/* QEMU wants the bus first; vmm creates it for ports given without one. */
	if (ports && !bus && !imply_device(st, "virtio-serial-pci"))
		return -1;
	if (imply_serial_ports(st) < 0)
		return -1;
	for (unsigned i = 0; i < cfg->ndevs; i++)
		dev_apply_globals(&cfg->devs[i], cfg->globals, cfg->nglobals);
	if (check_device_refs(st) < 0)
		return -1;
	for (unsigned i = 0; i < cfg->ndevs; i++) {
		struct dev_instance *d = &cfg->devs[i];
		if (d->cls->ops.check && d->cls->ops.check(d, cfg, st->err, st->errlen) < 0)
			return -1;
	}
	return machine_config_finish(cfg, st->err, st->errlen);
}

static unsigned stdio_chardevs(const struct machine_config *cfg)
{
	unsigned n = 0;
	for (unsigned i = 0; i < cfg->nchardevs; i++)
		n += cfg->chardevs[i].kind == CHARDEV_STDIO;
	return n;
}

/* The option that put a chardev on stdio, for messages. */
static const char *stdio_chardev_opt(const struct machine_config *cfg)
{
	for (unsigned i = 0; i < cfg->nchardevs; i++)
		if (cfg->chardevs[i].kind == CHARDEV_STDIO && cfg->chardevs[i].label &&
		    !strcmp(cfg->chardevs[i].label, "debugcon"))
			return "-debugcon";
	return "-chardev";
}

static bool chan_on_stdio(const struct machine_config *cfg)
{
	for (unsigned i = 0; i < cfg->nqmp; i++)
		if (cfg->qmp[i].kind == CHAN_STDIO)
			return true;
	return cfg->monitor.kind == CHAN_STDIO;
}

/* -serial stdio on COM2-COM4. */
static unsigned stdio_other_ports(const struct machine_config *cfg)
{
	unsigned n = 0;
	for (unsigned i = 1; i < MAX_ISA_SERIAL; i++)
		n += (cfg->serial_ports & (1u << i)) && cfg->serial[i].kind == CHARDEV_STDIO;
	return n;
}

/* Only one user of the terminal: COM1 (-nographic, -serial stdio), another
 * -serial stdio, a monitor or QMP on stdio, and none at all with -daemonize. */
static int check_stdio(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;
	struct chardev_config *com1 = &cfg->serial[0];
	unsigned stdio_chans = cfg->monitor.kind == CHAN_STDIO;
	unsigned stdio_ports = stdio_other_ports(cfg);
	/* -serial none as the first: no COM1, so no default for it either. */
	bool implicit_serial = (cfg->serial_ports & 1) && com1->kind == CHARDEV_NONE;

	for (unsigned i = 0; i < cfg->nqmp; i++)
		stdio_chans += cfg->qmp[i].kind == CHAN_STDIO;
	if (stdio_chans > 1)
		return fail(st, "stdio is used by more than one -qmp/-monitor");
	if (stdio_chardevs(cfg) > 1 || (stdio_chardevs(cfg) && stdio_chans))
		return fail(st, "stdio is used by more than one -chardev/-debugcon/-qmp/-monitor");
	if (stdio_ports && (stdio_ports > 1 || com1->kind == CHARDEV_STDIO ||
			    stdio_chardevs(cfg) || stdio_chans))
		return fail(st, "stdio is used by more than one -serial/-chardev/-qmp/-monitor");
	if (stdio_chardevs(cfg) && com1->kind == CHARDEV_STDIO)
		return fail(st, "%s stdio: stdio is already the serial console (-serial stdio)",
			    stdio_chardev_opt(cfg));
	if (stdio_chardevs(cfg) && cfg->daemonize)
		return fail(st, "-daemonize: stdio cannot be used by a chardev of a daemon "
			    "(-chardev stdio)");
	/* A -chardev on stdio owns the terminal, as a monitor there does
	 * (unless it is COM1's own, through -serial chardev:ID). */
	const struct chardev_config *ref =
		com1->kind == CHARDEV_REF ? find_chardev(cfg, com1->id) : NULL;
	unsigned stdio_cds = stdio_chardevs(cfg) - (ref && ref->kind == CHARDEV_STDIO);
	stdio_chans += stdio_cds;
	/* With no display built in, COM1 is the console unless told otherwise,
	 * or unless stdio belongs to a monitor or vmm detaches from it. */
	if (implicit_serial)
		com1->kind = (st->display_none && !cfg->nographic) || stdio_chans ||
				     cfg->daemonize ? CHARDEV_NULL : CHARDEV_STDIO;
	if (cfg->nographic && com1->kind == CHARDEV_NULL && !st->serial_given &&
	    !stdio_chans && !cfg->daemonize)
		com1->kind = CHARDEV_STDIO;
	/* QEMU's -nographic: COM1 and the monitor share stdio (Ctrl-A c),
	 * unless the monitor is elsewhere or -serial says otherwise. */
	if (cfg->nographic && !st->serial_given && !st->monitor_given &&
	    com1->kind == CHARDEV_STDIO)
		com1->mux = true;
	if (com1->mux && (cfg->monitor.kind != CHAN_NONE || cfg->monitor_mux[0]))
		return fail(st, "-serial mon:stdio: only one monitor is supported (and -monitor "
			    "or -mon is given)");
	if (stdio_chans && (cfg->nographic || com1->kind == CHARDEV_STDIO))
		return fail(st, "%s stdio: stdio is already the serial console (%s); use -serial "
			    "null or a socket", stdio_cds ? stdio_chardev_opt(cfg) :
			    cfg->monitor.kind == CHAN_STDIO ? "-monitor" : "-qmp",
			    cfg->nographic ? "-nographic" : "-serial stdio");
	if (!cfg->daemonize)
		return 0;
	if (cfg->nographic)
		return fail(st, "-nographic cannot be used with -daemonize");
	if (com1->kind == CHARDEV_STDIO || stdio_ports || chan_on_stdio(cfg))
		return fail(st, "-daemonize: stdio cannot be used by a chardev of a daemon "
			    "(-serial, -debugcon, -monitor or -qmp stdio)");
	return 0;
}

/* What guest RAM is: the backend -machine memory-backend= names (its size
 * is -m's, or must equal it), a -mem-path file, or -m's anonymous memory;
 * -mem-prealloc and mem-merge= are defaults for every backend that does
 * not say otherwise, as QEMU's. */
static int resolve_ram(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;

	for (unsigned i = 0; i < cfg->nmem_backends; i++) {
		struct ram_backend *b = &cfg->mem_backends[i];
		if (!b->merge_given)
			b->merge = st->mem_merge;
		if (!b->prealloc_given)
			b->prealloc = st->mem_prealloc;
	}
	if (!st->memdev[0]) {
		cfg->ram.kind = cfg->ram.mem_path ? RAM_BACKEND_FILE : RAM_BACKEND_RAM;
		/* -mem-path is QEMU's file backend, reserve on; -m's own RAM
		 * is vmm's lazy mapping */
		cfg->ram.reserve = cfg->ram.mem_path != NULL;
		cfg->ram.size = cfg->ram_size;
		cfg->ram.prealloc = st->mem_prealloc;
		cfg->ram.merge = st->mem_merge;
		cfg->ram.dump = true;
		return 0;
	}
	if (cfg->ram.mem_path)
		return fail(st, "-mem-path cannot be used with -machine memory-backend=%s",
			    st->memdev);
	const struct ram_backend *b = NULL;
	for (unsigned i = 0; i < cfg->nmem_backends; i++)
		if (!strcmp(cfg->mem_backends[i].id, st->memdev))
			b = &cfg->mem_backends[i];
	if (!b)
		return fail(st, "-machine memory-backend=%s: Memory backend '%s' not found",
			    st->memdev, st->memdev);
	if (st->ram_size_given && b->size != cfg->ram_size)
		return fail(st, "-m: the size (%llu MiB) must match the size of the memory backend "
			    "'%s' (%llu bytes), or be left out", (unsigned long long)(cfg->ram_size / MiB),
			    b->id, (unsigned long long)b->size);
	if (b->size < MIN_RAM || b->size > MAX_RAM || b->size % (4 * KiB))
		return fail(st, "-machine memory-backend=%s: guest RAM must be a multiple of 4 KiB "
			    "between 2 MiB and 64 TiB (the backend has %llu bytes)", b->id,
			    (unsigned long long)b->size);
	cfg->ram = *b;
	cfg->ram_size = b->size;
	return 0;
}

enum cli_result cli_parse(int argc, char **argv, struct machine_config *cfg, char *err,
			  size_t errlen)
{
	struct cli_state st = { .cfg = cfg, .err = err, .errlen = errlen, .mem_merge = true };

	memset(cfg, 0, sizeof(*cfg));
	cfg->ram_size = DEFAULT_RAM;
	snprintf(cfg->cpu.name, sizeof(cfg->cpu.name), "host");
	cfg->smp = (struct cpu_topology){ .cpus = 1, .sockets = 1, .cores = 1, .threads = 1,
					  .maxcpus = 1 };
	cfg->sandbox.enabled = true;
	cfg->serial_ports = 1; /* COM1, unless -serial none */
	cfg->reboot_timeout = -2;
	cfg->splash_time = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct option_def *def = NULL;

		if (a[0] != '-') {
			/* QEMU: a bare argument is the first hard disk. */
			if (!set_drive(&st, 0, a, false, false, a))
				return CLI_ERROR;
			continue;
		}
		const char *name = a + 1 + (a[1] == '-');
		for (size_t j = 0; j < ARRAY_SIZE(options); j++)
			if (!strcmp(options[j].name, name))
				def = &options[j];
		if (!def && qemu_name_unsupported(QEMU_OPTION, name)) {
			snprintf(err, errlen, "-%s: not supported by vmm (%s)", name,
				 qemu_name_unsupported(QEMU_OPTION, name)->why);
			return CLI_ERROR;
		}
		if (!def) {
			snprintf(err, errlen, "%s: invalid option (see vmm -help)", a);
			return CLI_ERROR;
		}
		const char *arg = NULL;
		if (def->arg) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "%s: requires an argument", a);
				return CLI_ERROR;
			}
			arg = argv[++i];
		}
		int ret = def->handler(&st, name, arg);
		if (ret < 0)
			return CLI_ERROR;
		if (ret > 0)
			return CLI_EXIT_OK;
	}
	if (resolve_ram(&st) < 0 || resolve_mons(&st) < 0 || add_default_nic(&st) < 0 ||
	    add_vga(&st) < 0 ||
	    finish_devices(&st) < 0)
		return CLI_ERROR;
	for (unsigned i = 0; i < cfg->nnetdev; i++) {
		if (cfg->netdev[i].kind == NETDEV_TAP && cfg->netdev[i].tap.vhost)
			cfg->sandbox.vhost = true;
		if (cfg->netdev[i].kind == NETDEV_USER) {
			cfg->sandbox.slirp = true;
			if (cfg->netdev[i].user.smb_dir)
				cfg->sandbox.slirp_unix = true;
		}
	}
	/* libslirp reaches smbd's launcher by a path outside the chroot */
	if (cfg->sandbox.slirp_unix && cfg->sandbox.chroot) {
		snprintf(err, errlen, "-netdev user,smb=: does not work with -chroot");
		return CLI_ERROR;
	}
	for (unsigned i = 0; i < cfg->naudiodevs; i++)
		if (cfg->audiodevs[i].kind == AUDIODEV_SDL)
			cfg->sandbox.sdl_audio = true;
	if (!cfg->kernel_path && cfg->initrd_path) {
		snprintf(err, errlen, "-initrd only allowed with -kernel option");
		return CLI_ERROR;
	}
	if (!cfg->kernel_path && cfg->append) {
		snprintf(err, errlen, "-append only allowed with -kernel option");
		return CLI_ERROR;
	}
	if (choose_display(&st) < 0)
		return CLI_ERROR;
	return check_stdio(&st) < 0 ? CLI_ERROR : CLI_RUN;
}

void cli_config_free(struct machine_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndevs; i++)
		dev_instance_free(&cfg->devs[i]);
	free(cfg->devs);
	for (unsigned i = 0; i < cfg->nglobals; i++)
		free(cfg->globals[i].value);
	free(cfg->globals);
	for (unsigned i = 0; i < cfg->ndrives; i++) {
		free((char *)cfg->drives[i].id);
		free((char *)cfg->drives[i].d.path);
		free((char *)cfg->drives[i].d.format);
	}
	for (unsigned i = 0; i < cfg->nnetdev; i++)
		free((char *)cfg->netdev[i].id);
	free(cfg->chardevs);
	for (unsigned i = 0; i < cfg->nrng_objects; i++) {
		free((char *)cfg->rng_objects[i].id);
		free((char *)cfg->rng_objects[i].filename);
	}
	cfg->nrng_objects = 0;
	/* cfg->ram is a copy of one of these, or owns -mem-path's path */
	if (!cfg->ram.id)
		free((char *)cfg->ram.mem_path);
	cfg->ram.mem_path = NULL;
	for (unsigned i = 0; i < cfg->nmem_backends; i++) {
		free((char *)cfg->mem_backends[i].id);
		free((char *)cfg->mem_backends[i].mem_path);
	}
	cfg->nmem_backends = 0;
	free((char *)cfg->name);
	free((char *)cfg->pcspk_audiodev);
	cfg->pcspk_audiodev = NULL;
	cfg->devs = NULL;
	cfg->globals = NULL;
	cfg->chardevs = NULL;
	cfg->ndevs = cfg->nglobals = cfg->ndrives = cfg->nnetdev = cfg->nchardevs = 0;
}
