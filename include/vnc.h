/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The VNC server (-vnc): the first display's picture to RFB clients, their
 * keys and pointer into the input layer (include/input.h). The protocol,
 * its encodings (Raw, CopyRect, Hextile, ZRLE, Tight, ...) and VNC
 * authentication are libvncserver's, loaded with dlopen when -vnc is given
 * (a machine without it does not map the library and its dependencies).
 *
 * vmm binds the socket itself (as QEMU: ":N" is TCP port 5900+N on every
 * interface, "HOST:N" on HOST, "unix:PATH" a Unix socket) before the machine
 * is built, so a taken port fails first. One thread of its own ("vmm-vnc",
 * its own seccomp filter) serves every client: it accepts, reads their
 * events, copies the changed part of the picture (only that) and lets
 * libvncserver send it to the clients that asked for an update. A client
 * that stalls holds up the other clients for at most a few seconds (then
 * it is dropped); the guest never waits for it.
 */
#ifndef VMM_VNC_H
#define VMM_VNC_H

#include <stdbool.h>
#include <stddef.h>

#include "keymap.h"

#define VNC_PORT_BASE 5900

struct vnc_config {
	bool enabled;       /* -vnc given, and not "none" */
	char host[256];     /* "" : every interface */
	int display;        /* port VNC_PORT_BASE + display */
	int to;             /* to=L: the first free display from 'display' to L */
	bool has_to;
	char unix_path[108];
	bool password;      /* password=on: no client until a password is set */
	char keymap[KEYMAP_NAME_MAX]; /* -k: keysyms through this layout ("": US) */
};

/* The -vnc argument (also -display vnc=ARG): "none", "[HOST]:N",
 * "unix:PATH", then ",password=on|off", ",to=L", ",share=...",
 * ",lossy=..." (accepted). 0, or -1 with one line in err. */
int vnc_parse(const char *arg, struct vnc_config *c, char *err, size_t errlen);

struct vnc;

/* Loads libvncserver and binds the socket. NULL with one line in err. */
struct vnc *vnc_create(const struct vnc_config *c, const char *name, char *err,
		       size_t errlen);
/* Starts serving (the display device exists by now). */
void vnc_start(struct vnc *v);
/* Stops the thread, drops the clients, removes a Unix socket. */
void vnc_destroy(struct vnc *v);
/* The server of this process, or NULL. */
struct vnc *vnc_current(void);

/* change-vnc-password: the password clients must give from now on (VNC
 * authentication uses its first 8 bytes); "" refuses every client.
 * -EINVAL without password=on (QEMU's rule). */
int vnc_set_password(struct vnc *v, const char *password);

struct vnc_info {
	char host[108];      /* the bound address, or the socket path */
	char service[16];    /* the port */
	const char *family;  /* "ipv4", "ipv6", "unix" */
	const char *auth;    /* "none", "vnc" */
	unsigned clients;
	unsigned long long bytes_sent; /* to every client, since start */
	unsigned long long updates;    /* framebuffer updates sent */
};
void vnc_query(struct vnc *v, struct vnc_info *out);

/* The key an X keysym means on a US keyboard (0: none): VNC clients send
 * keysyms, and shifted symbols are their unshifted key (the client sends
 * Shift itself). Without -k every keysym goes this way; with it, the
 * keysyms the layout has no key for. */
int vnc_keysym_to_key(unsigned keysym);

#endif
