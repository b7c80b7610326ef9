/*
 * librumphijack for rumpnet: an LD_PRELOAD library that sends a dynamically
 * linked program's socket calls to a rump kernel in `rump_server`, as
 * NetBSD's librumphijack(3) does with rumpclient(3).
 *
 *   RUMP_SERVER=unix:///tmp/s1 LD_PRELOAD=.../librumphijack.so nc -l 127.0.0.1 7
 *
 * It speaks the sysproxy protocol (sysproxy/PROTOCOL.md) over one connection
 * per process, opened at the first hijacked call. Each socket of the kernel
 * gets a host descriptor of its own, an unconnected AF_UNIX socket, so its
 * number is a real descriptor: it cannot collide with the host's files, and
 * close(), dup() and exec's CLOEXEC act on it as on any other. Calls on such a
 * descriptor go to the kernel; everything else (files, pipes, local sockets,
 * netlink) goes to the host.
 *
 * poll(), select() and epoll() may mix the two kinds: the kernel's part waits
 * in the server (a `poll` call), the host's part in the host, and whichever
 * wakes first answers (a kernel poll that lost stays in the server for at most
 * POLL_SLICE_MS and its answer is thrown away).
 *
 * The values that cross differ from Linux's: address families, socket options,
 * message flags and errno numbers are NetBSD's in the kernel. Tables below
 * translate them. See docs/HIJACK-NATIVE.md for what is hijacked and what is not.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------------ */
/* The host's functions.                                               */

