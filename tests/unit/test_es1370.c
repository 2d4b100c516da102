// SPDX-License-Identifier: GPL-2.0-or-later
/* The Ensoniq ES1370 (hw/audio/es1370.c), driven as Linux's snd-ens1370
 * drives it: through its I/O BAR on a PCI bus, its buffers in guest RAM,
 * an audio backend stepped through virtual time and recording to a WAVE
 * file. The PCI identity, the register file (pages, counts, codec, UART,
 * partial accesses), DAC2 and DAC1 playback at their rates with exact
 * samples, the period interrupt and its acknowledge, loop, stop and pause,
 * the ADC's silence, hostile values (buffers outside RAM, counts past the
 * buffer, absurd rates, format changes mid-stream, a register storm),
 * quiesce, reset and saved state. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "audio.h"
#include "bus.h"
#include "bus_access.h"
#include "guest_mem.h"
#include "hw/es1370.h"
#include "pci.h"
#include "savestate.h"
#include "util.h"

#define MS 1000000LL
#define RAM_SIZE (1u << 20)
#define DEVFN PCI_DEVFN(5, 0)
#define IOBASE 0xC000
#define BUF 0x20000

/* registers */
#define CONTROL 0x00
#define STATUS 0x04
#define UART 0x08
#define UART_CTL 0x09
#define MEM_PAGE 0x0C
#define CODEC 0x10
#define SERIAL 0x20
#define DAC1_COUNT 0x24
#define DAC2_COUNT 0x28
#define ADC_COUNT 0x2C
#define DAC1_FRAME 0x30 /* page 0xC */
#define DAC1_SIZE 0x34
#define DAC2_FRAME 0x38
#define DAC2_SIZE 0x3C
#define ADC_FRAME 0x30 /* page 0xD */
#define ADC_SIZE 0x34

#define CTL_DAC1_EN 0x40
#define CTL_DAC2_EN 0x20
#define CTL_ADC_EN 0x10
#define CTL_UART_EN 0x08
#define CTL_ADC_STOP 0x80000000u
#define CTL_DAC_SYNC 0x800
#define CTL_M_SBB 0x4000
#define PCLKDIV(d) ((uint32_t)(d) << 16)
#define WTSRSEL(w) ((uint32_t)(w) << 12)
#define SER_R1_INT_EN 0x400
#define SER_P2_INT_EN 0x200
#define SER_P1_INT_EN 0x100
#define SER_P2_PAUSE 0x1000
#define SER_P2_LOOP_SEL 0x4000
#define SER_P1_SCT_RLD 0x80
#define P2_MODE(m) ((uint32_t)(m) << 2)
#define P1_MODE(m) ((uint32_t)(m) << 0)
#define R1_MODE(m) ((uint32_t)(m) << 4)
#define STAT_INTR 0x80000000u
#define STAT_UART 0x08
#define STAT_DAC1 0x04
#define STAT_DAC2 0x02
#define STAT_ADC 0x01

struct fix {
	uint8_t *ram;
	struct guest_mem mem;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	int intx;
	unsigned intx_rises;
	struct es1370 *es;
	struct audio_backend *be;
	char *wav;
	int64_t now;
};

static void set_intx(void *opaque, uint8_t devfn, unsigned pin, int level)
{
	struct fix *f = opaque;
	if (level && !f->intx)
		f->intx_rises++;
	f->intx = level;
}

static void out32(struct fix *f, unsigned reg, uint32_t v) { bus_wr(&f->pio, IOBASE + reg, v, 4); }
static uint32_t in32(struct fix *f, unsigned reg) { return (uint32_t)bus_rd(&f->pio, IOBASE + reg, 4); }
static void out8(struct fix *f, unsigned reg, uint8_t v) { bus_wr(&f->pio, IOBASE + reg, v, 1); }
static uint8_t in8(struct fix *f, unsigned reg) { return (uint8_t)bus_rd(&f->pio, IOBASE + reg, 1); }

/* The card on the bus, its BAR at IOBASE, I/O decode and bus mastering on,
 * recording 'rate' Hz, 'ch' channels of 'fmt' (rate 0: no backend). */
