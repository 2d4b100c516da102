/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network backends under the NICs. A backend carries Ethernet frames
 * between one NIC and the outside: net_send() from the NIC (any thread),
 * and the NIC's receive callback from the backend's thread. The only
 * backend is "user" (libslirp: NAT, DHCP, DNS, host port forwards).
 */
#ifndef VMM_NET_H
#define VMM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_MAX_HOSTFWD 8

struct net_hostfwd {
	bool udp;
	uint32_t host_addr;  /* network order; 0 = any */
	uint16_t host_port;
	uint32_t guest_addr; /* network order; 0 = the DHCP address */
	uint16_t guest_port;
};

struct net_user_config {
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	unsigned nfwd;
};

/* Parses QEMU's hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport.
 * Returns 0, or -1 with a reason in err. */
int net_parse_hostfwd(const char *s, struct net_hostfwd *out, char *err, size_t errlen);

struct net_backend;
typedef void (*net_receive_fn)(void *opaque, const uint8_t *frame, size_t len);

/* The user-mode (slirp) backend: 10.0.2.0/24, gateway and host 10.0.2.2,
 * DNS 10.0.2.3, DHCP from 10.0.2.15, as QEMU. NULL with a reason on error. */
struct net_backend *net_user_create(const struct net_user_config *cfg, char *err, size_t errlen);
/* Connects the NIC and starts the backend's thread. */
int net_attach(struct net_backend *b, net_receive_fn rx, void *opaque);
/* A frame from the guest to the network. */
void net_send(struct net_backend *b, const uint8_t *frame, size_t len);

#endif