static int (*h_socket)(int, int, int);
static int (*h_bind)(int, const struct sockaddr *, socklen_t);
static int (*h_connect)(int, const struct sockaddr *, socklen_t);
static int (*h_listen)(int, int);
static int (*h_accept)(int, struct sockaddr *, socklen_t *);
static int (*h_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*h_shutdown)(int, int);
static int (*h_close)(int);
static ssize_t (*h_read)(int, void *, size_t);
static ssize_t (*h_write)(int, const void *, size_t);
static ssize_t (*h_readv)(int, const struct iovec *, int);
static ssize_t (*h_writev)(int, const struct iovec *, int);
static ssize_t (*h_recv)(int, void *, size_t, int);
static ssize_t (*h_send)(int, const void *, size_t, int);
static ssize_t (*h_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*h_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*h_recvmsg)(int, struct msghdr *, int);
static ssize_t (*h_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*h_sendfile)(int, int, off_t *, size_t);
static int (*h_getsockopt)(int, int, int, void *, socklen_t *);
static int (*h_setsockopt)(int, int, int, const void *, socklen_t);
static int (*h_getsockname)(int, struct sockaddr *, socklen_t *);
static int (*h_getpeername)(int, struct sockaddr *, socklen_t *);
static int (*h_fcntl)(int, int, ...);
static int (*h_ioctl)(int, unsigned long, ...);
static int (*h_dup)(int);
static int (*h_dup2)(int, int);
static int (*h_dup3)(int, int, int);
static int (*h_poll)(struct pollfd *, nfds_t, int);
static int (*h_ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
static int (*h_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
static int (*h_pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
static int (*h_epoll_ctl)(int, int, int, struct epoll_event *);
static int (*h_epoll_wait)(int, struct epoll_event *, int, int);
static int (*h_epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
static int (*h_getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
static int (*h_getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int);
static struct hostent *(*h_gethostbyaddr)(const void *, socklen_t, int);
static int (*h_gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t, struct hostent **, int *);

#define LOOKUP(name) h_##name = dlsym(RTLD_NEXT, #name)

static void lookup_host(void) {
  LOOKUP(socket); LOOKUP(bind); LOOKUP(connect); LOOKUP(listen); LOOKUP(accept); LOOKUP(accept4);
  LOOKUP(shutdown); LOOKUP(close); LOOKUP(read); LOOKUP(write); LOOKUP(readv); LOOKUP(writev);
  LOOKUP(recv); LOOKUP(send); LOOKUP(recvfrom); LOOKUP(sendto); LOOKUP(recvmsg); LOOKUP(sendmsg); LOOKUP(sendfile);
  LOOKUP(getsockopt); LOOKUP(setsockopt); LOOKUP(getsockname); LOOKUP(getpeername); LOOKUP(fcntl);
  LOOKUP(ioctl); LOOKUP(dup); LOOKUP(dup2); LOOKUP(dup3); LOOKUP(poll); LOOKUP(ppoll); LOOKUP(select);
  LOOKUP(pselect); LOOKUP(epoll_ctl); LOOKUP(epoll_wait); LOOKUP(epoll_pwait); LOOKUP(getaddrinfo);
  LOOKUP(getnameinfo); LOOKUP(gethostbyaddr); LOOKUP(gethostbyaddr_r);
}

/* ------------------------------------------------------------------ */
/* Configuration: RUMP_SERVER and RUMPHIJACK.                          */

static int hijack_inet = 1, hijack_inet6 = 1, dns_kernel = 1, verbose, die_on_loss = 1;
static char server_url[512];

static void die_config(const char *what, const char *v) {
  fprintf(stderr, "rumphijack: %s \"%s\"\n", what, v);
  _exit(1);
}

/*
 * RUMPHIJACK in NetBSD's syntax, as the Node hijack reads it: `socket=`
 * names families (`all`, `inet`, `inet6`, `local`, `none`, `noinet`, ...),
 * `dns=kernel|host` is ours. Keys for file systems, sysctl and the rest
 * (`path`, `blanket`, `sysctl`, `vfs`, `fdoff`) act on calls this library
 * leaves to the host anyway, so they are accepted and mean nothing here.
 */
static void parse_rumphijack(const char *spec) {
  char buf[512];
  if (spec == NULL || *spec == '\0') spec = "path=/rump,socket=all:nolocal";
  if (strlen(spec) >= sizeof buf) die_config("RUMPHIJACK too long", spec);
  strcpy(buf, spec);
  int saw_socket = 0;
  for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (eq == NULL) die_config("RUMPHIJACK: expected key=value in", spec);
    *eq = '\0';
    const char *key = kv, *val = eq + 1;
    if (strcmp(key, "socket") == 0) {
      saw_socket = 1;
      hijack_inet = hijack_inet6 = 0;
      char vb[256];
      snprintf(vb, sizeof vb, "%s", val);
      for (char *s2 = NULL, *it = strtok_r(vb, ":", &s2); it != NULL; it = strtok_r(NULL, ":", &s2)) {
        int on = 1;
        if (strncmp(it, "no", 2) == 0 && strcmp(it, "none") != 0) { on = 0; it += 2; }
        if (strcmp(it, "all") == 0) hijack_inet = hijack_inet6 = on;
        else if (strcmp(it, "inet") == 0) hijack_inet = on;
        else if (strcmp(it, "inet6") == 0) hijack_inet6 = on;
        else if (strcmp(it, "none") == 0) hijack_inet = hijack_inet6 = 0;
        else if (strcmp(it, "local") == 0 || strcmp(it, "route") == 0 || strcmp(it, "link") == 0) { /* stay on the host */ }
        else die_config("RUMPHIJACK: unknown socket family in", spec);
      }
    } else if (strcmp(key, "dns") == 0) {
      if (strcmp(val, "kernel") == 0) dns_kernel = 1;
      else if (strcmp(val, "host") == 0) dns_kernel = 0;
      else die_config("RUMPHIJACK: dns must be kernel or host in", spec);
    } else if (strcmp(key, "path") && strcmp(key, "blanket") && strcmp(key, "sysctl") && strcmp(key, "vfs") &&
               strcmp(key, "fdoff") && strcmp(key, "modctl")) {
      die_config("RUMPHIJACK: unknown key in", spec);
    }
  }
  (void)saw_socket;
  if (!hijack_inet && !hijack_inet6) dns_kernel = 0;
}

/*
 * RUMPHIJACK_RETRYCONNECT, NetBSD's name: what a lost server means. `die`
 * (the default here) ends the program with a message, since its kernel
 * sockets are gone and a program polling them would only spin; `once` keeps
 * it running with every kernel call failing (ECONNRESET, EPIPE for writes)
 * and its kernel descriptors reported as hung up. NetBSD's `inftime` and a
 * number of seconds reconnect; a new connection here would be a new process
 * of the kernel without the old descriptors, so they are refused.
 */
static void parse_retryconnect(const char *v) {
  if (v == NULL || *v == '\0' || strcmp(v, "die") == 0) die_on_loss = 1;
  else if (strcmp(v, "once") == 0) die_on_loss = 0;
  else die_config("RUMPHIJACK_RETRYCONNECT: reconnecting is not supported; use die or once, not", v);
}

/* ------------------------------------------------------------------ */
/* NetBSD's numbers.                                                   */

#define NB_AF_INET6 24
#define NB_SOL_SOCKET 0xffff
#define NB_O_NONBLOCK 0x4
#define NB_F_SETFL 4

/* errno: NetBSD's number -> Linux's (kern/errno.ts lists the kernel's). */
static const int errno_map[][2] = {
  {1, EPERM}, {2, ENOENT}, {3, ESRCH}, {4, EINTR}, {5, EIO}, {6, ENXIO}, {7, E2BIG}, {8, ENOEXEC},
  {9, EBADF}, {10, ECHILD}, {11, EDEADLK}, {12, ENOMEM}, {13, EACCES}, {14, EFAULT}, {16, EBUSY},
  {17, EEXIST}, {18, EXDEV}, {19, ENODEV}, {20, ENOTDIR}, {21, EISDIR}, {22, EINVAL}, {23, ENFILE},
  {24, EMFILE}, {25, ENOTTY}, {27, EFBIG}, {28, ENOSPC}, {29, ESPIPE}, {30, EROFS}, {32, EPIPE},
  {33, EDOM}, {34, ERANGE}, {35, EAGAIN}, {36, EINPROGRESS}, {37, EALREADY}, {38, ENOTSOCK},
  {39, EDESTADDRREQ}, {40, EMSGSIZE}, {41, EPROTOTYPE}, {42, ENOPROTOOPT}, {43, EPROTONOSUPPORT},
  {44, ESOCKTNOSUPPORT}, {45, EOPNOTSUPP}, {46, EPFNOSUPPORT}, {47, EAFNOSUPPORT}, {48, EADDRINUSE},
  {49, EADDRNOTAVAIL}, {50, ENETDOWN}, {51, ENETUNREACH}, {52, ENETRESET}, {53, ECONNABORTED},
  {54, ECONNRESET}, {55, ENOBUFS}, {56, EISCONN}, {57, ENOTCONN}, {58, ESHUTDOWN}, {59, ETOOMANYREFS},
  {60, ETIMEDOUT}, {61, ECONNREFUSED}, {62, ELOOP}, {63, ENAMETOOLONG}, {64, EHOSTDOWN},
  {65, EHOSTUNREACH}, {66, ENOTEMPTY}, {78, ENOSYS}, {86, ENOTSUP},
};

static int errno_from_nb(int nb) {
  for (size_t i = 0; i < sizeof errno_map / sizeof errno_map[0]; i++)
    if (errno_map[i][0] == nb) return errno_map[i][1];
  return EIO;
}

/* Socket options: Linux (level, name) -> NetBSD's. Kind says how the value crosses. */
enum { OPT_INT, OPT_LINGER, OPT_TIMEVAL, OPT_MREQ, OPT_MCAST_IF, OPT_MREQ6 };
static const struct optmap { int level, name, nblevel, nbname, kind; } opt_map[] = {
  {SOL_SOCKET, SO_DEBUG, NB_SOL_SOCKET, 0x0001, OPT_INT},
  {SOL_SOCKET, SO_ACCEPTCONN, NB_SOL_SOCKET, 0x0002, OPT_INT},
  {SOL_SOCKET, SO_REUSEADDR, NB_SOL_SOCKET, 0x0004, OPT_INT},
  {SOL_SOCKET, SO_KEEPALIVE, NB_SOL_SOCKET, 0x0008, OPT_INT},
  {SOL_SOCKET, SO_DONTROUTE, NB_SOL_SOCKET, 0x0010, OPT_INT},
  {SOL_SOCKET, SO_BROADCAST, NB_SOL_SOCKET, 0x0020, OPT_INT},
  {SOL_SOCKET, SO_LINGER, NB_SOL_SOCKET, 0x0080, OPT_LINGER},
  {SOL_SOCKET, SO_OOBINLINE, NB_SOL_SOCKET, 0x0100, OPT_INT},
  {SOL_SOCKET, SO_REUSEPORT, NB_SOL_SOCKET, 0x0200, OPT_INT},
  {SOL_SOCKET, SO_SNDBUF, NB_SOL_SOCKET, 0x1001, OPT_INT},
  {SOL_SOCKET, SO_RCVBUF, NB_SOL_SOCKET, 0x1002, OPT_INT},
  {SOL_SOCKET, SO_SNDLOWAT, NB_SOL_SOCKET, 0x1003, OPT_INT},
  {SOL_SOCKET, SO_RCVLOWAT, NB_SOL_SOCKET, 0x1004, OPT_INT},
  {SOL_SOCKET, SO_ERROR, NB_SOL_SOCKET, 0x1007, OPT_INT},
  {SOL_SOCKET, SO_TYPE, NB_SOL_SOCKET, 0x1008, OPT_INT},
  {SOL_SOCKET, SO_SNDTIMEO, NB_SOL_SOCKET, 0x100b, OPT_TIMEVAL},
  {SOL_SOCKET, SO_RCVTIMEO, NB_SOL_SOCKET, 0x100c, OPT_TIMEVAL},
  {IPPROTO_TCP, TCP_NODELAY, IPPROTO_TCP, 1, OPT_INT},
  {IPPROTO_TCP, TCP_MAXSEG, IPPROTO_TCP, 2, OPT_INT},
  {IPPROTO_TCP, TCP_KEEPIDLE, IPPROTO_TCP, 3, OPT_INT},
  {IPPROTO_TCP, TCP_KEEPINTVL, IPPROTO_TCP, 5, OPT_INT},
  {IPPROTO_TCP, TCP_KEEPCNT, IPPROTO_TCP, 6, OPT_INT},
  {IPPROTO_IP, IP_TOS, IPPROTO_IP, 3, OPT_INT},
  {IPPROTO_IP, IP_TTL, IPPROTO_IP, 4, OPT_INT},
  {IPPROTO_IP, IP_MULTICAST_IF, IPPROTO_IP, 9, OPT_MCAST_IF},
  {IPPROTO_IP, IP_MULTICAST_TTL, IPPROTO_IP, 10, OPT_INT},
  {IPPROTO_IP, IP_ADD_MEMBERSHIP, IPPROTO_IP, 12, OPT_MREQ},
  {IPPROTO_IP, IP_DROP_MEMBERSHIP, IPPROTO_IP, 13, OPT_MREQ},
  {IPPROTO_IPV6, IPV6_MULTICAST_IF, IPPROTO_IPV6, 9, OPT_INT},
  {IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, IPPROTO_IPV6, 12, OPT_MREQ6},
  {IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, IPPROTO_IPV6, 13, OPT_MREQ6},
  {IPPROTO_IP, IP_MULTICAST_LOOP, IPPROTO_IP, 11, OPT_INT},
  {IPPROTO_IPV6, IPV6_V6ONLY, IPPROTO_IPV6, 27, OPT_INT},
  {IPPROTO_IPV6, IPV6_UNICAST_HOPS, IPPROTO_IPV6, 4, OPT_INT},
  {IPPROTO_IPV6, IPV6_MULTICAST_HOPS, IPPROTO_IPV6, 10, OPT_INT},
  {IPPROTO_IPV6, IPV6_MULTICAST_LOOP, IPPROTO_IPV6, 11, OPT_INT},
};

static const struct optmap *find_opt(int level, int name) {
  for (size_t i = 0; i < sizeof opt_map / sizeof opt_map[0]; i++)
    if (opt_map[i].level == level && opt_map[i].name == name) return &opt_map[i];
  return NULL;
}

/* Message flags, Linux -> NetBSD (MSG_NOSIGNAL is handled here: see raise_sigpipe). */
static int msg_to_nb(int f) {
  int r = 0;
  if (f & MSG_OOB) r |= 0x1;
  if (f & MSG_PEEK) r |= 0x2;
  if (f & MSG_DONTROUTE) r |= 0x4;
  if (f & MSG_WAITALL) r |= 0x40;
  if (f & MSG_DONTWAIT) r |= 0x80;
  return r;
}

static int msg_from_nb(int f) {
  int r = 0;
  if (f & 0x1) r |= MSG_OOB;
  if (f & 0x10) r |= MSG_TRUNC;
  if (f & 0x20) r |= MSG_CTRUNC;
  return r;
}

/* poll events: Linux's and NetBSD's agree but for the write-side normal/band bits. */
static int poll_to_nb(int e) {
  int r = e & (POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND);
  if (e & POLLWRNORM) r |= POLLOUT;
  if (e & POLLWRBAND) r |= 0x100;
  return r;
}

static int poll_from_nb(int e, int asked) {
  int r = e & (POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLNVAL | POLLRDNORM | POLLRDBAND);
  if ((e & POLLOUT) && (asked & POLLWRNORM)) r |= POLLWRNORM;
  if ((e & 0x100) && (asked & POLLWRBAND)) r |= POLLWRBAND;
  if ((e & POLLHUP) && (asked & POLLRDHUP)) r |= POLLRDHUP;
  return r & (asked | POLLERR | POLLHUP | POLLNVAL);
}

/* ------------------------------------------------------------------ */
/* Values (PROTOCOL.md "Values").                                      */

enum { V_NULL = 0, V_UNDEF = 1, V_FALSE = 2, V_TRUE = 3, V_NUM = 4, V_STR = 5, V_BYTES = 6, V_ARR = 7, V_REC = 8 };

typedef struct {
  uint8_t *p;
  size_t len, cap;
} buf_t;

static void b_room(buf_t *b, size_t n) {
  if (b->len + n <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + n) cap *= 2;
  uint8_t *np = realloc(b->p, cap);
  if (np == NULL) abort();
  b->p = np;
  b->cap = cap;
}
static void b_put(buf_t *b, const void *d, size_t n) {
  b_room(b, n);
  memcpy(b->p + b->len, d, n);
  b->len += n;
}
static void b_u8(buf_t *b, uint8_t v) { b_put(b, &v, 1); }
static void b_u32(buf_t *b, uint32_t v) {
  uint8_t x[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
  b_put(b, x, 4);
}
static void b_num(buf_t *b, double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  b_u8(b, V_NUM);
  for (int i = 0; i < 8; i++) b_u8(b, (uint8_t)(u >> (8 * i))); /* little-endian */
}
static void b_str(buf_t *b, const char *s) {
  size_t n = strlen(s);
  b_u8(b, V_STR);
  b_u32(b, (uint32_t)n);
  b_put(b, s, n);
}
static void b_arr(buf_t *b, uint32_t n) { b_u8(b, V_ARR); b_u32(b, n); }
static void b_rec(buf_t *b, uint32_t n) { b_u8(b, V_REC); b_u32(b, n); }
static void b_key(buf_t *b, const char *k) {
  size_t n = strlen(k);
  b_u32(b, (uint32_t)n);
  b_put(b, k, n);
}
static void b_bytes_head(buf_t *b, size_t n) { b_u8(b, V_BYTES); b_u32(b, (uint32_t)n); }

typedef struct {
  const uint8_t *p, *end;
} cur_t;

static int c_u32(cur_t *c, uint32_t *v) {
  if (c->end - c->p < 4) return -1;
  *v = c->p[0] | c->p[1] << 8 | c->p[2] << 16 | (uint32_t)c->p[3] << 24;
  c->p += 4;
  return 0;
}
static int c_skip(cur_t *c, int depth);
static int c_num(cur_t *c, double *d) {
  if (c->p >= c->end) return -1;
  uint8_t t = *c->p++;
  if (t == V_FALSE || t == V_TRUE) { *d = t == V_TRUE; return 0; }
  if (t != V_NUM || c->end - c->p < 8) return -1;
  uint64_t u = 0;
  for (int i = 0; i < 8; i++) u |= (uint64_t)c->p[i] << (8 * i);
  memcpy(d, &u, 8);
  c->p += 8;
  return 0;
}
static int c_blob(cur_t *c, uint8_t tag, const uint8_t **d, uint32_t *n) {
  if (c->p >= c->end || *c->p != tag) return -1;
  c->p++;
  if (c_u32(c, n) < 0 || (uint32_t)(c->end - c->p) < *n) return -1;
  *d = c->p;
  c->p += *n;
  return 0;
}
static int c_skip(cur_t *c, int depth) {
  if (c->p >= c->end || depth > 64) return -1;
  uint8_t t = *c->p;
  const uint8_t *d;
  uint32_t n;
  double x;
  switch (t) {
    case V_NULL: case V_UNDEF: case V_FALSE: case V_TRUE: c->p++; return 0;
    case V_NUM: return c_num(c, &x);
    case V_STR: case V_BYTES: return c_blob(c, t, &d, &n);
    case V_ARR:
      c->p++;
      if (c_u32(c, &n) < 0) return -1;
      while (n--) if (c_skip(c, depth + 1) < 0) return -1;
      return 0;
    case V_REC:
      c->p++;
      if (c_u32(c, &n) < 0) return -1;
      while (n--) {
        uint32_t kl;
        if (c_u32(c, &kl) < 0 || (uint32_t)(c->end - c->p) < kl) return -1;
        c->p += kl;
        if (c_skip(c, depth + 1) < 0) return -1;
      }
      return 0;
    default: return -1;
  }
}
/* Find `key` in the record at the cursor; leaves *v at its value. */
static int c_field(const cur_t *rec, const char *key, cur_t *v) {
  cur_t c = *rec;
  uint32_t n;
  if (c.p >= c.end || *c.p != V_REC) return -1;
  c.p++;
  if (c_u32(&c, &n) < 0) return -1;
  size_t klen = strlen(key);
  while (n--) {
    uint32_t kl;
    if (c_u32(&c, &kl) < 0 || (uint32_t)(c.end - c.p) < kl) return -1;
    int hit = kl == klen && memcmp(c.p, key, kl) == 0;
    c.p += kl;
    if (hit) { *v = c; return 0; }
    if (c_skip(&c, 1) < 0) return -1;
  }
  return -1;
}
static int c_field_num(const cur_t *rec, const char *key, double *d) {
  cur_t v;
  return c_field(rec, key, &v) < 0 ? -1 : c_num(&v, d);
}

/* ------------------------------------------------------------------ */
/* The connection to the server.                                       */

enum { FR_HELLO = 1, FR_CALL = 2, FR_RESULT = 3, FR_ERROR = 4, FR_CLOSE = 5 };
#define MAX_IO (16 * 1024 * 1024 - 4096)
/* How long one kernel poll of a mixed wait may stay in the server. */
#define POLL_SLICE_MS 2000

typedef struct pending {
  uint32_t id;
  int state; /* 0 waiting, 1 answered, 2 nobody waits: drop the answer */
  uint8_t type;
  uint8_t *frame; /* the answer frame after its length (type, id, payload) */
  uint32_t len;
  int wakefd;
  struct pending *next;
} pending_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int conn_fd = -1, conn_state; /* 0 none, 1 up, 2 lost */
static char conn_why[160];
static uint32_t next_id = 1;
static pending_t *pendings;

static int write_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = h_writev(fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    while (n > 0 && (size_t)w >= iov->iov_len) { w -= iov->iov_len; iov++; n--; }
    if (n > 0) { iov->iov_base = (char *)iov->iov_base + w; iov->iov_len -= w; }
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n) {
  while (n > 0) {
    ssize_t r = h_read(fd, p, n);
    if (r == 0) { errno = ECONNRESET; return -1; }
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p = (char *)p + r;
    n -= r;
  }
  return 0;
}

static void wake(pending_t *p) {
  if (p->wakefd >= 0) {
    uint64_t one = 1;
    ssize_t r = h_write(p->wakefd, &one, 8);
    (void)r;
  }
}

/* Under mu: the connection is gone; every waiting call ends. */
static void conn_lost(const char *why) {
  if (conn_state == 2) return;
  if (conn_state == 1 && die_on_loss) {
    /*
     * Before any waiting call wakes to fail. _exit, not exit: the program's
     * threads may hold stdio or our own locks, and atexit handlers would
     * call back into them.
     */
    char m[512];
    int n = snprintf(m, sizeof m, "rumphijack: lost RUMP_SERVER %s (%s); exiting (RUMPHIJACK_RETRYCONNECT=die)\n", server_url, why);
    ssize_t w = h_write(2, m, n > 0 && (size_t)n < sizeof m ? (size_t)n : sizeof m - 1);
    (void)w;
    _exit(1);
  }
  conn_state = 2;
  snprintf(conn_why, sizeof conn_why, "%s", why);
  for (pending_t *p = pendings; p != NULL; p = p->next)
    if (p->state == 0) { p->state = 1; p->type = 0; wake(p); }
  pthread_cond_broadcast(&cv);
}

static void *reader(void *arg) {
  int fd = (int)(intptr_t)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to the program's threads */
  for (;;) {
    uint8_t lb[4];
    if (read_all(fd, lb, 4) < 0) break;
    uint32_t len = lb[0] | lb[1] << 8 | lb[2] << 16 | (uint32_t)lb[3] << 24;
    if (len < 5 || len > 16 * 1024 * 1024 + 5) break;
    uint8_t *f = malloc(len);
    if (f == NULL || read_all(fd, f, len) < 0) { free(f); break; }
    uint32_t id = f[1] | f[2] << 8 | f[3] << 16 | (uint32_t)f[4] << 24;
    if (f[0] == FR_CLOSE) { free(f); break; }
    pthread_mutex_lock(&mu);
    pending_t **pp = &pendings;
    while (*pp != NULL && (*pp)->id != id) pp = &(*pp)->next;
    pending_t *p = *pp;
    if (p != NULL && p->state == 2) {
      *pp = p->next;
      free(p);
      free(f);
    } else if (p != NULL) {
      p->state = 1;
      p->type = f[0];
      p->frame = f;
      p->len = len;
      wake(p);
      pthread_cond_broadcast(&cv);
    } else {
      free(f); /* an ERROR for the connection (id 0) or an answer nobody asked for */
    }
    pthread_mutex_unlock(&mu);
  }
  pthread_mutex_lock(&mu);
  conn_lost("the server closed the connection");
  pthread_mutex_unlock(&mu);
  return NULL;
}

static int parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (strncmp(url, "unix://", 7) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    un->sun_family = AF_UNIX;
    if (strlen(url + 7) >= sizeof un->sun_path) return -1;
    strcpy(un->sun_path, url + 7);
    *len = sizeof *un;
    return 0;
  }
  if (strncmp(url, "tcp://", 6) == 0) {
    char host[64];
    const char *colon = strrchr(url + 6, ':');
    if (colon == NULL || colon - (url + 6) >= (long)sizeof host) return -1;
    memcpy(host, url + 6, colon - (url + 6));
    host[colon - (url + 6)] = '\0';
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)atoi(colon + 1));
    /* PROTOCOL.md: loopback only, since the protocol has no authentication. */
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1 || (ntohl(in->sin_addr.s_addr) >> 24) != 127) return -1;
    *len = sizeof *in;
    return 0;
  }
  return -1;
}

/* Under mu. Opens the connection and says HELLO; 0 or -1 with errno. */
static int conn_open(void) {
  if (conn_state == 1) return 0;
  if (conn_state == 2) { errno = ENOTCONN; return -1; }
  const char *url = getenv("RUMP_SERVER");
  if (url == NULL || *url == '\0') {
    fprintf(stderr, "rumphijack: RUMP_SERVER is not set\n");
    conn_lost("RUMP_SERVER is not set");
    errno = ENOTCONN;
    return -1;
  }
  snprintf(server_url, sizeof server_url, "%s", url);
  struct sockaddr_storage ss;
  socklen_t sl;
  if (parse_url(url, &ss, &sl) < 0) {
    fprintf(stderr, "rumphijack: RUMP_SERVER \"%s\": expected unix://PATH or tcp://127.0.0.1:PORT\n", url);
    conn_lost("bad RUMP_SERVER");
    errno = EINVAL;
    return -1;
  }
  int fd = h_socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || h_connect(fd, (struct sockaddr *)&ss, sl) < 0) {
    int e = errno;
    fprintf(stderr, "rumphijack: cannot reach RUMP_SERVER %s: %s\n", url, strerror(e));
    if (fd >= 0) h_close(fd);
    conn_lost("cannot reach the server");
    errno = e;
    return -1;
  }
  if (ss.ss_family == AF_INET) {
    int one = 1;
    h_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  /* HELLO: "RUMP", version 1, { comm } as rumpclient sends getprogname(). */
  buf_t h = {0};
  b_u32(&h, 0);
  b_u8(&h, FR_HELLO);
  b_u32(&h, 0);
  b_put(&h, "RUMP", 4);
  b_u8(&h, 1);
  b_u8(&h, 0);
  b_rec(&h, 1);
  b_key(&h, "comm");
  b_str(&h, program_invocation_short_name);
  uint32_t fl = (uint32_t)h.len - 4;
  memcpy(h.p, (uint8_t[]){fl & 0xff, (fl >> 8) & 0xff, (fl >> 16) & 0xff, fl >> 24}, 4);
  struct iovec iov = {h.p, h.len};
  uint8_t lb[4], *f = NULL;
  int ok = write_all(fd, &iov, 1) == 0 && read_all(fd, lb, 4) == 0;
  free(h.p);
  uint32_t len = ok ? (lb[0] | lb[1] << 8 | lb[2] << 16 | (uint32_t)lb[3] << 24) : 0;
  ok = ok && len >= 11 && len < 65536 && (f = malloc(len)) != NULL && read_all(fd, f, len) == 0;
  ok = ok && f[0] == FR_HELLO && memcmp(f + 5, "RUMP", 4) == 0 && f[9] == 1 && f[10] == 0;
  free(f);
  if (!ok) {
    fprintf(stderr, "rumphijack: RUMP_SERVER %s did not answer as a rump_server\n", url);
    h_close(fd);
    conn_lost("no HELLO from the server");
    errno = ECONNREFUSED;
    return -1;
  }
  pthread_t t;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &at, reader, (void *)(intptr_t)fd) != 0) {
    h_close(fd);
    conn_lost("no reader thread");
    errno = EAGAIN;
    return -1;
  }
  conn_fd = fd;
  conn_state = 1;
  return 0;
}

