// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Migration of the whole machine (docs/architecture.md, "Migration"): QMP
 * migrate sends guest RAM, every device's saved state and KVM's VM and
 * vCPU state as one stream (include/migstream.h) to a URI
 * (include/migchan.h); -incoming URI receives it into a machine started
 * with the same options and runs it on.
 *
 * A running source pre-copies: dirty logging on, all of RAM (and the
 * devices' named RAM blocks: video memory, whose owners keep their dirty
 * log, include/guest_mem.h) while the guest runs, then the pages it
 * dirtied, round after round, until the
 * rest fits the downtime limit; then it stops the guest for the last
 * pages and the state (a paused source sends everything stopped). The
 * sending is a thread of its own (seccomp kind "migration"); the main
 * thread stops the guest and saves its state when the thread asks (the
 * switchover), and ends the migration when the thread is done; QMP and
 * device timers go on meanwhile. At the end the source
 * stays paused ("postmigrate") as QEMU's does. A failure on the way (the
 * destination gone, a broken pipe, the exec: command failing) resumes the
 * source if it ran and leaves status "failed" with the reason. The
 * destination, which treats the stream as hostile, refuses a bad one with
 * one line and exits with status 1.
 */
#include "pc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block.h"
#include "control.h"
#include "launcher.h"
#include "savestate.h"
#include "util.h"

static const char *const status_names[] = {
	[MIG_STATUS_NONE] = "none",
	[MIG_STATUS_SETUP] = "setup",
	[MIG_STATUS_ACTIVE] = "active",
	[MIG_STATUS_COMPLETED] = "completed",
	[MIG_STATUS_FAILED] = "failed",
	[MIG_STATUS_CANCELLING] = "cancelling",
	[MIG_STATUS_CANCELLED] = "cancelled",
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The new status, and QEMU's MIGRATION event when the "events"
 * capability is on (as QEMU sends them only then). */
static void set_status(struct machine *m, enum mig_status st)
{
	char data[64];

	m->mig.status = st;
	if (!m->mig.events)
		return;
	snprintf(data, sizeof(data), "{\"status\": \"%s\"}", status_names[st]);
	control_event(m->control, "MIGRATION", data);
}

static bool migration_running(const struct machine *m)
{
	return m->mig.status == MIG_STATUS_SETUP || m->mig.status == MIG_STATUS_ACTIVE ||
	       m->mig.status == MIG_STATUS_CANCELLING;
}

/* Closes the channel and waits for an exec: command; its failure goes
 * into err only if nothing failed before (*ret still 0). The command's
 * exit status counts only where it matters, on a source that sent the
 * whole stream (it may still be writing it somewhere): otherwise (a
 * failure, or a destination that read the end marker) it is not waited
 * for, so a command that lingers cannot hold up the main loop. */
static void close_chan(struct machine *m, char *err, size_t errlen, int *ret)
{
	char why[256];

	if (!m->mig.chan_open)
		return;
	m->mig.chan_open = false;
	if (*ret != 0 || m->mig.incoming) {
		mig_close_nowait(&m->mig.chan);
		return;
	}
	if (mig_close(&m->mig.chan, why, sizeof(why)) < 0 && *ret == 0) {
		*ret = -1;
		if (err)
			snprintf(err, errlen, "%s", why);
	}
}

/* The RAM the stream carries: every block of guest RAM, and the devices'
 * named blocks (video memory), as QEMU counts its RAM blocks. */
static uint64_t ram_bytes(const struct machine *m)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < m->mem.nblocks; i++)
		n += m->mem.blocks[i].size;
	for (unsigned i = 0; i < m->mem.nnamed; i++)
		n += m->mem.named[i].size;
	return n;
}

/* ---- outgoing ------------------------------------------------------------ */

/* QEMU's defaults and limits for downtime-limit and max-bandwidth. */
#define DOWNTIME_LIMIT_MS 300
#define DOWNTIME_LIMIT_MAX_MS 2000000
#define MAX_BANDWIDTH (128u << 20)

static uint64_t downtime_limit(const struct machine *m)
{
	return m->mig.downtime_limit_set ? m->mig.downtime_limit_ms : DOWNTIME_LIMIT_MS;
}

static uint64_t max_bandwidth(const struct machine *m)
{
	return m->mig.max_bandwidth ? m->mig.max_bandwidth : MAX_BANDWIDTH;
}

/* What the migration thread works with: the machine and its stream. */
struct mig_job {
	struct machine *m;
	struct mig_out out;
};

/* The figures query-migrate shows, from the thread's stream. */
static void publish_stats(struct machine *m, const struct mig_stats *st)
{
	pthread_mutex_lock(&m->mig.lock);
	m->mig.stats = *st;
	pthread_mutex_unlock(&m->mig.lock);
}

/* The channel's writes. A cancel makes the next one fail. During pre-copy
 * they keep to max-bandwidth by sleeping when ahead of it (the guest runs
 * meanwhile); the last pass, the guest stopped, goes at full speed, as
 * QEMU's. */
