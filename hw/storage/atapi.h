/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ATAPI (PACKET) command set of the IDE CD-ROM (hw/storage/atapi.c),
 * built on ide_core.c's helpers; for the controller (piix_ide.c), which
 * hands atapi_ops to its channels and changes media.
 */
#ifndef VMM_HW_ATAPI_H
#define VMM_HW_ATAPI_H

#include "ide_internal.h"

extern const struct ide_packet_ops atapi_ops;

void atapi_change_media(struct ide_drive *d, struct block_dev *bd);
/* The host's tray and disc, step by step (channel lock held): open or
 * close the tray, put a disc in or take it out (bd NULL), press the eject
 * button of a locked drive (an eject request event; force unlocks). */
void atapi_host_tray(struct ide_drive *d, bool open);
void atapi_host_medium(struct ide_drive *d, struct block_dev *bd);
void atapi_host_eject_request(struct ide_drive *d, bool force);

#endif
