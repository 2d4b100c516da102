// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The machine's block devices as the control interfaces see them: the list
 * behind query-block, query-blockstats and info block, and the removable
 * media of the IDE CD drives and the floppy drives (eject,
 * blockdev-change-medium, the tray commands). The drive itself (hw/storage/atapi.c) tells the guest; this
 * file finds the drive by QEMU's names, opens and closes the images and
 * sends DEVICE_TRAY_MOVED.
 *
 * Every call runs in the main thread (QMP, the monitor). The IDE
 * controller keeps the images of its slots (machine_ide_image) and closes
 * them at the end; a disc swapped out is closed here once the drive, under
 * its channel lock, no longer points at it.
 */
#include "pc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "block.h"
#include "control.h"
#include "hw/fdc.h"
#include "hw/ide.h"
#include "util.h"

extern const struct dev_class ide_hd_class, ide_cd_class, virtio_blk_class, isa_fdc_class;

/* One block device: an IDE slot, a floppy drive or a virtio-blk's drive. */
struct blk_ref {
	const struct dev_instance *dev;
	unsigned dev_index;
	const char *name;       /* QEMU's drive name */
	int ide;                /* IDE slot (channel * 2 + unit), -1: not IDE */
	int floppy;             /* floppy drive (0: A:, 1: B:), -1: not a floppy */
	struct block_dev *bd;   /* the medium, NULL: none */
};

static const char *const floppy_names[FDC_DRIVES] = { "floppy0", "floppy1" };

/* QEMU's qdev: the id= of the device, else its QOM path. */
static void qdev_name(const struct blk_ref *r, char *out, size_t len)
{
	if (r->dev->id)
		snprintf(out, len, "%s", r->dev->id);
	else if (r->ide >= 0 || r->floppy >= 0)
		snprintf(out, len, "/machine/unattached/device[%u]", r->dev_index);
	else
		snprintf(out, len, "/machine/peripheral-anon/device[%u]/virtio-backend",
			 r->dev_index);
}

static bool is_cdrom(const struct blk_ref *r)
{
	return r->ide >= 0 && r->dev->cls == &ide_cd_class;
}

/* The floppy drives of the board's controller, as block devices. */
static unsigned floppy_count(const struct dev_instance *d)
{
	unsigned n = 0;
	for (unsigned u = 0; u < FDC_DRIVES; u++)
		n += d->state && fdc_drive_type(d->state, u) != 0;
	return n;
}

static void floppy_ref(const struct dev_instance *d, unsigned k, unsigned nth,
		       struct blk_ref *r)
{
	unsigned unit = 0;
	for (unsigned u = 0, seen = 0; u < FDC_DRIVES; u++)
		if (fdc_drive_type(d->state, u) && seen++ == nth)
			unit = u;
	*r = (struct blk_ref){ .dev = d, .dev_index = k, .ide = -1, .floppy = (int)unit,
			       .name = floppy_names[unit], .bd = fdc_medium(d->state, unit) };
}

/* The i-th block device in device order (QEMU lists them as created);
 * false past the last. */