static void make_card(struct fix *f, uint32_t rate, unsigned ch, enum audio_fmt fmt)
{
	char err[256];

	if (rate) {
		struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV, .path = f->wav,
					     .out = { rate, ch, fmt } };
		f->be = audio_backend_open(&c, NULL, err, sizeof(err));
		assert_non_null(f->be);
	}
	f->es = es1370_create(&f->pci, DEVFN, &f->mem, f->be);
	assert_non_null(f->es);
	pci_config_write(&f->pci, DEVFN, PCI_BAR0, IOBASE, 4);
	pci_config_write(&f->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	if (f->be)
		audio_backend_run(f->be, f->now); /* the clock starts */
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	f->ram = calloc(1, RAM_SIZE);
	guest_mem_init_buffer(&f->mem, f->ram, RAM_SIZE);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->pci, &f->pio, &f->mmio);
	f->pci.set_intx = set_intx;
	f->pci.intx_opaque = f;
	f->wav = xstrdup("/tmp/vmm-test-es1370-XXXXXX");
	int fd = mkstemp(f->wav);
	assert_true(fd >= 0);
	close(fd);
	f->now = 1000 * MS;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	es1370_destroy(f->es);
	if (f->be)
		audio_backend_close(f->be);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	unlink(f->wav);
	free(f->wav);
	free(f->ram);
	free(f);
	return 0;
}

/* Virtual time passes in 10 ms steps (the backend's timer period). */
static void advance(struct fix *f, int64_t ms)
{
	for (int64_t i = 0; i < ms / 10; i++) {
		f->now += 10 * MS;
		audio_backend_run(f->be, f->now);
	}
}