static int throttled_write(void *opaque, const void *buf, size_t len)
{
	struct mig_job *job = opaque;
	struct machine *m = job->m;

	if (atomic_load(&m->mig.cancel) || mig_chan_write(&m->mig.chan, buf, len) < 0)
		return -1;
	publish_stats(m, &job->out.stats);
	if (!m->mig.throttle)
		return 0;
	m->mig.throttle_bytes += len;
	uint64_t due_ms = m->mig.throttle_bytes * 1000 / m->mig.bandwidth;
	uint64_t spent = now_ms() - m->mig.throttle_start_ms;
	if (due_ms > spent) {
		uint64_t wait = MIN(due_ms - spent, (uint64_t)100); /* a cancel waits no longer */
		struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 0;
}

/* Thread to main thread: wakes the main loop (migration_wakeup). */
static void wake_main(struct machine *m)
{
	uint64_t one = 1;
	if (write(m->mig.wake_fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the loop */
	}
}

#define PRECOPY_MAX_ROUNDS 30
/* 0xC0000-0xFFFFF: RAM behind the PAM segments, written through their own
 * memory slots, which the RAM region's dirty log does not see: sent again
 * while paused (64 pages). */
#define PAM_RAM_START 0xC0000u
#define PAM_RAM_END 0x100000u

/* The RAM regions pre-copy logs, with their dirty bitmaps, and the
 * devices' named blocks (their owners keep the log: named_ram). */
struct precopy {
	struct mem_region *region[2];
	uint64_t *bits[2];
	unsigned n;
	const struct named_ram *named[GUEST_MEM_MAX_NAMED];
	uint64_t *named_bits[GUEST_MEM_MAX_NAMED];
	unsigned nnamed;
	struct machine *devices_told; /* its devices were told the log is on */
};

static uint64_t named_words(const struct named_ram *r)
{
	return (r->size / MIG_PAGE_SIZE + 63) / 64;
}

static void precopy_stop(struct precopy *pc)
{
	for (unsigned i = 0; i < pc->n; i++) {
		mem_region_set_log_dirty(pc->region[i], false);
		free(pc->bits[i]);
	}
	pc->n = 0;
	for (unsigned i = 0; i < pc->nnamed; i++) {
		pc->named[i]->log(pc->named[i]->opaque, false);
		free(pc->named_bits[i]);
	}
	pc->nnamed = 0;
	if (pc->devices_told)
		dev_log_dirty_all(pc->devices_told->cfg.devs, pc->devices_told->cfg.ndevs, false);
	pc->devices_told = NULL;
}

/* The named blocks' logs on: their writes from now on are taken. */
static int precopy_start_named(struct machine *m, struct precopy *pc)
{
	for (unsigned i = 0; i < m->mem.nnamed; i++) {
		const struct named_ram *r = &m->mem.named[i];
		pc->named_bits[i] = calloc(named_words(r), sizeof(uint64_t));
		if (!pc->named_bits[i])
			return -1;
		pc->named[i] = r;
		pc->nnamed++;
		r->log(r->opaque, true);
	}
	return 0;
}

/* Dirty logging on for guest RAM; -1 if it cannot be (then the whole
 * transfer happens paused). */
static int precopy_start(struct machine *m, struct precopy *pc)
{
	struct mem_region *regions[2] = { &m->memmap.ram_low,
					  m->mem.above_4g ? &m->memmap.ram_high : NULL };

	memset(pc, 0, sizeof(*pc));
	for (unsigned i = 0; i < 2 && regions[i]; i++) {
		uint64_t words = (mem_region_pages(regions[i]) + 63) / 64;
		pc->bits[pc->n] = calloc(words ? words : 1, sizeof(uint64_t));
		if (!pc->bits[pc->n] || mem_region_set_log_dirty(regions[i], true) < 0) {
			free(pc->bits[pc->n]);
			precopy_stop(pc);
			return -1;
		}
		pc->region[pc->n++] = regions[i];
	}
	if (precopy_start_named(m, pc) < 0) {
		precopy_stop(pc);
		return -1;
	}
	/* Before the first pass: a write the log cannot see (vhost-net's)
	 * must not land on a page already sent. */
	dev_log_dirty_all(m->cfg.devs, m->cfg.ndevs, true);
	pc->devices_told = m;
	return 0;
}

/* Takes what vCPUs and devices wrote since the last call, ORed into the
 * bitmaps (pages not sent yet stay set); returns the dirty page count. */
static int64_t precopy_harvest(struct precopy *pc)
{
	uint64_t count = 0;

	for (unsigned i = 0; i < pc->n; i++) {
		uint64_t pages = mem_region_pages(pc->region[i]), words = (pages + 63) / 64;
		uint64_t *fresh = calloc(words ? words : 1, sizeof(uint64_t));
		if (!fresh || mem_region_get_dirty(pc->region[i], fresh, pages) < 0) {
			free(fresh);
			return -1;
		}
		for (uint64_t w = 0; w < words; w++) {
			pc->bits[i][w] |= fresh[w];
			count += (uint64_t)__builtin_popcountll(pc->bits[i][w]);
		}
		free(fresh);
	}
	for (unsigned i = 0; i < pc->nnamed; i++) {
		pc->named[i]->take_dirty(pc->named[i]->opaque, pc->named_bits[i]);
		for (uint64_t w = 0; w < named_words(pc->named[i]); w++)
			count += (uint64_t)__builtin_popcountll(pc->named_bits[i][w]);
	}
	return (int64_t)count;
}

/* Sends the dirty pages of every logged region and named block (of the
 * regions only what is guest RAM:
 * the VGA hole is not) and clears their bits. */
static int precopy_send(struct machine *m, struct precopy *pc, struct mig_out *out)
{
	for (unsigned i = 0; i < pc->n; i++) {
		const struct mem_region *r = pc->region[i];
		for (unsigned k = 0; k < m->mem.nblocks; k++) {
			const struct mem_block *b = &m->mem.blocks[k];
			uint64_t first = MAX(b->gpa, r->gpa);
			uint64_t end = MIN(b->gpa + b->size, r->gpa + r->size);
			if (first >= end)
				continue;
			if (mig_out_ram(out, &m->mem, first, (end - first) / MIG_PAGE_SIZE, pc->bits[i],
					(first - r->gpa) / MIG_PAGE_SIZE) < 0)
				return -1;
		}
		memset(pc->bits[i], 0, (mem_region_pages(r) + 63) / 64 * sizeof(uint64_t));
	}
	for (unsigned i = 0; i < pc->nnamed; i++) {
		if (mig_out_named(out, pc->named[i], pc->named_bits[i]) < 0)
			return -1;
		memset(pc->named_bits[i], 0, named_words(pc->named[i]) * sizeof(uint64_t));
	}
	return 0;
}

/* A new pass (thread): counted; the main loop sends MIGRATION_PASS. */
static void pass_event(struct machine *m)
{
	pthread_mutex_lock(&m->mig.lock);
	m->mig.dirty_syncs++;
	pthread_mutex_unlock(&m->mig.lock);
	wake_main(m);
}

/* Rounds while the guest runs: all of RAM, then what it dirtied meanwhile,
 * until what is left fits the downtime limit at the rate the last round
 * went (or PRECOPY_MAX_ROUNDS). The pages left stay in pc's bitmaps. */
static int precopy_rounds(struct machine *m, struct precopy *pc, struct mig_out *out)
{
	uint64_t t0 = now_ms(), sent0 = out->stats.bytes;

	pass_event(m);
	if (mig_out_all_ram(out, &m->mem) < 0)
		return -1;
	for (unsigned round = 2;; round++) {
		/* bytes per ms of the last round, at least 1 */
		uint64_t ms = MAX(now_ms() - t0, (uint64_t)1);
		uint64_t rate = MAX((out->stats.bytes - sent0) / ms, (uint64_t)1);
		int64_t dirty = precopy_harvest(pc);
		if (dirty < 0)
			return -1;
		uint64_t expected = (uint64_t)dirty * MIG_PAGE_SIZE / rate;
		pthread_mutex_lock(&m->mig.lock);
		m->mig.expected_downtime_ms = expected;
		pthread_mutex_unlock(&m->mig.lock);
		if (expected <= m->mig.limit_ms || round > PRECOPY_MAX_ROUNDS)
			return 0;
		t0 = now_ms();
		sent0 = out->stats.bytes;
		pass_event(m);
		if (precopy_send(m, pc, out) < 0)
			return -1;
	}
}

/* Thread: asks the main thread to stop the guest and save its state;
 * true once it has (the state in m->mig.state), false if it could not. */
static bool request_switchover(struct machine *m, char *err, size_t errlen)
{
	bool ok;

	pthread_mutex_lock(&m->mig.lock);
	m->mig.switchover = SWITCH_WANTED;
	pthread_mutex_unlock(&m->mig.lock);
	wake_main(m);
	pthread_mutex_lock(&m->mig.lock);
	while (m->mig.switchover == SWITCH_WANTED || m->mig.switchover == SWITCH_ASKED)
		pthread_cond_wait(&m->mig.cond, &m->mig.lock);
	ok = m->mig.switchover == SWITCH_READY;
	if (!ok)
		snprintf(err, errlen, "%s", m->mig.switch_err);
	pthread_mutex_unlock(&m->mig.lock);
	return ok;
}

/* Thread: the whole stream. Live (the guest ran): pre-copy rounds, then,
 * stopped, the last dirty pages, the PAM RAM and the state; otherwise (or
 * without dirty logging) all of it stopped. */
static int send_machine(struct machine *m, struct precopy *pc, struct mig_out *out, bool live,
			char *err, size_t errlen)
{
	const struct mig_header h = { m->mem.ram_size, m->ncpus };
	int ret = -1;

	if (mig_out_header(out, &h) < 0)
		goto stream;
	if (live && precopy_start(m, pc) == 0) {
		m->mig.throttle = true;
		m->mig.throttle_start_ms = now_ms();
		m->mig.throttle_bytes = 0;
		int r = precopy_rounds(m, pc, out);
		m->mig.throttle = false;
		if (r < 0)
			goto logfail;
	}
	if (!request_switchover(m, err, errlen))
		goto done;
	/* Stopped and quiesced: the last writes are in the log. */
	pass_event(m);
	if (pc->n) {
		if (precopy_harvest(pc) < 0 || precopy_send(m, pc, out) < 0)
			goto logfail;
		if (mig_out_ram(out, &m->mem, PAM_RAM_START,
				(PAM_RAM_END - PAM_RAM_START) / MIG_PAGE_SIZE, NULL, 0) < 0)
			goto stream;
	} else if (mig_out_all_ram(out, &m->mem) < 0) {
		goto stream;
	}
	if (mig_out_state(out, m->mig.state.buf, m->mig.state.len) < 0 || mig_out_end(out) < 0)
		goto stream;
	ret = 0;
	goto done;
logfail:
	if (!out->failed) {
		set_err(err, errlen, "migration: cannot read the dirty log");
		goto done;
	}
stream:
	set_err(err, errlen, "%s", out->err);
done:
	return ret;
}

static void *migration_thread(void *opaque)
{
	struct mig_job job = { .m = opaque };
	struct machine *m = job.m;
	struct precopy pc = { 0 };
	char err[256] = "";
	int ret = -1;

	sandbox_thread_start(SANDBOX_MIGRATION);
	if (mig_out_init(&job.out, throttled_write, &job) < 0)
		set_err(err, sizeof(err), "%s", job.out.err);
	else
		ret = send_machine(m, &pc, &job.out, m->mig.was_running, err, sizeof(err));
	publish_stats(m, &job.out.stats);
	pthread_mutex_lock(&m->mig.lock);
	m->mig.thread_ret = ret;
	snprintf(m->mig.thread_err, sizeof(m->mig.thread_err), "%s", err);
	m->mig.stream_done = true;
	pthread_mutex_unlock(&m->mig.lock);
	wake_main(m);
	/* Only now dirty logging off: a memory-slot update per region, which
	 * nested KVM took seconds for (while the destination changed its own
	 * slots). The destination has the whole stream already, and QEMU's
	 * downtime also ends before its clean-up. */
	precopy_stop(&pc);
	mig_out_free(&job.out);
	pthread_mutex_lock(&m->mig.lock);
	m->mig.thread_done = true;
	pthread_mutex_unlock(&m->mig.lock);
	wake_main(m);
	return NULL;
}

/* ---- the images' hand-over (QEMU's inactivate / activate) ---------------- */

/* Every open image of the machine: the disks, then the IDE CD media. */
static unsigned machine_images(struct machine *m, struct block_dev **out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->ndisks && n < max; i++)
		if (m->disks[i].bd)
			out[n++] = m->disks[i].bd;
	for (unsigned i = 0; i < MAX_IDE_DRIVES && n < max; i++) {
		struct block_dev **img = m->cfg.ide[i].cdrom ? machine_ide_image(m, i) : NULL;
		if (img && *img)
			out[n++] = *img;
	}
	return n;
}

void machine_images_flush(struct machine *m)
{
	struct block_dev *bd[ARRAY_SIZE(m->disks) + MAX_IDE_DRIVES];
	unsigned n = machine_images(m, bd, ARRAY_SIZE(bd));

	for (unsigned i = 0; i < n; i++) {
		int r = bd[i]->read_only ? 0 : block_flush(bd[i]);
		if (r < 0)
			warn("flushing '%s': %s", bd[i]->path, strerror(-r));
	}
}

void machine_images_inactivate(struct machine *m)
{
	struct block_dev *bd[ARRAY_SIZE(m->disks) + MAX_IDE_DRIVES];
	unsigned n = machine_images(m, bd, ARRAY_SIZE(bd));

	/* the guest is stopped: the last writes reach the file before the
	 * destination may take it */
	for (unsigned i = 0; i < n; i++) {
		int r = bd[i]->read_only ? 0 : block_flush(bd[i]);
		if (r < 0)
			warn("migration: flushing '%s': %s", bd[i]->path, strerror(-r));
		block_unlock_chain(bd[i]);
	}
	m->mig.images_inactive = true;
}

int machine_images_activate(struct machine *m, char *err, size_t errlen)
{
	struct block_dev *bd[ARRAY_SIZE(m->disks) + MAX_IDE_DRIVES];
	unsigned n = machine_images(m, bd, ARRAY_SIZE(bd));

	for (unsigned i = 0; i < n; i++)
		if (block_lock_chain(bd[i], err, errlen) < 0) {
			/* QEMU's two lines, as one */
			for (char *nl = strchr(err, '\n'); nl; nl = strchr(nl, '\n'))
				*nl = ' ';
			return -1;
		}
	m->mig.images_inactive = false;
	return 0;
}

/* Main thread, asked by the migration thread: stop the guest, save the
 * state, hand it over (or say why not). */
static void do_switchover(struct machine *m)
{
	char err[256] = "";
	bool ok = false;

	m->mig.stop_at_ms = now_ms();
	if (machine_pause(m))
		control_event(m->control, "STOP", NULL);
	if (atomic_load(&m->mig.cancel))
		set_err(err, sizeof(err), "migration: cancelled");
	else if (machine_stopping(m))
		set_err(err, sizeof(err), "migration: the machine is resetting or exiting");
	else
		ok = machine_save_state(m, &m->mig.state, err, sizeof(err)) == 0;
	/* The destination takes the images once it has the state: from now
	 * the source neither writes them nor holds their locks. */
	if (ok)
		machine_images_inactivate(m);
	pthread_mutex_lock(&m->mig.lock);
	m->mig.switchover = ok ? SWITCH_READY : SWITCH_ABORT;
	snprintf(m->mig.switch_err, sizeof(m->mig.switch_err), "%s", err);
	pthread_cond_broadcast(&m->mig.cond);
	pthread_mutex_unlock(&m->mig.lock);
}

/* Main thread, the stream sent (or failed): the channel closed, the
 * status. The thread may still be cleaning up (join_thread). */
static void report_outgoing(struct machine *m)
{
	char err[256];
	int ret;

	m->mig.stream_reported = true;
	ss_writer_free(&m->mig.state);
	pthread_mutex_lock(&m->mig.lock);
	ret = m->mig.thread_ret;
	snprintf(err, sizeof(err), "%s", m->mig.thread_err);
	pthread_mutex_unlock(&m->mig.lock);
	/* exec: the command must have taken everything (its exit status). */
	close_chan(m, err, sizeof(err), &ret);
	m->mig.total_ms = now_ms() - m->mig.start_ms;
	m->mig.downtime_ms = m->mig.stop_at_ms ? now_ms() - m->mig.stop_at_ms : 0;
	if (ret == 0 && !atomic_load(&m->mig.cancel)) {
		m->run_state = "postmigrate";
		set_status(m, MIG_STATUS_COMPLETED);
		return;
	}
	if (atomic_load(&m->mig.cancel))
		set_err(err, sizeof(err), "migration: cancelled");
	snprintf(m->mig.error, sizeof(m->mig.error), "%s", err);
	if (!atomic_load(&m->mig.cancel))
		warn("%s", err);
	/* the images back as they were before the switchover */
	if (m->mig.images_inactive) {
		char why[256];
		if (machine_images_activate(m, why, sizeof(why)) < 0)
			warn("migration: %s", why);
	}
	if (m->mig.was_running && machine_resume(m))
		control_event(m->control, "RESUME", NULL);
	set_status(m, atomic_load(&m->mig.cancel) ? MIG_STATUS_CANCELLED : MIG_STATUS_FAILED);
}

/* Main thread, the thread's clean-up done: joined, its wake-up gone. */
static void join_thread(struct machine *m)
{
	pthread_join(m->mig.thread, NULL);
	m->mig.thread_started = false;
	event_fd_remove(m->mig.wake_handle);
	m->mig.wake_handle = NULL;
	close(m->mig.wake_fd);
	m->mig.wake_fd = -1;
}

/* Main loop: what the migration thread asked for. */
static void migration_wakeup(void *opaque, int fd, unsigned revents)
{
	struct machine *m = opaque;
	uint64_t count, passes;
	bool switch_wanted, stream_done, done;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&m->mig.lock);
	passes = m->mig.dirty_syncs;
	switch_wanted = m->mig.switchover == SWITCH_WANTED;
	if (switch_wanted)
		m->mig.switchover = SWITCH_ASKED;
	stream_done = m->mig.stream_done;
	done = m->mig.thread_done;
	pthread_mutex_unlock(&m->mig.lock);
	for (; m->mig.passes_announced < passes; m->mig.passes_announced++) {
		char data[48];
		snprintf(data, sizeof(data), "{\"pass\": %llu}",
			 (unsigned long long)m->mig.passes_announced + 1);
		if (m->mig.events)
			control_event(m->control, "MIGRATION_PASS", data);
	}
	if (switch_wanted)
		do_switchover(m);
	if (stream_done && !m->mig.stream_reported)
		report_outgoing(m);
	if (done)
		join_thread(m);
}

