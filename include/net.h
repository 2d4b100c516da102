/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network backends under the NICs. A backend carries Ethernet frames
 * between one NIC and the outside: net_send() from the NIC (its I/O
 * thread), and the NIC's receive callback from the backend's thread.
 * Backends: "user" (libslirp: NAT, DHCP, DNS, host port forwards,
 * src/net/net_slirp.c) and "tap" (a Linux tap interface, src/net/net_tap.c).
 *
 * Frames travel with a struct net_hdr: the virtio-net header in host
 * order. Only a backend with NET_CAP_OFFLOAD honours its partial checksum
 * and segmentation fields; to the others the NIC hands complete frames
 * (header all zero) and they hand it complete frames.
 */
#ifndef VMM_NET_H
#define VMM_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define NET_MAX_HOSTFWD 8
/* The largest frame either way: an IP packet of 64 KiB (a TSO/GSO
 * super-frame) behind an Ethernet header with one VLAN tag. */
#define NET_MAX_FRAME (14 + 4 + 65535)
#define NET_MIN_FRAME 14 /* an Ethernet header */

struct net_hostfwd {
	bool udp;
	uint32_t host_addr;  /* network order; 0 = any */
	uint16_t host_port;
	uint32_t guest_addr; /* network order; 0 = the DHCP address */
	uint16_t guest_port;
};

#define NET_MAX_DNSSEARCH 8

/* -netdev user: QEMU's options; a zero field means QEMU's default (vmm's
 * for ipv6, which is off unless asked for). Filled by net_user_option(),
 * checked and completed by net_user_resolve(). */
enum net_onoff { NET_UNSET = 0, NET_ON, NET_OFF };
struct net_user_config {
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	unsigned nfwd;
	/* restrict=on: the guest reaches neither the host nor the outside;
	 * only hostfwd connections come in (and DHCP/DNS answers). */
	bool restrict_guest;
	/* host-loopback=off (vmm's): the host address does not lead to the
	 * host's 127.0.0.1, the outside still does. */
	bool no_host_loopback;
	enum net_onoff ipv4, ipv6;
	/* IPv4, network order; 0 = not given */
	uint32_t net, mask, host, dhcp_start, dns;
	/* IPv6 */
	struct in6_addr ipv6_net, ipv6_host, ipv6_dns;
	uint8_t ipv6_prefix_len;
	bool ipv6_net_given, ipv6_host_given, ipv6_dns_given;
	const char *hostname, *domainname;
	const char *dnssearch[NET_MAX_DNSSEARCH];
	unsigned ndnssearch;
	/* Network boot (QEMU's names): tftp=DIR is served read-only by
	 * slirp's TFTP server (an absolute path, resolved when parsed);
	 * bootfile=FILE is the DHCP reply's boot file name, tftp-server-name
	 * its option 66. NULL = not given. */
	const char *tftp_path, *bootfile, *tftp_server_name;
	/* smb=DIR (absolute, resolved when parsed; NULL = none): the host's
	 * smbd shares it as "qemu" at smb_server (network order; 0 = the
	 * network's .4, QEMU's 10.0.2.4), port 445 (src/net/smb_share.c) */
	const char *smb_dir;
	uint32_t smb_server;
};

/* Takes one user-networking option (restrict, net, host, dhcpstart, dns,
 * ipv4, ipv6, ipv6-net, ipv6-host, ipv6-dns, hostname, domainname,
 * dnssearch, host-loopback, tftp, bootfile, tftp-server-name, smb, smbserver; not hostfwd). Returns 1 if taken, 0 if 'key'
 * is none of them, -1 with a reason in err. */
int net_user_option(struct net_user_config *c, const char *key, const char *value, char *err,
		    size_t errlen);
/* Fills in the defaults (10.0.2.0/24, host .2, DNS .3, DHCP from .15,
 * fec0::/64 with ::2 and ::3, smbserver .4 with smb=) and checks that the addresses agree. 0, or
 * -1 with a reason. */
int net_user_resolve(struct net_user_config *c, char *err, size_t errlen);
/* Frees the names net_user_option() copied. */
void net_user_clear(struct net_user_config *c);