/* The recording's data chunk (the file as written so far). */
static uint8_t *recording(struct fix *f, size_t *len)
{
	FILE *fp = fopen(f->wav, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	assert_true(n >= 44);
	uint8_t *buf = malloc((size_t)n - 44 + 1);
	fseek(fp, 44, SEEK_SET);
	assert_int_equal(fread(buf, 1, (size_t)n - 44, fp), (size_t)n - 44);
	fclose(fp);
	*len = (size_t)n - 44;
	return buf;
}

/* Frame i of a 16-bit stereo ramp, as bytes. */
static void ramp16(struct fix *f, uint32_t gpa, unsigned frames)
{
	for (unsigned i = 0; i < frames; i++) {
		int16_t l = (int16_t)(-32000 + 7 * (int)i), r = (int16_t)(16000 - 3 * (int)i);
		memcpy(f->ram + gpa + 4 * i, &l, 2);
		memcpy(f->ram + gpa + 4 * i + 2, &r, 2);
	}
}

/* DAC2 prepared as snd-ens1370 prepares it, not yet started: 'bytes' of
 * buffer at 'gpa', 'period' frames per interrupt. */
static void prepare_dac2(struct fix *f, uint32_t gpa, uint32_t bytes, unsigned mode,
			 uint32_t period, uint32_t extra_sctrl)
{
	out32(f, CONTROL, 0);
	out32(f, MEM_PAGE, 0xC);
	out32(f, DAC2_FRAME, gpa);
	out32(f, DAC2_SIZE, bytes / 4 - 1);
	out32(f, SERIAL, SER_P2_INT_EN | P2_MODE(mode) | extra_sctrl);
	out32(f, DAC2_COUNT, period - 1);
}

/* The interrupt handler's acknowledge: clear and set the enable bits. */
static void ack(struct fix *f)
{
	uint32_t sctrl = in32(f, SERIAL);
	out32(f, SERIAL, sctrl & ~(SER_P1_INT_EN | SER_P2_INT_EN | SER_R1_INT_EN));
	out32(f, SERIAL, sctrl);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_pci_identity_and_bar(void **state)
{
	struct fix *f = *state;
	f->es = es1370_create(&f->pci, DEVFN, &f->mem, NULL);
	assert_non_null(f->es);

	assert_int_equal(pci_config_read(&f->pci, DEVFN, PCI_VENDOR_ID, 2), 0x1274);
	assert_int_equal(pci_config_read(&f->pci, DEVFN, PCI_DEVICE_ID, 2), 0x5000);
	assert_int_equal(pci_config_read(&f->pci, DEVFN, PCI_CLASS_DEVICE, 2), 0x0401);
	assert_int_equal(pci_config_read(&f->pci, DEVFN, PCI_INTERRUPT_PIN, 1), 1);
	/* BAR 0 is 64 bytes of I/O */
	pci_config_write(&f->pci, DEVFN, PCI_BAR0, 0xFFFFFFFF, 4);
	assert_int_equal(pci_config_read(&f->pci, DEVFN, PCI_BAR0, 4) & 0xFFFF, 0xFFC1);
	/* a second card in the same slot is refused */
	assert_null(es1370_create(&f->pci, DEVFN, &f->mem, NULL));
	/* device-specific configuration space is read-only */
	pci_config_write(&f->pci, DEVFN, 0x40, 0xFFFFFFFF, 4);
	assert_int_equal(pci_config_read(&f->pci, DEVFN, 0x40, 4), 0);
}

static void test_register_file(void **state)
{
	struct fix *f = *state;
	make_card(f, 0, 0, 0);

	/* power-on values */
	assert_int_equal(in32(f, CONTROL), 1);
	assert_int_equal(in32(f, STATUS), 0x60);
	assert_int_equal(in32(f, SERIAL), 0);
	assert_int_equal(f->intx, 0);
	/* control and serial control store what they hold */
	out32(f, CONTROL, 0x7FFF0F02);
	assert_int_equal(in32(f, CONTROL), 0x7FFF0F02);
	out32(f, SERIAL, 0xFFFFFFFF & ~(SER_P1_SCT_RLD));
	assert_int_equal(in32(f, SERIAL), 0x003FFF7F);
	out32(f, SERIAL, 0);
	/* byte and word writes change only their bytes */
	out8(f, CONTROL + 2, 0x3E);
	assert_int_equal(in32(f, CONTROL), 0x7F3E0F02);
	bus_wr(&f->pio, IOBASE + CONTROL + 2, 0x0012, 2);
	assert_int_equal(in32(f, CONTROL), 0x00120F02);
	assert_int_equal(bus_rd(&f->pio, IOBASE + CONTROL + 1, 1), 0x0F);
	/* the memory page selects one of 16 sets of four longwords */
	for (unsigned p = 0; p < 16; p++) {
		out32(f, MEM_PAGE, 0xF0 | p);
		assert_int_equal(in32(f, MEM_PAGE), p);
		for (unsigned i = 0; i < 4; i++)
			out32(f, 0x30 + 4 * i, p << 8 | i);
	}
	for (unsigned p = 0; p < 16; p++) {
		out32(f, MEM_PAGE, p);
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(in32(f, 0x30 + 4 * i), p << 8 | i);
	}
	/* a sample count loads the samples left too */
	out32(f, DAC2_COUNT, 0xABCD1234);
	assert_int_equal(in32(f, DAC2_COUNT), 0x12341234);
	out32(f, ADC_COUNT, 7);
	assert_int_equal(in32(f, ADC_COUNT), 0x00070007);
	/* the holes read as all ones, and writes to them and to the status go nowhere */
	out32(f, 0x14, 0x12345678);
	out32(f, 0x18, 0x12345678);
	out32(f, STATUS, 0xFFFFFFFF);
	assert_int_equal(in32(f, 0x14), 0xFFFFFFFF);
	assert_int_equal(in32(f, 0x1C), 0xFFFFFFFF);
	assert_int_equal(in32(f, STATUS), 0x60);
	/* accesses past the BAR: no register */
	assert_int_equal(bus_rd(&f->pio, IOBASE + 0x40, 4), 0xFFFFFFFF);
}

static void test_codec_writes_are_stored(void **state)
{
	struct fix *f = *state;
	make_card(f, 0, 0, 0);

	/* as snd-ens1370: wait for CSTAT clear, then a 16-bit write */
	for (unsigned reg = 0; reg < 0x1A; reg++) {
		assert_false(in32(f, STATUS) & 0x700);
		bus_wr(&f->pio, IOBASE + CODEC, reg << 8 | (0x80 + reg), 2);
	}
	for (unsigned reg = 0; reg < 0x1A; reg++)
		assert_int_equal(es1370_codec_reg(f->es, reg), 0x80 + reg);
	assert_int_equal(bus_rd(&f->pio, IOBASE + CODEC, 2), 0x1999);
	/* registers past the AK4531's: kept as the last write, stored nowhere */
	bus_wr(&f->pio, IOBASE + CODEC, 0xFF55, 2);
	assert_int_equal(bus_rd(&f->pio, IOBASE + CODEC, 2), 0xFF55);
	assert_int_equal(es1370_codec_reg(f->es, 0xFF), 0);
	/* only the high byte written: the register changes, the value stays */
	out8(f, CODEC + 1, 0x02);
	assert_int_equal(es1370_codec_reg(f->es, 0x02), 0x55);
}

static void test_uart_with_nothing_attached(void **state)
{
	struct fix *f = *state;
	make_card(f, 0, 0, 0);

	assert_int_equal(in8(f, UART_CTL) & 0x03, 0x02); /* ready to send, nothing received */
	assert_int_equal(in8(f, UART), 0);
	/* the TX interrupt is pending while enabled (the transmitter is always ready) */
	out32(f, CONTROL, CTL_UART_EN);
	out8(f, UART_CTL, 0x20);
	assert_true(in32(f, STATUS) & STAT_UART);
	assert_true(in32(f, STATUS) & STAT_INTR);
	assert_true(in8(f, UART_CTL) & 0x04);
	assert_int_equal(f->intx, 1);
	out8(f, UART, 0x90); /* a MIDI byte: dropped */
	out8(f, UART_CTL, 0x00);
	assert_false(in32(f, STATUS) & STAT_UART);
	assert_int_equal(f->intx, 0);
	/* the UART disabled, or reset: no interrupt */
	out8(f, UART_CTL, 0x20);
	assert_int_equal(f->intx, 1);
	out32(f, CONTROL, 0);
	assert_int_equal(f->intx, 0);
	out32(f, CONTROL, CTL_UART_EN);
	out8(f, UART_CTL, 0x03);
	assert_int_equal(f->intx, 0);
	/* the test register keeps bit 0 */
	out8(f, UART + 2, 0xFF);
	assert_int_equal(in8(f, UART + 2), 1);
}

/* 16-bit stereo at PCLKDIV 62 (22050 Hz): every frame exactly, an
 * interrupt per period, the buffer wrapping, the positions as a driver
 * reads them. */
static void test_dac2_plays_16bit_stereo(void **state)
{
	struct fix *f = *state;
	make_card(f, 22050, 2, AUDIO_FMT_S16);
	ramp16(f, BUF, 2048); /* 8 KiB */
	prepare_dac2(f, BUF, 8192, 3, 1024, 0);
	out32(f, CONTROL, PCLKDIV(62) | CTL_DAC2_EN);

	unsigned irqs = 0;
	for (int t = 0; t < 200; t++) { /* 2 s: 44100 frames */
		advance(f, 10);
		if (f->intx) {
			uint32_t st = in32(f, STATUS);
			assert_true(st & STAT_INTR);
			assert_true(st & STAT_DAC2);
			ack(f);
			assert_int_equal(f->intx, 0);
			assert_false(in32(f, STATUS) & STAT_DAC2);
			irqs++;
		}
	}
	/* 44100 frames are 43 periods of 1024 and 68 frames */
	assert_int_equal(irqs, 43);
	out32(f, MEM_PAGE, 0xC);
	uint32_t size = in32(f, DAC2_SIZE);
	assert_int_equal(size & 0xFFFF, 2047);
	assert_int_equal(size >> 16, 44100 % 2048); /* longwords: one per frame */
	assert_int_equal(in32(f, DAC2_COUNT), (1023u - 68) << 16 | 1023);

	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 44100 * 4);
	for (size_t i = 0; i < len; i += 4)
		assert_memory_equal(rec + i, f->ram + BUF + (i % 8192), 4);
	free(rec);
}

static void test_dac2_plays_8bit_mono(void **state)
{
	struct fix *f = *state;
	make_card(f, 11025, 1, AUDIO_FMT_U8);
	for (unsigned i = 0; i < 4096; i++)
		f->ram[BUF + i] = (uint8_t)(i * 7 + 3);
	prepare_dac2(f, BUF, 4096, 0, 2048, 0);
	out32(f, CONTROL, PCLKDIV(126) | CTL_DAC2_EN);
	advance(f, 1000);

	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 11025);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(rec[i], f->ram[BUF + (i % 4096)]);
	free(rec);
	/* the first period's interrupt, never acknowledged, is still pending */
	assert_int_equal(f->intx, 1);
	assert_int_equal(f->intx_rises, 1);
	assert_true(in32(f, STATUS) & STAT_DAC2);
}