/* Main thread, after migrate's reply: the thread starts. */
static void migrate_begin(void *opaque)
{
	struct machine *m = opaque;
	char err[256];

	m->mig.setup_ms = now_ms() - m->mig.start_ms;
	m->mig.was_running = !(atomic_load(&m->hold) & HOLD_PAUSE);
	m->mig.limit_ms = downtime_limit(m);
	m->mig.bandwidth = max_bandwidth(m);
	m->mig.switchover = SWITCH_NONE;
	m->mig.stream_done = m->mig.stream_reported = m->mig.thread_done = false;
	m->mig.passes_announced = 0;
	m->mig.stop_at_ms = 0;
	ss_writer_init(&m->mig.state);
	set_status(m, MIG_STATUS_ACTIVE);
	m->mig.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->mig.wake_fd >= 0)
		m->mig.wake_handle = event_fd_add(m->loop, m->mig.wake_fd, POLLIN, migration_wakeup, m);
	if (m->mig.wake_handle &&
	    pthread_create(&m->mig.thread, NULL, migration_thread, m) == 0) {
		m->mig.thread_started = true;
		return;
	}
	set_err(err, sizeof(err), "migration: cannot start its thread");
	if (m->mig.wake_handle)
		event_fd_remove(m->mig.wake_handle);
	m->mig.wake_handle = NULL;
	if (m->mig.wake_fd >= 0)
		close(m->mig.wake_fd);
	m->mig.wake_fd = -1;
	ss_writer_free(&m->mig.state);
	int ret = -1;
	close_chan(m, NULL, 0, &ret);
	snprintf(m->mig.error, sizeof(m->mig.error), "%s", err);
	set_status(m, MIG_STATUS_FAILED);
}