/* A call being built: [method, [args...]] with at most one borrowed byte run. */
typedef struct {
  buf_t a, b;
  const void *ext;
  size_t extlen;
} call_t;

static void call_begin(call_t *c, const char *method, uint32_t nargs) {
  memset(c, 0, sizeof *c);
  b_u32(&c->a, 0); /* length, later */
  b_u8(&c->a, FR_CALL);
  b_u32(&c->a, 0); /* id, later */
  b_arr(&c->a, 2);
  b_str(&c->a, method);
  b_arr(&c->a, nargs);
}
static void call_bytes(call_t *c, const void *p, size_t n) {
  b_bytes_head(&c->a, n);
  c->ext = p ? p : "";
  c->extlen = n;
}

/*
 * Send the call and register its answer slot. wakefd >= 0: the reader also
 * signals it when the answer comes. Returns NULL with errno when the
 * connection is down.
 */
static pending_t *call_send(call_t *c, int wakefd) {
  pending_t *p = calloc(1, sizeof *p);
  if (p == NULL) abort();
  p->wakefd = wakefd;
  pthread_mutex_lock(&mu);
  if (conn_open() < 0) {
    int e = errno;
    pthread_mutex_unlock(&mu);
    free(p);
    free(c->a.p);
    free(c->b.p);
    errno = e == ENOTCONN ? ENETDOWN : e;
    return NULL;
  }
  if (++next_id == 0) next_id = 1;
  p->id = next_id;
  p->next = pendings;
  pendings = p;
  int fd = conn_fd;
  pthread_mutex_unlock(&mu);

  uint32_t flen = (uint32_t)(c->a.len + c->extlen + c->b.len - 4);
  uint8_t *h = c->a.p;
  h[0] = flen & 0xff; h[1] = (flen >> 8) & 0xff; h[2] = (flen >> 16) & 0xff; h[3] = flen >> 24;
  h[5] = p->id & 0xff; h[6] = (p->id >> 8) & 0xff; h[7] = (p->id >> 16) & 0xff; h[8] = p->id >> 24;
  struct iovec iov[3] = {{c->a.p, c->a.len}, {(void *)c->ext, c->extlen}, {c->b.p, c->b.len}};
  pthread_mutex_lock(&wmu);
  int r = write_all(fd, iov, c->b.len ? 3 : c->extlen ? 2 : 1);
  pthread_mutex_unlock(&wmu);
  free(c->a.p);
  free(c->b.p);
  if (r < 0) {
    pthread_mutex_lock(&mu);
    conn_lost("writing to the server failed");
    pthread_mutex_unlock(&mu);
  }
  return p;
}

/* Under mu: take p off the list and free it. */
static void pending_drop(pending_t *p) {
  for (pending_t **pp = &pendings; *pp != NULL; pp = &(*pp)->next)
    if (*pp == p) { *pp = p->next; break; }
  free(p->frame);
  free(p);
}

/* Nobody will wait for p: its answer, when it comes, is dropped. */
static void call_abandon(pending_t *p) {
  pthread_mutex_lock(&mu);
  if (p->state == 1) pending_drop(p);
  else p->state = 2, p->wakefd = -1;
  pthread_mutex_unlock(&mu);
}

typedef struct {
  uint8_t *frame;
  cur_t v; /* the RESULT's value */
} reply_t;

/*
 * Wait for p's answer. 0 with r->v at the RESULT's value, or -1 with errno
 * (the kernel's error translated; EPIPE/ECONNRESET when the server is gone).
 */
static int call_finish(pending_t *p, reply_t *r, int lost_errno) {
  pthread_mutex_lock(&mu);
  while (p->state == 0) pthread_cond_wait(&cv, &mu);
  uint8_t type = p->type;
  r->frame = p->frame;
  uint32_t len = p->len;
  p->frame = NULL;
  pending_drop(p);
  pthread_mutex_unlock(&mu);
  if (type == 0) {
    if (verbose) fprintf(stderr, "rumphijack: %s (%s)\n", conn_why, server_url);
    errno = lost_errno;
    return -1;
  }
  r->v.p = r->frame + 5;
  r->v.end = r->frame + len;
  if (type == FR_RESULT) return 0;
  double e = EIO;
  c_field_num(&r->v, "errno", &e);
  free(r->frame);
  r->frame = NULL;
  errno = errno_from_nb((int)e);
  return -1;
}

static int call(call_t *c, reply_t *r, int lost_errno) {
  pending_t *p = call_send(c, -1);
  if (p == NULL) return -1;
  return call_finish(p, r, lost_errno);
}

/* A call whose answer nobody needs (F_SETFL after accept4, say): it runs before later calls. */
static void call_nowait(call_t *c) {
  pending_t *p = call_send(c, -1);
  if (p != NULL) call_abandon(p);
}

static int reply_int(reply_t *r) {
  double d = 0;
  c_num(&r->v, &d);
  free(r->frame);
  return (int)d;
}

/* ------------------------------------------------------------------ */
/* Descriptors: host placeholder -> kernel descriptor.                 */

#define FDMAX (1 << 20)
typedef struct {
  int kfd; /* the kernel's descriptor + 1; 0: not ours */
} fdent_t;
typedef struct {
  int refs, nonblock, domain, type, protocol;
} kfile_t;

static fdent_t *fdtab; /* FDMAX entries, touched lazily (calloc'd pages) */
static kfile_t *ktab;
static int ktab_n;

static int kfd_of(int fd) {
  if (fd < 0 || fd >= FDMAX || fdtab == NULL) return -1;
  return __atomic_load_n(&fdtab[fd].kfd, __ATOMIC_ACQUIRE) - 1;
}

/* Under mu. */
static kfile_t *kfile(int kfd) {
  if (kfd >= ktab_n) {
    int n = ktab_n ? ktab_n : 64;
    while (n <= kfd) n *= 2;
    kfile_t *t = realloc(ktab, n * sizeof *t);
    if (t == NULL) abort();
    memset(t + ktab_n, 0, (n - ktab_n) * sizeof *t);
    ktab = t;
    ktab_n = n;
  }
  return &ktab[kfd];
}

static void fd_map(int fd, int kfd) { __atomic_store_n(&fdtab[fd].kfd, kfd + 1, __ATOMIC_RELEASE); }

/* A host placeholder for a kernel socket of `type`: an AF_UNIX socket never connected. */
static int placeholder(int type, int cloexec) {
  return h_socket(AF_UNIX, (type == SOCK_DGRAM ? SOCK_DGRAM : SOCK_STREAM) | (cloexec ? SOCK_CLOEXEC : 0), 0);
}