struct net_tap_config {
	const char *ifname;     /* NULL: the kernel names it (tapN) */
	const char *script;     /* NULL: /etc/qemu-ifup; "no" or "": none */
	const char *downscript; /* NULL: /etc/qemu-ifdown; "no" or "": none */
	int fd;                 /* >= 0: an open tap descriptor (fd=N) */
	bool no_vnet_hdr;       /* vnet_hdr=off: plain frames, no offloads */
	bool vhost;             /* vhost=on (or vhostforce=on, or vhostfd=) */
	int vhostfd;            /* >= 0: an open /dev/vhost-net (vhostfd=N) */
	/* queues=N (0 or 1: one): N descriptors on one interface
	 * (IFF_MULTI_QUEUE), one backend each, for a multiqueue NIC */
	unsigned queues;
};
#define NET_MAX_QUEUES 8 /* virtio-net's queue pairs (VIRTIO_PCI_MAX_QUEUES) */

/* Parses QEMU's hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport.
 * Returns 0, or -1 with a reason in err. */
int net_parse_hostfwd(const char *s, struct net_hostfwd *out, char *err, size_t errlen);

/* The virtio-net header (virtio 1.x 5.1.6), without num_buffers. */
struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
};
/* The header's first 10 bytes (little-endian on the wire, the ring and
 * the tap) to and from struct net_hdr; num_buffers is the caller's. */
void net_hdr_read(const uint8_t *p, struct net_hdr *h);
void net_hdr_write(uint8_t *p, const struct net_hdr *h);
#define NET_HDR_F_NEEDS_CSUM 1 /* checksum from csum_start to the end goes at +csum_offset */
#define NET_HDR_F_DATA_VALID 2 /* receive only: the checksums were verified */
#define NET_HDR_GSO_NONE 0
#define NET_HDR_GSO_TCPV4 1
#define NET_HDR_GSO_UDP 3
#define NET_HDR_GSO_TCPV6 4
#define NET_HDR_GSO_ECN 0x80

/* Offloads a backend accepts (bits of net_caps()). */
#define NET_CAP_OFFLOAD 1 /* partial checksums and TCP segmentation, both ways */

struct net_backend;
struct ss_writer;
struct ss_reader;
/* Returns false if the NIC cannot hold the frame now: the backend may keep
 * it and offer it again after net_rx_ready(). */
typedef bool (*net_receive_fn)(void *opaque, const struct net_hdr *hdr, const uint8_t *frame,
			       size_t len);

struct net_backend_ops {
	int (*attach)(struct net_backend *b);
	void (*send)(struct net_backend *b, const struct net_hdr *hdr, const uint8_t *frame,
		     size_t len);
	/* The same with the frame in pieces (guest memory, not copied): for
	 * an offloading backend that passes the frame on as it is (tap's
	 * writev). NULL: the NIC gathers the frame and calls send. */
	void (*sendv)(struct net_backend *b, const struct net_hdr *hdr, const struct iovec *iov,
		      unsigned n);
	/* What the NIC's driver accepts in received frames (TUNSETOFFLOAD). */
	void (*set_offload)(struct net_backend *b, bool csum, bool tso4, bool tso6, bool ecn);
	void (*rx_ready)(struct net_backend *b);
	/* Ends the backend's thread: no frame reaches the NIC afterwards (the
	 * backend's other ops stay callable). Then destroy frees it. NULL:
	 * it lives until exit. */
	void (*stop)(struct net_backend *b);
	void (*destroy)(struct net_backend *b);
	/* Saved state (migration, savevm), as a device's: the section
	 * 'section' (net_save_state names it by the netdev's id). load: the
	 * section may be missing (a stream from before the backend saved
	 * any: it keeps its state); false with the reader's error if it is
	 * refused. NULL: the backend has no state to move (tap). */
	void (*save)(struct net_backend *b, struct ss_writer *w, const char *section);
	bool (*load)(struct net_backend *b, struct ss_reader *r, const char *section);
	/* The kernel's data path (tap with vhost=on): its handle, or NULL.
	 * lend_fd stops the backend's own reading and returns the descriptor
	 * for the kernel to use; reclaim_fd starts the reading again. */
	struct vhost_net *(*vhost)(struct net_backend *b);
	int (*lend_fd)(struct net_backend *b);
	void (*reclaim_fd)(struct net_backend *b);
	/* A queue of a multiqueue backend on or off (TUNSETQUEUE): the host
	 * stops steering frames to a queue that is off. 0 or -errno (the queue
	 * stays as it was). NULL: always on. */
	int (*enable_queue)(struct net_backend *b, bool on);
	/* Receive driven by the NIC's own thread instead of the backend's
	 * (tap for virtio-net, as one thread then carries both directions):
	 * rx_fd turns readable when frames wait; recv takes the next one,
	 * returning it (valid until the next recv) with its header in *hdr
	 * and its length in *len, or NULL when none waits. A NIC that reads
	 * so never calls net_attach: the backend's thread never starts.
	 * NULL: the backend delivers through its thread only. */
	int (*rx_fd)(struct net_backend *b);
	uint8_t *(*recv)(struct net_backend *b, struct net_hdr *hdr, size_t *len);
};