static int unshared_disk_error(const struct machine *m, char *err, size_t errlen)
{
	return set_err(err, errlen, "migration: disk '%s' is a writable qcow2 or vmdk image or a "
		       "-snapshot overlay, whose state lives in this process: vmm migrates "
		       "machines whose writable disks are raw files both sides open",
		       m->unshared_disk);
}

static int start_outgoing(struct machine *m, const char *uri, char *err, size_t errlen)
{
	struct mig_uri u;

	if (m->mig.incoming)
		return set_err(err, errlen, "Guest is waiting for an incoming migration");
	if (migration_running(m))
		return set_err(err, errlen, "There's a migration process in progress");
	if (m->mig.thread_started)
		join_thread(m); /* the last one's clean-up, which is short on real KVM */
	if (m->unshared_disk)
		return unshared_disk_error(m, err, errlen);
	if (mig_uri_parse(uri, &u, err, errlen) < 0)
		return -1;
	/* The command would inherit the main thread's seccomp filter, under
	 * which a program cannot even map its libraries. */
	if (u.kind == MIG_URI_EXEC && m->cfg.sandbox.enabled && !launcher_running())
		return set_err(err, errlen, "migration: exec: runs a program, which the sandbox "
			       "forbids: start vmm with -sandbox on,spawn=allow (a launcher forked "
			       "before the sandbox runs it) or -sandbox off, or use unix:, tcp: or "
			       "file:");
	memset(&m->mig.stats, 0, sizeof(m->mig.stats));
	m->mig.error[0] = '\0';
	m->mig.setup_ms = m->mig.total_ms = m->mig.downtime_ms = 0;
	m->mig.expected_downtime_ms = m->mig.dirty_syncs = 0;
	m->mig.ram_total = ram_bytes(m);
	m->mig.start_ms = now_ms();
	set_status(m, MIG_STATUS_SETUP);
	if (mig_open_out(&u, &m->mig.chan, err, errlen) < 0) {
		snprintf(m->mig.error, sizeof(m->mig.error), "%s", err);
		set_status(m, MIG_STATUS_FAILED);
		return -1;
	}
	m->mig.chan_open = true;
	atomic_store(&m->mig.cancel, false);
	/* After the command's reply, from the main loop. */
	if (event_post(m->loop, migrate_begin, m) < 0)
		migrate_begin(m);
	return 0;
}