/* The rate DAC2 and the ADC take from PCLKDIV, DAC1 from WTSRSEL, and
 * DAC2 from DAC1's clock with DAC_SYNC: frames consumed in one second. */
static uint32_t frames_in_a_second(struct fix *f, unsigned page, unsigned reg_size,
				   uint32_t ctrl)
{
	out32(f, MEM_PAGE, page);
	out32(f, reg_size - 4, BUF);
	out32(f, reg_size, 0xFFFF); /* 256 KiB: no wrap in a second of 8-bit mono */
	out32(f, SERIAL, 0);
	out32(f, DAC1_COUNT, 0xFFFF);
	out32(f, DAC2_COUNT, 0xFFFF);
	out32(f, ADC_COUNT, 0xFFFF);
	out32(f, CONTROL, ctrl);
	advance(f, 1000);
	out32(f, CONTROL, 0);
	uint32_t pos = in32(f, reg_size) >> 16;
	out32(f, reg_size, 0xFFFF);
	return pos * 4;
}

static void test_rates(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, 2, AUDIO_FMT_S16);
	static const uint32_t wtsr[4] = { 5512, 11025, 22050, 44100 };

	for (unsigned w = 0; w < 4; w++) {
		uint32_t n = frames_in_a_second(f, 0xC, DAC1_SIZE, WTSRSEL(w) | CTL_DAC1_EN);
		assert_true(n >= wtsr[w] - 4 && n <= wtsr[w] + 4);
		n = frames_in_a_second(f, 0xC, DAC2_SIZE, WTSRSEL(w) | CTL_DAC_SYNC | CTL_DAC2_EN);
		assert_true(n >= wtsr[w] - 4 && n <= wtsr[w] + 4);
	}
	static const uint32_t divs[] = { 30, 62, 126, 174, 350 };
	for (unsigned i = 0; i < ARRAY_SIZE(divs); i++) {
		uint32_t want = ES1370_CLOCK / (divs[i] + 2);
		uint32_t n = frames_in_a_second(f, 0xC, DAC2_SIZE, PCLKDIV(divs[i]) | CTL_DAC2_EN);
		assert_true(n >= want - 4 && n <= want + 4);
		n = frames_in_a_second(f, 0xD, ADC_SIZE, PCLKDIV(divs[i]) | CTL_ADC_EN);
		assert_true(n >= want - 4 && n <= want + 4);
	}
	/* absurd dividers: the nearest rate the audio layer takes */
	uint32_t n = frames_in_a_second(f, 0xC, DAC2_SIZE, PCLKDIV(0) | CTL_DAC2_EN);
	assert_true(n >= AUDIO_RATE_MAX - 4 && n <= AUDIO_RATE_MAX + 4);
	n = frames_in_a_second(f, 0xC, DAC2_SIZE, PCLKDIV(0x1FFF) | CTL_DAC2_EN);
	assert_true(n >= AUDIO_RATE_MIN - 4 && n <= AUDIO_RATE_MIN + 4);
	/* clocks the card does not have, ADC_STOP, bus mastering off: no progress */
	assert_int_equal(frames_in_a_second(f, 0xC, DAC2_SIZE, CTL_M_SBB | CTL_DAC2_EN), 0);
	assert_int_equal(frames_in_a_second(f, 0xD, ADC_SIZE, PCLKDIV(62) | CTL_ADC_STOP | CTL_ADC_EN),
			 0);
	pci_config_write(&f->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO, 2);
	assert_int_equal(frames_in_a_second(f, 0xC, DAC2_SIZE, PCLKDIV(62) | CTL_DAC2_EN), 0);
}