static bool blk_at(struct machine *m, unsigned i, struct blk_ref *r)
{
	unsigned n = 0;

	for (unsigned k = 0; k < m->cfg.ndevs; k++) {
		const struct dev_instance *d = &m->cfg.devs[k];
		int ide = -1;

		if (d->cls == &isa_fdc_class) {
			unsigned nf = floppy_count(d);
			if (i < n + nf) {
				floppy_ref(d, k, i - n, r);
				return true;
			}
			n += nf;
			continue;
		}
		if (d->cls == &ide_hd_class || d->cls == &ide_cd_class) {
			const char *drive = dev_get_str(d, "drive");
			for (unsigned s = 0; s < MAX_IDE_DRIVES; s++)
				if (m->cfg.ide[s].present && m->cfg.ide[s].name && drive &&
				    !strcmp(m->cfg.ide[s].name, drive))
					ide = (int)s;
			if (ide < 0)
				continue;
		} else if (d->cls != &virtio_blk_class) {
			continue;
		}
		if (n++ != i)
			continue;
		*r = (struct blk_ref){ .dev = d, .dev_index = k, .ide = ide, .floppy = -1 };
		if (ide >= 0) {
			struct block_dev **img = machine_ide_image(m, (unsigned)ide);
			r->name = m->cfg.ide[ide].name;
			r->bd = img ? *img : NULL;
			return true;
		}
		/* -drive if=virtio's own id "__virtioN" is QEMU's virtioN */
		const char *drive = dev_get_str(d, "drive");
		r->name = drive && !strncmp(drive, "__", 2) ? drive + 2 : drive;
		for (unsigned j = 0; j < m->ndisks; j++)
			if (r->name && !strcmp(m->disks[j].name, r->name))
				r->bd = m->disks[j].bd;
		return true;
	}
	return false;
}

/* What the discs taken out of each IDE slot had counted: a drive's
 * figures go on across media, as QEMU's (its counters belong to the
 * device, vmm's block layer counts per image). Main thread only. */
static struct block_stats_snapshot carried[MAX_IDE_DRIVES];
static int64_t carried_last_ns[MAX_IDE_DRIVES]; /* CLOCK_MONOTONIC of the last access, 0: none */

static int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void add_stats(struct block_stats_snapshot *to, const struct block_stats_snapshot *s)
{
	to->rd_bytes += s->rd_bytes;
	to->wr_bytes += s->wr_bytes;
	to->rd_operations += s->rd_operations;
	to->wr_operations += s->wr_operations;
	to->flush_operations += s->flush_operations;
	to->failed_rd_operations += s->failed_rd_operations;
	to->failed_wr_operations += s->failed_wr_operations;
	to->failed_flush_operations += s->failed_flush_operations;
	to->rd_total_time_ns += s->rd_total_time_ns;
	to->wr_total_time_ns += s->wr_total_time_ns;
	to->flush_total_time_ns += s->flush_total_time_ns;
	to->wr_highest_offset = MAX(to->wr_highest_offset, s->wr_highest_offset);
	if (s->idle_time_ns >= 0 && (to->idle_time_ns < 0 || s->idle_time_ns < to->idle_time_ns))
		to->idle_time_ns = s->idle_time_ns;
}

static void fill_stats(const struct blk_ref *r, struct vmctl_block_stats *o)
{
	struct block_stats_snapshot s = { .idle_time_ns = -1 };

	if (r->ide >= 0) {
		s = carried[r->ide];
		s.idle_time_ns = carried_last_ns[r->ide] ? monotonic_ns() - carried_last_ns[r->ide] : -1;
	}
	if (r->bd) {
		struct block_stats_snapshot now;
		block_stats_get(r->bd, &now);
		add_stats(&s, &now);
	}
	*o = (struct vmctl_block_stats){
		.rd_bytes = s.rd_bytes, .wr_bytes = s.wr_bytes,
		.rd_operations = s.rd_operations, .wr_operations = s.wr_operations,
		.flush_operations = s.flush_operations,
		.failed_rd_operations = s.failed_rd_operations,
		.failed_wr_operations = s.failed_wr_operations,
		.failed_flush_operations = s.failed_flush_operations,
		.rd_total_time_ns = s.rd_total_time_ns, .wr_total_time_ns = s.wr_total_time_ns,
		.flush_total_time_ns = s.flush_total_time_ns,
		.wr_highest_offset = s.wr_highest_offset, .idle_time_ns = s.idle_time_ns,
	};
}