int machine_migrate(void *opaque, const char *uri, char *err, size_t errlen)
{
	return start_outgoing(opaque, uri, err, errlen);
}

/* ---- incoming ------------------------------------------------------------ */

/* One line on stderr, status failed, and vmm exits with status 1. */
static void incoming_failed(struct machine *m, const char *why)
{
	int ignored = -1;

	report("%s%s", strncmp(why, "migration:", 10) ? "migration: " : "", why);
	snprintf(m->mig.error, sizeof(m->mig.error), "%s", why);
	close_chan(m, NULL, 0, &ignored);
	set_status(m, MIG_STATUS_FAILED);
	machine_request(m, MACHINE_REQ_EXIT, 1);
}

/* Loads the checked stream into the paused machine. */
static int load_stream(struct machine *m, char *err, size_t errlen)
{
	const struct mig_header expect = { m->mem.ram_size, m->ncpus };
	struct mig_in in = { .read = mig_chan_read, .opaque = &m->mig.chan };
	struct ss_reader r;
	uint8_t *state;
	size_t len;
	int ret = -1;

	/* SIGTERM and the like still end a destination whose source went
	 * silent: the reads watch the signalfd too. */
	m->mig.chan.abort_fd = m->signal_fd;
	if (mig_in_load(&in, &m->mem, &expect, &state, &len) < 0) {
		m->mig.stats = in.stats;
		if (m->mig.chan.interrupted)
			return set_err(err, errlen, "migration: interrupted by a signal after %llu "
				       "bytes of the stream", (unsigned long long)in.stats.bytes);
		return set_err(err, errlen, "%s", in.err);
	}
	m->mig.stats = in.stats;
	if (ss_reader_open(&r, state, len) < 0)
		set_err(err, errlen, "%s", r.err);
	else if (machine_load_state(m, &r, err, errlen) == 0)
		ret = 0;
	ss_reader_close(&r);
	free(state);
	return ret;
}

