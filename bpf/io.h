/* Kernel <-> user ABI of bpf/io.bpf.c: per-process file/socket byte counters
 * (in jm_proc_io, bpf/process.h), database connection events and payload
 * heads.  Same layout rules as process.h. */
#ifndef JM_BPF_IO_H
#define JM_BPF_IO_H
#include <linux/types.h>
#include "process.h"

#define JM_CAP_HEAD_MAX   4096    /* bytes copied from the start of a buffer */
#define JM_CAP_TAIL_MAX   512     /* bytes copied from its end */
#define JM_SOCKADDR_LEN   112
#define JM_MAX_CONNS      16384

/* Value of map "conns", socket-local storage of every stream socket (TCP or
 * Unix) a job process has sent or received on.  The socket cookie names the
 * connection to user space: unlike (tgid, fd) it survives dup2(), fork and
 * fd reuse, and is never reused itself.  User space answers a PROBE with a
 * verdict in map "verdicts" (key cookie), which the next operation on the
 * socket takes over. */
enum jm_conn_state {
	JM_CONN_PROBE  = 1,           /* first seen; user space is classifying */
	JM_CONN_DB     = 2,           /* PostgreSQL or MySQL: payloads copied */
	JM_CONN_IGNORE = 3,           /* something else: bytes counted only */
};

#define JM_CONN_INET      0x1     /* TCP: request start from the socket's stamp */

struct jm_conn_val {
	__u64 cookie;                 /* bpf_get_socket_cookie() */
	__u64 last_rx_ns;             /* time of the last receive captured */
	__u32 state;                  /* enum jm_conn_state, 0 while being set up */
	__u32 flags;                  /* JM_CONN_* */
};

/* The first operation a job process made on a stream socket: the peer as a
 * struct sockaddr_{in,in6,un}, read from the socket itself. */
struct jm_ev_connect {
	struct jm_ev_hdr hdr;
	__u64 cookie;
	__u16 addr_len;
	__u16 pad[3];
	__u8  addr[JM_SOCKADDR_LEN];
};

#define JM_CLOSE_CONN     0x1     /* a TCP connection in conns closed (cookie) */
#define JM_CLOSE_WRITTEN  0x2     /* fd was opened for writing (outputs) */

struct jm_ev_close {
	struct jm_ev_hdr hdr;
	__u64 cookie;                 /* JM_CLOSE_CONN */
	__u32 fd;                     /* JM_CLOSE_WRITTEN */
	__u32 flags;                  /* JM_CLOSE_* */
};

struct jm_ev_open {
	struct jm_ev_hdr hdr;
	__s32 dirfd;
	__u32 fd;
	__u32 flags;                  /* open(2) flags */
	__u32 pad;
	char  path[JM_PATH_LEN];
};

struct jm_ev_rename {
	struct jm_ev_hdr hdr;
	__s32 olddirfd;
	__s32 newdirfd;
	char  oldpath[JM_PATH_LEN];
	char  newpath[JM_PATH_LEN];
};

enum jm_payload_dir { JM_PAYLOAD_TX = 0, JM_PAYLOAD_RX = 1 };

/* The io ring (xring.h) carries everything io.bpf.c reports, so that a
 * connection's connect, payloads and close reach user space in the order they
 * happened: JM_EV_CONNECT/CLOSE/OPEN/RENAME records and JM_EV_PAYLOAD records,
 * the latter being this header, then head_len bytes from the start of the
 * buffer, then tail_len bytes from its end. */
struct jm_payload_hdr {
	struct jm_ev_hdr hdr;         /* type JM_EV_PAYLOAD */
	__u64 cookie;                 /* the connection (jm_conn_val.cookie) */
	__u32 total_len;              /* bytes the operation moved */
	__u16 head_len;               /* 0 when the call's buffer is unknown */
	__u16 tail_len;
	__u8  dir;                    /* enum jm_payload_dir */
	__u8  pad[7];
};

#endif