/* Stop mode: the DAC stops at the end of its count, with its interrupt,
 * and starts again when enabled again. Pause: nothing moves. */
static void test_stop_mode_and_pause(void **state)
{
	struct fix *f = *state;
	make_card(f, 22050, 2, AUDIO_FMT_S16);
	ramp16(f, BUF, 2048);
	prepare_dac2(f, BUF, 8192, 3, 1000, SER_P2_LOOP_SEL);
	out32(f, CONTROL, PCLKDIV(62) | CTL_DAC2_EN);
	advance(f, 200);
	assert_int_equal(f->intx, 1);
	ack(f);
	out32(f, MEM_PAGE, 0xC);
	assert_int_equal(in32(f, DAC2_SIZE) >> 16, 1000);
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 1000 * 4);
	free(rec);
	advance(f, 200); /* stopped: nothing more */
	assert_int_equal(f->intx, 0);
	rec = recording(f, &len);
	assert_int_equal(len, 1000 * 4);
	free(rec);
	/* enabled again: it goes on from where it stopped */
	out32(f, CONTROL, PCLKDIV(62));
	out32(f, CONTROL, PCLKDIV(62) | CTL_DAC2_EN);
	advance(f, 200);
	assert_int_equal(f->intx, 1);
	rec = recording(f, &len);
	assert_int_equal(len, 2000 * 4);
	assert_memory_equal(rec + 4000, f->ram + BUF + 4000, 4000);
	free(rec);
	/* pause in loop mode: the position holds */
	ack(f);
	out32(f, SERIAL, SER_P2_INT_EN | P2_MODE(3) | SER_P2_PAUSE);
	out32(f, CONTROL, PCLKDIV(62));
	out32(f, CONTROL, PCLKDIV(62) | CTL_DAC2_EN);
	uint32_t at = in32(f, DAC2_SIZE);
	advance(f, 300);
	assert_int_equal(in32(f, DAC2_SIZE), at);
	out32(f, SERIAL, SER_P2_INT_EN | P2_MODE(3));
	advance(f, 100);
	assert_int_not_equal(in32(f, DAC2_SIZE), at);
}

