// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VM snapshots (docs/architecture.md, "VM snapshots"): savevm, loadvm,
 * delvm and info snapshots on the monitor, QMP's snapshot-save,
 * snapshot-load and snapshot-delete jobs, and -loadvm.
 *
 * The machine's state is the migration stream (include/migstream.h: all
 * guest RAM, every device's and KVM's saved state), written into the
 * VM state area of one qcow2 disk (include/qcow2.h) while the machine is
 * stopped; then every writable disk takes an internal snapshot of that
 * name, the one holding the state with its size, so qemu-img and vmm-img
 * list it with its VM SIZE. loadvm goes back: every disk to its snapshot,
 * then the stream (checked as a migration destination checks it) into the
 * machine. Read-only disks take no part (QEMU's rule); a writable disk
 * that is not qcow2 makes every command refuse.
 */
#include "pc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "migstream.h"
#include "qcow2.h"
#include "savestate.h"
#include "util.h"

/* The disks a command covers: 'req's list, or every writable disk; all
 * must be writable qcow2 images. *vm: the one for the VM state. */
struct snap_disks {
	struct machine_disk *d[ARRAY_SIZE(((struct machine *)0)->disks)];
	unsigned n;
	struct machine_disk *vm;
};

static struct machine_disk *disk_by_name(struct machine *m, const char *name)
{
	for (unsigned i = 0; i < m->ndisks; i++)
		if (!strcmp(m->disks[i].name, name))
			return &m->disks[i];
	return NULL;
}

static int disk_usable(const struct machine_disk *k, char *err, size_t errlen)
{
	if (!block_is_qcow2(k->bd))
		return set_err(err, errlen, "Device '%s' is writable but does not support snapshots",
			       k->name);
	return 0;
}

static int pick_disks(struct machine *m, const struct vmctl_snapshot_req *req,
		      struct snap_disks *sd, char *err, size_t errlen)
{
	memset(sd, 0, sizeof(*sd));
	if (req->devices) {
		for (unsigned i = 0; i < req->ndevices; i++) {
			struct machine_disk *k = disk_by_name(m, req->devices[i]);
			if (!k)
				return set_err(err, errlen, "No block device '%s'", req->devices[i]);
			if (k->bd->read_only)
				return set_err(err, errlen, "Device '%s' is read-only: a snapshot needs "
					       "a writable disk", k->name);
			if (disk_usable(k, err, errlen) < 0)
				return -1;
			for (unsigned j = 0; j < sd->n; j++)
				if (sd->d[j] == k)
					return set_err(err, errlen, "Device '%s' is listed twice",
						       k->name);
			sd->d[sd->n++] = k;
		}
	} else {
		for (unsigned i = 0; i < m->ndisks; i++) {
			struct machine_disk *k = &m->disks[i];
			if (k->bd->read_only)
				continue;
			if (disk_usable(k, err, errlen) < 0)
				return -1;
			sd->d[sd->n++] = k;
		}
	}
	if (!sd->n)
		return set_err(err, errlen, "No block device can accept snapshots");
	if (!req->vmstate) {
		sd->vm = sd->d[0];
		return 0;
	}
	for (unsigned i = 0; i < sd->n; i++)
		if (!strcmp(sd->d[i]->name, req->vmstate))
			sd->vm = sd->d[i];
	if (!sd->vm)
		return set_err(err, errlen, "Device '%s' for the VM state is not among the snapshot's "
			       "devices", req->vmstate);
	return 0;
}

/* The snapshot called 'tag' (by ID or name, as qcow2 finds it) of a disk:
 * true and its facts in *out. */
static bool disk_snapshot(struct machine_disk *k, const char *tag,
			  struct qcow2_snapshot_info *out)
{
	struct qcow2_snapshot_info *v;
	int n = qcow2_snapshot_list(k->bd, &v);
	bool found = false;

	for (int pass = 0; pass < 2 && !found; pass++)
		for (int i = 0; i < n && !found; i++)
			if (!strcmp(pass ? v[i].name : v[i].id, tag)) {
				*out = v[i];
				found = true;
			}
	free(v);
	return found;
}

static const char *errno_text(int ret)
{
	return ret == -EFBIG ? "the VM state is too large for the image" : strerror(-ret);
}

/* ---- the stream into and out of the VM state area ----------------------- */

#define VMSTATE_BUF (1u << 20) /* the area is written in whole MiBs */

struct vmstate_out {
	struct block_dev *bd;
	uint64_t pos;   /* bytes written to the image */
	uint8_t *buf;
	size_t len;
	int ret;
};

static int vmstate_flush(struct vmstate_out *o)
{
	if (o->len && !o->ret) {
		o->ret = qcow2_vmstate_write(o->bd, o->buf, o->len, o->pos);
		o->pos += o->len;
	}
	o->len = 0;
	return o->ret ? -1 : 0;
}

static int vmstate_write(void *opaque, const void *buf, size_t len)
{
	struct vmstate_out *o = opaque;
	const uint8_t *p = buf;

	while (len) {
		size_t n = MIN(len, VMSTATE_BUF - o->len);
		memcpy(o->buf + o->len, p, n);
		o->len += n;
		p += n;
		len -= n;
		if (o->len == VMSTATE_BUF && vmstate_flush(o) < 0)
			return -1;
	}
	return 0;
}

struct vmstate_in {
	struct block_dev *bd;
	const char *id; /* the snapshot's: its own tree maps the VM state */
	uint64_t pos, size; /* the snapshot's vm_state_size bounds the reads */
};

static int vmstate_read(void *opaque, void *buf, size_t len)
{
	struct vmstate_in *in = opaque;

	if (len > in->size - in->pos ||
	    qcow2_snapshot_vmstate_read(in->bd, in->id, buf, len, in->pos) < 0)
		return -1;
	in->pos += len;
	return 0;
}

/* The stopped machine's stream into sd->vm's area; its size in *size. */
static int write_vmstate(struct machine *m, struct machine_disk *k, uint64_t *size, char *err,
			 size_t errlen)
{
	const struct mig_header h = { m->mem.ram_size, m->ncpus };
	struct vmstate_out o = { .bd = k->bd, .buf = xzalloc(VMSTATE_BUF) };
	struct ss_writer w;
	struct mig_out out;
	int ret = -1;

	ss_writer_init(&w);
	if (mig_out_init(&out, vmstate_write, &o) < 0) {
		set_err(err, errlen, "%s", out.err);
		goto done;
	}
	if (machine_save_state(m, &w, err, errlen) < 0)
		goto free_out;
	if (mig_out_header(&out, &h) < 0 || mig_out_all_ram(&out, &m->mem) < 0 ||
	    mig_out_state(&out, w.buf, w.len) < 0 || mig_out_end(&out) < 0 ||
	    vmstate_flush(&o) < 0) {
		if (o.ret)
			set_err(err, errlen, "Error while writing VM state to '%s': %s", k->name,
				errno_text(o.ret));
		else
			set_err(err, errlen, "Error while writing VM state: %s", out.err);
		goto free_out;
	}
	*size = o.pos;
	ret = 0;
free_out:
	mig_out_free(&out);
done:
	ss_writer_free(&w);
	free(o.buf);
	return ret;
}

/* The stream of snapshot 'sn' of disk k into the machine, checked on the
 * way as a migration destination checks it. */
static int read_vmstate(struct machine *m, struct machine_disk *k,
			const struct qcow2_snapshot_info *sn, char *err, size_t errlen)
{
	const struct mig_header expect = { m->mem.ram_size, m->ncpus };
	struct vmstate_in vin = { .bd = k->bd, .id = sn->id, .size = sn->vm_state_size };
	struct mig_in in = { .read = vmstate_read, .opaque = &vin };
	struct ss_reader r;
	uint8_t *state;
	size_t len;
	int ret = -1;

	if (mig_in_load(&in, &m->mem, &expect, &state, &len) < 0)
		return set_err(err, errlen, "Error while loading VM state: %s", in.err);
	if (ss_reader_open(&r, state, len) < 0)
		set_err(err, errlen, "Error while loading VM state: %s", r.err);
	else if (machine_load_state(m, &r, err, errlen) == 0)
		ret = 0;
	ss_reader_close(&r);
	free(state);
	return ret;
}

/* ---- savevm, loadvm, delvm ------------------------------------------------ */

static int refuse_busy(struct machine *m, char *err, size_t errlen)
{
	if (m->mig.incoming)
		return set_err(err, errlen, "Guest is waiting for an incoming migration");
	if (m->mig.status == MIG_STATUS_SETUP || m->mig.status == MIG_STATUS_ACTIVE ||
	    m->mig.status == MIG_STATUS_CANCELLING)
		return set_err(err, errlen, "There's a migration process in progress");
	if (machine_stopping(m))
		return set_err(err, errlen, "The machine is resetting or exiting");
	return 0;
}

/* Stops the guest (STOP when it ran); returns whether it ran. */
static bool stop_guest(struct machine *m)
{
	bool ran = machine_pause(m);
	if (ran)
		control_event(m->control, "STOP", NULL);
	return ran;
}

static void restart_guest(struct machine *m, bool ran)
{
	if (ran && machine_resume(m))
		control_event(m->control, "RESUME", NULL);
}

static int delete_everywhere(struct snap_disks *sd, const char *tag, char *err, size_t errlen)
{
	struct qcow2_snapshot_info si;

	for (unsigned i = 0; i < sd->n; i++) {
		/* the same name may be there more than once (qemu-img allows it) */
		while (disk_snapshot(sd->d[i], tag, &si)) {
			int ret = qcow2_snapshot_delete(sd->d[i]->bd, si.id);
			if (ret < 0)
				return set_err(err, errlen, "Error while deleting snapshot on device "
					       "'%s': %s", sd->d[i]->name, strerror(-ret));
		}
	}
	return 0;
}

static int do_save(struct machine *m, const struct vmctl_snapshot_req *req, char *err,
		   size_t errlen)
{
	struct qcow2_vm_snapshot vm = { 0 };
	struct qcow2_snapshot_info si;
	struct snap_disks sd;
	char name[64];
	const char *tag = req->tag;
	unsigned done = 0;
	int ret;

	if (refuse_busy(m, err, errlen) < 0 || pick_disks(m, req, &sd, err, errlen) < 0)
		return -1;
	if (!tag || !*tag) {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(name, sizeof(name), "vm-%Y%m%d%H%M%S", &tm);
		tag = name;
	}
	if (strlen(tag) > 255)
		return set_err(err, errlen, "Snapshot name '%.32s...' is too long (255 bytes at most)",
			       tag);
	for (unsigned i = 0; i < sd.n; i++)
		if (disk_snapshot(sd.d[i], tag, &si) && !req->overwrite)
			return set_err(err, errlen, "Snapshot '%s' already exists in one or more "
				       "devices", tag);
	bool ran = stop_guest(m);
	for (unsigned i = 0; i < sd.n; i++)
		if ((ret = block_flush(sd.d[i]->bd)) < 0) {
			set_err(err, errlen, "Error while flushing '%s': %s", sd.d[i]->name,
				strerror(-ret));
			goto out;
		}
	if (req->overwrite && delete_everywhere(&sd, tag, err, errlen) < 0)
		goto out;
	vm.vm_clock_nsec = (uint64_t)(event_clock_ns(m->loop, EVENT_CLOCK_VIRTUAL) -
				      m->vm_clock_start);
	if (write_vmstate(m, sd.vm, &vm.vm_state_size, err, errlen) < 0)
		goto out;
	for (; done < sd.n; done++) {
		struct qcow2_vm_snapshot disk_only = { 0, vm.vm_clock_nsec };
		ret = qcow2_snapshot_create_vm(sd.d[done]->bd, tag,
					       sd.d[done] == sd.vm ? &vm : &disk_only);
		if (ret < 0) {
			set_err(err, errlen, "Error while creating snapshot on '%s': %s",
				sd.d[done]->name, strerror(-ret));
			break;
		}
	}
	if (done < sd.n) {
		/* none of it, as QEMU leaves it (the ones taken go again) */
		char ignored[8];
		sd.n = done;
		delete_everywhere(&sd, tag, ignored, sizeof(ignored));
		goto out;
	}
	restart_guest(m, ran);
	return 0;
out:
	restart_guest(m, ran);
	return -1;
}

static int do_load(struct machine *m, const struct vmctl_snapshot_req *req, char *err,
		   size_t errlen)
{
	struct qcow2_snapshot_info si, vmsi = { 0 };
	struct snap_disks sd;
	int ret;

	if (!req->tag || !*req->tag)
		return set_err(err, errlen, "loadvm: a snapshot name is needed");
	if (refuse_busy(m, err, errlen) < 0 || pick_disks(m, req, &sd, err, errlen) < 0)
		return -1;
	/* Everything checked before anything changes. */
	for (unsigned i = 0; i < sd.n; i++) {
		if (!disk_snapshot(sd.d[i], req->tag, &si))
			return set_err(err, errlen, "Snapshot '%s' does not exist in one or more "
				       "devices", req->tag);
		if (si.disk_size != sd.d[i]->bd->size)
			return set_err(err, errlen, "Device '%s' was resized since snapshot '%s'",
				       sd.d[i]->name, req->tag);
		/* the bitmaps cannot follow the data back (qcow2_snapshot_apply
		 * refuses, as QEMU's) */
		struct qcow2_bitmap_info *bm;
		int nbm = qcow2_bitmap_list(sd.d[i]->bd, &bm);
		free(bm);
		if (nbm > 0)
			return set_err(err, errlen, "Could not load snapshot '%s' on '%s': Device has "
				       "active dirty bitmaps", req->tag, sd.d[i]->name);
		if (sd.d[i] == sd.vm)
			vmsi = si;
	}
	if (!vmsi.vm_state_size)
		return set_err(err, errlen, "Snapshot '%s' of device '%s' has no VM state (a disk-"
			       "only snapshot: revert to it offline with vmm-img snapshot -a)",
			       req->tag, sd.vm->name);
	bool ran = stop_guest(m);
	for (unsigned i = 0; i < sd.n; i++) {
		ret = qcow2_snapshot_apply(sd.d[i]->bd, req->tag);
		if (ret < 0) {
			/* the disks before this one went back already: the
			 * machine stays stopped, as QEMU's does */
			return set_err(err, errlen, "Error %d while activating snapshot '%s' on '%s'",
				       ret, req->tag, sd.d[i]->name);
		}
	}
	if (read_vmstate(m, sd.vm, &vmsi, err, errlen) < 0)
		return -1; /* half loaded: stopped */
	m->run_state = NULL;
	restart_guest(m, ran);
	return 0;
}

static int do_delete(struct machine *m, const struct vmctl_snapshot_req *req, char *err,
		     size_t errlen)
{
	struct qcow2_snapshot_info si;
	struct snap_disks sd;
	bool found = false;

	if (!req->tag || !*req->tag)
		return set_err(err, errlen, "delvm: a snapshot name is needed");
	if (pick_disks(m, req, &sd, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < sd.n; i++)
		found |= disk_snapshot(sd.d[i], req->tag, &si);
	if (!found)
		return set_err(err, errlen, "Snapshot '%s' does not exist on any device", req->tag);
	return delete_everywhere(&sd, req->tag, err, errlen);
}

int machine_snapshot(void *opaque, enum vmctl_snapshot_op op,
		     const struct vmctl_snapshot_req *req, char *err, size_t errlen)
{
	struct machine *m = opaque;

	switch (op) {
	case VMCTL_SNAPSHOT_SAVE: return do_save(m, req, err, errlen);
	case VMCTL_SNAPSHOT_LOAD: return do_load(m, req, err, errlen);
	case VMCTL_SNAPSHOT_DELETE: return do_delete(m, req, err, errlen);
	}
	return set_err(err, errlen, "no such snapshot operation");
}

/* ---- info snapshots ------------------------------------------------------- */

/* QEMU's size_to_str: three significant digits and a binary unit. */
static void size_text(char *buf, size_t len, uint64_t v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned i = 0;
	double d = (double)v;

	while (i + 1 < ARRAY_SIZE(unit) && d >= 1024) {
		d /= 1024;
		i++;
	}
	if (d >= 999.5 && i + 1 < ARRAY_SIZE(unit)) {
		d /= 1024;
		i++;
	}
	snprintf(buf, len, "%0.3g %s", d, unit[i]);
}

/* One row in QEMU 7.2's columns (NULL: the heading). */
static void snapshot_row(const struct qcow2_snapshot_info *sn, const char *id,
			 vmctl_print_fn *print, void *ctx)
{
	char line[512], date[32], clk[48], size[32], icount[24] = "";

	if (!sn) {
		snprintf(line, sizeof(line), "%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE",
			 "DATE", "VM CLOCK", "ICOUNT");
		print(ctx, line);
		return;
	}
	time_t t = sn->date_sec;
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	uint64_t secs = sn->vm_clock_nsec / 1000000000;
	snprintf(clk, sizeof(clk), "%02u:%02u:%02u.%03u", (unsigned)(secs / 3600),
		 (unsigned)(secs / 60 % 60), (unsigned)(secs % 60),
		 (unsigned)(sn->vm_clock_nsec / 1000000 % 1000));
	size_text(size, sizeof(size), sn->vm_state_size);
	if (sn->icount != UINT64_MAX)
		snprintf(icount, sizeof(icount), "%llu", (unsigned long long)sn->icount);
	snprintf(line, sizeof(line), "%-9s %-16s %8s%20s%13s%11s\n", id, sn->name, size, date, clk,
		 icount);
	print(ctx, line);
}

/* QEMU's layout: the snapshots of the VM state disk that every other
 * disk has too (loadable, ID "--"), then per disk the others. */
void machine_snapshot_info(void *opaque, vmctl_print_fn *print, void *ctx)
{
	struct machine *m = opaque;
	const struct vmctl_snapshot_req all = { 0 };
	struct qcow2_snapshot_info *vmv, si;
	struct snap_disks sd;
	char err[256];
	int n;

	if (pick_disks(m, &all, &sd, err, sizeof(err)) < 0) {
		print(ctx, "No available block device supports snapshots\n");
		return;
	}
	n = qcow2_snapshot_list(sd.vm->bd, &vmv);
	bool *everywhere = xzalloc((size_t)MAX(n, 1) * sizeof(bool));
	int total = 0;
	for (int i = 0; i < n; i++) {
		everywhere[i] = true;
		for (unsigned k = 0; k < sd.n; k++)
			if (sd.d[k] != sd.vm && !disk_snapshot(sd.d[k], vmv[i].name, &si))
				everywhere[i] = false;
		total += everywhere[i];
	}
	bool any = n > 0;
	for (unsigned k = 0; k < sd.n && !any; k++) {
		struct qcow2_snapshot_info *v;
		any = qcow2_snapshot_list(sd.d[k]->bd, &v) > 0;
		free(v);
	}
	if (!any) {
		print(ctx, "There is no snapshot available.\n");
		goto out;
	}
	print(ctx, "List of snapshots present on all disks:\n");
	if (total) {
		snapshot_row(NULL, NULL, print, ctx);
		for (int i = 0; i < n; i++)
			if (everywhere[i])
				snapshot_row(&vmv[i], "--", print, ctx);
	} else {
		print(ctx, "None\n");
	}
	for (unsigned k = 0; k < sd.n; k++) {
		struct qcow2_snapshot_info *v;
		int c = qcow2_snapshot_list(sd.d[k]->bd, &v);
		bool header = false;
		for (int i = 0; i < c; i++) {
			bool loadable = false;
			for (int j = 0; j < n; j++)
				if (everywhere[j] && !strcmp(vmv[j].name, v[i].name))
					loadable = true;
			if (loadable)
				continue;
			if (!header) {
				char line[128];
				snprintf(line, sizeof(line), "\nList of partial (non-loadable) snapshots "
					 "on '%s':\n", sd.d[k]->name);
				print(ctx, line);
				snapshot_row(NULL, NULL, print, ctx);
				header = true;
			}
			snapshot_row(&v[i], v[i].id, print, ctx);
		}
		free(v);
	}
out:
	free(everywhere);
	free(vmv);
}

/* ---- -loadvm ------------------------------------------------------------- */

/* From the main loop once the vCPUs are parked: the snapshot, then the
 * guest runs (paused with -S). A failure ends vmm with one line. */
static void loadvm_at_start(void *opaque)
{
	struct machine *m = opaque;
	const struct vmctl_snapshot_req req = { .tag = m->cfg.loadvm };
	char err[256];

	if (do_load(m, &req, err, sizeof(err)) < 0) {
		report("-loadvm %s: %s", m->cfg.loadvm, err);
		machine_request(m, MACHINE_REQ_EXIT, 1);
		return;
	}
	if (m->cfg.start_paused) {
		m->run_state = "prelaunch";
		return;
	}
	if (machine_resume(m))
		control_event(m->control, "RESUME", NULL);
}

void machine_loadvm_attach(struct machine *m)
{
	m->run_state = "restore-vm";
	if (event_post(m->loop, loadvm_at_start, m) < 0)
		loadvm_at_start(m);
}

/* ---- QMP jobs ------------------------------------------------------------ */

struct snapshot_job {
	struct snapshot_job *next;
	char *id;
	enum vmctl_snapshot_op op;
	const char *status;
	char *error;
	bool done;
	/* the request, copied */
	char *tag, *vmstate;
	char **devices;
	unsigned ndevices;
	struct machine *m;
};

static const char *const job_types[] = {
	[VMCTL_SNAPSHOT_SAVE] = "snapshot-save",
	[VMCTL_SNAPSHOT_LOAD] = "snapshot-load",
	[VMCTL_SNAPSHOT_DELETE] = "snapshot-delete",
};

/* QEMU's JOB_STATUS_CHANGE for each state the job passes. */
static void job_status(struct snapshot_job *j, const char *status)
{
	char data[320];

	j->status = status;
	snprintf(data, sizeof(data), "{\"status\": \"%s\", \"id\": ", status);
	size_t n = strlen(data);
	/* the id is checked to be a plain identifier: no escaping needed */
	snprintf(data + n, sizeof(data) - n, "\"%s\"}", j->id);
	control_event(j->m->control, "JOB_STATUS_CHANGE", data);
}

static void job_free(struct snapshot_job *j)
{
	for (unsigned i = 0; i < j->ndevices; i++)
		free(j->devices[i]);
	free(j->devices);
	free(j->tag);
	free(j->vmstate);
	free(j->error);
	free(j->id);
	free(j);
}

/* QEMU's rule for ids: a letter, then letters, digits, '-', '.', '_'. */
static bool id_well_formed(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > 127 || !((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(id[i] >= 'a' && id[i] <= 'z') && !(id[i] >= 'A' && id[i] <= 'Z') &&
		    !(id[i] >= '0' && id[i] <= '9') && !strchr("-._", id[i]))
			return false;
	return true;
}

/* The job's work, after the command's reply; then QEMU's states for a
 * job that must be dismissed: waiting, pending, concluded (or aborting,
 * concluded with the error). */
static void job_run(void *opaque)
{
	struct snapshot_job *j = opaque;
	const struct vmctl_snapshot_req req = {
		.tag = j->tag, .vmstate = j->vmstate,
		.devices = (const char *const *)j->devices, .ndevices = j->ndevices,
	};
	char err[256];

	if (machine_snapshot(j->m, j->op, &req, err, sizeof(err)) < 0) {
		j->error = xstrdup(err);
		job_status(j, "aborting");
	} else {
		job_status(j, "waiting");
		job_status(j, "pending");
	}
	j->done = true;
	job_status(j, "concluded");
}

int machine_job_start(void *opaque, const char *id, enum vmctl_snapshot_op op,
		      const struct vmctl_snapshot_req *req, char *err, size_t errlen)
{
	struct machine *m = opaque;
	struct snapshot_job *j;

	if (!id_well_formed(id))
		return set_err(err, errlen, "Invalid job ID '%s'", id);
	for (j = m->jobs; j; j = j->next)
		if (!strcmp(j->id, id))
			return set_err(err, errlen, "Job ID '%s' already in use", id);
	j = xzalloc(sizeof(*j));
	j->m = m;
	j->op = op;
	j->id = xstrdup(id);
	j->tag = req->tag ? xstrdup(req->tag) : NULL;
	j->vmstate = req->vmstate ? xstrdup(req->vmstate) : NULL;
	if (req->devices) {
		j->devices = xzalloc((size_t)MAX(req->ndevices, 1) * sizeof(char *));
		for (unsigned i = 0; i < req->ndevices; i++)
			j->devices[i] = xstrdup(req->devices[i]);
		j->ndevices = req->ndevices;
	}
	/* appended: query-jobs lists them in creation order */
	struct snapshot_job **tail = &m->jobs;
	while (*tail)
		tail = &(*tail)->next;
	*tail = j;
	job_status(j, "created");
	job_status(j, "running");
	if (event_post(m->loop, job_run, j) < 0)
		job_run(j);
	return 0;
}

unsigned machine_jobs(void *opaque, struct vmctl_job *out, unsigned max)
{
	struct machine *m = opaque;
	unsigned n = 0;

	for (struct snapshot_job *j = m->jobs; j && n < max; j = j->next, n++) {
		out[n] = (struct vmctl_job){
			.id = j->id, .type = job_types[j->op], .status = j->status,
			.current_progress = j->done && !j->error, .total_progress = 1,
			.error = j->error,
		};
	}
	return n;
}

int machine_job_dismiss(void *opaque, const char *id, char *err, size_t errlen)
{
	struct machine *m = opaque;

	for (struct snapshot_job **p = &m->jobs; *p; p = &(*p)->next) {
		struct snapshot_job *j = *p;
		if (strcmp(j->id, id))
			continue;
		if (!j->done)
			return set_err(err, errlen, "Job '%s' in state '%s' cannot accept command verb "
				       "'dismiss'", id, j->status);
		*p = j->next;
		job_status(j, "null");
		job_free(j);
		return 0;
	}
	return set_err(err, errlen, "Job not found");
}

void machine_jobs_destroy(struct machine *m)
{
	while (m->jobs) {
		struct snapshot_job *j = m->jobs;
		m->jobs = j->next;
		job_free(j);
	}
}