static void incoming_run(void *opaque)
{
	struct machine *m = opaque;
	char err[256] = "";
	int ret;

	m->mig.setup_ms = now_ms() - m->mig.start_ms;
	set_status(m, MIG_STATUS_ACTIVE);
	ret = load_stream(m, err, sizeof(err));
	if (ret == 0)
		close_chan(m, err, sizeof(err), &ret);
	/* The source dropped its image locks at its switchover: take them
	 * before the guest writes (QEMU's bdrv_activate_all). */
	if (ret == 0)
		ret = machine_images_activate(m, err, sizeof(err));
	if (ret < 0) {
		incoming_failed(m, err);
		return;
	}
	m->mig.total_ms = now_ms() - m->mig.start_ms;
	m->mig.incoming = false;
	m->run_state = NULL;
	set_status(m, MIG_STATUS_COMPLETED);
	if (m->cfg.start_paused)
		return; /* -S: cont starts it */
	if (machine_resume(m))
		control_event(m->control, "RESUME", NULL);
}

static void incoming_accept(void *opaque, int fd, unsigned revents)
{
	struct machine *m = opaque;
	char err[256];

	event_fd_remove(m->mig.listen_handle);
	m->mig.listen_handle = NULL;
	if (mig_accept(&m->mig.chan, err, sizeof(err)) < 0) {
		incoming_failed(m, err);
		return;
	}
	m->mig.start_ms = now_ms(); /* the wait for the source is no part of it */
	incoming_run(m);
}

