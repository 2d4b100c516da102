// SPDX-License-Identifier: GPL-2.0-or-later
/* The audio layer (src/audio): -audiodev parsing, the sample conversions,
 * the backend's clock (frames per second of virtual time, whatever the
 * step sizes), mixing, rate conversion, voices that end within a step,
 * hostile formats, and the wav backend's RIFF header. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "audio.h"
#include "util.h"

#define MS 1000000LL

/* ---- helpers ---------------------------------------------------------------- */

static char *tmp_wav(void)
{
	char *path = xstrdup("/tmp/vmm-test-audio-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return path;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static struct audio_backend *open_wav(const char *path, uint32_t rate, unsigned ch,
				      enum audio_fmt fmt)
{
	char err[256];
	struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV, .path = (char *)path,
				     .out = { .rate = rate, .channels = ch, .fmt = fmt } };
	struct audio_backend *be = audio_backend_open(&c, NULL, err, sizeof(err));
	assert_non_null(be);
	return be;
}

/* A card that plays a counter (s16) in its format, for 'limit' frames. */
struct counter_voice {
	struct audio_format fmt;
	bool playing;
	int16_t next;
	uint64_t given, limit;
	size_t asked_max;
};

static void counter_fill(void *opaque, struct audio_request *req)
{
	struct counter_voice *c = opaque;

	if (!c->playing)
		return;
	struct audio_format fmt = c->fmt;
	size_t n = audio_request_frames(req, &fmt);
	unsigned channels = fmt.channels;
	int16_t *buf = audio_request_buffer(req);
	c->asked_max = MAX(c->asked_max, n);
	size_t k;
	for (k = 0; k < n && c->given < c->limit; k++, c->given++) {
		for (unsigned ch = 0; ch < channels; ch++)
			buf[k * channels + ch] = c->next;
		c->next++;
	}
	audio_request_done(req, k);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_conversions_round_trip(void **state)
{
	uint8_t b[4], back[4];

	for (unsigned v = 0; v < 256; v++) {
		b[0] = (uint8_t)v;
		audio_sample_from_mix(AUDIO_FMT_U8, audio_sample_to_mix(AUDIO_FMT_U8, b), back);
		assert_int_equal(back[0], v);
		audio_sample_from_mix(AUDIO_FMT_S8, audio_sample_to_mix(AUDIO_FMT_S8, b), back);
		assert_int_equal(back[0], v);
	}
	for (unsigned v = 0; v < 65536; v += 7) {
		put_le16(b, (uint16_t)v);
		audio_sample_from_mix(AUDIO_FMT_S16, audio_sample_to_mix(AUDIO_FMT_S16, b), back);
		assert_int_equal(le16(back), v);
		audio_sample_from_mix(AUDIO_FMT_U16, audio_sample_to_mix(AUDIO_FMT_U16, b), back);
		assert_int_equal(le16(back), v);
	}
	/* u8 0x80 is silence: 0 in every format */
	b[0] = 0x80;
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_U8, b), 0);
	audio_sample_from_mix(AUDIO_FMT_S32, 0x1234, back);
	assert_int_equal(le32(back), 0x12340000u);
	audio_sample_from_mix(AUDIO_FMT_U16, -40000, back); /* clamped */
	assert_int_equal(le16(back), 0);
	audio_sample_from_mix(AUDIO_FMT_S16, 40000, back);
	assert_int_equal(le16(back), 0x7FFF);
	/* floats: range, clamping and NaN */
	float f = 0.5f, nan = 0.0f / 0.0f, big = 7.0f;
	uint32_t u;
	memcpy(&u, &f, 4);
	put_le32(b, u);
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_F32, b), 16384);
	memcpy(&u, &nan, 4);
	put_le32(b, u);
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_F32, b), 0);
	memcpy(&u, &big, 4);
	put_le32(b, u);
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_F32, b), 32767);
}

