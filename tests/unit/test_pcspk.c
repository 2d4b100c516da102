// SPDX-License-Identifier: GPL-2.0-or-later
/* The PC speaker (hw/audio/pcspk.c): the generator of PIT channel 2's
 * output (square-wave frequency and duty, the gate, count 0, the one-shot
 * modes, absurd counts, modes and times), and the model through port 0x61
 * with a fake PIT and a WAVE backend stepped through virtual time (the
 * tone, silence while bit 1 is clear, nothing while the speaker is
 * unused, the guest's own level changes, OUT2 and the refresh bit as the
 * guest reads them, saved state; a vCPU thread against the mixer, also
 * under TSan). */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "audio.h"
#include "bus.h"
#include "bus_access.h"
#include "hw/pcspk.h"
#include "savestate.h"
#include "util.h"

#define MS 1000000LL
#define RATE 44100
/* The PIT's clock runs ahead of the backend's (virtual) clock by this. */
#define PIT_OFFSET (7 * 1000 * MS + 123457)

/* ---- the generator ------------------------------------------------------------ */

static struct pcspk_channel chan(uint32_t count, uint8_t mode)
{
	return (struct pcspk_channel){ .count = count, .mode = mode, .load_ns = 0 };
}

/* Rising zero crossings per second of 'seconds' of output at RATE, each
 * frame the average level over its interval (as the model renders). */
static double measured_hz(const struct pcspk_channel *ch, bool gate, double seconds)
{
	size_t n = (size_t)(seconds * RATE);
	double prev = 0, first = -1, last = -1;
	unsigned rises = 0;

	for (size_t k = 0; k < n; k++) {
		int64_t t0 = (int64_t)k * 1000000000LL / RATE;
		int64_t t1 = (int64_t)(k + 1) * 1000000000LL / RATE;
		double v = 2.0 * pcspk_out_high(ch, gate, false, t0, t1) - 1.0;
		if (k && prev < 0 && v >= 0) {
			double x = (double)(k - 1) + prev / (prev - v); /* interpolated */
			if (first < 0)
				first = x;
			last = x;
			rises++;
		}
		prev = v;
	}
	assert_true(rises >= 2);
	return (rises - 1) * (double)RATE / (last - first);
}

static void assert_hz(double got, double want)
{
	double err = got > want ? got / want - 1 : want / got - 1;
	if (err > 0.001)
		fail_msg("%.3f Hz, expected %.3f Hz (%.3f %%)", got, want, err * 100);
}

static void test_square_wave_frequency(void **state)
{
	static const uint32_t counts[] = { 1193, 2712, 1000, 300, 9999, 65535 };

	for (unsigned i = 0; i < ARRAY_SIZE(counts); i++) {
		struct pcspk_channel ch = chan(counts[i], 3);
		assert_hz(measured_hz(&ch, true, 1.0), (double)PCSPK_PIT_HZ / counts[i]);
	}
	/* count 0 is 65536: 18.2 Hz */
	struct pcspk_channel zero = chan(0, 3);
	assert_hz(measured_hz(&zero, true, 3.0), (double)PCSPK_PIT_HZ / 65536);
	/* mode 7 is mode 3 */
	struct pcspk_channel seven = chan(1193, 7);
	assert_hz(measured_hz(&seven, true, 1.0), (double)PCSPK_PIT_HZ / 1193);
}

static void test_square_wave_duty(void **state)
{
	/* (N+1)/2 clocks high, (N-1)/2 low: over whole periods */
	int64_t period3 = 3LL * 1000000000LL / PCSPK_PIT_HZ;
	struct pcspk_channel odd = chan(3, 3), even = chan(1000, 3);
	double h = pcspk_out_high(&odd, true, false, 0, 1000 * period3);
	assert_true(h > 0.666 && h < 0.668);
	h = pcspk_out_high(&even, true, false, 0, 1000000000LL);
	assert_true(h > 0.499 && h < 0.501);
	/* the first half-period is high, the second low */
	assert_true(pcspk_out(&even, true, false, 0));
	assert_true(pcspk_out(&even, true, false, 400 * 1000000000LL / PCSPK_PIT_HZ));
	assert_false(pcspk_out(&even, true, false, 600 * 1000000000LL / PCSPK_PIT_HZ));
	/* far into the run the periods still line up (no drift) */
	int64_t hour = 3600LL * 1000000000LL;
	h = pcspk_out_high(&even, true, false, hour, hour + 1000000000LL);
	assert_true(h > 0.499 && h < 0.501);
}