static int kclose(int kfd) {
  call_t c;
  reply_t r;
  call_begin(&c, "close", 1);
  b_num(&c.a, kfd);
  if (call(&c, &r, 0) < 0) return errno == 0 ? 0 : -1;
  free(r.frame);
  return 0;
}

static void ep_forget(int fd);

/* The descriptor fd goes: drop its mapping, and the kernel's socket with its last one. */
static int unmap_fd(int fd, int kfd) {
  ep_forget(fd);
  pthread_mutex_lock(&mu);
  fd_map(fd, -1);
  int last = --kfile(kfd)->refs == 0;
  pthread_mutex_unlock(&mu);
  return last ? kclose(kfd) : 0;
}

/* ------------------------------------------------------------------ */
/* Socket addresses.                                                   */

/* A Linux sockaddr as the kernel's record, appended to b; -1 EAFNOSUPPORT/EINVAL. */
static int put_sockaddr(buf_t *b, const struct sockaddr *sa, socklen_t len) {
  char text[INET6_ADDRSTRLEN];
  if (sa == NULL) { b_u8(b, V_NULL); return 0; }
  if (len < (socklen_t)sizeof(sa_family_t)) { errno = EINVAL; return -1; }
  if (sa->sa_family == AF_INET) {
    if (len < (socklen_t)sizeof(struct sockaddr_in)) { errno = EINVAL; return -1; }
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    b_rec(b, 3);
    b_key(b, "family"); b_num(b, AF_INET);
    b_key(b, "addr"); b_str(b, text);
    b_key(b, "port"); b_num(b, ntohs(in->sin_port));
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    if (len < (socklen_t)sizeof(struct sockaddr_in6)) { errno = EINVAL; return -1; }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    b_rec(b, 4);
    b_key(b, "family"); b_num(b, NB_AF_INET6);
    b_key(b, "addr"); b_str(b, text);
    b_key(b, "port"); b_num(b, ntohs(in6->sin6_port));
    b_key(b, "scope_id"); b_num(b, in6->sin6_scope_id);
    return 0;
  }
  if (sa->sa_family == AF_UNSPEC) {
    b_rec(b, 1);
    b_key(b, "family"); b_num(b, 0);
    return 0;
  }
  errno = EAFNOSUPPORT;
  return -1;
}

/* The kernel's address record as a Linux sockaddr in (sa, *len), truncated as the calls do. */
static void get_sockaddr(const cur_t *rec, struct sockaddr *sa, socklen_t *len) {
  struct sockaddr_storage ss;
  socklen_t full = 0;
  double fam = 0, port = 0, scope = 0;
  cur_t av;
  const uint8_t *s = NULL;
  uint32_t sn = 0;
  char text[INET6_ADDRSTRLEN + 1];
  memset(&ss, 0, sizeof ss);
  if (c_field_num(rec, "family", &fam) == 0 && c_field(rec, "addr", &av) == 0 && c_blob(&av, V_STR, &s, &sn) == 0 &&
      sn < sizeof text) {
    memcpy(text, s, sn);
    text[sn] = '\0';
    c_field_num(rec, "port", &port);
    if (fam == AF_INET) {
      struct sockaddr_in *in = (struct sockaddr_in *)&ss;
      in->sin_family = AF_INET;
      in->sin_port = htons((uint16_t)port);
      inet_pton(AF_INET, text, &in->sin_addr);
      full = sizeof *in;
    } else if (fam == NB_AF_INET6) {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
      char *pct = strchr(text, '%');
      if (pct != NULL) *pct = '\0';
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons((uint16_t)port);
      inet_pton(AF_INET6, text, &in6->sin6_addr);
      if (c_field_num(rec, "scope_id", &scope) == 0) in6->sin6_scope_id = (uint32_t)scope;
      full = sizeof *in6;
    }
  }
  if (full == 0) { ss.ss_family = AF_UNSPEC; full = sizeof(sa_family_t); }
  if (sa != NULL && len != NULL) memcpy(sa, &ss, *len < full ? *len : full);
  if (len != NULL) *len = full;
}

/* ------------------------------------------------------------------ */
/* The calls.                                                          */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void child_after_fork(void);

static void init(void) {
  lookup_host();
  parse_rumphijack(getenv("RUMPHIJACK"));
  verbose = getenv("RUMPHIJACK_VERBOSE") != NULL;
  parse_retryconnect(getenv("RUMPHIJACK_RETRYCONNECT"));
  fdtab = calloc(FDMAX, sizeof *fdtab); /* the kernel gives pages on first touch */
  if (fdtab == NULL) abort();
  pthread_atfork(NULL, NULL, child_after_fork);
}
static void ensure_init(void) { pthread_once(&once, init); }

__attribute__((constructor)) static void ctor(void) { ensure_init(); }

/*
 * The child of fork() has no reader thread and must not share the parent's
 * connection (NetBSD's rumpclient_fork makes the child a new process of the
 * kernel, with the parent's descriptors; this library does not): the child's
 * kernel sockets are dropped and a later hijacked call opens a connection of
 * its own.
 */
static void child_after_fork(void) {
  pthread_mutex_init(&mu, NULL);
  pthread_mutex_init(&wmu, NULL);
  pthread_cond_init(&cv, NULL);
  if (conn_fd >= 0) h_close(conn_fd);
  conn_fd = -1;
  conn_state = 0;
  pendings = NULL; /* leaked on purpose: the parent's threads own them */
  for (int i = 0; i < FDMAX; i++)
    if (fdtab[i].kfd) fdtab[i].kfd = 0;
  if (ktab) memset(ktab, 0, ktab_n * sizeof *ktab);
}

static int family_hijacked(int domain) {
  return (domain == AF_INET && hijack_inet) || (domain == AF_INET6 && hijack_inet6);
}

/* A socket of the kernel, with its host placeholder. */
static int ksocket(int domain, int type, int protocol) {
  int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  call_t c;
  reply_t r;
  call_begin(&c, "socket", 3);
  b_num(&c.a, domain == AF_INET6 ? NB_AF_INET6 : AF_INET);
  b_num(&c.a, base);
  b_num(&c.a, protocol);
  if (call(&c, &r, ENETDOWN) < 0) return -1;
  int kfd = reply_int(&r);
  int fd = placeholder(base, type & SOCK_CLOEXEC);
  if (fd < 0 || fd >= FDMAX) {
    int e = fd < 0 ? errno : EMFILE;
    if (fd >= 0) h_close(fd);
    kclose(kfd);
    errno = e;
    return -1;
  }
  pthread_mutex_lock(&mu);
  kfile_t *k = kfile(kfd);
  *k = (kfile_t){1, (type & SOCK_NONBLOCK) != 0, domain, base, protocol};
  fd_map(fd, kfd);
  pthread_mutex_unlock(&mu);
  if (type & SOCK_NONBLOCK) {
    call_begin(&c, "fcntl", 3);
    b_num(&c.a, kfd); b_num(&c.a, NB_F_SETFL); b_num(&c.a, NB_O_NONBLOCK);
    call_nowait(&c);
  }
  return fd;
}

EXPORT int socket(int domain, int type, int protocol) {
  ensure_init();
  return family_hijacked(domain) ? ksocket(domain, type, protocol) : h_socket(domain, type, protocol);
}

/* bind, connect: [kfd, addr]. */
static int addr_call(const char *method, int kfd, const struct sockaddr *sa, socklen_t len) {
  call_t c;
  reply_t r;
  call_begin(&c, method, 2);
  b_num(&c.a, kfd);
  if (put_sockaddr(&c.a, sa, len) < 0) { free(c.a.p); return -1; }
  if (call(&c, &r, ECONNRESET) < 0) return -1;
  free(r.frame);
  return 0;
}

EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_bind(fd, sa, len) : addr_call("bind", kfd, sa, len);
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_connect(fd, sa, len) : addr_call("connect", kfd, sa, len);
}

static int int_call(const char *method, int n, const double *args) {
  call_t c;
  reply_t r;
  call_begin(&c, method, n);
  for (int i = 0; i < n; i++) b_num(&c.a, args[i]);
  if (call(&c, &r, ECONNRESET) < 0) return -1;
  return reply_int(&r);
}

EXPORT int listen(int fd, int backlog) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_listen(fd, backlog);
  return int_call("listen", 2, (double[]){kfd, backlog < 0 ? 128 : backlog}) < 0 ? -1 : 0;
}

EXPORT int shutdown(int fd, int how) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_shutdown(fd, how);
  return int_call("shutdown", 2, (double[]){kfd, how}) < 0 ? -1 : 0;
}

EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_accept4(fd, sa, len, flags);
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) { errno = EINVAL; return -1; }
  call_t c;
  reply_t r;
  call_begin(&c, "accept", 1);
  b_num(&c.a, kfd);
  if (call(&c, &r, ECONNABORTED) < 0) return -1;
  double nk = -1;
  c_field_num(&r.v, "fd", &nk);
  cur_t av;
  if (c_field(&r.v, "addr", &av) == 0) get_sockaddr(&av, sa, len);
  free(r.frame);
  int nkfd = (int)nk;
  pthread_mutex_lock(&mu);
  kfile_t parent = *kfile(kfd);
  pthread_mutex_unlock(&mu);
  int nfd = placeholder(parent.type, flags & SOCK_CLOEXEC);
  if (nfd < 0 || nfd >= FDMAX) {
    int e = nfd < 0 ? errno : EMFILE;
    if (nfd >= 0) h_close(nfd);
    kclose(nkfd);
    errno = e;
    return -1;
  }
  pthread_mutex_lock(&mu);
  *kfile(nkfd) = (kfile_t){1, (flags & SOCK_NONBLOCK) != 0, parent.domain, parent.type, parent.protocol};
  fd_map(nfd, nkfd);
  pthread_mutex_unlock(&mu);
  /* Linux's accept does not pass O_NONBLOCK on; the kernel's new socket starts blocking too. */
  if (flags & SOCK_NONBLOCK) {
    call_begin(&c, "fcntl", 3);
    b_num(&c.a, nkfd); b_num(&c.a, NB_F_SETFL); b_num(&c.a, NB_O_NONBLOCK);
    call_nowait(&c);
  }
  return nfd;
}

EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len) {
  ensure_init();
  if (kfd_of(fd) < 0) return h_accept(fd, sa, len);
  return accept4(fd, sa, len, 0);
}

EXPORT int close(int fd) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_close(fd);
  int r = unmap_fd(fd, kfd);
  int e = errno;
  h_close(fd);
  errno = e;
  return r;
}

/* Linux raises SIGPIPE on a stream whose peer is gone unless MSG_NOSIGNAL. */
static ssize_t sent(ssize_t n, int flags) {
  if (n < 0 && errno == EPIPE && !(flags & MSG_NOSIGNAL)) {
    raise(SIGPIPE);
    errno = EPIPE;
  }
  return n;
}

/* send/sendto/write: [kfd, bytes(, flags(, to))]. */
static ssize_t ksend(int kfd, const void *data, size_t n, int flags, const struct sockaddr *to, socklen_t tolen) {
  if (n > MAX_IO) n = MAX_IO;
  call_t c;
  reply_t r;
  int hasto = to != NULL;
  call_begin(&c, hasto ? "sendto" : "send", hasto ? 4 : 3);
  b_num(&c.a, kfd);
  call_bytes(&c, data, n);
  b_num(&c.b, msg_to_nb(flags));
  if (hasto && put_sockaddr(&c.b, to, tolen) < 0) { free(c.a.p); free(c.b.p); return -1; }
  if (call(&c, &r, EPIPE) < 0) return sent(-1, flags);
  return reply_int(&r);
}

/* recv/recvfrom/read into buf; from/fromlen and *oflags when asked. */
static ssize_t krecv(int kfd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *fromlen, int *oflags) {
  if (n > MAX_IO) n = MAX_IO;
  call_t c;
  reply_t r;
  int full = from != NULL || oflags != NULL;
  call_begin(&c, full ? "recvfrom" : "recv", 3);
  b_num(&c.a, kfd);
  b_num(&c.a, n);
  b_num(&c.a, msg_to_nb(flags));
  if (call(&c, &r, ECONNRESET) < 0) return -1;
  cur_t dv = r.v;
  const uint8_t *d = NULL;
  uint32_t dn = 0;
  if (full) {
    cur_t fv;
    double fl = 0;
    c_field(&r.v, "data", &dv);
    if (from != NULL) {
      if (c_field(&r.v, "from", &fv) == 0 && *fv.p == V_REC) get_sockaddr(&fv, from, fromlen);
      else if (fromlen != NULL) *fromlen = 0;
    }
    c_field_num(&r.v, "flags", &fl);
    if (oflags != NULL) *oflags = msg_from_nb((int)fl);
  }
  if (c_blob(&dv, V_BYTES, &d, &dn) < 0) { free(r.frame); errno = EIO; return -1; }
  if (dn > n) dn = (uint32_t)n;
  memcpy(buf, d, dn);
  free(r.frame);
  return dn;
}