/* The ADC writes silence into its buffer at its rate, with interrupts. */
static void test_adc_records_silence(void **state)
{
	struct fix *f = *state;
	make_card(f, 22050, 2, AUDIO_FMT_S16);
	memset(f->ram + BUF, 0x5A, 8192 + 64);
	out32(f, MEM_PAGE, 0xD);
	out32(f, ADC_FRAME, BUF);
	out32(f, ADC_SIZE, 4096 / 4 - 1);
	out32(f, SERIAL, SER_R1_INT_EN | R1_MODE(0));
	out32(f, ADC_COUNT, 1023);
	out32(f, CONTROL, PCLKDIV(126) | CTL_ADC_EN); /* 11025 Hz */
	advance(f, 100);
	assert_true(in32(f, STATUS) & STAT_ADC);
	assert_int_equal(f->intx, 1);
	ack(f);
	assert_int_equal(f->intx, 0);
	/* 100 ms of 8-bit mono at 11025 Hz: the centre value, then what was there */
	size_t written = 0;
	while (written < 4096 && f->ram[BUF + written] == 0x80)
		written++;
	assert_true(written >= 1101 && written <= 1103);
	for (size_t i = written; i < 4096 + 64; i++)
		assert_int_equal(f->ram[BUF + i], 0x5A);
	/* 16-bit: zeros */
	out32(f, CONTROL, 0);
	out32(f, SERIAL, R1_MODE(3));
	out32(f, ADC_SIZE, 8192 / 4 - 1);
	out32(f, CONTROL, PCLKDIV(126) | CTL_ADC_EN);
	advance(f, 1000);
	for (size_t i = 0; i < 8192; i++)
		assert_int_equal(f->ram[BUF + i], 0);
	assert_int_equal(f->ram[BUF + 8192], 0x5A);
	/* recording plays nothing */
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 0);
	free(rec);
}

/* A guest that points the buffers anywhere, counts past them, changes the
 * format mid-stream, and writes every register with junk: ASan and UBSan
 * watch; the output stays bounded by the time that passed. */
