// SPDX-License-Identifier: GPL-2.0-or-later
/* A RIFF WAVE file being written (include/wavfile.h). */
#include "wavfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define WAV_HEADER_BYTES 44
#define WAVE_FORMAT_PCM 1
#define WAVE_FORMAT_IEEE_FLOAT 3
/* The RIFF size (data + 36) must fit 32 bits. */
#define WAV_DATA_MAX (0xFFFFFFFFull - (WAV_HEADER_BYTES - 8))

struct wav_file {
	int fd;
	char *path;
	uint32_t byte_rate;
	unsigned frame_bytes;
	uint64_t data_bytes;
	uint64_t sizes_at;     /* data_bytes when the header's sizes were last written */
	bool failed;           /* a write failed: nothing more is written */
	bool full;             /* 4 GiB reached */
};

static bool write_all_at(int fd, const void *buf, size_t len, off_t at)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		at += n;
		len -= (size_t)n;
	}
	return true;
}

static void fail_once(struct wav_file *w, const char *what)
{
	if (!w->failed)
		warn("-audiodev wav: %s %s: %s; the recording stops here", what, w->path,
		     strerror(errno ? errno : ENOSPC));
	w->failed = true;
}

/* The RIFF chunk's and the data chunk's sizes. */
static void write_sizes(struct wav_file *w)
{
	uint8_t b[4];

	if (w->failed)
		return;
	put_le32(b, (uint32_t)(w->data_bytes + WAV_HEADER_BYTES - 8));
	if (!write_all_at(w->fd, b, 4, 4))
		return fail_once(w, "cannot write the header of");
	put_le32(b, (uint32_t)w->data_bytes);
	if (!write_all_at(w->fd, b, 4, WAV_HEADER_BYTES - 4))
		return fail_once(w, "cannot write the header of");
	w->sizes_at = w->data_bytes;
}

struct wav_file *wav_file_create(const char *path, uint32_t rate, unsigned channels,
				 unsigned bits, bool is_float, char *err, size_t errlen)
{
	uint8_t h[WAV_HEADER_BYTES];
	unsigned block = channels * bits / 8;

	if (!rate || !channels || (bits != 8 && bits != 16 && bits != 32) || (is_float && bits != 32)) {
		set_err(err, errlen, "%s: a WAVE file cannot hold this format", path);
		return NULL;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	memcpy(h, "RIFF", 4);
	put_le32(h + 4, WAV_HEADER_BYTES - 8);
	memcpy(h + 8, "WAVEfmt ", 8);
	put_le32(h + 16, 16);
	put_le16(h + 20, is_float ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM);
	put_le16(h + 22, (uint16_t)channels);
	put_le32(h + 24, rate);
	put_le32(h + 28, rate * block);
	put_le16(h + 32, (uint16_t)block);
	put_le16(h + 34, (uint16_t)bits);
	memcpy(h + 36, "data", 4);
	put_le32(h + 40, 0);
	if (!write_all_at(fd, h, sizeof(h), 0)) {
		set_err(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : ENOSPC));
		close(fd);
		return NULL;
	}
	struct wav_file *w = xzalloc(sizeof(*w));
	w->fd = fd;
	w->path = xstrdup(path);
	w->byte_rate = rate * block;
	w->frame_bytes = block;
	return w;
}

void wav_file_write(struct wav_file *w, const void *frames, size_t bytes)
{
	if (w->failed || w->full || !bytes)
		return;
	if (w->data_bytes + bytes > WAV_DATA_MAX) {
		bytes = (size_t)(WAV_DATA_MAX - w->data_bytes);
		bytes -= bytes % w->frame_bytes;
		warn("-audiodev wav: %s reached the 4 GiB a WAVE file can hold; the rest is "
		     "dropped", w->path);
		w->full = true;
	}
	if (!write_all_at(w->fd, frames, bytes, (off_t)(WAV_HEADER_BYTES + w->data_bytes)))
		return fail_once(w, "cannot write");
	w->data_bytes += bytes;
	if (w->data_bytes - w->sizes_at >= w->byte_rate || w->full)
		write_sizes(w);
}

uint64_t wav_file_data_bytes(const struct wav_file *w)
{
	return w->data_bytes;
}

void wav_file_close(struct wav_file *w)
{
	if (!w)
		return;
	write_sizes(w);
	close(w->fd);
	free(w->path);
	free(w);
}