EXPORT ssize_t send(int fd, const void *p, size_t n, int flags) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_send(fd, p, n, flags) : ksend(kfd, p, n, flags, NULL, 0);
}

EXPORT ssize_t sendto(int fd, const void *p, size_t n, int flags, const struct sockaddr *to, socklen_t tl) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_sendto(fd, p, n, flags, to, tl) : ksend(kfd, p, n, flags, to, tl);
}

EXPORT ssize_t write(int fd, const void *p, size_t n) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_write(fd, p, n) : ksend(kfd, p, n, 0, NULL, 0);
}

EXPORT ssize_t recv(int fd, void *p, size_t n, int flags) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_recv(fd, p, n, flags) : krecv(kfd, p, n, flags, NULL, NULL, NULL);
}

EXPORT ssize_t recvfrom(int fd, void *p, size_t n, int flags, struct sockaddr *from, socklen_t *fl) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_recvfrom(fd, p, n, flags, from, fl) : krecv(kfd, p, n, flags, from, fl, NULL);
}

EXPORT ssize_t read(int fd, void *p, size_t n) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_read(fd, p, n) : krecv(kfd, p, n, 0, NULL, NULL, NULL);
}

/* _FORTIFY_SOURCE builds call these instead. */
EXPORT ssize_t __read_chk(int fd, void *p, size_t n, size_t buflen) {
  if (n > buflen) abort();
  return read(fd, p, n);
}
EXPORT ssize_t __recv_chk(int fd, void *p, size_t n, size_t buflen, int flags) {
  if (n > buflen) abort();
  return recv(fd, p, n, flags);
}
EXPORT ssize_t __recvfrom_chk(int fd, void *p, size_t n, size_t buflen, int flags, struct sockaddr *from, socklen_t *fl) {
  if (n > buflen) abort();
  return recvfrom(fd, p, n, flags, from, fl);
}

static size_t iov_total(const struct iovec *iov, int n) {
  size_t t = 0;
  for (int i = 0; i < n; i++) t += iov[i].iov_len;
  return t;
}

/* writev/sendmsg: the pieces gathered into one send. */
static ssize_t ksendv(int kfd, const struct iovec *iov, int n, int flags, const struct sockaddr *to, socklen_t tl) {
  if (n == 1) return ksend(kfd, iov[0].iov_base, iov[0].iov_len, flags, to, tl);
  size_t t = iov_total(iov, n);
  if (t > MAX_IO) t = MAX_IO;
  char *b = malloc(t ? t : 1);
  if (b == NULL) { errno = ENOBUFS; return -1; }
  size_t off = 0;
  for (int i = 0; i < n && off < t; i++) {
    size_t k = iov[i].iov_len < t - off ? iov[i].iov_len : t - off;
    memcpy(b + off, iov[i].iov_base, k);
    off += k;
  }
  ssize_t r = ksend(kfd, b, t, flags, to, tl);
  free(b);
  return r;
}

static ssize_t krecvv(int kfd, const struct iovec *iov, int n, int flags, struct sockaddr *from, socklen_t *fl, int *oflags) {
  if (n == 1) return krecv(kfd, iov[0].iov_base, iov[0].iov_len, flags, from, fl, oflags);
  size_t t = iov_total(iov, n);
  if (t > MAX_IO) t = MAX_IO;
  char *b = malloc(t ? t : 1);
  if (b == NULL) { errno = ENOBUFS; return -1; }
  ssize_t r = krecv(kfd, b, t, flags, from, fl, oflags);
  size_t off = 0;
  for (int i = 0; r > 0 && i < n && off < (size_t)r; i++) {
    size_t k = iov[i].iov_len < (size_t)r - off ? iov[i].iov_len : (size_t)r - off;
    memcpy(iov[i].iov_base, b + off, k);
    off += k;
  }
  free(b);
  return r;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_writev(fd, iov, n) : ksendv(kfd, iov, n, 0, NULL, 0);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n) {
  ensure_init();
  int kfd = kfd_of(fd);
  return kfd < 0 ? h_readv(fd, iov, n) : krecvv(kfd, iov, n, 0, NULL, NULL, NULL);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_sendmsg(fd, m, flags);
  return ksendv(kfd, m->msg_iov, (int)m->msg_iovlen, flags, m->msg_name, m->msg_namelen);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_recvmsg(fd, m, flags);
  socklen_t nl = m->msg_namelen;
  int of = 0;
  ssize_t r = krecvv(kfd, m->msg_iov, (int)m->msg_iovlen, flags, m->msg_name, m->msg_name ? &nl : NULL, &of);
  if (r >= 0) {
    m->msg_namelen = m->msg_name ? nl : 0;
    m->msg_controllen = 0; /* no ancillary data crosses */
    m->msg_flags = of;
  }
  return r;
}

/* sendfile to a kernel socket: the file's bytes read here, sent there (at most 1 MiB a call). */
EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count) {
  ensure_init();
  int kfd = kfd_of(out);
  if (kfd < 0) return h_sendfile(out, in, off, count);
  size_t n = count < (1u << 20) ? count : (1u << 20);
  char *b = malloc(n ? n : 1);
  if (b == NULL) { errno = ENOMEM; return -1; }
  ssize_t r = off != NULL ? pread(in, b, n, *off) : h_read(in, b, n);
  ssize_t w = r > 0 ? ksend(kfd, b, (size_t)r, 0, NULL, 0) : r;
  if (w > 0 && off != NULL) *off += w;
  else if (w >= 0 && r > w && off == NULL) lseek(in, w - r, SEEK_CUR); /* give back what was not sent */
  free(b);
  return w;
}
EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count) { return sendfile(out, in, off, count); }

EXPORT int getsockname(int fd, struct sockaddr *sa, socklen_t *len) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_getsockname(fd, sa, len);
  reply_t r;
  call_t c;
  call_begin(&c, "getsockname", 1);
  b_num(&c.a, kfd);
  if (call(&c, &r, ECONNRESET) < 0) return -1;
  get_sockaddr(&r.v, sa, len);
  free(r.frame);
  return 0;
}

EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_getpeername(fd, sa, len);
  reply_t r;
  call_t c;
  call_begin(&c, "getpeername", 1);
  b_num(&c.a, kfd);
  if (call(&c, &r, ECONNRESET) < 0) return -1;
  get_sockaddr(&r.v, sa, len);
  free(r.frame);
  return 0;
}

EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_setsockopt(fd, level, name, val, len);
  const struct optmap *o = find_opt(level, name);
  if (o == NULL) { errno = ENOPROTOOPT; return -1; }
  call_t c;
  reply_t r;
  call_begin(&c, "setsockopt", 4);
  b_num(&c.a, kfd);
  b_num(&c.a, o->nblevel);
  b_num(&c.a, o->nbname);
  if (o->kind == OPT_LINGER) {
    if (len < (socklen_t)sizeof(struct linger)) { free(c.a.p); errno = EINVAL; return -1; }
    const struct linger *l = val;
    b_rec(&c.a, 2);
    b_key(&c.a, "l_onoff"); b_num(&c.a, l->l_onoff);
    b_key(&c.a, "l_linger"); b_num(&c.a, l->l_linger);
  } else if (o->kind == OPT_MREQ || o->kind == OPT_MCAST_IF) {
    /*
     * struct ip_mreq is the kernel's 8 bytes; Linux's ip_mreqn adds an
     * interface index after them. IP_MULTICAST_IF takes an in_addr or an
     * ip_mreqn, whose address, or else index (as 0.0.0.index, RFC 1724
     * §3.3, which the kernel takes), names the interface.
     */
    uint8_t m[8];
    if (len < (socklen_t)(o->kind == OPT_MREQ ? 8 : 4)) { free(c.a.p); errno = EINVAL; return -1; }
    if (o->kind == OPT_MREQ) memcpy(m, val, 8);
    else if (len >= (socklen_t)sizeof(struct ip_mreqn)) {
      const struct ip_mreqn *mn = val;
      uint32_t a = mn->imr_address.s_addr != 0 ? mn->imr_address.s_addr : htonl((uint32_t)mn->imr_ifindex);
      memcpy(m, &a, 4);
    } else memcpy(m, val, 4);
    b_bytes_head(&c.a, o->kind == OPT_MREQ ? 8 : 4);
    b_put(&c.a, m, o->kind == OPT_MREQ ? 8 : 4);
  } else if (o->kind == OPT_MREQ6) {
    if (len < (socklen_t)sizeof(struct ipv6_mreq)) { free(c.a.p); errno = EINVAL; return -1; }
    const struct ipv6_mreq *m6 = val;
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &m6->ipv6mr_multiaddr, text, sizeof text);
    b_rec(&c.a, 2);
    b_key(&c.a, "ipv6mr_multiaddr"); b_str(&c.a, text);
    b_key(&c.a, "ipv6mr_interface"); b_num(&c.a, m6->ipv6mr_interface);
  } else if (o->kind == OPT_TIMEVAL) {
    if (len < (socklen_t)sizeof(struct timeval)) { free(c.a.p); errno = EINVAL; return -1; }
    const struct timeval *tv = val;
    b_num(&c.a, (double)tv->tv_sec * 1000 + tv->tv_usec / 1000);
  } else {
    int v = 0;
    if (len == 1) v = *(const unsigned char *)val;
    else if (len >= (socklen_t)sizeof(int)) v = *(const int *)val;
    else { free(c.a.p); errno = EINVAL; return -1; }
    b_num(&c.a, v);
  }
  if (call(&c, &r, ECONNRESET) < 0) return -1;
  free(r.frame);
  return 0;
}

EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_getsockopt(fd, level, name, val, len);
  if (level == SOL_SOCKET && (name == SO_DOMAIN || name == SO_PROTOCOL)) {
    pthread_mutex_lock(&mu);
    kfile_t k = *kfile(kfd);
    pthread_mutex_unlock(&mu);
    int v = name == SO_DOMAIN ? k.domain : k.protocol ? k.protocol : k.type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    if (*len < (socklen_t)sizeof v) { errno = EINVAL; return -1; }
    memcpy(val, &v, sizeof v);
    *len = sizeof v;
    return 0;
  }
  const struct optmap *o = find_opt(level, name);
  if (o == NULL) { errno = ENOPROTOOPT; return -1; }
  call_t c;
  reply_t r;
  call_begin(&c, "getsockopt", 3);
  b_num(&c.a, kfd);
  b_num(&c.a, o->nblevel);
  b_num(&c.a, o->nbname);
  if (call(&c, &r, ECONNRESET) < 0) return -1;
  if (o->kind == OPT_LINGER) {
    double on = 0, secs = 0;
    c_field_num(&r.v, "l_onoff", &on);
    c_field_num(&r.v, "l_linger", &secs);
    struct linger l = {(int)on, (int)secs};
    memcpy(val, &l, *len < sizeof l ? *len : sizeof l);
    *len = sizeof l;
    free(r.frame);
    return 0;
  }
  if (o->kind == OPT_MREQ || o->kind == OPT_MREQ6) { free(r.frame); errno = ENOPROTOOPT; return -1; }
  if (o->kind == OPT_MCAST_IF) {
    cur_t av;
    const uint8_t *t;
    uint32_t tn;
    char text[INET_ADDRSTRLEN] = "0.0.0.0";
    if (c_field(&r.v, "addr", &av) == 0 && c_blob(&av, V_STR, &t, &tn) == 0 && tn < sizeof text) {
      memcpy(text, t, tn);
      text[tn] = '\0';
    }
    struct in_addr a = {0};
    inet_pton(AF_INET, text, &a);
    free(r.frame);
    memcpy(val, &a, *len < sizeof a ? *len : sizeof a);
    *len = sizeof a;
    return 0;
  }
  int v = reply_int(&r);
  if (o->kind == OPT_TIMEVAL) {
    struct timeval tv = {v / 1000, (v % 1000) * 1000};
    memcpy(val, &tv, *len < sizeof tv ? *len : sizeof tv);
    *len = sizeof tv;
    return 0;
  }
  if (level == SOL_SOCKET && name == SO_ERROR && v != 0) v = errno_from_nb(v);
  if (*len < (socklen_t)sizeof v) { errno = EINVAL; return -1; }
  memcpy(val, &v, sizeof v);
  *len = sizeof v;
  return 0;
}