static void test_gate_low_holds_out_high(void **state)
{
	struct pcspk_channel sq = chan(1193, 3), rate = chan(1193, 2);

	assert_true(pcspk_out_high(&sq, false, false, 0, 1000000000LL) == 1.0);
	assert_true(pcspk_out_high(&rate, false, false, 0, 1000000000LL) == 1.0);
	for (int64_t t = 0; t < 10 * MS; t += 37 * 1000)
		assert_true(pcspk_out(&sq, false, false, t));
	/* mode 2 with the gate: one clock low per period */
	double h = pcspk_out_high(&rate, true, false, 0, 1000000000LL);
	assert_true(h > 1.0 - 1.0 / 1193 - 0.0005 && h < 1.0 - 1.0 / 1193 + 0.0005);
}

static void test_one_shot_levels(void **state)
{
	int64_t clk = 1000000000LL / PCSPK_PIT_HZ + 1;
	struct pcspk_channel m0 = chan(100, 0), m1 = chan(100, 1), m0z = chan(0, 0);

	/* mode 0: low until terminal count, then high for good */
	assert_false(pcspk_out(&m0, true, false, 0));
	assert_false(pcspk_out(&m0, true, false, 99 * clk));
	assert_true(pcspk_out(&m0, true, false, 101 * clk));
	assert_true(pcspk_out(&m0, true, false, 3600LL * 1000000000LL));
	/* count 0: 65536 clocks, 54.9 ms */
	assert_false(pcspk_out(&m0z, true, false, 54 * MS));
	assert_true(pcspk_out(&m0z, true, false, 55 * MS));
	/* mode 1: high until a gate trigger, then low for the count */
	assert_true(pcspk_out(&m1, true, false, 0));
	assert_false(pcspk_out(&m1, true, true, 50 * clk));
	assert_true(pcspk_out(&m1, true, true, 101 * clk));
	/* a half-high frame at the edge */
	double h = pcspk_out_high(&m0, true, false, 0, 200 * 1000000000LL / PCSPK_PIT_HZ);
	assert_true(h > 0.49 && h < 0.51);
	/* modes 4 and 5: high but one clock */
	struct pcspk_channel m4 = chan(100, 4);
	assert_true(pcspk_out(&m4, true, false, 50 * clk));
	assert_true(pcspk_out_high(&m4, true, false, 0, 10 * MS) > 0.99);
}

static void test_absurd_values(void **state)
{
	/* counts above 65536 are 65536 */
	struct pcspk_channel big = chan(0xFFFFFFFF, 3), max = chan(65536, 3);
	assert_true(pcspk_out_high(&big, true, false, 0, 80 * MS) ==
		    pcspk_out_high(&max, true, false, 0, 80 * MS));
	/* never programmed, or modes no control word makes: high */
	for (unsigned m = 8; m < 256; m += 31) {
		struct pcspk_channel ch = chan(1193, (uint8_t)m);
		assert_true(pcspk_out(&ch, true, true, 5 * MS));
		assert_true(pcspk_out_high(&ch, true, true, 0, MS) == 1.0);
	}
	/* counts of 1 in modes 2 and 3 (illegal) and every count's edges */
	for (uint8_t m = 0; m < 8; m++)
		for (uint32_t c = 0; c < 4; c++) {
			struct pcspk_channel ch = chan(c, m);
			for (int64_t t = -5; t < 5; t++) {
				double h = pcspk_out_high(&ch, t & 1, t & 2, t * MS, (t + 1) * MS);
				assert_true(h >= 0.0 && h <= 1.0);
			}
			double h = pcspk_out_high(&ch, true, true, INT64_MIN, INT64_MAX);
			assert_true(h >= 0.0 && h <= 1.0);
			h = pcspk_out_high(&ch, true, true, INT64_MAX - 1, INT64_MAX);
			assert_true(h >= 0.0 && h <= 1.0);
			h = pcspk_out_high(&ch, true, true, 5 * MS, 1 * MS); /* backwards */
			assert_true(h == 0.0 || h == 1.0);
			(void)pcspk_out(&ch, true, true, INT64_MAX);
			(void)pcspk_out(&ch, false, false, INT64_MIN);
		}
}