/* Starts waiting for (or reading) the stream once the loop runs. */
static int incoming_start(struct machine *m, const char *uri, char *err, size_t errlen)
{
	struct mig_uri u;

	if (mig_uri_parse(uri, &u, err, errlen) < 0 ||
	    mig_open_in(&u, &m->mig.chan, err, errlen) < 0)
		return -1;
	m->mig.chan_open = true;
	m->mig.start_ms = now_ms();
	m->mig.ram_total = ram_bytes(m);
	set_status(m, MIG_STATUS_SETUP);
	return 0;
}

/* Main thread, at set-up (before the sandbox: it may listen, open a file
 * or start a command). Dies with one line on a bad URI. */
void machine_incoming_open(struct machine *m)
{
	char err[256];

	if (!m->cfg.incoming)
		return;
	if (m->cfg.loadvm)
		die("-loadvm and -incoming cannot be used together");
	if (m->unshared_disk) {
		unshared_disk_error(m, err, sizeof(err));
		die("-incoming: %s", err);
	}
	m->mig.incoming = true;
	m->run_state = "inmigrate";
	if (!strcmp(m->cfg.incoming, "defer"))
		return;
	if (incoming_start(m, m->cfg.incoming, err, sizeof(err)) < 0)
		die("-incoming: %s", err);
}

/* From machine_run, with the vCPUs parked: serve the channel. */
void machine_incoming_attach(struct machine *m)
{
	if (!m->mig.chan_open)
		return;
	if (m->mig.chan.listening) {
		m->mig.listen_handle = event_fd_add(m->loop, m->mig.chan.fd, POLLIN,
						    incoming_accept, m);
		if (!m->mig.listen_handle)
			die_errno("event loop");
		return;
	}
	if (event_post(m->loop, incoming_run, m) < 0)
		incoming_run(m);
}

/* migrate-incoming, after -incoming defer. Opens under the sandbox, so
 * only what the main thread's filter allows: unix: and tcp: listen, exec:
 * through the launcher (spawn=allow); a file opened for reading needs the
 * sandbox off. */
int machine_migrate_incoming(void *opaque, const char *uri, char *err, size_t errlen)
{
	struct machine *m = opaque;

	if (!m->mig.incoming || strcmp(m->cfg.incoming, "defer"))
		return set_err(err, errlen, "The incoming migration has not been started with "
			       "-incoming defer");
	if (m->mig.chan_open || m->mig.status != MIG_STATUS_NONE)
		return set_err(err, errlen, "The incoming migration has already been started");
	/* Reading a file or starting a command are not the main thread's
	 * under the sandbox (the call would kill vmm): refused first. */
	struct mig_uri u;
	if (mig_uri_parse(uri, &u, err, errlen) < 0)
		return -1;
	if (((u.kind == MIG_URI_EXEC && !launcher_running()) || u.kind == MIG_URI_FILE) &&
	    m->cfg.sandbox.enabled)
		return set_err(err, errlen, "migration: migrate-incoming takes unix: or tcp: under "
			       "the sandbox (and exec: with -sandbox on,spawn=allow); give file: or "
			       "exec: to -incoming itself (opened before the sandbox), or start vmm "
			       "with -sandbox off");
	if (incoming_start(m, uri, err, errlen) < 0)
		return -1;
	machine_incoming_attach(m);
	return 0;
}

/* ---- query-migrate and capabilities -------------------------------------- */