/* O_NONBLOCK lives in the kernel (it decides whether a call waits) and is mirrored here for F_GETFL. */
static int set_nonblock(int kfd, int on) {
  pthread_mutex_lock(&mu);
  kfile(kfd)->nonblock = on;
  pthread_mutex_unlock(&mu);
  return int_call("fcntl", 3, (double[]){kfd, NB_F_SETFL, on ? NB_O_NONBLOCK : 0}) < 0 ? -1 : 0;
}

/* nfd, a host duplicate of a placeholder, names the same kernel socket. */
static int kdup(int kfd, int nfd) {
  if (nfd >= FDMAX) { h_close(nfd); errno = EMFILE; return -1; }
  pthread_mutex_lock(&mu);
  kfile(kfd)->refs++;
  fd_map(nfd, kfd);
  pthread_mutex_unlock(&mu);
  return nfd;
}

EXPORT int fcntl(int fd, int cmd, ...) {
  ensure_init();
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_fcntl(fd, cmd, arg);
  switch (cmd) {
    case F_GETFL: {
      pthread_mutex_lock(&mu);
      int nb = kfile(kfd)->nonblock;
      pthread_mutex_unlock(&mu);
      return O_RDWR | (nb ? O_NONBLOCK : 0);
    }
    case F_SETFL:
      return set_nonblock(kfd, (arg & O_NONBLOCK) != 0);
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int nfd = h_fcntl(fd, cmd, arg);
      if (nfd < 0) return -1;
      return kdup(kfd, nfd);
    }
    default:
      return h_fcntl(fd, cmd, arg); /* F_GETFD/F_SETFD and the rest act on the placeholder */
  }
}

/* The kernel's interfaces (SIOCGIFCONF's array of records), the reply kept in *r. */
static int kinterfaces(int kfd, reply_t *r, uint32_t *count) {
  call_t c;
  call_begin(&c, "ioctl", 2);
  b_num(&c.a, kfd);
  b_str(&c.a, "SIOCGIFCONF");
  if (call(&c, r, ECONNRESET) < 0) return -1;
  if (r->v.p >= r->v.end || *r->v.p != V_ARR) { free(r->frame); errno = EIO; return -1; }
  r->v.p++;
  return c_u32(&r->v, count);
}

static int c_field_str(const cur_t *rec, const char *key, char *out, size_t cap) {
  cur_t v;
  const uint8_t *t;
  uint32_t n;
  if (c_field(rec, key, &v) < 0 || c_blob(&v, V_STR, &t, &n) < 0 || n >= cap) return -1;
  memcpy(out, t, n);
  out[n] = '\0';
  return 0;
}

/*
 * SIOCGIFCONF as Linux gives it: one ifreq per IPv4 address of the
 * kernel's interfaces (none for an interface without one); a null buffer
 * asks for the length needed.
 */
static int kifconf(int kfd, struct ifconf *ifc) {
  reply_t r;
  uint32_t n;
  if (kinterfaces(kfd, &r, &n) < 0) return -1;
  int used = 0;
  for (uint32_t i = 0; i < n; i++) {
    cur_t rec = r.v, in;
    char name[IFNAMSIZ];
    if (c_skip(&r.v, 1) < 0) break;
    if (c_field_str(&rec, "name", name, sizeof name) < 0 || c_field(&rec, "inet", &in) < 0 || *in.p != V_ARR) continue;
    in.p++;
    uint32_t na;
    if (c_u32(&in, &na) < 0) continue;
    for (uint32_t j = 0; j < na; j++) {
      cur_t a = in;
      char text[INET_ADDRSTRLEN];
      if (c_skip(&in, 2) < 0) break;
      if (c_field_str(&a, "addr", text, sizeof text) < 0) continue;
      if (ifc->ifc_req != NULL) {
        if (used + (int)sizeof(struct ifreq) > ifc->ifc_len) break;
        struct ifreq *q = (struct ifreq *)(ifc->ifc_buf + used);
        memset(q, 0, sizeof *q);
        snprintf(q->ifr_name, IFNAMSIZ, "%s", name);
        struct sockaddr_in *sin = (struct sockaddr_in *)&q->ifr_addr;
        sin->sin_family = AF_INET;
        inet_pton(AF_INET, text, &sin->sin_addr);
      }
      used += sizeof(struct ifreq);
    }
  }
  free(r.frame);
  ifc->ifc_len = used;
  return 0;
}

/* SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFINDEX for ifr_name, from the kernel's interface list. */
static int kifreq(int kfd, unsigned long req, struct ifreq *q) {
  reply_t r;
  uint32_t n;
  if (kinterfaces(kfd, &r, &n) < 0) return -1;
  for (uint32_t i = 0; i < n; i++) {
    cur_t rec = r.v;
    char name[IFNAMSIZ];
    if (c_skip(&r.v, 1) < 0) break;
    if (c_field_str(&rec, "name", name, sizeof name) < 0 || strncmp(name, q->ifr_name, IFNAMSIZ) != 0) continue;
    double v = 0;
    if (req == SIOCGIFFLAGS) {
      c_field_num(&rec, "flags", &v);
      int nb = (int)v; /* NetBSD's IFF_*: the same below 0x400; IFF_MULTICAST is 0x8000 there */
      q->ifr_flags = (short)((nb & 0x3ff) | (nb & 0x8000 ? IFF_MULTICAST : 0));
    } else if (req == SIOCGIFMTU) {
      c_field_num(&rec, "mtu", &v);
      q->ifr_mtu = (int)v;
    } else {
      c_field_num(&rec, "index", &v);
      q->ifr_ifindex = (int)v;
    }
    free(r.frame);
    return 0;
  }
  free(r.frame);
  errno = ENXIO;
  return -1;
}

EXPORT int ioctl(int fd, unsigned long req, ...) {
  ensure_init();
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_ioctl(fd, req, arg);
  if (req == FIONBIO) return set_nonblock(kfd, *(int *)arg != 0);
  if (req == FIONREAD) {
    call_t c;
    reply_t r;
    call_begin(&c, "ioctl", 2);
    b_num(&c.a, kfd);
    b_str(&c.a, "FIONREAD");
    if (call(&c, &r, ECONNRESET) < 0) return -1;
    *(int *)arg = reply_int(&r);
    return 0;
  }
  if (req == SIOCGIFCONF) return kifconf(kfd, arg);
  if (req == SIOCGIFFLAGS || req == SIOCGIFMTU || req == SIOCGIFINDEX) return kifreq(kfd, req, arg);
  errno = ENOTTY;
  return -1;
}

EXPORT int dup(int fd) {
  ensure_init();
  int kfd = kfd_of(fd);
  int nfd = h_dup(fd);
  if (kfd < 0 || nfd < 0) return nfd;
  return kdup(kfd, nfd);
}

static int dup_to(int fd, int newfd, int flags, int three) {
  int kfd = kfd_of(fd);
  if (fd == newfd) return three ? (errno = EINVAL, -1) : h_dup2(fd, newfd);
  int old = kfd_of(newfd);
  if (old >= 0) unmap_fd(newfd, old); /* dup2 closes newfd first */
  int r = three ? h_dup3(fd, newfd, flags) : h_dup2(fd, newfd);
  if (r < 0 || kfd < 0) return r;
  return kdup(kfd, r);
}

EXPORT int dup2(int fd, int newfd) { ensure_init(); return dup_to(fd, newfd, 0, 0); }
EXPORT int dup3(int fd, int newfd, int flags) { ensure_init(); return dup_to(fd, newfd, flags, 1); }

/* ------------------------------------------------------------------ */
/* Waiting: poll, select, epoll over kernel and host descriptors.      */

static __thread int tl_wake = -1;

static int wakefd_of_thread(void) {
  if (tl_wake < 0) tl_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return tl_wake;
}
static void drain(int efd) {
  uint64_t v;
  while (h_read(efd, &v, 8) == 8) {}
}

typedef struct {
  int kfd, events, revents;
} kpoll_t;

/* The kernel's `poll` over ks: sent, not waited for. */
static pending_t *kpoll_send(const kpoll_t *ks, int n, int timeout, int wakefd) {
  call_t c;
  call_begin(&c, "poll", 2);
  b_arr(&c.a, n);
  for (int i = 0; i < n; i++) {
    b_rec(&c.a, 2);
    b_key(&c.a, "fd"); b_num(&c.a, ks[i].kfd);
    b_key(&c.a, "events"); b_num(&c.a, poll_to_nb(ks[i].events));
  }
  b_num(&c.a, timeout);
  return call_send(&c, wakefd);
}