/* ---- the model ------------------------------------------------------------------- */

struct fix {
	struct io_bus pio;
	struct pcspk *spk;
	struct audio_backend *be;
	char *wav;
	_Atomic int64_t now;         /* the backend's clock (a vCPU thread reads it) */
	struct pcspk_channel ch;     /* PIT channel 2 as "KVM" has it */
	bool pit_fails;
};

static bool fake_channel2(void *opaque, struct pcspk_channel *ch)
{
	struct fix *f = opaque;
	*ch = f->ch;
	return !f->pit_fails;
}

static int64_t fake_pit_now(void *opaque)
{
	struct fix *f = opaque;
	return f->now + PIT_OFFSET;
}

static void outb(struct fix *f, uint8_t v) { bus_wr(&f->pio, PCSPK_PORT, v, 1); }
static uint8_t inb(struct fix *f) { return (uint8_t)bus_rd(&f->pio, PCSPK_PORT, 1); }

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char err[256];

	bus_init(&f->pio, "pio");
	f->wav = xstrdup("/tmp/vmm-test-pcspk-XXXXXX");
	int fd = mkstemp(f->wav);
	assert_true(fd >= 0);
	close(fd);
	f->now = 1000 * MS;
	f->ch = (struct pcspk_channel){ .mode = PCSPK_MODE_NONE };
	struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV, .path = f->wav,
				     .out = { RATE, 1, AUDIO_FMT_S16 } };
	f->be = audio_backend_open(&c, NULL, err, sizeof(err));
	assert_non_null(f->be);
	struct pcspk_pit pit = { .channel2 = fake_channel2, .now_ns = fake_pit_now, .opaque = f };
	f->spk = pcspk_create(&f->pio, &pit, f->be, err, sizeof(err));
	assert_non_null(f->spk);
	audio_backend_run(f->be, f->now); /* the clock starts */
	*state = f;
	return 0;
}

/* The speaker and the backend go (the WAVE file is complete). */
static void finish(struct fix *f)
{
	pcspk_destroy(f->spk);
	f->spk = NULL;
	audio_backend_close(f->be);
	f->be = NULL;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	finish(f);
	bus_destroy(&f->pio);
	unlink(f->wav);
	free(f->wav);
	free(f);
	return 0;
}

/* Virtual time passes in steps of 'step_us' (the backend's timer period
 * is 10 ms). */
static void advance_us(struct fix *f, int64_t us, int64_t step_us)
{
	for (int64_t t = 0; t < us; t += step_us) {
		f->now += step_us * 1000;
		audio_backend_run(f->be, f->now);
	}
}

static void advance(struct fix *f, int64_t ms) { advance_us(f, ms * 1000, 10000); }