static void test_hostile_guest(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, 2, AUDIO_FMT_S16);

	/* a 256 KiB buffer that crosses the end of RAM and one across 4 GiB */
	static const uint32_t addrs[] = { RAM_SIZE - 4096, 0xFFFFF000, RAM_SIZE, 0 };
	for (unsigned i = 0; i < ARRAY_SIZE(addrs); i++) {
		out32(f, MEM_PAGE, 0xC);
		out32(f, DAC2_FRAME, addrs[i]);
		out32(f, DAC2_SIZE, 0xFFFF);
		out32(f, MEM_PAGE, 0xD);
		out32(f, ADC_FRAME, addrs[i]);
		out32(f, ADC_SIZE, 0xFFFF);
		out32(f, SERIAL, P2_MODE(3) | R1_MODE(3) | SER_P2_INT_EN | SER_R1_INT_EN);
		out32(f, DAC2_COUNT, 0xFFFF);
		out32(f, ADC_COUNT, 0xFFFF);
		out32(f, CONTROL, PCLKDIV(0) | CTL_DAC2_EN | CTL_ADC_EN);
		advance(f, 500);
	}
	out32(f, CONTROL, 0);
	/* a current longword past the buffer's end: it starts over */
	out32(f, MEM_PAGE, 0xC);
	ramp16(f, BUF, 16);
	out32(f, DAC2_FRAME, BUF);
	out32(f, DAC2_SIZE, 0xFFFF0003); /* 16 bytes, at longword 65535 */
	out32(f, SERIAL, P2_MODE(3));
	out32(f, CONTROL, PCLKDIV(30) | CTL_DAC2_EN); /* 44100 */
	advance(f, 10);
	assert_true((in32(f, DAC2_SIZE) >> 16) <= 3);
	/* a format change leaves the position mid-longword, then a wider frame */
	out32(f, SERIAL, P2_MODE(0));
	advance(f, 10);
	out32(f, SERIAL, P2_MODE(3));
	advance(f, 10);
	out32(f, SERIAL, P2_MODE(1));
	advance(f, 10);
	out32(f, CONTROL, 0);

	/* a storm of junk in every register, time passing in between */
	uint32_t x = 12345;
	for (int i = 0; i < 4000; i++) {
		x = x * 1103515245 + 12345;
		unsigned reg = (x >> 8) % 0x44, size = 1u << ((x >> 4) % 3);
		uint32_t v = x * 2654435761u;
		bus_wr(&f->pio, IOBASE + reg, v, size);
		bus_rd(&f->pio, IOBASE + ((x >> 20) % 0x44), size);
		if (i % 16 == 0)
			advance(f, 10);
	}
	/* the recording is never more than the time that passed is worth */
	size_t len;
	uint8_t *rec = recording(f, &len);
	int64_t ms = (f->now - 1000 * MS) / MS;
	assert_true(len <= (size_t)(44100 * 4 * (ms / 1000 + 1)));
	free(rec);
}

static void test_quiesce_holds_everything(void **state)
{
	struct fix *f = *state;
	make_card(f, 22050, 2, AUDIO_FMT_S16);
	prepare_dac2(f, BUF, 8192, 3, 1024, 0);
	out32(f, CONTROL, PCLKDIV(62) | CTL_DAC2_EN);
	advance(f, 20);
	uint32_t at = in32(f, DAC2_SIZE), count = in32(f, DAC2_COUNT);
	es1370_quiesce(f->es);
	advance(f, 500);
	assert_int_equal(in32(f, DAC2_SIZE), at);
	assert_int_equal(in32(f, DAC2_COUNT), count);
	assert_int_equal(f->intx, 0);
	es1370_resume(f->es);
	advance(f, 100);
	assert_int_not_equal(in32(f, DAC2_SIZE), at);
	assert_int_equal(f->intx, 1);
	/* a reset: registers to power-on, INTx low, nothing plays */
	es1370_reset(f->es);
	assert_int_equal(f->intx, 0);
	assert_int_equal(in32(f, CONTROL), 1);
	assert_int_equal(in32(f, SERIAL), 0);
	out32(f, MEM_PAGE, 0xC);
	assert_int_equal(in32(f, DAC2_SIZE), 0);
	size_t before, after;
	free(recording(f, &before));
	advance(f, 100);
	free(recording(f, &after));
	assert_int_equal(before, after);
}

