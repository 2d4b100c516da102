/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A RIFF WAVE file being written: the 44-byte header (one "fmt " chunk of
 * 16 bytes, then "data"), the frames appended as they come. The two sizes
 * in the header are kept right as the file grows (rewritten at most once
 * per second of audio, and at close), so a vmm that ends by a signal, even
 * one that could not run its exit path, leaves a file players read up to
 * its last second. A file reaches at most 4 GiB (the format's 32-bit
 * sizes): frames beyond are dropped with one warning.
 */
#ifndef VMM_WAVFILE_H
#define VMM_WAVFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wav_file;

/* bits 8 (unsigned), 16 or 32 (signed), or 32 with is_float. Creates or
 * truncates 'path'. NULL with err set. */
struct wav_file *wav_file_create(const char *path, uint32_t rate, unsigned channels,
				 unsigned bits, bool is_float, char *err, size_t errlen);
/* Appends whole frames; a write error is reported once and writing stops. */
void wav_file_write(struct wav_file *w, const void *frames, size_t bytes);
uint64_t wav_file_data_bytes(const struct wav_file *w);
/* Completes the header and closes the file. */
void wav_file_close(struct wav_file *w);

#endif