/* Read the answer of a finished kernel poll into ks[].revents; the count ready, or -1. */
static int kpoll_finish(pending_t *p, kpoll_t *ks, int n) {
  reply_t r;
  for (int i = 0; i < n; i++) ks[i].revents = 0;
  if (call_finish(p, &r, 0) < 0) {
    if (errno != 0) return -1;
    for (int i = 0; i < n; i++) ks[i].revents = POLLHUP | POLLERR; /* the server is gone */
    return n;
  }
  cur_t c = r.v;
  uint32_t cnt = 0;
  int ready = 0;
  if (c.p < c.end && *c.p == V_ARR) {
    c.p++;
    c_u32(&c, &cnt);
    for (uint32_t i = 0; i < cnt && i < (uint32_t)n; i++) {
      double re = 0;
      c_field_num(&c, "revents", &re);
      ks[i].revents = poll_from_nb((int)re, ks[i].events);
      if (ks[i].revents) ready++;
      if (c_skip(&c, 1) < 0) break;
    }
  }
  free(r.frame);
  return ready;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/*
 * The host's side of a mixed wait: wait up to `timeout` ms (-1 forever) for
 * the host descriptors or `wakefd`; returns how many host events, -1 with
 * errno, and sets *woke when wakefd fired.
 */
typedef int (*host_wait_fn)(void *ctx, int timeout, int wakefd, int *woke);

/*
 * The heart of every wait: ks (kernel descriptors) and the host's side
 * (hw/ctx). First both are looked at without waiting; then the kernel's poll
 * waits in the server while the host's waits here, and the first to wake
 * answers. Returns kernel-ready + host-ready, 0 on timeout, -1 with errno.
 */
static int mixed_wait(kpoll_t *ks, int nk, host_wait_fn hw, void *ctx, int timeout) {
  int woke = 0;
  pending_t *p = kpoll_send(ks, nk, 0, -1);
  if (p == NULL) return -1;
  int hn = hw(ctx, 0, -1, &woke);
  int kn = kpoll_finish(p, ks, nk);
  if (hn < 0 || kn < 0) return -1;
  if (hn + kn > 0 || timeout == 0) return hn + kn;
  long deadline = timeout < 0 ? -1 : now_ms() + timeout;
  int wfd = wakefd_of_thread();
  for (;;) {
    long left = deadline < 0 ? -1 : deadline - now_ms();
    if (deadline >= 0 && left <= 0) return 0;
    int slice = left < 0 || left > POLL_SLICE_MS ? POLL_SLICE_MS : (int)left;
    drain(wfd);
    p = kpoll_send(ks, nk, slice, wfd);
    if (p == NULL) return -1;
    woke = 0;
    /* The host waits a little longer than the kernel's slice, whose answer then wakes it. */
    hn = hw(ctx, left < 0 ? -1 : (int)left, wfd, &woke);
    if (hn < 0) {
      int e = errno;
      call_abandon(p);
      errno = e;
      return -1;
    }
    pthread_mutex_lock(&mu);
    int answered = p->state == 1;
    pthread_mutex_unlock(&mu);
    if (answered) {
      kn = kpoll_finish(p, ks, nk);
      if (kn < 0) return -1;
      if (kn + hn > 0) return kn + hn;
      continue; /* the kernel's slice ran out */
    }
    call_abandon(p);
    for (int i = 0; i < nk; i++) ks[i].revents = 0;
    if (hn > 0) return hn;
  }
}

/* poll/ppoll: the host's part is the caller's array with the kernel's entries turned off. */
typedef struct {
  struct pollfd *fds;
  nfds_t n;
  const sigset_t *mask;
  struct pollfd *tmp;
} pollctx_t;

static int poll_host(void *vctx, int timeout, int wakefd, int *woke) {
  pollctx_t *x = vctx;
  nfds_t n = x->n;
  memcpy(x->tmp, x->fds, n * sizeof *x->tmp);
  for (nfds_t i = 0; i < n; i++) {
    if (kfd_of(x->fds[i].fd) >= 0) x->tmp[i].fd = -1;
    x->tmp[i].revents = 0;
  }
  x->tmp[n].fd = wakefd;
  x->tmp[n].events = POLLIN;
  x->tmp[n].revents = 0;
  struct timespec ts = {timeout / 1000, (timeout % 1000) * 1000000L};
  int r = h_ppoll(x->tmp, n + 1, timeout < 0 ? NULL : &ts, x->mask);
  if (r < 0) return -1;
  *woke = wakefd >= 0 && (x->tmp[n].revents & POLLIN);
  return r - (*woke ? 1 : 0);
}

static int kpoll_mixed(struct pollfd *fds, nfds_t n, int timeout, const sigset_t *mask) {
  kpoll_t *ks = malloc((n + 1) * sizeof *ks);
  struct pollfd *tmp = malloc((n + 1) * sizeof *tmp);
  if (ks == NULL || tmp == NULL) { free(ks); free(tmp); errno = ENOMEM; return -1; }
  int nk = 0;
  for (nfds_t i = 0; i < n; i++) {
    int kfd = kfd_of(fds[i].fd);
    if (kfd >= 0) ks[nk++] = (kpoll_t){kfd, fds[i].events | POLLERR | POLLHUP, 0};
  }
  pollctx_t x = {fds, n, mask, tmp};
  int r = mixed_wait(ks, nk, poll_host, &x, timeout);
  if (r >= 0) {
    r = 0;
    for (nfds_t i = 0, k = 0; i < n; i++) {
      if (kfd_of(fds[i].fd) >= 0) fds[i].revents = (short)(ks[k++].revents & (fds[i].events | POLLERR | POLLHUP | POLLNVAL));
      else fds[i].revents = tmp[i].revents;
      if (fds[i].revents) r++;
    }
  }
  free(ks);
  free(tmp);
  return r;
}

static int has_kernel_fd(const struct pollfd *fds, nfds_t n) {
  for (nfds_t i = 0; i < n; i++)
    if (kfd_of(fds[i].fd) >= 0) return 1;
  return 0;
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout) {
  ensure_init();
  if (!has_kernel_fd(fds, n)) return h_poll(fds, n, timeout);
  return kpoll_mixed(fds, n, timeout, NULL);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t len) {
  if (n * sizeof *fds > len) abort();
  return poll(fds, n, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask) {
  ensure_init();
  if (!has_kernel_fd(fds, n)) return h_ppoll(fds, n, ts, mask);
  int timeout = ts == NULL ? -1 : (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
  return kpoll_mixed(fds, n, timeout, mask);
}

/* select/pselect through poll, as the fd_sets say. */
static int kselect(int nfds, fd_set *rs, fd_set *ws, fd_set *es, int timeout, const sigset_t *mask, int *hijacked) {
  struct pollfd *fds = malloc((nfds + 1) * sizeof *fds);
  if (fds == NULL) { errno = ENOMEM; return -1; }
  nfds_t n = 0;
  *hijacked = 0;
  for (int fd = 0; fd < nfds; fd++) {
    short ev = 0;
    if (rs && FD_ISSET(fd, rs)) ev |= POLLIN;
    if (ws && FD_ISSET(fd, ws)) ev |= POLLOUT;
    if (es && FD_ISSET(fd, es)) ev |= POLLPRI;
    if (ev == 0) continue;
    if (kfd_of(fd) >= 0) *hijacked = 1;
    fds[n++] = (struct pollfd){fd, ev, 0};
  }
  if (!*hijacked) { free(fds); return 0; }
  int r = kpoll_mixed(fds, n, timeout, mask);
  if (r >= 0) {
    if (rs) FD_ZERO(rs);
    if (ws) FD_ZERO(ws);
    if (es) FD_ZERO(es);
    r = 0;
    for (nfds_t i = 0; i < n; i++) {
      short re = fds[i].revents;
      if (re & POLLNVAL) { free(fds); errno = EBADF; return -1; }
      if (rs && (fds[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) { FD_SET(fds[i].fd, rs); r++; }
      if (ws && (fds[i].events & POLLOUT) && (re & (POLLOUT | POLLERR))) { FD_SET(fds[i].fd, ws); r++; }
      if (es && (fds[i].events & POLLPRI) && (re & POLLPRI)) { FD_SET(fds[i].fd, es); r++; }
    }
  }
  free(fds);
  return r;
}

EXPORT int select(int nfds, fd_set *rs, fd_set *ws, fd_set *es, struct timeval *tv) {
  ensure_init();
  int hij, timeout = tv == NULL ? -1 : (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
  long t0 = now_ms();
  int r = kselect(nfds, rs, ws, es, timeout, NULL, &hij);
  if (!hij) return h_select(nfds, rs, ws, es, tv);
  if (tv != NULL && r >= 0) { /* Linux leaves the time not slept in *tv */
    long left = timeout - (now_ms() - t0);
    if (left < 0) left = 0;
    tv->tv_sec = left / 1000;
    tv->tv_usec = (left % 1000) * 1000;
  }
  return r;
}

EXPORT int pselect(int nfds, fd_set *rs, fd_set *ws, fd_set *es, const struct timespec *ts, const sigset_t *mask) {
  ensure_init();
  int hij, timeout = ts == NULL ? -1 : (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
  int r = kselect(nfds, rs, ws, es, timeout, mask, &hij);
  return hij ? r : h_pselect(nfds, rs, ws, es, ts, mask);
}

/*
 * epoll: kernel descriptors added to an epoll set are kept here; the host's
 * set gets an eventfd of ours (data EP_WAKE) that the kernel's poll answer
 * fires. Edge-triggered entries are reported as level-triggered ones (a
 * program that reads until EAGAIN, as EPOLLET requires, sees no difference).
 */
#define EP_WAKE 0x72756d7068696a6bULL /* "rumphijk" */
typedef struct {
  int fd, kfd;
  struct epoll_event ev;
  int off; /* EPOLLONESHOT fired */
} epent_t;
typedef struct ep {
  int epfd, wakefd, n, cap;
  epent_t *e;
  struct ep *next;
} ep_t;
static ep_t *eps;
static pthread_mutex_t epmu = PTHREAD_MUTEX_INITIALIZER;

static ep_t *ep_find(int epfd, int create) {
  for (ep_t *e = eps; e != NULL; e = e->next)
    if (e->epfd == epfd) return e;
  if (!create) return NULL;
  ep_t *e = calloc(1, sizeof *e);
  int wfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event wev = {.events = EPOLLIN, .data.u64 = EP_WAKE};
  if (e == NULL || wfd < 0 || h_epoll_ctl(epfd, EPOLL_CTL_ADD, wfd, &wev) < 0) {
    free(e);
    if (wfd >= 0) h_close(wfd);
    return NULL;
  }
  e->epfd = epfd;
  e->wakefd = wfd;
  e->next = eps;
  eps = e;
  return e;
}

static void ep_forget(int fd) {
  pthread_mutex_lock(&epmu);
  for (ep_t *e = eps; e != NULL; e = e->next)
    for (int i = 0; i < e->n; i++)
      if (e->e[i].fd == fd) e->e[i--] = e->e[--e->n];
  pthread_mutex_unlock(&epmu);
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  ensure_init();
  int kfd = kfd_of(fd);
  if (kfd < 0) return h_epoll_ctl(epfd, op, fd, ev);
  pthread_mutex_lock(&epmu);
  ep_t *e = ep_find(epfd, 1);
  int r = 0, at = -1;
  if (e == NULL) { pthread_mutex_unlock(&epmu); errno = EBADF; return -1; }
  for (int i = 0; i < e->n; i++)
    if (e->e[i].fd == fd) at = i;
  if (op == EPOLL_CTL_ADD) {
    if (at >= 0) { errno = EEXIST; r = -1; }
    else {
      if (e->n == e->cap) {
        int cap = e->cap ? e->cap * 2 : 8;
        epent_t *ne = realloc(e->e, cap * sizeof *ne);
        if (ne == NULL) abort();
        e->e = ne;
        e->cap = cap;
      }
      e->e[e->n++] = (epent_t){fd, kfd, *ev, 0};
    }
  } else if (op == EPOLL_CTL_MOD || op == EPOLL_CTL_DEL) {
    if (at < 0) { errno = ENOENT; r = -1; }
    else if (op == EPOLL_CTL_MOD) e->e[at] = (epent_t){fd, kfd, *ev, 0};
    else e->e[at] = e->e[--e->n];
  } else {
    errno = EINVAL;
    r = -1;
  }
  pthread_mutex_unlock(&epmu);
  return r;
}

typedef struct {
  int epfd, max, got;
  struct epoll_event *out;
  const sigset_t *mask;
} epctx_t;

static int ep_host(void *vctx, int timeout, int wakefd, int *woke) {
  epctx_t *x = vctx;
  (void)wakefd; /* the set's own eventfd is in the host set; the kernel's poll was sent with it */
  int r = h_epoll_pwait(x->epfd, x->out, x->max, timeout, x->mask);
  if (r < 0) return -1;
  int k = 0;
  for (int i = 0; i < r; i++) {
    if (x->out[i].data.u64 == EP_WAKE) { *woke = 1; continue; }
    x->out[k++] = x->out[i];
  }
  x->got = k;
  return k;
}

static int kepoll_wait(int epfd, struct epoll_event *out, int max, int timeout, const sigset_t *mask) {
  if (max <= 0) { errno = EINVAL; return -1; }
  pthread_mutex_lock(&epmu);
  ep_t *e = ep_find(epfd, 0);
  int nk = 0;
  kpoll_t *ks = NULL;
  epent_t *snap = NULL;
  int wfd = -1;
  if (e != NULL && e->n > 0) {
    ks = malloc(e->n * sizeof *ks);
    snap = malloc(e->n * sizeof *snap);
    for (int i = 0; i < e->n; i++)
      if (!e->e[i].off) {
        snap[nk] = e->e[i];
        ks[nk++] = (kpoll_t){e->e[i].kfd, (int)(e->e[i].ev.events & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP)), 0};
      }
    wfd = e->wakefd;
  }
  pthread_mutex_unlock(&epmu);
  if (nk == 0) {
    free(ks);
    free(snap);
    for (;;) { /* the wake eventfd may still fire for a poll that lost: skip it */
      int r = h_epoll_pwait(epfd, out, max, timeout, mask);
      if (r <= 0 || wfd < 0) return r;
      int k = 0;
      for (int i = 0; i < r; i++)
        if (out[i].data.u64 != EP_WAKE) out[k++] = out[i];
        else drain(wfd);
      if (k > 0 || timeout == 0) return k;
    }
  }
  /* The kernel's poll wakes this set's eventfd: swap the thread's for it. */
  int saved = tl_wake;
  tl_wake = wfd;
  epctx_t x = {epfd, max, 0, out, mask};
  int r = mixed_wait(ks, nk, ep_host, &x, timeout);
  tl_wake = saved;
  if (r >= 0) {
    int k = x.got;
    for (int i = 0; i < nk && k < max; i++) {
      if (!ks[i].revents) continue;
      out[k].events = (uint32_t)ks[i].revents;
      out[k++].data = snap[i].ev.data;
      if (snap[i].ev.events & EPOLLONESHOT) {
        pthread_mutex_lock(&epmu);
        ep_t *e2 = ep_find(epfd, 0);
        for (int j = 0; e2 != NULL && j < e2->n; j++)
          if (e2->e[j].fd == snap[i].fd) e2->e[j].off = 1;
        pthread_mutex_unlock(&epmu);
      }
    }
    r = k;
  }
  free(ks);
  free(snap);
  return r;
}

EXPORT int epoll_wait(int epfd, struct epoll_event *out, int max, int timeout) {
  ensure_init();
  return kepoll_wait(epfd, out, max, timeout, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *out, int max, int timeout, const sigset_t *mask) {
  ensure_init();
  return kepoll_wait(epfd, out, max, timeout, mask);
}

/* ------------------------------------------------------------------ */
/* Names: the kernel's hosts table and nameservers (net/resolv.ts).    */

/* sysctl `name` as a string into out; -1 when it is not there. */
static int ksysctl_str(const char *name, char *out, size_t cap) {
  call_t c;
  reply_t r;
  call_begin(&c, "sysctl", 1);
  b_str(&c.a, name);
  if (call(&c, &r, ECONNRESET) < 0) return -1;
  const uint8_t *s;
  uint32_t n;
  cur_t v = r.v;
  int ok = c_blob(&v, V_STR, &s, &n) == 0;
  if (ok) {
    if (n >= cap) n = (uint32_t)cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
  }
  free(r.frame);
  return ok ? 0 : -1;
}

/* Addresses the hosts table gives `name` for `family` (AF_UNSPEC: both), as text. */
static int hosts_lookup(const char *name, int family, char addrs[][INET6_ADDRSTRLEN], int max) {
  char tab[16384];
  int n = 0;
  if (ksysctl_str("net.resolv.hosts", tab, sizeof tab) < 0) return 0;
  for (char *s1 = NULL, *line = strtok_r(tab, ";", &s1); line != NULL && n < max; line = strtok_r(NULL, ";", &s1)) {
    char *s2 = NULL, *addr = strtok_r(line, " \t", &s2);
    if (addr == NULL) continue;
    int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
    for (char *nm = strtok_r(NULL, " \t", &s2); nm != NULL; nm = strtok_r(NULL, " \t", &s2))
      if (strcasecmp(nm, name) == 0) {
        if ((family == AF_UNSPEC || family == fam) && strlen(addr) < INET6_ADDRSTRLEN) strcpy(addrs[n++], addr);
        break;
      }
  }
  return n;
}

/* The offset after a (possibly compressed, RFC 1035 §4.1.4) name at off. */
static size_t skip_name(const uint8_t *a, size_t n, size_t off) {
  while (off < n) {
    if ((a[off] & 0xc0) == 0xc0) return off + 2;
    if (a[off] == 0) return off + 1;
    off += a[off] + 1u;
  }
  return n;
}

/* One DNS query (RFC 1035 §4) for name/qtype to a nameserver, over a kernel UDP socket. */
static int dns_query(const char *server, const char *name, int qtype, int timeout_s, char addrs[][INET6_ADDRSTRLEN],
                     int max, int *rcode) {
  uint8_t q[512], a[1500];
  size_t ql = 12;
  uint16_t id = (uint16_t)(now_ms() ^ getpid() ^ (uintptr_t)&q);
  memset(q, 0, 12);
  q[0] = id >> 8; q[1] = id & 0xff;
  q[2] = 0x01; /* RD */
  q[5] = 1;    /* QDCOUNT */
  for (const char *l = name; *l;) {
    const char *dot = strchr(l, '.');
    size_t n = dot ? (size_t)(dot - l) : strlen(l);
    if (n == 0 || n > 63 || ql + n + 6 > sizeof q) return -1;
    q[ql++] = (uint8_t)n;
    memcpy(q + ql, l, n);
    ql += n;
    l += n + (dot ? 1 : 0);
  }
  q[ql++] = 0;
  q[ql++] = 0; q[ql++] = (uint8_t)qtype;
  q[ql++] = 0; q[ql++] = 1; /* IN */

  char host[INET6_ADDRSTRLEN + 8];
  int port = 53;
  snprintf(host, sizeof host, "%s", server);
  if (host[0] == '[') { /* [addr]:port */
    char *end = strchr(host, ']');
    if (end == NULL) return -1;
    if (end[1] == ':') port = atoi(end + 2);
    *end = '\0';
    memmove(host, host + 1, strlen(host + 1) + 1);
  } else if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':') != NULL) { /* a.b.c.d:port */
    char *colon = strchr(host, ':');
    port = atoi(colon + 1);
    *colon = '\0';
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
    ss.ss_family = AF_INET;
    ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    sl = sizeof(struct sockaddr_in);
  } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
    ss.ss_family = AF_INET6;
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    sl = sizeof(struct sockaddr_in6);
  } else {
    return -1;
  }
  int fd = ksocket(ss.ss_family, SOCK_DGRAM, 0); /* the kernel's, whatever RUMPHIJACK hijacks */
  if (fd < 0) return -1;
  int got = -1;
  if (connect(fd, (struct sockaddr *)&ss, sl) == 0 && send(fd, q, ql, MSG_NOSIGNAL) == (ssize_t)ql) {
    long deadline = now_ms() + timeout_s * 1000L;
    for (;;) {
      long left = deadline - now_ms();
      struct pollfd pf = {fd, POLLIN, 0};
      if (left <= 0 || poll(&pf, 1, (int)left) <= 0) break;
      ssize_t n = recv(fd, a, sizeof a, 0);
      if (n < 12) continue;
      if (a[0] != q[0] || a[1] != q[1] || !(a[2] & 0x80)) continue; /* not our answer */
      *rcode = a[3] & 0x0f;
      got = 0;
      int an = a[6] << 8 | a[7];
      size_t off = 12;
      off = skip_name(a, (size_t)n, off) + 4; /* the question: QNAME, QTYPE, QCLASS */
      for (int i = 0; i < an && off < (size_t)n && got < max; i++) {
        off = skip_name(a, (size_t)n, off);
        if (off + 10 > (size_t)n) break;
        int type = a[off] << 8 | a[off + 1], klass = a[off + 2] << 8 | a[off + 3];
        int rdlen = a[off + 8] << 8 | a[off + 9];
        off += 10;
        if (off + rdlen > (size_t)n) break;
        if (klass == 1 && type == 1 && rdlen == 4) inet_ntop(AF_INET, a + off, addrs[got++], INET6_ADDRSTRLEN);
        if (klass == 1 && type == 28 && rdlen == 16) inet_ntop(AF_INET6, a + off, addrs[got++], INET6_ADDRSTRLEN);
        off += rdlen;
      }
      break;
    }
  }
  close(fd);
  return got;
}

/* Addresses for name through the kernel's resolver: hosts table, then DNS (search list, ndots). */
static int kresolve(const char *name, int family, char addrs[][INET6_ADDRSTRLEN], int max, int *eai) {
  int n = hosts_lookup(name, family, addrs, max);
  if (n > 0) return n;
  if (strcasecmp(name, "localhost") == 0 || strcasecmp(name, "localhost.") == 0) {
    if (family != AF_INET6) strcpy(addrs[n++], "127.0.0.1");
    if (family != AF_INET && n < max) strcpy(addrs[n++], "::1");
    return n;
  }
  char ns[512], search[512];
  if (ksysctl_str("net.resolv.nameserver", ns, sizeof ns) < 0 || ns[0] == '\0') { *eai = EAI_NONAME; return 0; }
  if (ksysctl_str("net.resolv.search", search, sizeof search) < 0) search[0] = '\0';
  int ndots = 1, timeout = 5, attempts = 2;
  call_t c;
  reply_t r;
  const char *keys[3] = {"net.resolv.ndots", "net.resolv.timeout", "net.resolv.attempts"};
  int *vals[3] = {&ndots, &timeout, &attempts};
  for (int i = 0; i < 3; i++) {
    call_begin(&c, "sysctl", 1);
    b_str(&c.a, keys[i]);
    if (call(&c, &r, ECONNRESET) == 0) *vals[i] = reply_int(&r);
  }
  /* The names to try, in resolv.conf(5)'s order. */
  char cands[8][256];
  int nc = 0, dots = 0;
  for (const char *p = name; *p; p++) dots += *p == '.';
  size_t len = strlen(name);
  int absolute = len > 0 && name[len - 1] == '.';
  if (absolute || dots >= ndots) snprintf(cands[nc++], 256, "%.*s", (int)(len - absolute), name);
  if (!absolute)
    for (char *s1 = NULL, *d = strtok_r(search, " ", &s1); d != NULL && nc < 7; d = strtok_r(NULL, " ", &s1))
      snprintf(cands[nc++], 256, "%s.%s", name, d);
  if (!absolute && dots < ndots) snprintf(cands[nc++], 256, "%s", name);
  int types[2], nt = 0;
  if (family != AF_INET6) types[nt++] = 1;
  if (family != AF_INET) types[nt++] = 28;
  int answered = 0;
  for (int ci = 0; ci < nc; ci++) {
    for (int a = 0; a < attempts; a++) {
      int any_answer = 0;
      char copy[512];
      snprintf(copy, sizeof copy, "%s", ns);
      for (char *s1 = NULL, *srv = strtok_r(copy, " ", &s1); srv != NULL; srv = strtok_r(NULL, " ", &s1)) {
        int got = 0, ok = 0;
        for (int t = 0; t < nt && n < max; t++) {
          int rc = 0, k = dns_query(srv, cands[ci], types[t], timeout, addrs + n, max - n, &rc);
          if (k >= 0) { ok = 1; got += k; n += k; }
        }
        if (ok) { any_answer = answered = 1; break; }
        (void)got;
      }
      if (any_answer) break;
    }
    if (n > 0) return n;
  }
  *eai = answered ? EAI_NONAME : EAI_AGAIN;
  return 0;
}

static int is_numeric(const char *s) {
  unsigned char b[16];
  return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
  ensure_init();
  if (!dns_kernel || node == NULL || is_numeric(node) || (hints && (hints->ai_flags & AI_NUMERICHOST))) {
    if (!dns_kernel) return h_getaddrinfo(node, service, hints, res);
    /* Numbers need no resolver; the host's interfaces say nothing about the kernel's (AI_ADDRCONFIG). */
    struct addrinfo h = hints ? *hints : (struct addrinfo){0};
    h.ai_flags &= ~AI_ADDRCONFIG;
    if (node != NULL) h.ai_flags |= AI_NUMERICHOST;
    return h_getaddrinfo(node, service, &h, res);
  }
  int family = hints ? hints->ai_family : AF_UNSPEC;
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) return EAI_FAMILY;
  char addrs[16][INET6_ADDRSTRLEN];
  int eai = EAI_NONAME;
  int n = kresolve(node, family, addrs, 16, &eai);
  if (n == 0) return eai;
  struct addrinfo h = hints ? *hints : (struct addrinfo){0};
  h.ai_flags = (h.ai_flags & ~(AI_ADDRCONFIG | AI_CANONNAME | AI_V4MAPPED | AI_ALL)) | AI_NUMERICHOST;
  struct addrinfo *head = NULL, **tail = &head;
  int last = EAI_NONAME;
  for (int i = 0; i < n; i++) {
    struct addrinfo *one = NULL;
    h.ai_family = strchr(addrs[i], ':') ? AF_INET6 : AF_INET;
    if ((last = h_getaddrinfo(addrs[i], service, &h, &one)) != 0) continue;
    *tail = one;
    while (*tail != NULL) tail = &(*tail)->ai_next;
  }
  if (head == NULL) return last;
  if (hints && (hints->ai_flags & AI_CANONNAME)) head->ai_canonname = strdup(node);
  *res = head;
  return 0;
}

EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t sl, char *host, socklen_t hl, char *serv, socklen_t svl, int flags) {
  ensure_init();
  if (!dns_kernel || host == NULL || hl == 0 || (flags & NI_NUMERICHOST)) return h_getnameinfo(sa, sl, host, hl, serv, svl, flags);
  /* Names for addresses come from the kernel's hosts table; no reverse DNS goes out. */
  int r = h_getnameinfo(sa, sl, host, hl, serv, svl, flags | NI_NUMERICHOST);
  if (r != 0) return r;
  char tab[16384];
  if (ksysctl_str("net.resolv.hosts", tab, sizeof tab) == 0)
    for (char *s1 = NULL, *line = strtok_r(tab, ";", &s1); line != NULL; line = strtok_r(NULL, ";", &s1)) {
      char *s2 = NULL, *addr = strtok_r(line, " \t", &s2), *nm = addr ? strtok_r(NULL, " \t", &s2) : NULL;
      if (nm != NULL && strcmp(addr, host) == 0) {
        if (strlen(nm) >= hl) return EAI_OVERFLOW;
        strcpy(host, nm);
        return 0;
      }
    }
  return (flags & NI_NAMEREQD) ? EAI_NONAME : 0;
}

/* Reverse lookups by the old calls (Python's getfqdn) find nothing rather than asking the host. */
EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type) {
  ensure_init();
  if (!dns_kernel) return h_gethostbyaddr(addr, len, type);
  h_errno = HOST_NOT_FOUND;
  return NULL;
}

EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf, size_t buflen,
                           struct hostent **result, int *herr) {
  ensure_init();
  if (!dns_kernel) return h_gethostbyaddr_r(addr, len, type, ret, buf, buflen, result, herr);
  *result = NULL;
  *herr = HOST_NOT_FOUND;
  return ENOENT;
}