/* Every backend starts with this. */
struct net_backend {
	const struct net_backend_ops *ops;
	unsigned caps;
	net_receive_fn rx;
	void *rx_opaque;
	/* A multiqueue backend (-netdev tap,queues=N): the netdev is its
	 * first queue, and each queue links to the next; NULL: the last. */
	struct net_backend *next_queue;
};

/* The user-mode (slirp) backend: by default 10.0.2.0/24, gateway and host
 * 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15, as QEMU. NULL with a reason
 * on error. */
struct net_backend *net_user_create(const struct net_user_config *cfg, char *err, size_t errlen);
/* A tap interface (IFF_TAP|IFF_NO_PI, IFF_VNET_HDR unless turned off), its
 * ifup script run. NULL with a one-line reason on error. */
struct net_backend *net_tap_create(const struct net_tap_config *cfg, char *err, size_t errlen);
/* The backend of a NIC without a peer: frames sent are dropped, none is
 * received. NULL if out of memory. */
struct net_backend *net_none_create(void);
/* Runs the tap backends' down scripts (once; also registered with atexit). */
void net_tap_shutdown(void);

/* net_stop: no frame reaches the NIC any more (from any of a multiqueue
 * backend's queues). net_destroy frees the backend (stopped first if it
 * was not), once its NIC is gone. A backend
 * without these ops (tap) stays until exit. */
void net_stop(struct net_backend *b);
void net_destroy(struct net_backend *b);
/* Connects the NIC and starts the backend's thread. */
int net_attach(struct net_backend *b, net_receive_fn rx, void *opaque);
/* A frame from the guest to the network. */
void net_send(struct net_backend *b, const struct net_hdr *hdr, const uint8_t *frame, size_t len);
/* Whether the backend takes a frame in pieces (sendv), and that. */
bool net_can_sendv(const struct net_backend *b);
void net_sendv(struct net_backend *b, const struct net_hdr *hdr, const struct iovec *iov,
	       unsigned n);
unsigned net_caps(const struct net_backend *b);
void net_set_offload(struct net_backend *b, bool csum, bool tso4, bool tso6, bool ecn);
/* Receive on the NIC's thread (struct net_backend_ops): whether the
 * backend offers it, its descriptor, the next frame (NULL: none waits). */
bool net_can_poll(const struct net_backend *b);
int net_rx_fd(struct net_backend *b);
uint8_t *net_recv(struct net_backend *b, struct net_hdr *hdr, size_t *len);
/* The NIC has room again after refusing a frame. */
void net_rx_ready(struct net_backend *b);
/* The backend's vhost-net, or NULL (include/vhost_net.h); lend and reclaim
 * its descriptor (struct net_backend_ops). net_lend_fd: -1 if it has none. */
struct vhost_net;
struct vhost_net *net_vhost(struct net_backend *b);
int net_lend_fd(struct net_backend *b);
void net_reclaim_fd(struct net_backend *b);
/* Queue k of the backend (net_queue(b, 0) is b), or NULL past the last;
 * how many it has (1 for all but a multiqueue tap); a queue on or off. */
struct net_backend *net_queue(struct net_backend *b, unsigned k);
unsigned net_queues(const struct net_backend *b);
int net_enable_queue(struct net_backend *b, bool on);
/* The backend of -netdev ID's state, in section "slirp.ID" for user
 * networking (keyed by the id, so the destination's backend of that id
 * takes it); nothing for a backend without state. load: false with the
 * reader's error. */
void net_save_state(struct net_backend *b, struct ss_writer *w, const char *id);
bool net_load_state(struct net_backend *b, struct ss_reader *r, const char *id);

/* Completes a partial checksum (NET_HDR_F_NEEDS_CSUM): the one's
 * complement sum from 'start' to the end of the frame, stored at
 * start + offset (the field holds the pseudo-header sum, as the spec
 * says). -1 if the field does not lie inside the frame. */
int net_csum_complete(uint8_t *frame, size_t len, unsigned start, unsigned offset);
/* A received frame as a NIC without offloads must see it: NULL to drop it
 * (a GSO frame the NIC never asked for, a partial checksum whose field is
 * outside the frame, no memory); else the frame itself, or a copy with its
 * checksum completed, which *copy then holds (free it after use; NULL
 * otherwise). */
const uint8_t *net_rx_plain(const struct net_hdr *hdr, const uint8_t *frame, size_t len,
			    uint8_t **copy);

#endif