static void fill_medium(struct block_dev *bd, struct vmctl_block *o)
{
	struct stat st;

	o->inserted = true;
	o->file = bd->path ? bd->path : "";
	o->format = bd->format;
	o->ro = bd->read_only;
	o->virtual_size = bd->size;
	o->actual_size = bd->path && stat(bd->path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
	for (struct block_dev *b = block_backing(bd); b && o->backing_depth < BLOCK_MAX_CHAIN;
	     b = block_backing(b)) {
		if (!o->backing_file)
			o->backing_file = b->path;
		o->backing_depth++;
	}
	o->cache_direct = bd->cache == BLOCK_CACHE_NONE || bd->cache == BLOCK_CACHE_DIRECTSYNC;
	o->cache_no_flush = bd->cache == BLOCK_CACHE_UNSAFE;
	o->cache_writeback = bd->cache != BLOCK_CACHE_WRITETHROUGH &&
			     bd->cache != BLOCK_CACHE_DIRECTSYNC;
}

unsigned machine_blocks(void *opaque, struct vmctl_block *out, unsigned max)
{
	struct machine *m = opaque;
	struct blk_ref r;
	unsigned n = 0;

	for (; n < max && blk_at(m, n, &r); n++) {
		struct vmctl_block *o = &out[n];
		memset(o, 0, sizeof(*o));
		snprintf(o->device, sizeof(o->device), "%s", r.name ? r.name : "");
		qdev_name(&r, o->qdev, sizeof(o->qdev));
		o->node = 100 + n;
		o->stats.idle_time_ns = -1;
		if (r.floppy >= 0)
			o->removable = true; /* a drive without a tray to open or lock */
		if (is_cdrom(&r)) {
			struct ide_cdrom_state cs;
			o->removable = true;
			if (ide_cdrom_get_state(m->ide, (unsigned)r.ide / 2, (unsigned)r.ide % 2,
						&cs) == 0) {
				o->locked = cs.locked;
				o->tray_open = cs.tray_open;
			}
		}
		if (r.bd)
			fill_medium(r.bd, o);
		fill_stats(&r, &o->stats);
	}
	return n;
}

/* The device named by exactly one of 'device' and 'id' (QEMU's rules and
 * words): 0, or -ENODEV / -1 with err set. */
static int find_blk(struct machine *m, const char *device, const char *id, struct blk_ref *r,
		    char *err, size_t errlen)
{
	char qdev[96];

	if (!device == !id) {
		set_err(err, errlen, "Need exactly one of 'device' and 'id'");
		return -1;
	}
	for (unsigned i = 0; blk_at(m, i, r); i++) {
		qdev_name(r, qdev, sizeof(qdev));
		if (device ? r->name && !strcmp(r->name, device) : !strcmp(qdev, id))
			return 0;
	}
	set_err(err, errlen, "Device '%s' not found", device ? device : id);
	return -ENODEV;
}

static void tray_moved(struct machine *m, const struct blk_ref *r, bool open)
{
	char qdev[96], data[320];

	qdev_name(r, qdev, sizeof(qdev));
	snprintf(data, sizeof(data), "{\"device\": \"%s\", \"tray-open\": %s, \"id\": \"%s\"}",
		 r->name, open ? "true" : "false", qdev);
	control_event(m->control, "DEVICE_TRAY_MOVED", data);
}

static int open_tray(struct machine *m, const struct blk_ref *r, const char *what, bool force,
		     char *err, size_t errlen)
{
	int ret = ide_cdrom_open_tray(m->ide, (unsigned)r->ide / 2, (unsigned)r->ide % 2, force);

	if (ret == -EBUSY) {
		set_err(err, errlen, "Device '%s' is locked and force was not specified, wait for "
			"tray to open and try again", what);
		return -1;
	}
	if (ret == 1)
		tray_moved(m, r, true);
	return ret < 0 ? -1 : 0;
}

/* Takes the disc out of the open tray and closes its image. */
static int remove_medium(struct machine *m, const struct blk_ref *r, const char *what, char *err,
			 size_t errlen)
{
	struct block_dev *old = NULL;
	struct block_dev **img = machine_ide_image(m, (unsigned)r->ide);

	if (ide_cdrom_set_medium(m->ide, (unsigned)r->ide / 2, (unsigned)r->ide % 2, NULL, &old) < 0) {
		set_err(err, errlen, "Tray of device '%s' is not open", what);
		return -1;
	}
	if (img && *img == old)
		*img = NULL;
	if (old) {
		struct block_stats_snapshot s;
		block_stats_get(old, &s);
		add_stats(&carried[r->ide], &s);
		if (s.idle_time_ns >= 0)
			carried_last_ns[r->ide] = monotonic_ns() - s.idle_time_ns;
	}
	block_close(old);
	return 0;
}

static void close_tray(struct machine *m, const struct blk_ref *r)
{
	if (ide_cdrom_close_tray(m->ide, (unsigned)r->ide / 2, (unsigned)r->ide % 2) == 1)
		tray_moved(m, r, false);
}

/* The main loop's half of a guest's tray move: one DEVICE_TRAY_MOVED per
 * slot noted, with the tray as it is now (moves in between merge). */
static void guest_tray_event(void *opaque)
{
	struct machine *m = opaque;
	unsigned slots = atomic_exchange(&m->tray_moved, 0u);
	struct blk_ref r;

	for (unsigned i = 0; blk_at(m, i, &r); i++) {
		struct ide_cdrom_state cs;
		if (r.ide < 0 || !(slots & (1u << r.ide)) ||
		    ide_cdrom_get_state(m->ide, (unsigned)r.ide / 2, (unsigned)r.ide % 2, &cs) < 0)
			continue;
		tray_moved(m, &r, cs.tray_open);
	}
}

/* From a vCPU thread, the channel lock held: only note it. */
void machine_guest_tray_moved(void *opaque, unsigned channel, unsigned unit)
{
	struct machine *m = opaque;
	unsigned bit = 1u << (channel * 2 + unit);

	if (!atomic_fetch_or(&m->tray_moved, bit) && m->loop)
		event_post(m->loop, guest_tray_event, m);
}

/* savevm's view of a floppy drive's disk follows the medium. */
static void floppy_disk_changed(struct machine *m, const char *name, struct block_dev *bd)
{
	for (unsigned i = 0; i < m->ndisks; i++) {
		if (strcmp(m->disks[i].name, name))
			continue;
		if (bd) {
			m->disks[i].bd = bd;
		} else {
			memmove(&m->disks[i], &m->disks[i + 1],
				(m->ndisks - i - 1) * sizeof(m->disks[0]));
			m->ndisks--;
		}
		return;
	}
	if (bd && m->ndisks < ARRAY_SIZE(m->disks)) {
		snprintf(m->disks[m->ndisks].name, sizeof(m->disks[0].name), "%s", name);
		m->disks[m->ndisks++].bd = bd;
	}
}

/* A floppy drive has no tray: eject takes the disk out (the guest sees
 * the disk change line), opening and closing do nothing. */
static int floppy_tray(struct machine *m, const struct blk_ref *r, enum vmctl_tray_op op,
		       char *err, size_t errlen)
{
	if (op != VMCTL_EJECT && op != VMCTL_MEDIUM_REMOVE)
		return 0;
	floppy_disk_changed(m, r->name, NULL);
	return fdc_change_medium(r->dev->state, (unsigned)r->floppy, NULL, err, errlen);
}

/* change / blockdev-change-medium on a floppy drive: the new image must
 * have a floppy's size, else nothing changes. */
static int floppy_change(struct machine *m, const struct blk_ref *r, const char *filename,
			 const char *format, const char *ro_mode, char *err, size_t errlen)
{
	char why[256];
	bool ro = r->bd && r->bd->read_only;

	if (ro_mode && !strcmp(ro_mode, "read-only"))
		ro = true;
	else if (ro_mode && !strcmp(ro_mode, "read-write"))
		ro = false;
	struct block_dev *bd = block_open(filename, format, ro, NULL, why, sizeof(why));
	if (!bd)
		return set_err(err, errlen, "Could not open '%s': %s", filename, why);
	floppy_disk_changed(m, r->name, NULL); /* the old image is closed by the change */
	if (fdc_change_medium(r->dev->state, (unsigned)r->floppy, bd, why, sizeof(why)) < 0) {
		if (r->bd)
			floppy_disk_changed(m, r->name, r->bd);
		block_close(bd);
		return set_err(err, errlen, "%s: %s", filename, why);
	}
	floppy_disk_changed(m, r->name, bd);
	return 0;
}

int machine_block_tray(void *opaque, const char *device, const char *id, enum vmctl_tray_op op,
		       bool force, char *err, size_t errlen)
{
	struct machine *m = opaque;
	struct blk_ref r;
	const char *what = device ? device : id;
	int ret = find_blk(m, device, id, &r, err, errlen);

	if (ret)
		return ret;
	if (r.floppy >= 0)
		return floppy_tray(m, &r, op, err, errlen);
	if (!is_cdrom(&r) || !m->ide) {
		set_err(err, errlen, "Device '%s' is not removable", what);
		return -1;
	}
	switch (op) {
	case VMCTL_TRAY_OPEN:
		return open_tray(m, &r, what, force, err, errlen);
	case VMCTL_TRAY_CLOSE:
		close_tray(m, &r);
		return 0;
	case VMCTL_MEDIUM_REMOVE:
		return remove_medium(m, &r, what, err, errlen);
	case VMCTL_EJECT:
		if (open_tray(m, &r, what, force, err, errlen) < 0)
			return -1;
		return remove_medium(m, &r, what, err, errlen);
	}
	return -1;
}

/* blockdev-change-medium: the new image first (a bad file changes
 * nothing), then the tray opens, the discs swap and it closes again. A CD
 * is read-only whatever read-only-mode asks. */
int machine_block_change_medium(void *opaque, const char *device, const char *id,
				const char *filename, const char *format, const char *ro_mode,
				bool force, char *err, size_t errlen)
{
	struct machine *m = opaque;
	struct blk_ref r;
	const char *what = device ? device : id;
	char why[256];
	int ret = find_blk(m, device, id, &r, err, errlen);

	if (ret)
		return ret;
	if (ro_mode && strcmp(ro_mode, "retain") && strcmp(ro_mode, "read-only") &&
	    strcmp(ro_mode, "read-write")) {
		set_err(err, errlen, "Parameter 'read-only-mode' does not accept value '%s'", ro_mode);
		return -1;
	}
	if (format && strcmp(format, "raw") && !block_format_find(format)) {
		set_err(err, errlen, "Unknown driver '%s'", format);
		return -1;
	}
	if (r.floppy >= 0)
		return floppy_change(m, &r, filename, format, ro_mode, err, errlen);
	if (!is_cdrom(&r) || !m->ide) {
		set_err(err, errlen, "Device '%s' is not removable", what);
		return -1;
	}
	struct block_dev *bd = block_open(filename, format, true, NULL, why, sizeof(why));
	if (!bd) {
		set_err(err, errlen, "Could not open '%s': %s", filename, why);
		return -1;
	}
	if (open_tray(m, &r, what, force, err, errlen) < 0 ||
	    remove_medium(m, &r, what, err, errlen) < 0) {
		block_close(bd);
		return -1;
	}
	struct block_dev **img = machine_ide_image(m, (unsigned)r.ide);
	if (!img || ide_cdrom_set_medium(m->ide, (unsigned)r.ide / 2, (unsigned)r.ide % 2, bd,
					 NULL) < 0) {
		block_close(bd);
		set_err(err, errlen, "Tray of device '%s' is not open", what);
		return -1;
	}
	*img = bd;
	close_tray(m, &r);
	return 0;
}