static void round_trip(struct fix *f, struct es1370 *to)
{
	struct ss_writer w;
	struct ss_reader r;

	ss_writer_init(&w);
	es1370_save(f->es, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	bool ok = es1370_load(to, &r, 0);
	if (!ok)
		fprintf(stderr, "%s\n", r.err);
	assert_true(ok);
	ss_reader_close(&r);
	ss_writer_free(&w);
}

/* Mid-playback, saved state carries every register and the position to
 * within a byte: the loaded card plays on with the same samples. */
static void test_saved_state(void **state)
{
	struct fix *f = *state;
	make_card(f, 11025, 1, AUDIO_FMT_U8);
	for (unsigned i = 0; i < 4096; i++)
		f->ram[BUF + i] = (uint8_t)(i * 5 + 1);
	prepare_dac2(f, BUF, 4096, 0, 300, 0);
	bus_wr(&f->pio, IOBASE + CODEC, 0x0412, 2);
	out32(f, CONTROL, PCLKDIV(126) | CTL_DAC2_EN);
	advance(f, 30); /* 330 frames: past a period, mid-longword */
	assert_int_equal(f->intx, 1);

	uint32_t regs[0x40 / 4];
	out32(f, MEM_PAGE, 0xC);
	for (unsigned i = 0; i < 0x40 / 4; i++)
		regs[i] = in32(f, 4 * i);

	/* round trip into a card on another bus: identical registers, INTx */
	struct io_bus pio2, mmio2;
	struct pci_bus pci2;
	bus_init(&pio2, "pio2");
	bus_init(&mmio2, "mmio2");
	pci_bus_init(&pci2, &pio2, &mmio2);
	struct es1370 *twin = es1370_create(&pci2, DEVFN, &f->mem, NULL);
	round_trip(f, twin);
	for (unsigned i = 0; i < 0x40 / 4; i++)
		assert_int_equal(bus_rd(&pio2, IOBASE + 4 * i, 4), regs[i]);
	assert_int_equal(es1370_codec_reg(twin, 4), 0x12);
	assert_int_equal(pci_config_read(&pci2, DEVFN, PCI_BAR0, 4) & ~3u, IOBASE);
	es1370_destroy(twin);
	bus_destroy(&pio2);
	bus_destroy(&mmio2);

	/* into itself after a reset: it plays on exactly where it was */
	struct ss_writer w;
	struct ss_reader r;
	ss_writer_init(&w);
	es1370_save(f->es, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);
	es1370_reset(f->es);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(es1370_load(f->es, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w);
	assert_int_equal(f->intx, 1);
	advance(f, 970);
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 11025);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(rec[i], f->ram[BUF + (i % 4096)]);
	free(rec);
}

/* A stream with values no guest could leave is refused, the card as it was. */
static void test_saved_state_refuses_impossible_values(void **state)
{
	struct fix *f = *state;
	make_card(f, 0, 0, 0);
	out32(f, DAC2_COUNT, 100);
	out32(f, CONTROL, 0x1234);

	static const char *const fields[] = { "sctrl", "leftover", "scount", "irq_status",
					      "mem_page" };
	for (unsigned k = 0; k < ARRAY_SIZE(fields); k++) {
		struct ss_writer w;
		struct ss_reader r;
		ss_writer_init(&w);
		ss_section_begin(&w, "es1370", 0, 1);
		pci_config_put(&w, es1370_pci(f->es));
		ss_put_u32(&w, "ctrl", 0);
		ss_put_u32(&w, "sctrl", !strcmp(fields[k], "sctrl") ? 0x80000000u : 0);
		ss_put_u32(&w, "irq_status", !strcmp(fields[k], "irq_status") ? 0x10 : 0);
		ss_put_u8(&w, "uart_ctrl", 0);
		ss_put_u8(&w, "uart_test", 0);
		ss_put_u8(&w, "mem_page", !strcmp(fields[k], "mem_page") ? 16 : 0);
		ss_put_u32(&w, "codec", 0);
		uint8_t zeros[256] = { 0 };
		ss_put_bytes(&w, "codec_regs", zeros, 0x20);
		ss_put_bytes(&w, "memory", zeros, 256);
		static const char *const chans[3] = { "dac1", "dac2", "adc" };
		for (unsigned c = 0; c < 3; c++) {
			char name[32];
			snprintf(name, sizeof(name), "%s.scount", chans[c]);
			ss_put_u32(&w, name, !strcmp(fields[k], "scount") ? 0x00050004 : 0);
			snprintf(name, sizeof(name), "%s.leftover", chans[c]);
			ss_put_u8(&w, name, !strcmp(fields[k], "leftover") ? 4 : 0);
			snprintf(name, sizeof(name), "%s.stopped", chans[c]);
			ss_put_bool(&w, name, false);
		}
		ss_section_end(&w);
		assert_int_equal(ss_writer_finish(&w), 0);
		assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
		assert_false(es1370_load(f->es, &r, 0));
		ss_reader_close(&r);
		ss_writer_free(&w);
		assert_int_equal(in32(f, CONTROL), 0x1234);
		assert_int_equal(in32(f, DAC2_COUNT), 0x00640064);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_identity_and_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_codec_writes_are_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uart_with_nothing_attached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dac2_plays_16bit_stereo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dac2_plays_8bit_mono, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_mode_and_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adc_records_silence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_holds_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_saved_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_saved_state_refuses_impossible_values, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