static void test_audiodev_parse(void **state)
{
	struct audiodev_config c;
	char err[256];

	assert_int_equal(audiodev_parse("none,id=a", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, AUDIODEV_NONE);
	assert_string_equal(c.id, "a");
	assert_int_equal(c.out.rate, 44100);
	assert_int_equal(c.out.channels, 2);
	assert_int_equal(c.out.fmt, AUDIO_FMT_S16);
	audiodev_config_free(&c);

	assert_int_equal(audiodev_parse("driver=wav,id=w,path=/tmp/x,,y.wav,out.frequency=8000,"
					"out.channels=1,out.format=u8,timer-period=5000",
					&c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, AUDIODEV_WAV);
	assert_string_equal(c.path, "/tmp/x,y.wav");
	assert_int_equal(c.out.rate, 8000);
	assert_int_equal(c.out.channels, 1);
	assert_int_equal(c.out.fmt, AUDIO_FMT_U8);
	assert_int_equal(c.period_us, 5000);
	audiodev_config_free(&c);

	assert_int_equal(audiodev_parse("wav,id=w", &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, "vmm.wav");
	audiodev_config_free(&c);

	assert_int_equal(audiodev_parse("sdl,id=s,out.buffer-length=40000", &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.kind, AUDIODEV_SDL);
	assert_int_equal(c.buffer_us, 40000);
	assert_null(c.path);
	audiodev_config_free(&c);

	static const char *const bad[] = {
		"none", "sdl,id=a,out.format=u16", "sdl,id=a,out.buffer-length=9999", "pa,id=a", "none,id=a,out.frequency=100",
		"none,id=a,out.frequency=1000000", "none,id=a,out.channels=3",
		"none,id=a,out.format=s24", "none,id=a,bogus=1", "wav,id=a,out.format=u16",
		"none,id=a,timer-period=0", "none,id=", "wav,id=a,path=", "none,id=a,x",
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = 0;
		assert_int_equal(audiodev_parse(bad[i], &c, err, sizeof(err)), -1);
		assert_true(err[0] != 0);
		assert_null(strchr(err, '\n'));
		audiodev_config_free(&c);
	}
}

/* A second of virtual time is 44100 frames whatever the steps; the
 * samples of a voice at the backend's rate pass unchanged, mono on both
 * channels; the header is right at close. */
static void test_clock_and_identity(void **state)
{
	char *path = tmp_wav();
	struct audio_backend *be = open_wav(path, 44100, 2, AUDIO_FMT_S16);
	struct counter_voice c = { .fmt = { 44100, 1, AUDIO_FMT_S16 }, .playing = true,
				   .next = -1000, .limit = UINT64_MAX };
	struct audio_voice *v = audio_voice_add(be, "counter", counter_fill, &c);
	int64_t t = 5 * MS;

	audio_backend_run(be, t); /* starts the clock */
	assert_int_equal(audio_backend_frames_written(be), 0);
	/* uneven steps: 3 ms, 7 ms, 11 ms ... up to one second */
	for (int64_t d = 3; t < 5 * MS + 1000 * MS; d = d % 13 + 4) {
		t = MIN(t + d * MS, 5 * MS + 1000 * MS);
		audio_backend_run(be, t);
	}
	assert_int_equal(audio_backend_frames_written(be), 44100);
	assert_int_equal(c.given, 44100);
	audio_voice_remove(v);
	audio_backend_close(be);

	size_t len;
	uint8_t *f = read_file(path, &len);
	assert_int_equal(len, 44 + 44100 * 4);
	assert_memory_equal(f, "RIFF", 4);
	assert_int_equal(le32(f + 4), len - 8);
	assert_memory_equal(f + 8, "WAVEfmt ", 8);
	assert_int_equal(le32(f + 16), 16);
	assert_int_equal(le16(f + 20), 1);
	assert_int_equal(le16(f + 22), 2);
	assert_int_equal(le32(f + 24), 44100);
	assert_int_equal(le32(f + 28), 44100 * 4);
	assert_int_equal(le16(f + 32), 4);
	assert_int_equal(le16(f + 34), 16);
	assert_memory_equal(f + 36, "data", 4);
	assert_int_equal(le32(f + 40), 44100 * 4);
	for (unsigned i = 0; i < 44100; i++) {
		assert_int_equal((int16_t)le16(f + 44 + i * 4), (int16_t)(-1000 + i));
		assert_int_equal((int16_t)le16(f + 46 + i * 4), (int16_t)(-1000 + i));
	}
	free(f);
	unlink(path);
	free(path);
}

/* 22050 Hz into 44100 Hz: twice the output frames, half the input asked;
 * a constant input comes out constant once the interpolation has it. */
static void test_rate_conversion(void **state)
{
	char *path = tmp_wav();
	struct audio_backend *be = open_wav(path, 44100, 1, AUDIO_FMT_S16);
	struct counter_voice c = { .fmt = { 22050, 2, AUDIO_FMT_S16 }, .playing = true,
				   .limit = UINT64_MAX };
	struct audio_voice *v = audio_voice_add(be, "slow", counter_fill, &c);

	audio_backend_run(be, 0);
	for (int64_t t = 10 * MS; t <= 500 * MS; t += 10 * MS)
		audio_backend_run(be, t);
	assert_int_equal(audio_backend_frames_written(be), 22050);
	/* the interpolation runs one input frame behind */
	assert_true(c.given >= 11024 && c.given <= 11026);
	audio_voice_remove(v);
	audio_backend_close(be);

	size_t len;
	uint8_t *f = read_file(path, &len);
	assert_int_equal(len, 44 + 22050 * 2);
	/* a ramp of 1 per input frame is a ramp of 1/2 per output frame */
	for (unsigned i = 4; i + 2 < 22050; i += 2) {
		int16_t a = (int16_t)le16(f + 44 + i * 2), b = (int16_t)le16(f + 46 + i * 2);
		assert_int_equal(b - a, 0);
		assert_int_equal((int16_t)le16(f + 48 + i * 2) - a, 1);
	}
	free(f);
	unlink(path);
	free(path);
}

/* A voice that ends within a step makes the step that long; a step with
 * no voice writes nothing and rests the clock. */
static void test_voice_end_and_silence(void **state)
{
	char *path = tmp_wav();
	struct audio_backend *be = open_wav(path, 8000, 1, AUDIO_FMT_U8);
	struct counter_voice c = { .fmt = { 8000, 1, AUDIO_FMT_S16 }, .playing = true,
				   .limit = 1000 };
	struct audio_voice *v = audio_voice_add(be, "short", counter_fill, &c);

	audio_backend_run(be, 0);
	for (int64_t t = 10 * MS; t <= 1000 * MS; t += 10 * MS)
		audio_backend_run(be, t);
	assert_int_equal(audio_backend_frames_written(be), 1000); /* not 8000 */
	c.playing = false;
	audio_backend_run(be, 2000 * MS);
	audio_backend_run(be, 3000 * MS);
	assert_int_equal(audio_backend_frames_written(be), 1000);
	audio_voice_remove(v);
	audio_backend_close(be);
	size_t len;
	uint8_t *f = read_file(path, &len);
	assert_int_equal(len, 44 + 1000);
	assert_int_equal(le32(f + 40), 1000);
	free(f);
	unlink(path);
	free(path);
}

/* Two voices add up, and the sum is clamped. */
static void test_mixing(void **state)
{
	char *path = tmp_wav();
	struct audio_backend *be = open_wav(path, 8000, 1, AUDIO_FMT_S16);
	struct counter_voice a = { .fmt = { 8000, 1, AUDIO_FMT_S16 }, .playing = true,
				   .next = 100, .limit = 80 };
	struct counter_voice b = { .fmt = { 8000, 1, AUDIO_FMT_S16 }, .playing = true,
				   .next = 32600, .limit = 80 };
	struct audio_voice *va = audio_voice_add(be, "a", counter_fill, &a);
	struct audio_voice *vb = audio_voice_add(be, "b", counter_fill, &b);

	audio_backend_run(be, 0);
	audio_backend_run(be, 10 * MS);
	audio_voice_remove(va);
	audio_voice_remove(vb);
	audio_backend_close(be);
	size_t len;
	uint8_t *f = read_file(path, &len);
	assert_int_equal(len, 44 + 80 * 2);
	assert_int_equal((int16_t)le16(f + 44), 32700);
	assert_int_equal((int16_t)le16(f + 44 + 33 * 2), 32766); /* 133 + 32633 */
	assert_int_equal((int16_t)le16(f + 44 + 34 * 2), 32767); /* 32768: clamped */
	assert_int_equal((int16_t)le16(f + 44 + 79 * 2), 32767); /* 32679 + 179: clamped */
	free(f);
	unlink(path);
	free(path);
}

/* Formats a hostile card could ask for: clamped, never past the buffer;
 * a long stall is not mixed in one burst. */
static void test_hostile_formats_and_stall(void **state)
{
	struct audiodev_config cfg = { .id = "n", .kind = AUDIODEV_NONE,
				       .out = { 8000, 2, AUDIO_FMT_S16 } };
	char err[128];
	struct audio_backend *be = audio_backend_open(&cfg, NULL, err, sizeof(err));
	struct counter_voice c = { .fmt = { 4000000000u, 7, (enum audio_fmt)99 },
				   .playing = true, .limit = UINT64_MAX };
	struct audio_voice *v = audio_voice_add(be, "x", counter_fill, &c);

	audio_backend_run(be, 0);
	audio_backend_run(be, 3600 * 1000 * MS); /* an hour's stall */
	assert_true(c.asked_max <= AUDIO_STEP_MAX_FRAMES + 1);
	/* 192000 Hz (clamped) into 8000 Hz: 24 input frames per output frame,
	 * and one step takes at most a buffer of input (plus the output frame
	 * before the first input one, interpolated from the start) */
	assert_int_equal(audio_backend_frames_written(be), (AUDIO_STEP_MAX_FRAMES + 1) / 24 + 1);
	c.fmt.rate = 0;
	audio_backend_run(be, 3601 * 1000 * MS);
	assert_true(c.asked_max <= AUDIO_STEP_MAX_FRAMES + 1);
	audio_voice_remove(v);
	audio_backend_close(be);
}

static void test_wav_open_errors(void **state)
{
	char err[256] = "";
	struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV,
				     .path = (char *)"/nonexistent-dir/x.wav",
				     .out = { 44100, 2, AUDIO_FMT_S16 } };
	assert_null(audio_backend_open(&c, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-dir/x.wav"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversions_round_trip),
		cmocka_unit_test(test_audiodev_parse),
		cmocka_unit_test(test_clock_and_identity),
		cmocka_unit_test(test_rate_conversion),
		cmocka_unit_test(test_voice_end_and_silence),
		cmocka_unit_test(test_mixing),
		cmocka_unit_test(test_hostile_formats_and_stall),
		cmocka_unit_test(test_wav_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