void machine_query_migrate(void *opaque, struct vmctl_migration *out)
{
	struct machine *m = opaque;
	uint64_t sent;

	memset(out, 0, sizeof(*out));
	out->status = status_names[m->mig.status];
	out->events = m->mig.events;
	out->downtime_limit_ms = downtime_limit(m);
	out->max_bandwidth = max_bandwidth(m);
	out->error = m->mig.status == MIG_STATUS_FAILED && m->mig.error[0] ? m->mig.error : NULL;
	if (m->mig.status == MIG_STATUS_NONE || m->mig.status == MIG_STATUS_SETUP)
		return;
	out->has_stats = true;
	pthread_mutex_lock(&m->mig.lock);
	struct mig_stats st = m->mig.stats;
	uint64_t syncs = m->mig.dirty_syncs, expected = m->mig.expected_downtime_ms;
	pthread_mutex_unlock(&m->mig.lock);
	sent = (st.zero_pages + st.data_pages) * MIG_PAGE_SIZE;
	out->setup_ms = (int64_t)m->mig.setup_ms;
	out->total_ms = (int64_t)(migration_running(m) ? now_ms() - m->mig.start_ms
							: m->mig.total_ms);
	out->downtime_ms = (int64_t)(m->mig.status == MIG_STATUS_COMPLETED
					     ? m->mig.downtime_ms : expected);
	out->transferred = st.bytes;
	out->total = m->mig.ram_total;
	out->remaining = m->mig.status == MIG_STATUS_COMPLETED || sent >= m->mig.ram_total
				 ? 0 : m->mig.ram_total - sent;
	out->duplicate = st.zero_pages;
	out->normal = st.data_pages;
	out->dirty_sync_count = syncs;
}

int machine_migrate_set_parameter(void *opaque, const char *name, uint64_t value)
{
	struct machine *m = opaque;

	if (migration_running(m) && !m->mig.incoming)
		return -EBUSY;
	if (!strcmp(name, "downtime-limit")) {
		if (value > DOWNTIME_LIMIT_MAX_MS)
			return -ERANGE;
		m->mig.downtime_limit_ms = value;
		m->mig.downtime_limit_set = true;
		return 0;
	}
	if (!strcmp(name, "max-bandwidth")) {
		if (value == 0 || value > (uint64_t)INT64_MAX / 1000)
			return -ERANGE;
		m->mig.max_bandwidth = value;
		return 0;
	}
	return -ENOENT;
}

int machine_migrate_set_capability(void *opaque, const char *name, bool on)
{
	struct machine *m = opaque;

	if (strcmp(name, "events"))
		return -ENOENT;
	/* A destination still waiting for its source may change it (QEMU's
	 * incoming side has a state of its own). */
	if (migration_running(m) && !m->mig.incoming)
		return -EBUSY;
	m->mig.events = on;
	return 0;
}

void machine_migration_init(struct machine *m)
{
	pthread_mutex_init(&m->mig.lock, NULL);
	pthread_cond_init(&m->mig.cond, NULL);
	m->mig.wake_fd = -1;
}

/* Makes the thread's pending or next write fail: a socket is shut down,
 * an exec: command ended (a pipe nobody reads breaks): by vmm with the
 * sandbox off, by the launcher that started it with spawn=allow. */
static void unblock_thread(struct machine *m)
{
	atomic_store(&m->mig.cancel, true);
	if (m->mig.chan.fd >= 0)
		shutdown(m->mig.chan.fd, SHUT_RDWR);
	if (m->mig.chan.child > 0 && m->mig.chan.launched)
		launcher_kill(m->mig.chan.child, SIGTERM);
	else if (m->mig.chan.child > 0 && !m->cfg.sandbox.enabled)
		kill(m->mig.chan.child, SIGTERM);
}

void machine_migrate_cancel(void *opaque)
{
	struct machine *m = opaque;

	if (!m->mig.thread_started || !migration_running(m) ||
	    m->mig.status == MIG_STATUS_CANCELLING)
		return; /* nothing to cancel, or the stream has ended */
	set_status(m, MIG_STATUS_CANCELLING);
	unblock_thread(m);
}

/* At exit: a migration thread still running is cancelled and joined; a
 * channel still open (a destination that never got its source) closed. */
void machine_migration_destroy(struct machine *m)
{
	int ignored = -1;

	if (m->mig.thread_started) {
		unblock_thread(m);
		pthread_mutex_lock(&m->mig.lock);
		if (m->mig.switchover == SWITCH_WANTED || m->mig.switchover == SWITCH_ASKED) {
			m->mig.switchover = SWITCH_ABORT;
			snprintf(m->mig.switch_err, sizeof(m->mig.switch_err), "migration: vmm exits");
			pthread_cond_broadcast(&m->mig.cond);
		}
		pthread_mutex_unlock(&m->mig.lock);
		pthread_join(m->mig.thread, NULL);
		m->mig.thread_started = false;
		ss_writer_free(&m->mig.state);
	}
	if (m->mig.wake_handle)
		event_fd_remove(m->mig.wake_handle);
	m->mig.wake_handle = NULL;
	if (m->mig.wake_fd >= 0)
		close(m->mig.wake_fd);
	m->mig.wake_fd = -1;
	if (m->mig.listen_handle)
		event_fd_remove(m->mig.listen_handle);
	m->mig.listen_handle = NULL;
	close_chan(m, NULL, 0, &ignored);
	pthread_cond_destroy(&m->mig.cond);
	pthread_mutex_destroy(&m->mig.lock);
}
