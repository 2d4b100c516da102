// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "util.h"
#include "vmctl.h"

#define DEFAULT_RAM (128 * MiB)
#define MIN_RAM (2 * MiB)
#define MAX_RAM (1024 * GiB)

/* A -drive if=none,id=ID waits for a -device that names it. */
#define MAX_NONE_DRIVES 16
struct none_drive {
	const char *id;
	struct drive_config d;
	bool used;
};

/* -device virtio-blk-pci/ide-hd/ide-cd,drive=ID: resolved after all
 * options, as QEMU creates drives before devices whatever the order. */
enum disk_device_kind { DISK_VIRTIO, DISK_IDE_HD, DISK_IDE_CD };
struct disk_device {
	enum disk_device_kind kind;
	const char *drive;
	int index; /* IDE: bus * 2 + unit, -1 = first free */
};

struct cli_state {
	struct machine_config *cfg;
	char *err;
	size_t errlen;
	bool serial_given;
	bool display_none;
	bool monitor_given;
	struct none_drive none[MAX_NONE_DRIVES];
	unsigned nnone;
	struct disk_device disk_dev[MAX_NONE_DRIVES];
	unsigned ndisk_dev;
	bool net_given;       /* a -net, -nic or -netdev: no default NIC */
	bool no_defaults;     /* -nodefaults */
	bool serial_bus_given;
	bool debugcon_given;
};

typedef int (*opt_handler)(struct cli_state *st, const char *name, const char *arg);

struct option_def {
	const char *name;
	const char *arg;   /* NULL: takes no argument */
	opt_handler handler;
	const char *help;
};

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
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 0);
	if (!*v || *end || errno || x > max || *v == '-')
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
		return fail(st, "-m %s: RAM size must be between 2 MiB and 1 TiB", arg);
	st->cfg->ram_size = size & ~(uint64_t)(4 * KiB - 1);
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

static struct drive_config *set_drive(struct cli_state *st, unsigned index, const char *path,
				     bool cdrom, bool read_only, const char *opt)
{
	struct drive_config *d = &st->cfg->ide[index];
	if (d->present) {
		fail(st, "%s: IDE drive %u (%s) is already in use", opt, index,
		     index == 2 ? "secondary master, the -cdrom slot" : "given twice");
		return NULL;
	}
	d->present = true;
	d->path = path && *path ? path : NULL;
	d->cdrom = cdrom;
	d->read_only = read_only;
	if (!cdrom && !d->path) {
		fail(st, "%s: a disk needs a file", opt);
		return NULL;
	}
	return d;
}

static int opt_hd(struct cli_state *st, const char *name, const char *arg)
{
	return set_drive(st, (unsigned)(name[2] - 'a'), arg, false, false, name - 1) ? 0 : -1;
}

static int opt_cdrom(struct cli_state *st, const char *name, const char *arg)
{
	return set_drive(st, 2, arg, true, true, "-cdrom") ? 0 : -1;
}

static int add_virtio_drive(struct cli_state *st, const char *file, const char *format,
			    bool read_only, bool snapshot, int cache, bool discard_ignore)
{
	struct machine_config *cfg = st->cfg;

	if (!file || !*file)
		return fail(st, "-drive if=virtio: a disk needs a file");
	if (cfg->nvirtio_blk == MAX_VIRTIO_DRIVES)
		return fail(st, "-drive if=virtio: at most %u virtio disks", MAX_VIRTIO_DRIVES);
	cfg->virtio_blk[cfg->nvirtio_blk++] = (struct drive_config){
		.path = file, .present = true, .read_only = read_only, .cache = cache,
		.discard_ignore = discard_ignore,
		.format = format, .snapshot = snapshot,
	};
	return 0;
}

static int opt_drive(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[16];
	int n = split_opts(st, name, arg, NULL, kv, 16);
	const char *file = NULL, *format = NULL;
	bool cdrom = false, read_only = false, snapshot = false, none = false, virtio = false;
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
			id = xstrdup(val);
		} else if (!strcmp(k, "file")) {
			file = xstrdup(val);
		} else if (!strcmp(k, "if")) {
			if (!strcmp(val, "none"))
				none = true;
			else if (!strcmp(val, "virtio"))
				virtio = true;
			else if (strcmp(val, "ide"))
				return fail(st, "-drive: if=%s is not supported (ide, virtio or none)",
					    val);
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
			if (strcmp(val, "raw") && strcmp(val, "qcow2") && strcmp(val, "vmdk"))
				return fail(st, "-drive: format=%s is not supported (raw, qcow2, vmdk)",
					    val);
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
		for (unsigned i = 0; i < st->nnone; i++)
			if (!strcmp(st->none[i].id, id))
				return fail(st, "-drive: duplicate id '%s'", id);
		if (st->nnone == MAX_NONE_DRIVES)
			return fail(st, "-drive if=none: at most %u such drives", MAX_NONE_DRIVES);
		st->none[st->nnone++] = (struct none_drive){
			.id = id,
			.d = { .path = file && *file ? file : NULL, .format = format, .present = true,
			       .cdrom = cdrom, .read_only = read_only || cdrom, .snapshot = snapshot,
			       .cache = cache, .discard_ignore = discard_ignore },
		};
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
			if (!st->cfg->ide[index].present)
				break;
		if (index == MAX_IDE_DRIVES)
			return fail(st, "-drive: no free IDE slot (at most 4 drives)");
	}
	struct drive_config *d = set_drive(st, (unsigned)index, file, cdrom, read_only, "-drive");
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