/* The finished recording's samples. */
static int16_t *recording(struct fix *f, size_t *n)
{
	finish(f);
	FILE *fp = fopen(f->wav, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long len = ftell(fp);
	assert_true(len >= 44);
	int16_t *s = malloc((size_t)len);
	fseek(fp, 44, SEEK_SET);
	assert_int_equal(fread(s, 1, (size_t)len - 44, fp), (size_t)len - 44);
	fclose(fp);
	*n = ((size_t)len - 44) / 2;
	return s;
}

/* Rising zero crossings per second in s[a, b). */
static double recorded_hz(const int16_t *s, size_t a, size_t b)
{
	double first = -1, last = -1;
	unsigned rises = 0;

	for (size_t k = a + 1; k < b; k++)
		if (s[k - 1] < 0 && s[k] >= 0) {
			double x = (double)(k - 1) + (double)s[k - 1] / (s[k - 1] - s[k]);
			if (first < 0)
				first = x;
			last = x;
			rises++;
		}
	assert_true(rises >= 2);
	return (rises - 1) * (double)RATE / (last - first);
}

static void program(struct fix *f, uint32_t count, uint8_t mode)
{
	f->ch = (struct pcspk_channel){ .count = count, .mode = mode,
					.load_ns = f->now + PIT_OFFSET };
}

static void test_tone_then_silence(void **state)
{
	struct fix *f = *state;

	program(f, 1193, 3);
	outb(f, 0x03);
	advance(f, 500);
	outb(f, 0x01); /* the gate stays, the speaker is off */
	advance(f, 200);
	program(f, 2712, 3);
	outb(f, 0x03);
	advance(f, 300);
	outb(f, 0x00);
	advance(f, 500); /* 100 ms of silence, then nothing more is recorded */
	size_t n;
	int16_t *s = recording(f, &n);
	assert_int_equal(n, RATE + RATE / 10); /* 500 + 200 + 300 + 100 ms */
	for (size_t k = RATE; k < n; k++)
		assert_int_equal(s[k], 0);
	assert_hz(recorded_hz(s, 0, RATE / 2), (double)PCSPK_PIT_HZ / 1193);
	for (size_t k = RATE / 2 + 1; k < RATE * 7 / 10; k++)
		assert_int_equal(s[k], 0);
	assert_hz(recorded_hz(s, RATE * 7 / 10 + 1, RATE), (double)PCSPK_PIT_HZ / 2712);
	int16_t lo = 0, hi = 0;
	for (size_t k = 0; k < n; k++)
		lo = MIN(lo, s[k]), hi = MAX(hi, s[k]);
	assert_int_equal(hi, PCSPK_AMPLITUDE);
	assert_int_equal(lo, -PCSPK_AMPLITUDE);
	free(s);
}

static void test_unused_speaker_records_nothing(void **state)
{
	struct fix *f = *state;

	program(f, 1193, 3);
	advance(f, 100);
	outb(f, 0x0C); /* parity and channel check enables: not the speaker */
	advance(f, 100);
	assert_int_equal(audio_backend_frames_written(f->be), 0);
}

/* A program toggling bit 1 itself (the gate low holds OUT2 high): the
 * level follows its writes, +A while on, 0 while off. */
static void test_guest_toggled_levels(void **state)
{
	struct fix *f = *state;
	unsigned changes = 0;

	program(f, 1193, 3);
	for (unsigned i = 0; i < 100; i++) {
		outb(f, (i & 1) ? 0x00 : 0x02);
		advance_us(f, 1000, 1000); /* a write every millisecond */
	}
	outb(f, 0x00);
	advance(f, 200);
	size_t n;
	int16_t *s = recording(f, &n);
	/* one stream: the 100 ms of writes and the 100 ms the voice is held */
	assert_true(n >= RATE / 5 - 2 * RATE / 1000 && n <= RATE / 5 + RATE / 100);
	for (size_t k = 0; k < n; k++) {
		assert_true(s[k] == 0 || s[k] == PCSPK_AMPLITUDE);
		changes += k && s[k] != s[k - 1];
	}
	assert_true(changes >= 95); /* every write is heard */
	free(s);
}

static void test_port_bits(void **state)
{
	struct fix *f = *state;

	outb(f, 0xFF);
	assert_int_equal(inb(f) & 0xCF, 0x0F); /* bits 0-3 as written, 6-7 clear */
	outb(f, 0x00);
	assert_int_equal(inb(f) & 0xCF, 0x00);
	/* OUT2 in mode 0 (SeaBIOS's TSC calibration): low until the count ends */
	outb(f, 0x01);
	program(f, 2048, 0);
	assert_int_equal(inb(f) & 0x20, 0);
	f->now += 1 * MS;
	assert_int_equal(inb(f) & 0x20, 0);
	f->now += 1 * MS;
	assert_int_equal(inb(f) & 0x20, 0x20);
	/* the refresh bit toggles every 15 us */
	unsigned ones = 0;
	for (unsigned i = 0; i < 100; i++) {
		f->now += 15085;
		ones += (inb(f) >> 4) & 1;
	}
	assert_true(ones >= 45 && ones <= 55);
	/* a rising gate restarts a square wave: high for the first half */
	program(f, 2000, 3);
	f->now += 1 * MS; /* OUT2 low by now (half of 1.68 ms) */
	assert_int_equal(inb(f) & 0x20, 0);
	outb(f, 0x00);
	outb(f, 0x01);
	assert_int_equal(inb(f) & 0x20, 0x20);
	/* a PIT that cannot be read: OUT2 high, nothing breaks */
	f->pit_fails = true;
	assert_int_equal(inb(f) & 0x20, 0x20);
	outb(f, 0x03);
	advance(f, 30);
	f->pit_fails = false;
}

static void test_state_round_trip(void **state)
{
	struct fix *f = *state;
	struct ss_writer w;
	struct ss_reader r;

	outb(f, 0x0B);
	ss_writer_init(&w);
	pcspk_save(f->spk, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);
	pcspk_reset(f->spk);
	assert_int_equal(inb(f) & 0x0F, 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(pcspk_load(f->spk, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w);
	assert_int_equal(inb(f) & 0x0F, 0x0B);

	/* a value no write makes is refused, the model unchanged */
	ss_writer_init(&w);
	ss_section_begin(&w, "pcspk", 0, 1);
	ss_put_u8(&w, "port", 0x30);
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(pcspk_load(f->spk, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w);
	assert_int_equal(inb(f) & 0x0F, 0x0B);
}

/* The speaker on at load: it plays from then without a port write. */
static void test_load_resumes_playing(void **state)
{
	struct fix *f = *state;
	struct ss_writer w;
	struct ss_reader r;

	outb(f, 0x03);
	ss_writer_init(&w);
	pcspk_save(f->spk, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);
	pcspk_reset(f->spk);
	advance(f, 50);
	assert_int_equal(audio_backend_frames_written(f->be), 0);
	program(f, 1193, 3);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(pcspk_load(f->spk, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w);
	advance(f, 100);
	assert_true(audio_backend_frames_written(f->be) >= RATE / 10 - RATE / 100);
}

/* A vCPU thread writes and reads port 0x61 (and resets the model) while
 * the loop's thread mixes: run under TSan (make tsan) and ASan. */
struct race {
	struct fix *f;
	atomic_bool stop;
};

static void *race_vcpu(void *opaque)
{
	struct race *r = opaque;
	uint32_t seed = 7;

	while (!atomic_load(&r->stop)) {
		seed = seed * 1103515245u + 12345u;
		uint8_t v = (uint8_t)(seed >> 20);
		if (((seed >> 16) & 63) == 0)
			pcspk_reset(r->f->spk);
		else if (seed & 0x8000)
			outb(r->f, v);
		else
			(void)inb(r->f);
	}
	return NULL;
}

static void test_race_vcpu_against_mixer(void **state)
{
	struct fix *f = *state;
	struct race r = { .f = f };
	pthread_t t;

	program(f, 1193, 3);
	assert_int_equal(pthread_create(&t, NULL, race_vcpu, &r), 0);
	for (unsigned i = 0; i < 2000; i++)
		advance_us(f, 10000, 10000);
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	outb(f, 0x07);
	assert_int_equal(inb(f) & 0x0F, 0x07);
	uint64_t before = audio_backend_frames_written(f->be);
	advance(f, 50);
	assert_true(audio_backend_frames_written(f->be) >= before + RATE / 25);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_square_wave_frequency),
		cmocka_unit_test(test_square_wave_duty),
		cmocka_unit_test(test_gate_low_holds_out_high),
		cmocka_unit_test(test_one_shot_levels),
		cmocka_unit_test(test_absurd_values),
		T(test_tone_then_silence),
		T(test_unused_speaker_records_nothing),
		T(test_guest_toggled_levels),
		T(test_port_bits),
		T(test_state_round_trip),
		T(test_load_resumes_playing),
		T(test_race_vcpu_against_mixer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