static int opt_boot(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[8];
	int n = split_opts(st, name, arg, "order", kv, 8);

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		if (!strcmp(k, "order") || !strcmp(k, "once")) {
			if (strlen(v) > 3 || strspn(v, "acdn") != strlen(v))
				return fail(st, "-boot: invalid boot order '%s' (use letters a, c, d, n)", v);
			snprintf(st->cfg->boot_order, sizeof(st->cfg->boot_order), "%s", v);
		} else if (!strcmp(k, "menu")) {
			if (parse_bool(st, name, k, v, &st->cfg->boot_menu) < 0)
				return -1;
		} else if (strcmp(k, "splash-time") && strcmp(k, "reboot-timeout") &&
			   strcmp(k, "strict")) {
			return fail(st, "-boot: unknown parameter '%s'", k);
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

static int opt_serial(struct cli_state *st, const char *name, const char *arg)
{
	char err[256];

	if (st->serial_given)
		return fail(st, "-serial: only one serial port (COM1) is supported");
	st->serial_given = true;
	if (chardev_parse_legacy(arg, &st->cfg->serial, err, sizeof(err)) < 0)
		return fail(st, "-serial %s: %s", arg, err);
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

static struct debugcon_config *new_debugcon(struct cli_state *st, const char *opt)
{
	struct machine_config *cfg = st->cfg;
	struct debugcon_config *d;

	if (cfg->ndebugcon == MAX_DEBUGCONS) {
		fail(st, "%s: at most %d debug consoles", opt, MAX_DEBUGCONS);
		return NULL;
	}
	d = &cfg->debugcon[cfg->ndebugcon++];
	d->iobase = DEBUGCON_DEFAULT_PORT;
	d->readback = DEBUGCON_DEFAULT_READBACK;
	return d;
}

/* QEMU's -debugcon DEV: an isa-debugcon at port 0xE9 on a chardev made from
 * DEV (the -serial forms), whose id is "debugcon"; "none" adds nothing.
 * SeaBIOS logs to port 0x402: -device isa-debugcon,iobase=0x402,chardev=ID. */
static int opt_debugcon(struct cli_state *st, const char *name, const char *arg)
{
	struct chardev_config *c, ref;
	struct debugcon_config *d;
	char err[256];

	if (st->debugcon_given)
		return fail(st, "-debugcon: only one is supported (more: -device isa-debugcon)");
	st->debugcon_given = true;
	if (!strcmp(arg, "none"))
		return 0;
	if (chardev_parse_legacy(arg, &ref, err, sizeof(err)) < 0)
		return fail(st, "-debugcon %s: %s", arg, err);
	d = new_debugcon(st, "-debugcon");
	if (!d)
		return -1;
	if (ref.kind == CHARDEV_REF) {
		snprintf(d->chardev, sizeof(d->chardev), "%s", ref.id);
		return 0;
	}
	c = new_chardev(st, "-debugcon");
	if (!c)
		return -1;
	*c = ref;
	snprintf(c->id, sizeof(c->id), "debugcon");
	c->label = "debugcon";
	c->signal = true; /* no guest reads this terminal: Ctrl-C stays vmm's */
	snprintf(d->chardev, sizeof(d->chardev), "debugcon");
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

static const struct chardev_config *find_chardev(const struct machine_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nchardevs; i++)
		if (!strcmp(cfg->chardevs[i].id, id))
			return &cfg->chardevs[i];
	return NULL;
}

static int opt_nographic(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->nographic = true;
	return 0;
}

static int opt_display(struct cli_state *st, const char *name, const char *arg)
{
	if (strcmp(arg, "none") && strncmp(arg, "none,", 5))
		return fail(st, "-display %s: no graphical display is built in yet (use none)", arg);
	st->display_none = true;
	return 0;
}

static int opt_no_reboot(struct cli_state *st, const char *name, const char *arg)
{
	st->cfg->no_reboot = true;
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

static int parse_mac(struct cli_state *st, const char *opt, const char *v, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(v, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return fail(st, "%s: mac=%s: expected six hex bytes like 52:54:00:12:34:56", opt, v);
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xFF)
			return fail(st, "%s: mac=%s: expected six hex bytes", opt, v);
		mac[i] = (uint8_t)b[i];
	}
	if (mac[0] & 1)
		return fail(st, "%s: mac=%s is a multicast address", opt, v);
	return 0;
}

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
	if (r == 0 && (!strcmp(k, "tftp") || !strcmp(k, "bootfile") || !strcmp(k, "smb") ||
		       !strcmp(k, "guestfwd") || !strcmp(k, "smbserver") ||
		       !strcmp(k, "tftp-server-name")))
		return fail(st, "%s: %s= is not supported", opt, k);
	return r;
}

/* "tap" options shared by -netdev, -nic and -net tap (QEMU's names).
 * Returns 1 if 'k' was one of them, 0 if not, -1 on error. */
static int tap_opt(struct cli_state *st, const char *opt, struct netdev_config *nd,
		   const char *k, const char *v)
{
	struct net_tap_config *t = &nd->tap;
	unsigned long fd;

	if (!strcmp(k, "ifname")) {
		if (!*v || strlen(v) >= 16)
			return fail(st, "%s: ifname=%s: 1 to 15 characters", opt, v);
		t->ifname = xstrdup(v);
	} else if (!strcmp(k, "script")) {
		t->script = xstrdup(v);
	} else if (!strcmp(k, "downscript")) {
		t->downscript = xstrdup(v);
	} else if (!strcmp(k, "fd")) {
		char *end;
		errno = 0;
		fd = strtoul(v, &end, 10);
		if (!*v || *end || errno || fd > INT32_MAX)
			return fail(st, "%s: fd=%s: expected a descriptor number", opt, v);
		t->fd = (int)fd;
	} else if (!strcmp(k, "vhost")) {
		if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes"))
			return fail(st, "%s: vhost=on: not supported (vhost-net is not implemented; "
				    "use vhost=off)", opt);
		if (strcmp(v, "off") && strcmp(v, "false") && strcmp(v, "no"))
			return fail(st, "%s: vhost=%s: expected on or off", opt, v);
	} else if (!strcmp(k, "vnet_hdr")) {
		if (!strcmp(v, "off"))
			t->no_vnet_hdr = true;
		else if (strcmp(v, "on"))
			return fail(st, "%s: vnet_hdr=%s: expected on or off", opt, v);
	} else if (!strcmp(k, "queues")) {
		if (strcmp(v, "1"))
			return fail(st, "%s: queues=%s: not supported (one queue pair only)", opt, v);
	} else if (!strcmp(k, "br") || !strcmp(k, "helper") || !strcmp(k, "fds") ||
		   !strcmp(k, "vhostfd") || !strcmp(k, "vhostfds") || !strcmp(k, "vhostforce")) {
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
	return nd;
}

static struct nic_config *new_nic(struct cli_state *st, const char *opt, const char *netdev)
{
	struct machine_config *cfg = st->cfg;

	if (cfg->nnic == MAX_NETDEVS) {
		fail(st, "%s: at most %d NICs", opt, MAX_NETDEVS);
		return NULL;
	}
	struct nic_config *nic = &cfg->nic[cfg->nnic++];
	nic->netdev = netdev ? xstrdup(netdev) : NULL;
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

static bool virtio_model(const char *m)
{
	return !strcmp(m, "virtio") || !strcmp(m, "virtio-net-pci");
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
	snprintf(id, sizeof(id), "__nic%u", st->cfg->nnic);
	struct netdev_config *nd = new_netdev(st, "-nic", id, kind);
	struct nic_config *nic = nd ? new_nic(st, "-nic", id) : NULL;
	if (!nic)
		return -1;
	for (int i = 1; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		if (!strcmp(k, "model")) {
			if (!virtio_model(v))
				return fail(st, "-nic model=%s: unsupported (supported: virtio)", v);
		} else if (!strcmp(k, "mac")) {
			if (parse_mac(st, "-nic", v, nic->mac) < 0)
				return -1;
			nic->has_mac = true;
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

/* The old form: -net nic,model=virtio[,macaddr=M] and -net user[,hostfwd=..],
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
		struct nic_config *nic = new_nic(st, "-net nic", NET_HUB_ID);
		bool model = false;
		if (!nic)
			return -1;
		for (int i = 1; i < n; i++) {
			const char *k = kv[i].key, *v = kv[i].value;
			if (!strcmp(k, "model")) {
				if (!virtio_model(v))
					return fail(st, "-net nic,model=%s: unsupported (supported: virtio)", v);
				model = true;
			} else if (!strcmp(k, "macaddr") || !strcmp(k, "mac")) {
				if (parse_mac(st, "-net nic", v, nic->mac) < 0)
					return -1;
				nic->has_mac = true;
			} else if (strcmp(k, "vlan") && strcmp(k, "name") && strcmp(k, "id")) {
				return fail(st, "-net nic: unsupported parameter '%s'", k);
			}
		}
		if (!model)
			return fail(st, "-net nic: give model=virtio (the only NIC model)");
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
	return fail(st, "-net %s: supported: nic,model=virtio, user and tap", arg);
}

static int device_virtio_net(struct cli_state *st, struct kv *kv, int n)
{
	const char *netdev = NULL;
	uint8_t mac[6];
	bool has_mac = false;

	for (int i = 1; i < n; i++) {
		if (!strcmp(kv[i].key, "netdev")) {
			netdev = kv[i].value;
		} else if (!strcmp(kv[i].key, "mac")) {
			if (parse_mac(st, "-device virtio-net-pci", kv[i].value, mac) < 0)
				return -1;
			has_mac = true;
		} else if (strcmp(kv[i].key, "id")) {
			return fail(st, "-device virtio-net-pci: unknown parameter '%s'", kv[i].key);
		}
	}
	if (!netdev)
		return fail(st, "-device virtio-net-pci: netdev= is required");
	struct nic_config *nic = new_nic(st, "-device virtio-net-pci", netdev);
	if (!nic)
		return -1;
	if (has_mac)
		memcpy(nic->mac, mac, 6);
	nic->has_mac = has_mac;
	return 0;
}

/* -device virtio-blk-pci|ide-hd|ide-cd,drive=ID[,bus=ide.N][,unit=U] */
static int device_disk(struct cli_state *st, enum disk_device_kind kind, struct kv *kv, int n)
{
	const char *dev = kv[0].value, *drive = NULL;
	long bus = -1, unit = -1;
	unsigned long v;

	for (int i = 1; i < n; i++) {
		const char *k = kv[i].key, *val = kv[i].value;
		if (!strcmp(k, "drive")) {
			drive = xstrdup(val);
		} else if (kind != DISK_VIRTIO && !strcmp(k, "bus")) {
			if (strcmp(val, "ide.0") && strcmp(val, "ide.1"))
				return fail(st, "-device %s: bus=%s: expected ide.0 or ide.1", dev, val);
			bus = val[4] - '0';
		} else if (kind != DISK_VIRTIO && !strcmp(k, "unit")) {
			if (parse_uint(st, "device", val, 1, &v) < 0)
				return -1;
			unit = (long)v;
		} else if (strcmp(k, "id") && strcmp(k, "bootindex") && strcmp(k, "serial")) {
			return fail(st, "-device %s: unknown parameter '%s'", dev, k);
		}
	}
	if (!drive)
		return fail(st, "-device %s: drive= is required", dev);
	if (unit >= 0 && bus < 0)
		return fail(st, "-device %s: unit= needs bus=", dev);
	if (st->ndisk_dev == MAX_NONE_DRIVES)
		return fail(st, "-device %s: too many disk devices", dev);
	st->disk_dev[st->ndisk_dev++] = (struct disk_device){
		.kind = kind, .drive = drive,
		.index = bus < 0 ? -1 : (int)(bus * 2 + (unit < 0 ? 0 : unit)),
	};
	return 0;
}

/* Puts each disk -device on its if=none drive. */
static int attach_disk_devices(struct cli_state *st)
{
	for (unsigned i = 0; i < st->ndisk_dev; i++) {
		struct disk_device *dd = &st->disk_dev[i];
		const char *dev = dd->kind == DISK_VIRTIO ? "virtio-blk-pci" :
				  dd->kind == DISK_IDE_HD ? "ide-hd" : "ide-cd";
		struct none_drive *nd = NULL;
		for (unsigned j = 0; j < st->nnone; j++)
			if (!strcmp(st->none[j].id, dd->drive))
				nd = &st->none[j];
		if (!nd)
			return fail(st, "-device %s: no -drive if=none with id '%s'", dev, dd->drive);
		if (nd->used)
			return fail(st, "-device %s: drive '%s' is already in use", dev, dd->drive);
		nd->used = true;
		struct drive_config d = nd->d;
		if (dd->kind == DISK_VIRTIO) {
			if (d.cdrom)
				return fail(st, "-device virtio-blk-pci: drive '%s' is a CD-ROM", dd->drive);
			if (add_virtio_drive(st, d.path, d.format, d.read_only, d.snapshot, d.cache,
					     d.discard_ignore) < 0)
				return -1;
			continue;
		}
		d.cdrom = dd->kind == DISK_IDE_CD;
		d.read_only = d.read_only || d.cdrom;
		if (!d.cdrom && !d.path)
			return fail(st, "-device ide-hd: drive '%s' has no file", dd->drive);
		int index = dd->index;
		for (int k = 0; index < 0 && k < MAX_IDE_DRIVES; k++)
			if (!st->cfg->ide[k].present)
				index = k;
		if (index < 0)
			return fail(st, "-device %s: no free IDE slot (at most 4 drives)", dev);
		if (st->cfg->ide[index].present)
			return fail(st, "-device %s: IDE bus %d unit %d is already in use", dev,
				    index / 2, index % 2);
		st->cfg->ide[index] = d;
	}
	for (unsigned j = 0; j < st->nnone; j++)
		if (!st->none[j].used)
			warn("-drive id=%s: no device uses this drive; it is ignored", st->none[j].id);
	return 0;
}

static int add_balloon(struct cli_state *st, const char *what)
{
	if (st->cfg->virtio_balloon)
		return fail(st, "%s: only one balloon device is supported", what);
	st->cfg->virtio_balloon = true;
	return 0;
}

/* -device virtio-balloon[-pci][,deflate-on-oom=on|off]
 *   [,guest-stats-polling-interval=S][,id=ID] */
static int device_virtio_balloon(struct cli_state *st, struct kv *kv, int n)
{
	char what[64];
	unsigned long v;

	snprintf(what, sizeof(what), "-device %.32s", kv[0].value);
	if (add_balloon(st, what) < 0)
		return -1;
	for (int i = 1; i < n; i++) {
		if (!strcmp(kv[i].key, "deflate-on-oom")) {
			if (parse_bool(st, what + 1, kv[i].key, kv[i].value,
				       &st->cfg->balloon_deflate_on_oom) < 0)
				return -1;
		} else if (!strcmp(kv[i].key, "guest-stats-polling-interval")) {
			if (parse_uint(st, what + 1, kv[i].value, 86400, &v) < 0)
				return -1;
			st->cfg->balloon_stats_interval = (unsigned)v;
		} else if (strcmp(kv[i].key, "id")) {
			return fail(st, "%s: unknown parameter '%s'", what, kv[i].key);
		}
	}
	return 0;
}

/* QEMU's old form: -balloon none | virtio[,addr=A] (addr is ignored: vmm
 * places its virtio functions itself). */
static int opt_balloon(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[4];
	int n = split_opts(st, name, arg, "driver", kv, 4);

	if (n < 0)
		return -1;
	if (!strcmp(kv[0].value, "none")) {
		st->cfg->virtio_balloon = false;
		return n > 1 ? fail(st, "-balloon none: takes no parameters") : 0;
	}
	if (strcmp(kv[0].key, "driver") || strcmp(kv[0].value, "virtio"))
		return fail(st, "-balloon %s: supported: none, virtio", arg);
	for (int i = 1; i < n; i++)
		if (strcmp(kv[i].key, "addr"))
			return fail(st, "-balloon virtio: unknown parameter '%s'", kv[i].key);
	return add_balloon(st, "-balloon virtio");
}

/* -device virtio-serial-pci[,id=ID]: the bus the ports go on (one). */
static int device_virtio_serial(struct cli_state *st, const char *drv, struct kv *kv, int n)
{
	for (int i = 1; i < n; i++)
		if (strcmp(kv[i].key, "id") && strcmp(kv[i].key, "max_ports"))
			return fail(st, "-device %s: unknown parameter '%s'", drv, kv[i].key);
	if (st->serial_bus_given)
		return fail(st, "-device %s: only one virtio-serial bus is supported", drv);
	st->serial_bus_given = true;
	st->cfg->virtio_serial = true;
	return 0;
}

/* -device virtconsole|virtserialport,chardev=ID[,name=N][,nr=N]. */
static int device_vserial_port(struct cli_state *st, const char *drv, struct kv *kv, int n)
{
	struct machine_config *cfg = st->cfg;
	struct vserial_port_config *p;
	unsigned long v;

	if (cfg->nvport == MAX_VSERIAL_PORTS)
		return fail(st, "-device %s: at most %d virtio-serial ports", drv, MAX_VSERIAL_PORTS);
	p = &cfg->vport[cfg->nvport];
	memset(p, 0, sizeof(*p));
	p->console = !strcmp(drv, "virtconsole");
	p->nr = -1;
	for (int i = 1; i < n; i++) {
		const char *k = kv[i].key, *val = kv[i].value;
		if (!strcmp(k, "chardev")) {
			if (strlen(val) >= sizeof(p->chardev))
				return fail(st, "-device %s: chardev id too long", drv);
			strcpy(p->chardev, val);
		} else if (!strcmp(k, "name")) {
			if (!*val || strlen(val) >= sizeof(p->name))
				return fail(st, "-device %s: name must be 1 to %zu bytes", drv,
					    sizeof(p->name) - 1);
			strcpy(p->name, val);
		} else if (!strcmp(k, "nr")) {
			if (parse_uint(st, "device", val, MAX_VSERIAL_PORTS - 1, &v) < 0)
				return fail(st, "-device %s: nr must be 0 to %d", drv,
					    MAX_VSERIAL_PORTS - 1);
			p->nr = (int)v;
		} else if (strcmp(k, "id") && strcmp(k, "bus")) {
			return fail(st, "-device %s: unknown parameter '%s'", drv, k);
		}
	}
	if (!p->chardev[0])
		return fail(st, "-device %s: chardev= is required", drv);
	if (p->nr == 0 && !p->console)
		return fail(st, "-device %s: port number 0 is reserved for virtconsole", drv);
	cfg->nvport++;
	return 0;
}

/* QEMU gives a machine without any network option one NIC on user-mode
 * networking (-net nic -net user; QEMU's model on pc is an e1000, vmm's
 * only model is virtio-net). -net none, -nic none and -nodefaults keep
 * the machine without it. */
static int add_default_nic(struct cli_state *st)
{
	if (st->net_given || st->no_defaults)
		return 0;
	if (!new_netdev(st, "default NIC", DEFAULT_NETDEV_ID, NETDEV_USER))
		return -1;
	struct nic_config *nic = new_nic(st, "default NIC", DEFAULT_NETDEV_ID);
	if (!nic)
		return -1;
	nic->is_default = true;
	return 0;
}

static int opt_nodefaults(struct cli_state *st, const char *name, const char *arg)
{
	st->no_defaults = true;
	return 0;
}

/* -device isa-debugcon[,iobase=P][,chardev=ID][,readback=V], as QEMU's. */
static int device_isa_debugcon(struct cli_state *st, const struct kv *kv, int n)
{
	const char *opt = "-device isa-debugcon";
	struct debugcon_config *d = new_debugcon(st, opt);
	unsigned long v;

	if (!d)
		return -1;
	for (int i = 1; i < n; i++) {
		if (!strcmp(kv[i].key, "iobase")) {
			if (parse_uint(st, opt + 1, kv[i].value, 0xFFFF, &v) < 0)
				return -1;
			d->iobase = (uint16_t)v;
		} else if (!strcmp(kv[i].key, "readback")) {
			if (parse_uint(st, opt + 1, kv[i].value, 0xFF, &v) < 0)
				return -1;
			d->readback = (uint8_t)v;
		} else if (!strcmp(kv[i].key, "chardev")) {
			size_t len = strlen(kv[i].value);
			if (len >= sizeof(d->chardev) || !len)
				return fail(st, "%s: invalid chardev id '%s'", opt, kv[i].value);
			memcpy(d->chardev, kv[i].value, len + 1);
		} else if (strcmp(kv[i].key, "id")) {
			return fail(st, "%s: unknown parameter '%s'", opt, kv[i].key);
		}
	}
	for (unsigned i = 0; i + 1 < st->cfg->ndebugcon; i++)
		if (st->cfg->debugcon[i].iobase == d->iobase)
			return fail(st, "%s: port %#x already has a debug console", opt, d->iobase);
	return 0;
}

static int opt_device(struct cli_state *st, const char *name, const char *arg)
{
	struct kv kv[8];
	int n = split_opts(st, name, arg, "driver", kv, 8);
	unsigned long v;

	if (n < 0)
		return -1;
	if (!strcmp(kv[0].key, "driver") && !strcmp(kv[0].value, "virtio-net-pci"))
		return device_virtio_net(st, kv, n);
	if (!strcmp(kv[0].key, "driver") && !strcmp(kv[0].value, "virtio-blk-pci"))
		return device_disk(st, DISK_VIRTIO, kv, n);
	if (!strcmp(kv[0].key, "driver") && !strcmp(kv[0].value, "ide-hd"))
		return device_disk(st, DISK_IDE_HD, kv, n);
	if (!strcmp(kv[0].key, "driver") && !strcmp(kv[0].value, "ide-cd"))
		return device_disk(st, DISK_IDE_CD, kv, n);
	if (!strcmp(kv[0].key, "driver") &&
	    (!strcmp(kv[0].value, "virtio-balloon") || !strcmp(kv[0].value, "virtio-balloon-pci")))
		return device_virtio_balloon(st, kv, n);
	if (!strcmp(kv[0].key, "driver") &&
	    (!strcmp(kv[0].value, "virtio-serial-pci") || !strcmp(kv[0].value, "virtio-serial")))
		return device_virtio_serial(st, kv[0].value, kv, n);
	if (!strcmp(kv[0].key, "driver") &&
	    (!strcmp(kv[0].value, "virtconsole") || !strcmp(kv[0].value, "virtserialport")))
		return device_vserial_port(st, kv[0].value, kv, n);
	if (!strcmp(kv[0].key, "driver") && !strcmp(kv[0].value, "virtio-rng-pci")) {
		if (n > 1)
			return fail(st, "-device virtio-rng-pci: unknown parameter '%s'", kv[1].key);
		if (st->cfg->virtio_rng)
			return fail(st, "-device virtio-rng-pci: only one is supported");
		st->cfg->virtio_rng = true;
		return 0;
	}
	if (!strcmp(kv[0].key, "driver") && !strcmp(kv[0].value, "isa-debugcon"))
		return device_isa_debugcon(st, kv, n);
	if (strcmp(kv[0].key, "driver") || strcmp(kv[0].value, "isa-debug-exit"))
		return fail(st, "-device %s: unsupported device (supported: ide-cd, ide-hd, "
			    "isa-debug-exit, isa-debugcon, virtio-balloon, virtio-blk-pci, virtio-net-pci, "
			    "virtio-rng-pci, virtio-serial-pci, virtconsole, virtserialport)",
			    n > 0 ? kv[0].value : arg);
	st->cfg->debug_exit = true;
	st->cfg->debug_exit_base = 0x501;
	st->cfg->debug_exit_size = 2;
	for (int i = 1; i < n; i++) {
		if (!strcmp(kv[i].key, "iobase")) {
			if (parse_uint(st, name, kv[i].value, 0xFFFF, &v) < 0)
				return -1;
			st->cfg->debug_exit_base = (uint16_t)v;
		} else if (!strcmp(kv[i].key, "iosize")) {
			if (parse_uint(st, name, kv[i].value, 4, &v) < 0 || v == 0)
				return fail(st, "-device isa-debug-exit: iosize must be 1 to 4");
			st->cfg->debug_exit_size = (uint16_t)v;
		} else {
			return fail(st, "-device isa-debug-exit: unknown parameter '%s'", kv[i].key);
		}
	}
	if (st->cfg->debug_exit_base + st->cfg->debug_exit_size > 0x10000)
		return fail(st, "-device isa-debug-exit: ports beyond 0xffff");
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

static int opt_accel(struct cli_state *st, const char *name, const char *arg)
{
	if (strcmp(arg, "kvm") && strncmp(arg, "kvm,", 4))
		return fail(st, "-accel %s: only kvm is supported", arg);
	return 0;
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
			if (strcmp(v, "pc") && strncmp(v, "pc-i440fx", 9))
				return fail(st, "-machine %s: unsupported machine (supported: pc)", v);
		} else if (!strcmp(k, "accel")) {
			if (strcmp(v, "kvm"))
				return fail(st, "-machine accel=%s: only kvm is supported", v);
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
	{ "smp", "[cpus=]N[,sockets=S][,cores=C][,threads=T][,maxcpus=M]", opt_smp,
	  "vCPUs and their topology (a bare N is one socket of N cores, as QEMU)" },
	{ "cpu", "MODEL[,+FEATURE|-FEATURE|FEATURE=on|off]...", opt_cpu,
	  "CPU model: host (default), max, qemu64, kvm64; -cpu help lists features" },
	{ "hda", "FILE", opt_hd, "IDE primary master disk image" },
	{ "hdb", "FILE", opt_hd, "IDE primary slave disk image" },
	{ "hdc", "FILE", opt_hd, "IDE secondary master disk image" },
	{ "hdd", "FILE", opt_hd, "IDE secondary slave disk image" },
	{ "cdrom", "FILE", opt_cdrom, "CD-ROM image (IDE secondary master)" },
	{ "snapshot", NULL, opt_snapshot, "write to temporary overlays; disk images stay unchanged" },
	{ "drive", "file=F[,if=ide|virtio|none][,media=disk|cdrom][,index=I][,format=raw|qcow2]"
	  "[,readonly=on][,snapshot=on][,cache=MODE]",
	  opt_drive, "IDE drive, or a virtio-blk disk (if=virtio) on the PCI bus" },
	{ "boot", "[order=]DRIVES[,menu=on|off]", opt_boot,
	  "boot order: c disk, d CD-ROM, n network (default cad)" },
	{ "kernel", "FILE", opt_kernel, "boot a Linux bzImage or Multiboot kernel directly" },
	{ "initrd", "FILE", opt_initrd,
	  "initial ramdisk (Multiboot: modules, \"FILE args,FILE args\")" },
	{ "append", "CMDLINE", opt_append, "kernel command line" },
	{ "bios", "FILE", opt_bios, "firmware image (default bios-256k.bin from SeaBIOS)" },
	{ "L", "DIR", opt_firmware_dir, "directory searched first for firmware" },
	{ "serial", "DEV", opt_serial,
	  "COM1 backend: stdio, file:PATH, pty, null, chardev:ID, unix:PATH,server,nowait, "
	  "tcp:[HOST]:PORT[,server,nowait]" },
	{ "chardev", "BACKEND,id=ID[,...]", opt_chardev,
	  "character device: null, stdio[,signal=on|off], file,path=P[,input-path=P], pty, "
	  "socket,path=P|host=H,port=N[,server=on|off][,wait=on|off]" },
	{ "nographic", NULL, opt_nographic, "no display; COM1 on stdio, Ctrl-A x quits" },
	{ "display", "none", opt_display, "display backend (none)" },
	{ "no-reboot", NULL, opt_no_reboot, "exit instead of rebooting" },
	{ "name", "NAME", opt_name, "name of the guest" },
	{ "debugcon", "DEV", opt_debugcon,
	  "debug console at port 0xe9 (QEMU's isa-debugcon; DEV as for -serial); SeaBIOS's log "
	  "is port 0x402: -device isa-debugcon,iobase=0x402,chardev=ID" },
	{ "netdev", "user,id=ID[,hostfwd=tcp::HOSTPORT-:GUESTPORT]...[,restrict=on|off]"
	  "[,host-loopback=on|off][,net=ADDR/LEN][,host=A][,dns=A][,dhcpstart=A][,hostname=N]"
	  "[,domainname=D][,dnssearch=D][,ipv4=on|off][,ipv6=on|off][,ipv6-net=ADDR/LEN]"
	  "[,ipv6-host=A][,ipv6-dns=A] | "
	  "tap,id=ID[,ifname=NAME][,script=PATH|no][,downscript=PATH|no][,fd=N][,vnet_hdr=on|off]",
	  opt_netdev,
	  "network backend: user mode (slirp: NAT, DHCP 10.0.2.15, DNS 10.0.2.3; by default the "
	  "guest reaches the host's 127.0.0.1 as 10.0.2.2, restrict=on isolates it) or a tap "
	  "interface (scripts default to /etc/qemu-ifup, /etc/qemu-ifdown)" },
	{ "nic", "user|tap|none[,model=virtio][,mac=M][,backend options]", opt_nic,
	  "a virtio-net NIC and its backend in one option (none: no NIC; without any network "
	  "option there is one virtio-net NIC on user networking)" },
	{ "nodefaults", NULL, opt_nodefaults, "no default devices (the default NIC)" },
	{ "net", "nic,model=virtio[,macaddr=M] | user[,...] | tap[,...] | none", opt_net,
	  "old form of -nic: -net nic,model=virtio -net user|tap" },
	{ "device",
	  "isa-debug-exit[,iobase=P][,iosize=N] | isa-debugcon[,iobase=P][,chardev=ID] | "
	  "virtio-rng-pci | virtio-net-pci,netdev=ID[,mac=M]"
	  " | virtio-balloon[-pci][,deflate-on-oom=on|off][,guest-stats-polling-interval=S]",
	  opt_device,
	  "add a device: isa-debug-exit (a write of V exits with status (V<<1)|1), "
	  "isa-debugcon (bytes written to port P, default 0xe9, go to chardev ID), "
	  "virtio-rng-pci (host getrandom), virtio-net-pci (NIC on a -netdev), "
	  "virtio-balloon (memory balloon: QMP balloon / query-balloon), "
	  "virtio-serial-pci, virtconsole|virtserialport,chardev=ID[,name=N][,nr=N], "
	  "virtio-blk-pci|ide-hd|ide-cd,drive=ID (a -drive if=none,id=ID)" },
	{ "balloon", "none|virtio", opt_balloon, "old form of -device virtio-balloon" },
	{ "qmp", "unix:PATH|tcp:HOST:PORT,server=on,wait=off", opt_qmp,
	  "QMP control socket (several allowed; also 'stdio')" },
	{ "monitor", "stdio|unix:PATH,server=on,wait=off", opt_monitor,
	  "human monitor: info status|cpus|version, stop, cont, quit, ..." },
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
	{ "machine", "[type=]pc[,accel=kvm]", opt_machine, "machine type (pc only)" },
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
	printf("\nDuring emulation with the console on a terminal:\n"
	       "  Ctrl-A x  exit      Ctrl-A h  help      Ctrl-A Ctrl-A  send Ctrl-A\n");
	return 1;
}

static int opt_version(struct cli_state *st, const char *name, const char *arg)
{
	printf("vmm version " VMM_VERSION "\n");
	return 1;
}

/* The first free virtio-serial port number: 0 is kept for a console. */
static int free_port_nr(const struct machine_config *cfg, bool console)
{
	for (int nr = console ? 0 : 1; nr < MAX_VSERIAL_PORTS; nr++) {
		bool used = false;
		for (unsigned i = 0; i < cfg->nvport; i++)
			used |= cfg->vport[i].nr == nr;
		if (!used)
			return nr;
	}
	return -1;
}

/* Every chardev a device names exists and has one user; port numbers. */
static int check_chardevs(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;
	const char *user[CHARDEV_MAX] = { 0 };

	if (cfg->serial.kind == CHARDEV_REF) {
		const struct chardev_config *c = find_chardev(cfg, cfg->serial.id);
		if (!c)
			return fail(st, "-serial chardev:%s: no -chardev with id '%s'", cfg->serial.id,
				    cfg->serial.id);
		user[c - cfg->chardevs] = "-serial";
	}
	for (unsigned i = 0; i < cfg->ndebugcon; i++) {
		const char *id = cfg->debugcon[i].chardev;
		const struct chardev_config *c = id[0] ? find_chardev(cfg, id) : NULL;
		if (!id[0])
			continue;
		if (!c)
			return fail(st, "-device isa-debugcon: no -chardev with id '%s'", id);
		if (user[c - cfg->chardevs])
			return fail(st, "-device isa-debugcon: chardev '%s' is already used by %s", id,
				    user[c - cfg->chardevs]);
		user[c - cfg->chardevs] = "isa-debugcon";
	}
	for (unsigned i = 0; i < cfg->nvport; i++) {
		struct vserial_port_config *p = &cfg->vport[i];
		const char *drv = p->console ? "virtconsole" : "virtserialport";
		const struct chardev_config *c = find_chardev(cfg, p->chardev);
		if (!c)
			return fail(st, "-device %s: no -chardev with id '%s'", drv, p->chardev);
		if (user[c - cfg->chardevs])
			return fail(st, "-device %s: chardev '%s' is already used by %s", drv,
				    p->chardev, user[c - cfg->chardevs]);
		user[c - cfg->chardevs] = drv;
		for (unsigned j = 0; j < i; j++)
			if (p->nr >= 0 && cfg->vport[j].nr == p->nr)
				return fail(st, "-device %s: port number %d is already in use", drv,
					    p->nr);
	}
	for (unsigned i = 0; i < cfg->nvport; i++) {
		struct vserial_port_config *p = &cfg->vport[i];
		if (p->nr < 0) {
			p->nr = free_port_nr(cfg, p->console);
			if (p->nr < 0)
				return fail(st, "-device %s: no free virtio-serial port number",
					    p->console ? "virtconsole" : "virtserialport");
		}
	}
	/* QEMU wants the bus first; vmm creates it for ports given without one. */
	if (cfg->nvport)
		cfg->virtio_serial = true;
	return 0;
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

/* Only one user of the terminal: COM1 (-nographic, -serial stdio), a
 * monitor or QMP on stdio, and none at all with -daemonize. */
static int check_stdio(struct cli_state *st)
{
	struct machine_config *cfg = st->cfg;
	unsigned stdio_chans = cfg->monitor.kind == CHAN_STDIO;
	bool implicit_serial = cfg->serial.kind == CHARDEV_NONE;

	for (unsigned i = 0; i < cfg->nqmp; i++)
		stdio_chans += cfg->qmp[i].kind == CHAN_STDIO;
	if (stdio_chans > 1)
		return fail(st, "stdio is used by more than one -qmp/-monitor");
	if (stdio_chardevs(cfg) > 1 || (stdio_chardevs(cfg) && stdio_chans))
		return fail(st, "stdio is used by more than one -chardev/-debugcon/-qmp/-monitor");
	if (stdio_chardevs(cfg) && cfg->serial.kind == CHARDEV_STDIO)
		return fail(st, "%s stdio: stdio is already the serial console (-serial stdio)",
			    stdio_chardev_opt(cfg));
	if (stdio_chardevs(cfg) && cfg->daemonize)
		return fail(st, "-daemonize: stdio cannot be used by a chardev of a daemon "
			    "(-chardev stdio)");
	/* A -chardev on stdio owns the terminal, as a monitor there does
	 * (unless it is COM1's own, through -serial chardev:ID). */
	const struct chardev_config *ref =
		cfg->serial.kind == CHARDEV_REF ? find_chardev(cfg, cfg->serial.id) : NULL;
	unsigned stdio_cds = stdio_chardevs(cfg) - (ref && ref->kind == CHARDEV_STDIO);
	stdio_chans += stdio_cds;
	/* With no display built in, COM1 is the console unless told otherwise,
	 * or unless stdio belongs to a monitor or vmm detaches from it. */
	if (implicit_serial)
		cfg->serial.kind = (st->display_none && !cfg->nographic) || stdio_chans ||
					   cfg->daemonize ? CHARDEV_NULL : CHARDEV_STDIO;
	if (cfg->nographic && cfg->serial.kind == CHARDEV_NULL && !st->serial_given &&
	    !stdio_chans && !cfg->daemonize)
		cfg->serial.kind = CHARDEV_STDIO;
	if (stdio_chans && (cfg->nographic || cfg->serial.kind == CHARDEV_STDIO))
		return fail(st, "%s stdio: stdio is already the serial console (%s); use -serial "
			    "null or a socket", stdio_cds ? stdio_chardev_opt(cfg) :
			    cfg->monitor.kind == CHAN_STDIO ? "-monitor" : "-qmp",
			    cfg->nographic ? "-nographic" : "-serial stdio");
	if (!cfg->daemonize)
		return 0;
	if (cfg->nographic)
		return fail(st, "-nographic cannot be used with -daemonize");
	if (cfg->serial.kind == CHARDEV_STDIO || chan_on_stdio(cfg))
		return fail(st, "-daemonize: stdio cannot be used by a chardev of a daemon "
			    "(-serial, -debugcon, -monitor or -qmp stdio)");
	return 0;
}

enum cli_result cli_parse(int argc, char **argv, struct machine_config *cfg, char *err,
			  size_t errlen)
{
	struct cli_state st = { .cfg = cfg, .err = err, .errlen = errlen };

	memset(cfg, 0, sizeof(*cfg));
	cfg->ram_size = DEFAULT_RAM;
	snprintf(cfg->cpu.name, sizeof(cfg->cpu.name), "host");
	cfg->smp = (struct cpu_topology){ .cpus = 1, .sockets = 1, .cores = 1, .threads = 1,
					  .maxcpus = 1 };
	cfg->sandbox.enabled = true;
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
	if (attach_disk_devices(&st) < 0 || add_default_nic(&st) < 0)
		return CLI_ERROR;
	for (unsigned i = 0; i < cfg->nnic; i++) {
		if (!find_netdev(cfg, cfg->nic[i].netdev)) {
			if (!strcmp(cfg->nic[i].netdev, NET_HUB_ID))
				snprintf(err, errlen, "-net nic: no -net user or -net tap to connect it to");
			else
				snprintf(err, errlen, "-device virtio-net-pci: no -netdev with id '%s'",
					 cfg->nic[i].netdev);
			return CLI_ERROR;
		}
		for (unsigned j = 0; j < i; j++) {
			if (!strcmp(cfg->nic[j].netdev, cfg->nic[i].netdev)) {
				snprintf(err, errlen, "netdev '%s' is used by two NICs",
					 cfg->nic[i].netdev);
				return CLI_ERROR;
			}
		}
	}
	if (check_chardevs(&st) < 0)
		return CLI_ERROR;
	for (unsigned i = 0; i < cfg->nnetdev; i++)
		if (cfg->netdev[i].kind == NETDEV_USER)
			cfg->sandbox.slirp = true;
	if (!cfg->kernel_path && cfg->initrd_path) {
		snprintf(err, errlen, "-initrd only allowed with -kernel option");
		return CLI_ERROR;
	}
	if (!cfg->kernel_path && cfg->append) {
		snprintf(err, errlen, "-append only allowed with -kernel option");
		return CLI_ERROR;
	}
	return check_stdio(&st) < 0 ? CLI_ERROR : CLI_RUN;
}
