/*
 * libsevbox-kvm.so: the /dev/kvm shim of issue 16 (docs/kvm-shim-protocol.md).
 *
 * An unmodified KVM client runs with LD_PRELOAD=libsevbox-kvm.so and SEVBOX_SOCKET=<path>; its
 * /dev/kvm and /dev/sev file descriptors become requests to `sevbox serve` over that unix socket.
 * Without SEVBOX_SOCKET every call passes straight through to libc.
 *
 * What it does, by section below:
 * - the fd table: local fd -> the server's handle, with dups counted so the last close sends CLOSE;
 * - the wire: one connection per thread (HELLO first, again after a fork), replies waited for with
 *   poll + recvmsg (fds ride along as SCM_RIGHTS), a signal during KVM_RUN sends KICK;
 * - ioctl marshalling: the bytes at arg the kernel would copy in, the regions behind pointers, the
 *   client fds inside argument structs translated to handles, and the answer copied back with
 *   process_vm_writev (a fault there is EFAULT, as copy_to_user's);
 * - guest memory: the range of a memslot moved onto a memfd that the server maps too;
 * - the KVM module parameters (/sys/module/kvm_amd/parameters/sev, ...): answered by the server
 *   (GETPARAM) through a memfd;
 * - native CPUID: CPUID faulting plus a SIGSEGV handler answering from the server's host CPUID.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <ucontext.h>
#include <time.h>
#include <unistd.h>

#include "kvm-abi.h"

#define EXPORT __attribute__((visibility("default")))

#define PAGE_SIZE 4096ul
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
/* The model backs guest RAM in 64 KiB chunks; a memfd of whole chunks maps without a tail. */
#define BACKING_CHUNK (64ul << 10)
/* Largest payload the shim sends or accepts in one message: a bound on a corrupt length. */
#define MAX_PAYLOAD (256u << 20)
/* kvm_run, the PIO data page and the coalesced MMIO ring: KVM_GET_VCPU_MMAP_SIZE. */
#define VCPU_MMAP_SIZE (3 * PAGE_SIZE)

/* ---------------------------------------------------------------------------------------------
 * The wire, version 1 (docs/kvm-shim-protocol.md, "Wire format, version 1").
 */
#define SVBX_MAGIC 0x58425653u /* 'SVBX' little-endian */
#define SVBX_VERSION 1
#define SVBX_REPLY 0x8000

enum svbx_op {
  OP_HELLO = 1,
  OP_OPEN = 2,
  OP_IOCTL = 3,
  OP_CLOSE = 4,
  OP_MEMFD = 5,
  OP_MUNMAP = 6,
  OP_GETPARAM = 7,
  OP_CPUID = 8,
  OP_KICK = 9,
};

enum open_which { OPEN_KVM = 1, OPEN_SEV = 2 };

struct svbx_header {
  uint32_t magic;
  uint16_t version;
  uint16_t op;
  uint32_t handle;
  uint32_t len;
};
_Static_assert(sizeof(struct svbx_header) == 16, "wire");

/* The fixed part of an IOCTL request, after the header. */
struct svbx_ioctl {
  uint32_t cmd;
  uint32_t nregions;
  uint64_t arg;
  uint32_t in_len;
  uint32_t pad;
};
_Static_assert(sizeof(struct svbx_ioctl) == 24, "wire");

enum region_flags { REGION_IN = 1, REGION_OUT = 2 };

struct svbx_region {
  uint64_t addr;
  uint32_t len;
  uint32_t flags; /* in a reply: pad */
};
_Static_assert(sizeof(struct svbx_region) == 16, "wire");

/* A reply: `result`, then `body` (the payload after the i64), and the fd it carried, if any. */
/* HELLO's answer: the server's handle for "an open fd that is not a KVM one" (0xffffffff: none). */
static _Atomic uint32_t foreign_handle = 0xffffffffu;

struct reply {
  int64_t result;
  uint8_t *payload; /* malloc'd, freed by reply_free */
  const uint8_t *body;
  uint32_t body_len;
  int fd;
};

/* ---------------------------------------------------------------------------------------------
 * libc's own functions, found once with dlsym(RTLD_NEXT).
 */
static struct {
  int (*open)(const char *, int, ...);
  int (*open64)(const char *, int, ...);
  int (*openat)(int, const char *, int, ...);
  int (*openat64)(int, const char *, int, ...);
  int (*open_2)(const char *, int);
  int (*open64_2)(const char *, int);
  int (*openat_2)(int, const char *, int);
  FILE *(*fopen)(const char *, const char *);
  FILE *(*fopen64)(const char *, const char *);
  int (*close)(int);
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  int (*fcntl)(int, int, ...);
  int (*fcntl64)(int, int, ...);
  int (*ioctl)(int, unsigned long, ...);
  int (*munmap)(void *, size_t);
  int (*sigaction)(int, const struct sigaction *, struct sigaction *);
  sighandler_t (*signal)(int, sighandler_t);
} real;

static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void resolve_real_once(void) {
#define FIND(field, name) real.field = dlsym(RTLD_NEXT, name)
  FIND(open, "open");
  FIND(open64, "open64");
  FIND(openat, "openat");
  FIND(openat64, "openat64");
  FIND(open_2, "__open_2");
  FIND(open64_2, "__open64_2");
  FIND(openat_2, "__openat_2");
  FIND(fopen, "fopen");
  FIND(fopen64, "fopen64");
  FIND(close, "close");
  FIND(dup, "dup");
  FIND(dup2, "dup2");
  FIND(dup3, "dup3");
  FIND(fcntl, "fcntl");
  FIND(fcntl64, "fcntl64");
  FIND(ioctl, "ioctl");
  FIND(munmap, "munmap");
  FIND(sigaction, "sigaction");
  FIND(signal, "signal");
#undef FIND
  if (!real.fcntl64) real.fcntl64 = real.fcntl;
}

/* Interposed calls can run before the constructor (other libraries' constructors). */
static void resolve_real(void) {
  pthread_once(&real_once, resolve_real_once);
}

/* ---------------------------------------------------------------------------------------------
 * State. `shim_active` is set once, in the constructor, when SEVBOX_SOCKET is set.
 */
static bool shim_active;
static char *socket_path;

/* Each warning is printed once per process: a client that retries should not flood stderr. */
static atomic_bool warned_unreachable, warned_lost, warned_no_kvm_run;

static void warn_once(atomic_bool *flag, const char *fmt, ...) {
  if (atomic_exchange(flag, true)) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("sevbox shim: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static pid_t current_tid(void) {
  return (pid_t)syscall(SYS_gettid);
}

/* ---------------------------------------------------------------------------------------------
 * The fd table: which local fds are KVM fds, and the server's handle for each.
 */
enum object_kind { KIND_SYSTEM, KIND_SEV, KIND_VM, KIND_VCPU, KIND_OTHER };

/* What KVM_GET_DIRTY_LOG needs to size the dirty_bitmap: the VM's memslots. */
struct memslot {
  uint32_t slot; /* as_id << 16 | id, as the ioctl names it */
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
};

struct kvm_object {
  uint32_t handle;
  enum object_kind kind;
  pid_t pid;  /* the process whose handle this is (a forked child inherits the parent's) */
  int refs;   /* local fds naming it; the last close sends CLOSE */
  int pins;   /* ioctls in flight on it: it is freed when both are 0 */
  struct memslot *slots;
  size_t nslots;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvm_object **fd_objects;
static size_t fd_objects_len;

static struct kvm_object *new_object(uint32_t handle, enum object_kind kind) {
  struct kvm_object *o = calloc(1, sizeof(*o));
  if (!o) return NULL;
  o->handle = handle;
  o->kind = kind;
  o->pid = getpid();
  return o;
}

/* Under table_lock. */
static void release_object_locked(struct kvm_object *o) {
  if (o->refs == 0 && o->pins == 0) {
    free(o->slots);
    free(o);
  }
}

/* The object `fd` names, pinned for the caller (object_put), or NULL for a non-KVM fd. */
static struct kvm_object *object_get(int fd) {
  struct kvm_object *o = NULL;
  pthread_mutex_lock(&table_lock);
  if (fd >= 0 && (size_t)fd < fd_objects_len) o = fd_objects[fd];
  if (o) o->pins++;
  pthread_mutex_unlock(&table_lock);
  return o;
}

static void object_put(struct kvm_object *o) {
  pthread_mutex_lock(&table_lock);
  o->pins--;
  release_object_locked(o);
  pthread_mutex_unlock(&table_lock);
}

/*
 * Forget `fd` (it was closed, or a dup2 replaced it). Returns the handle to CLOSE when that was the
 * object's last local fd and the handle is this process's, else 0 with *close_it false.
 */
static bool detach_fd_locked(int fd, uint32_t *handle) {
  if (fd < 0 || (size_t)fd >= fd_objects_len || !fd_objects[fd]) return false;
  struct kvm_object *o = fd_objects[fd];
  fd_objects[fd] = NULL;
  bool last = --o->refs == 0;
  bool ours = o->pid == getpid();
  *handle = o->handle;
  release_object_locked(o);
  return last && ours;
}

static void send_close(uint32_t handle);

static void detach_fd(int fd) {
  uint32_t handle;
  pthread_mutex_lock(&table_lock);
  bool close_it = detach_fd_locked(fd, &handle);
  pthread_mutex_unlock(&table_lock);
  if (close_it) send_close(handle);
}

/* `fd` now names `o` too. Returns false when the table cannot grow (ENOMEM). */
static bool attach_fd(int fd, struct kvm_object *o) {
  uint32_t stale_handle;
  bool close_stale = false;
  pthread_mutex_lock(&table_lock);
  if ((size_t)fd >= fd_objects_len) {
    size_t len = fd_objects_len ? fd_objects_len : 64;
    while (len <= (size_t)fd) len *= 2;
    struct kvm_object **grown = realloc(fd_objects, len * sizeof(*grown));
    if (!grown) {
      pthread_mutex_unlock(&table_lock);
      return false;
    }
    memset(grown + fd_objects_len, 0, (len - fd_objects_len) * sizeof(*grown));
    fd_objects = grown;
    fd_objects_len = len;
  }
  /* An entry still there means the fd was closed behind our back (close_range, a raw syscall). */
  if (fd_objects[fd]) close_stale = detach_fd_locked(fd, &stale_handle);
  fd_objects[fd] = o;
  o->refs++;
  pthread_mutex_unlock(&table_lock);
  if (close_stale) send_close(stale_handle);
  return true;
}

/* A dup of a table fd names the same object. */
static void note_dup(int oldfd, int newfd) {
  struct kvm_object *o = object_get(oldfd);
  if (!o) return;
  attach_fd(newfd, o);
  object_put(o);
}

/* A placeholder for a KVM fd: a memfd, so close, dup, fcntl, fstat and fd numbering behave. */
static int placeholder_fd(const char *name, bool cloexec) {
  return memfd_create(name, cloexec ? MFD_CLOEXEC : 0);
}

/* ---------------------------------------------------------------------------------------------
 * Connections: one per thread, to $SEVBOX_SOCKET, HELLO first; a fork makes a new one.
 */
static __thread int conn_fd = -1;
static __thread pid_t conn_pid;
static pthread_key_t conn_key; /* its destructor closes a thread's connection when the thread exits */

static void close_connection_at_thread_exit(void *value) {
  int fd = (int)(intptr_t)value - 1;
  if (fd >= 0 && conn_fd == fd && conn_pid == getpid()) {
    real.close(fd);
    conn_fd = -1;
  }
}

static void drop_connection(void) {
  if (conn_fd >= 0) real.close(conn_fd);
  conn_fd = -1;
  pthread_setspecific(conn_key, NULL);
}

/* Send header + payload (+ one fd as SCM_RIGHTS with the first byte). 0, or -errno. */
static int send_message(int sock, uint16_t op, uint32_t handle, const void *payload, uint32_t len,
                        int fd_to_send) {
  struct svbx_header h = {SVBX_MAGIC, SVBX_VERSION, op, handle, len};
  struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)payload, len}};
  int niov = len ? 2 : 1;
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
  if (fd_to_send >= 0) {
    memset(&control, 0, sizeof(control));
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd_to_send, sizeof(int));
  }
  while (msg.msg_iovlen > 0) {
    /* MSG_NOSIGNAL: a server that went away is EPIPE here, not a SIGPIPE that kills the client. */
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    msg.msg_control = NULL; /* the fd went with the first byte */
    msg.msg_controllen = 0;
    while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
      n -= (ssize_t)msg.msg_iov->iov_len;
      msg.msg_iov++;
      msg.msg_iovlen--;
    }
    if (msg.msg_iovlen > 0) {
      msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
      msg.msg_iov->iov_len -= (size_t)n;
    }
  }
  return 0;
}

/* How long a wait for a reply spins before it sleeps. */
#define SPIN_NS 50000L

/*
 * Wait until `sock` is readable. A signal during the wait for a KVM_RUN reply (kick_handle set) is
 * a KICK to the server, which ends that run with EINTR as a signal ends KVM_RUN in KVM; otherwise
 * the wait just goes on (the client's handler has run).
 */
static int wait_readable(int sock, const uint32_t *kick_handle) {
  /*
   * Spin a little first: the server usually answers within microseconds, and going to sleep and
   * being woken costs more than that on a virtualised host (a context switch per reply).
   */
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct pollfd p = {.fd = sock, .events = POLLIN};
    if (poll(&p, 1, 0) > 0) return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) > SPIN_NS) break;
  }
  for (;;) {
    struct pollfd p = {.fd = sock, .events = POLLIN};
    int r = poll(&p, 1, -1);
    if (r > 0) return 0;
    if (r < 0 && errno != EINTR) return -errno;
    if (r < 0 && kick_handle) {
      int e = send_message(sock, OP_KICK, *kick_handle, NULL, 0, -1);
      if (e < 0) return e;
    }
  }
}

/* Read exactly `len` bytes (after the header), waiting as wait_readable does. */
static int recv_exact(int sock, uint8_t *buf, size_t len, const uint32_t *kick_handle) {
  size_t got = 0;
  while (got < len) {
    int e = wait_readable(sock, kick_handle);
    if (e < 0) return e;
    ssize_t n = recv(sock, buf + got, len - got, MSG_DONTWAIT);
    if (n == 0) return -ECONNRESET;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -errno;
    }
    got += (size_t)n;
  }
  return 0;
}

/*
 * Receive the reply to `op`: the header with recvmsg (a reply's fd comes with its first byte), then
 * the payload. Fills `r`; 0, or -errno (-EPROTO for a reply that is not one).
 */
static int recv_reply(int sock, uint16_t op, uint32_t handle, struct reply *r,
                      const uint32_t *kick_handle) {
  struct svbx_header h;
  size_t got = 0;
  memset(r, 0, sizeof(*r));
  r->fd = -1;
  while (got < sizeof(h)) {
    int e = wait_readable(sock, kick_handle);
    if (e < 0) return e;
    union {
      struct cmsghdr align;
      char buf[CMSG_SPACE(4 * sizeof(int))];
    } control;
    struct iovec iov = {(char *)&h + got, sizeof(h) - got};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == 0) return -ECONNRESET;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -errno;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < nfds; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (r->fd < 0) r->fd = fd;
        else real.close(fd); /* one fd per reply at most */
      }
    }
    got += (size_t)n;
  }
  if (h.magic != SVBX_MAGIC || h.version != SVBX_VERSION || h.op != (op | SVBX_REPLY) ||
      h.handle != handle || h.len < 8 || h.len > MAX_PAYLOAD) {
    if (r->fd >= 0) real.close(r->fd);
    r->fd = -1;
    return -EPROTO;
  }
  r->payload = malloc(h.len);
  if (!r->payload) return -ENOMEM;
  int e = recv_exact(sock, r->payload, h.len, kick_handle);
  if (e < 0) {
    free(r->payload);
    r->payload = NULL;
    if (r->fd >= 0) real.close(r->fd);
    r->fd = -1;
    return e;
  }
  memcpy(&r->result, r->payload, 8);
  r->body = r->payload + 8;
  r->body_len = h.len - 8;
  return 0;
}

static void reply_free(struct reply *r) {
  free(r->payload);
  r->payload = NULL;
  if (r->fd >= 0) real.close(r->fd);
  r->fd = -1;
}

/* This thread's connection, made (and HELLO'd) on first use and after a fork. fd, or -errno. */
static int connection(void) {
  pid_t pid = getpid();
  if (conn_fd >= 0 && conn_pid == pid) return conn_fd;
  if (conn_fd >= 0) {
    /* A forked child: the connection is the parent's; the child speaks on its own. */
    real.close(conn_fd);
    conn_fd = -1;
  }
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return -errno;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, socket_path, sizeof(addr.sun_path) - 1);
  int r;
  do r = connect(sock, (struct sockaddr *)&addr, sizeof(addr));
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    real.close(sock);
    warn_once(&warned_unreachable, "cannot reach sevbox serve at %s: %s", socket_path, strerror(e));
    return -e;
  }
  struct {
    uint32_t pid, tid;
  } hello = {(uint32_t)pid, (uint32_t)current_tid()};
  struct reply rep;
  int e = send_message(sock, OP_HELLO, 0, &hello, sizeof(hello), -1);
  if (e == 0) e = recv_reply(sock, OP_HELLO, 0, &rep, NULL);
  if (e == 0) {
    if (rep.result < 0) e = (int)rep.result;
    /* u32 server pid, u32 the handle that stands for any open fd of ours that is not a KVM one. */
    if (e == 0 && rep.body_len >= 8) {
      uint32_t foreign;
      memcpy(&foreign, rep.body + 4, 4);
      foreign_handle = foreign;
    }
    reply_free(&rep);
  }
  if (e < 0) {
    real.close(sock);
    warn_once(&warned_unreachable, "sevbox serve at %s refused HELLO: %s", socket_path, strerror(-e));
    return e;
  }
  conn_fd = sock;
  conn_pid = pid;
  pthread_setspecific(conn_key, (void *)(intptr_t)(sock + 1));
  return sock;
}

/*
 * One request and its reply on this thread's connection. Returns the reply's result (>= 0, or a
 * negative errno from the server), or -errno of the transport; `r` must be reply_free'd when the
 * call returned a server result. A transport failure after connecting is EIO (and the connection is
 * dropped, so the next call tries a new one).
 */
static int64_t transact(uint16_t op, uint32_t handle, const void *payload, uint32_t len, int fd_to_send,
                        const uint32_t *kick_handle, struct reply *r) {
  memset(r, 0, sizeof(*r));
  r->fd = -1;
  int sock = connection();
  if (sock < 0) return sock;
  int e = send_message(sock, op, handle, payload, len, fd_to_send);
  if (e == 0) e = recv_reply(sock, op, handle, r, kick_handle);
  if (e < 0) {
    drop_connection();
    warn_once(&warned_lost, "lost sevbox serve at %s: %s", socket_path, strerror(-e));
    return -EIO;
  }
  return r->result;
}

/* A request whose reply carries nothing but the result. */
static int64_t transact_simple(uint16_t op, uint32_t handle, const void *payload, uint32_t len, int fd) {
  struct reply r;
  int64_t result = transact(op, handle, payload, len, fd, NULL, &r);
  reply_free(&r);
  return result;
}

static void send_close(uint32_t handle) {
  int saved = errno; /* close() must not change errno on success */
  transact_simple(OP_CLOSE, handle, NULL, 0, -1);
  errno = saved;
}

/* ---------------------------------------------------------------------------------------------
 * The client's memory, read and written as the kernel's copy_from_user / copy_to_user would:
 * process_vm_readv/writev on this very process fail cleanly (EFAULT) on unmapped addresses instead
 * of faulting the shim.
 */
static size_t read_self(uint64_t addr, void *buf, size_t len) {
  if (len == 0) return 0;
  struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
  ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  return n < 0 ? 0 : (size_t)n;
}

static bool write_self(uint64_t addr, const void *buf, size_t len) {
  if (len == 0) return true;
  struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
  ssize_t n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
  return n == (ssize_t)len;
}

/* ---------------------------------------------------------------------------------------------
 * Guest memory shared with the server ("Memory, the shim's side"): ranges moved onto memfds.
 */
struct shared_range {
  uint64_t hva, size;
};

/* Held across a move (copy, map, MEMFD) and an munmap's forwarding, so they do not interleave. */
static pthread_mutex_t memory_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared_range *shared_ranges;
static size_t nshared_ranges, shared_ranges_cap;

/* The first part of [addr, end) no shared range covers, as [*gap, *gap_end); false when none. */
static bool first_unshared(uint64_t addr, uint64_t end, uint64_t *gap, uint64_t *gap_end) {
  while (addr < end) {
    bool moved = false;
    for (size_t i = 0; i < nshared_ranges; i++) {
      const struct shared_range *s = &shared_ranges[i];
      if (s->hva <= addr && addr < s->hva + s->size) {
        addr = s->hva + s->size;
        moved = true;
      }
    }
    if (!moved) break;
  }
  if (addr >= end) return false;
  uint64_t stop = end;
  for (size_t i = 0; i < nshared_ranges; i++)
    if (shared_ranges[i].hva > addr && shared_ranges[i].hva < stop) stop = shared_ranges[i].hva;
  *gap = addr;
  *gap_end = stop;
  return true;
}

static bool all_shared(uint64_t addr, uint64_t len) {
  uint64_t g, ge;
  pthread_mutex_lock(&memory_lock);
  bool covered = !first_unshared(addr, addr + len, &g, &ge);
  pthread_mutex_unlock(&memory_lock);
  return covered;
}

static bool record_shared(uint64_t hva, uint64_t size) {
  if (nshared_ranges == shared_ranges_cap) {
    size_t cap = shared_ranges_cap ? shared_ranges_cap * 2 : 16;
    struct shared_range *grown = realloc(shared_ranges, cap * sizeof(*grown));
    if (!grown) return false;
    shared_ranges = grown;
    shared_ranges_cap = cap;
  }
  shared_ranges[nshared_ranges++] = (struct shared_range){hva, size};
  return true;
}

static bool all_zero(const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i]) return false;
  return true;
}

/*
 * Copy [hva, +len) into `memfd` at offset 0: chunk by chunk, page by page in a chunk the shim cannot
 * read whole (those pages stay zero), and only chunks that are not all zero, so untouched RAM does
 * not become memfd pages.
 */
/* Whether any page of [addr, +len) is resident (mincore); on error, true (copy to be safe). */
static bool any_resident(uint64_t addr, uint64_t len) {
  unsigned char vec[(1ul << 20) / PAGE_SIZE];
  if (mincore((void *)(uintptr_t)addr, len, vec) < 0) return true;
  for (uint64_t i = 0; i < (len + PAGE_SIZE - 1) / PAGE_SIZE; i++)
    if (vec[i] & 1) return true;
  return false;
}

static int copy_range_to_memfd(int memfd, uint64_t hva, uint64_t len) {
  const size_t chunk = 1ul << 20;
  uint8_t *bounce = malloc(chunk);
  if (!bounce) return -ENOMEM;
  for (uint64_t off = 0; off < len; off += chunk) {
    size_t n = (size_t)(len - off < chunk ? len - off : chunk);
    /*
     * Pages never touched read as zero: skip them without reading (a read would fault each one in,
     * and a VMM may hand KVM tens of GiB of untouched MAP_NORESERVE memory). A page swapped out is
     * not resident either: this shim assumes guest RAM is not swapped.
     */
    if (!any_resident(hva + off, n)) continue;
    if (read_self(hva + off, bounce, n) != n) {
      for (size_t p = 0; p < n; p += PAGE_SIZE)
        if (read_self(hva + off + p, bounce + p, PAGE_SIZE) != PAGE_SIZE) memset(bounce + p, 0, PAGE_SIZE);
    }
    if (all_zero(bounce, n)) continue;
    for (size_t done = 0; done < n;) {
      ssize_t w = pwrite(memfd, bounce + done, n - done, (off_t)(off + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        int e = w < 0 ? errno : EIO;
        free(bounce);
        return -e;
      }
      done += (size_t)w;
    }
  }
  free(bounce);
  return 0;
}

/*
 * Move [hva, +len) onto a new memfd at the same address (the client's pointers stay valid) and
 * hand it to the server with MEMFD. 0, or -errno.
 */
static int move_range_to_memfd(uint32_t vm_handle, uint64_t hva, uint64_t len) {
  int memfd = memfd_create("sevbox-guest-ram", MFD_CLOEXEC);
  if (memfd < 0) return -errno;
  int e = 0;
  if (ftruncate(memfd, (off_t)ALIGN_UP(len, BACKING_CHUNK)) < 0) e = -errno;
  if (e == 0) e = copy_range_to_memfd(memfd, hva, len);
  if (e == 0 && mmap((void *)(uintptr_t)hva, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd,
                     0) == MAP_FAILED)
    e = -errno;
  if (e == 0) {
    struct {
      uint64_t hva, size;
    } req = {hva, len};
    int64_t r = transact_simple(OP_MEMFD, vm_handle, &req, sizeof(req), memfd);
    if (r < 0) e = (int)r;
  }
  if (e == 0 && !record_shared(hva, len)) e = -ENOMEM;
  real.close(memfd); /* the mapping (and the server's copy of the fd) keep the pages */
  return e;
}

/* Whether every page of [addr, +len) is mapped (mincore fails with ENOMEM on a hole). */
static bool all_mapped(uint64_t addr, uint64_t len) {
  static unsigned char vec[(1ul << 30) / PAGE_SIZE];
  for (uint64_t off = 0; off < len; off += 1ul << 30) {
    uint64_t n = len - off < (1ul << 30) ? len - off : (1ul << 30);
    if (mincore((void *)(uintptr_t)(addr + off), n, vec) < 0) return false;
  }
  return true;
}

/*
 * Move the mapped, unshared parts of [lo, hi) onto memfds. A memslot may name memory the client has
 * not mapped (the kernel never touches it when the slot is made): those parts stay as they are, and
 * KVM's access to them faults as it would. The mapped parts come from /proc/self/maps.
 */
static int share_mapped_parts(uint32_t vm_handle, uint64_t lo, uint64_t hi) {
  if (all_mapped(lo, hi - lo)) return move_range_to_memfd(vm_handle, lo, hi - lo);
  FILE *maps = fopen("/proc/self/maps", "re");
  if (!maps) return -errno;
  uint64_t start, end;
  int e = 0;
  char line[512];
  while (e == 0 && fgets(line, sizeof(line), maps)) {
    if (sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) != 2) continue;
    uint64_t a = start > lo ? start : lo, b = end < hi ? end : hi;
    if (a < b) e = move_range_to_memfd(vm_handle, a, b - a);
  }
  fclose(maps);
  return e;
}

/* Every part of [uaddr, +size) not shared yet and mapped, moved onto memfds. 0, or -errno. */
static int share_guest_memory(uint32_t vm_handle, uint64_t uaddr, uint64_t size) {
  int e = 0;
  uint64_t gap, gap_end, from = uaddr;
  pthread_mutex_lock(&memory_lock);
  while (e == 0 && from < uaddr + size && first_unshared(from, uaddr + size, &gap, &gap_end)) {
    e = share_mapped_parts(vm_handle, gap, gap_end);
    from = gap_end;
  }
  pthread_mutex_unlock(&memory_lock);
  return e;
}

/*
 * The client unmapped [addr, +len): each piece of a shared range it covered is sent as MUNMAP (the
 * server drops the hva from the model, so KVM's next access is EFAULT) and trimmed from the record.
 */
static void forward_munmap(uint64_t addr, uint64_t len) {
  uint64_t end = addr + ALIGN_UP(len, PAGE_SIZE);
  pthread_mutex_lock(&memory_lock);
  for (size_t i = 0; i < nshared_ranges;) {
    struct shared_range s = shared_ranges[i];
    uint64_t lo = s.hva > addr ? s.hva : addr;
    uint64_t hi = s.hva + s.size < end ? s.hva + s.size : end;
    if (lo >= hi) {
      i++;
      continue;
    }
    struct {
      uint64_t hva, size;
    } req = {lo, hi - lo};
    transact_simple(OP_MUNMAP, 0, &req, sizeof(req), -1);
    /* Keep what lies below and above the hole. */
    shared_ranges[i] = shared_ranges[--nshared_ranges];
    if (s.hva < lo) record_shared(s.hva, lo - s.hva);
    if (hi < s.hva + s.size) record_shared(hi, s.hva + s.size - hi);
    i = 0; /* the list changed under the index */
  }
  pthread_mutex_unlock(&memory_lock);
}

/* ---------------------------------------------------------------------------------------------
 * ioctl marshalling ("Wire format, version 1": IOCTL, regions, fd arguments).
 */
#define MAX_REGIONS (KVM_MSR_FILTER_MAX_RANGES + 4)
#define MAX_FIXUPS 2

/* A client fd inside the argument struct, replaced by its handle on the wire. */
struct fd_fixup {
  uint32_t offset;
  uint32_t width; /* 4 or 8 */
  uint64_t client_value;
};

struct region {
  uint64_t addr;
  uint32_t len;
  uint32_t flags;
  uint8_t *bytes; /* IN bytes, malloc'd */
};

struct ioctl_call {
  uint32_t cmd;
  uint64_t arg;
  uint8_t *in;      /* malloc'd */
  uint32_t in_len;  /* what could be read of it (short: the server answers EFAULT) */
  uint32_t in_size; /* what the kernel would copy: the most `out` may write back */
  struct region regions[MAX_REGIONS];
  uint32_t nregions;
  struct fd_fixup fixups[MAX_FIXUPS];
  uint32_t nfixups;
};

static void ioctl_call_free(struct ioctl_call *c) {
  free(c->in);
  for (uint32_t i = 0; i < c->nregions; i++) free(c->regions[i].bytes);
}

static uint32_t read_u32(uint64_t addr, bool *ok) {
  uint32_t v = 0;
  *ok = read_self(addr, &v, sizeof(v)) == sizeof(v);
  return v;
}

/*
 * The bytes at arg the kernel copies in: _IOC_SIZE(cmd), the 24-byte kvm_sev_cmd for
 * KVM_MEMORY_ENCRYPT_OP (whose _IOC_SIZE is that of an unsigned long), or the counted structs'
 * header plus the entries it counts (capped where the kernel caps or refuses).
 */
static uint32_t ioctl_in_size(uint32_t cmd, uint64_t arg) {
  bool ok;
  uint32_t n;
  switch (cmd) {
  case KVM_MEMORY_ENCRYPT_OP:
    return sizeof(struct kvm_sev_cmd);
  case KVM_GET_SUPPORTED_CPUID:
  case KVM_GET_EMULATED_CPUID:
  case KVM_SET_CPUID2:
  case KVM_GET_CPUID2:
    n = read_u32(arg, &ok);
    if (!ok) return 8;
    return 8 + 40 * (n < KVM_MAX_CPUID_ENTRIES ? n : KVM_MAX_CPUID_ENTRIES);
  case KVM_GET_MSRS:
  case KVM_SET_MSRS:
    n = read_u32(arg, &ok);
    if (!ok) return 8;
    return 8 + 16 * (n < MAX_IO_MSRS ? n : MAX_IO_MSRS);
  case KVM_GET_MSR_INDEX_LIST:
  case KVM_GET_MSR_FEATURE_INDEX_LIST:
    n = read_u32(arg, &ok);
    if (!ok) return 4;
    return 4 + 4 * (n < MSR_LIST_MAX ? n : MSR_LIST_MAX);
  case KVM_SET_SIGNAL_MASK:
    n = read_u32(arg, &ok);
    if (!ok) return 4;
    return 4 + (n < 128 ? n : 128);
  case KVM_SET_GSI_ROUTING:
    n = read_u32(arg, &ok);
    if (!ok) return 8;
    return 8 + 48 * (n < KVM_MAX_IRQ_ROUTES ? n : KVM_MAX_IRQ_ROUTES);
  default:
    return _IOC_DIR(cmd) == _IOC_NONE ? 0 : _IOC_SIZE(cmd);
  }
}

/*
 * The handle of client fd `fd`; for an open fd that is not a KVM one the server's stand-in for such
 * files (a guest_memfd argument then fails with EINVAL, as the kernel's fdget of another file does);
 * for a closed fd 0xffffffff (EBADF, as fdget of nothing).
 */
static uint32_t handle_of_fd(int64_t fd) {
  if (fd < 0 || fd > INT32_MAX) return 0xffffffffu;
  struct kvm_object *o = object_get((int)fd);
  if (!o) return real.fcntl((int)fd, F_GETFD) >= 0 ? foreign_handle : 0xffffffffu;
  uint32_t h = o->handle;
  object_put(o);
  return h;
}

static void add_fixup(struct ioctl_call *c, uint32_t offset, uint32_t width) {
  if (c->in_len < offset + width || c->nfixups == MAX_FIXUPS) return;
  struct fd_fixup *f = &c->fixups[c->nfixups++];
  f->offset = offset;
  f->width = width;
  f->client_value = 0;
  memcpy(&f->client_value, c->in + offset, width);
  int64_t fd = width == 4 ? (int32_t)(uint32_t)f->client_value : (int64_t)f->client_value;
  uint64_t handle = handle_of_fd(fd);
  memcpy(c->in + offset, &handle, width);
}

/* Client fds in the argument struct: sev_fd, the ENC_CONTEXT caps' args[0], guest_memfd. */
static void translate_fd_arguments(struct ioctl_call *c) {
  if (c->cmd == KVM_MEMORY_ENCRYPT_OP) {
    add_fixup(c, offsetof(struct kvm_sev_cmd, sev_fd), 4);
  } else if (c->cmd == KVM_ENABLE_CAP && c->in_len >= sizeof(struct kvm_enable_cap)) {
    struct kvm_enable_cap cap;
    memcpy(&cap, c->in, sizeof(cap));
    if (cap.cap == KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM || cap.cap == KVM_CAP_VM_COPY_ENC_CONTEXT_FROM)
      add_fixup(c, offsetof(struct kvm_enable_cap, args), 8);
  } else if (c->cmd == KVM_SET_USER_MEMORY_REGION2 &&
             c->in_len >= offsetof(struct kvm_userspace_memory_region2, pad1)) {
    struct kvm_userspace_memory_region2 r;
    memcpy(&r, c->in, offsetof(struct kvm_userspace_memory_region2, pad1));
    if (r.flags & KVM_MEM_GUEST_MEMFD)
      add_fixup(c, offsetof(struct kvm_userspace_memory_region2, guest_memfd), 4);
  }
}

/*
 * One region behind a pointer. A null pointer or zero length is not a region (the kernel answers
 * those itself, EINVAL or nothing to copy); a region inside shared guest RAM is not sent (the
 * server sees those pages already); an IN region the client does not have is EFAULT before
 * anything is sent, as the kernel's copy_from_user would be.
 */
static int add_region(struct ioctl_call *c, uint64_t addr, uint64_t len, uint32_t flags) {
  if (!addr || !len) return 0;
  if (len > MAX_PAYLOAD) return -EFAULT;
  if (all_shared(addr, len)) return 0;
  if (c->nregions == MAX_REGIONS) return -EINVAL;
  struct region *r = &c->regions[c->nregions];
  *r = (struct region){addr, (uint32_t)len, flags, NULL};
  if (flags & REGION_IN) {
    r->bytes = malloc(len);
    if (!r->bytes) return -ENOMEM;
    if (read_self(addr, r->bytes, len) != len) {
      free(r->bytes);
      r->bytes = NULL;
      return -EFAULT;
    }
  }
  c->nregions++;
  return 0;
}

static uint64_t dirty_bitmap_bytes(uint64_t npages) {
  return ALIGN_UP(npages, 64) / 8;
}

/* The memslot `slot` of VM `vm`'s memory size, or 0 for one the shim has not seen. */
static uint64_t memslot_size(struct kvm_object *vm, uint32_t slot) {
  uint64_t size = 0;
  pthread_mutex_lock(&table_lock);
  for (size_t i = 0; i < vm->nslots; i++)
    if (vm->slots[i].slot == slot) size = vm->slots[i].memory_size;
  pthread_mutex_unlock(&table_lock);
  return size;
}

/* KVM_MEMORY_ENCRYPT_OP: the kvm_sev_* struct `data` points to, then that struct's pointers. */
static int sev_regions(struct ioctl_call *c) {
  struct kvm_sev_cmd cmd;
  if (c->in_len < sizeof(cmd)) return 0;
  memcpy(&cmd, c->in, sizeof(cmd));
  size_t size;
  switch (cmd.id) {
  case KVM_SEV_INIT2: size = sizeof(struct kvm_sev_init); break;
  case KVM_SEV_LAUNCH_START: size = sizeof(struct kvm_sev_launch_start); break;
  case KVM_SEV_LAUNCH_UPDATE_DATA: size = sizeof(struct kvm_sev_launch_update_data); break;
  case KVM_SEV_LAUNCH_SECRET: size = sizeof(struct kvm_sev_launch_secret); break;
  case KVM_SEV_LAUNCH_MEASURE: size = sizeof(struct kvm_sev_launch_measure); break;
  case KVM_SEV_GUEST_STATUS: size = sizeof(struct kvm_sev_guest_status); break;
  case KVM_SEV_DBG_DECRYPT:
  case KVM_SEV_DBG_ENCRYPT: size = sizeof(struct kvm_sev_dbg); break;
  case KVM_SEV_GET_ATTESTATION_REPORT: size = sizeof(struct kvm_sev_attestation_report); break;
  default: return 0; /* INIT, ES_INIT, LAUNCH_UPDATE_VMSA, LAUNCH_FINISH: no data struct */
  }
  union {
    struct kvm_sev_launch_start start;
    struct kvm_sev_launch_update_data update;
    struct kvm_sev_launch_secret secret;
    struct kvm_sev_launch_measure measure;
    struct kvm_sev_dbg dbg;
    struct kvm_sev_attestation_report report;
    uint8_t bytes[64];
  } data;
  memset(&data, 0, sizeof(data));
  if (!cmd.data) return 0;
  if (read_self(cmd.data, data.bytes, size) != size) return -EFAULT;
  int e = add_region(c, cmd.data, size, REGION_IN | REGION_OUT);
  if (e < 0) return e;
  switch (cmd.id) {
  case KVM_SEV_LAUNCH_START:
    e = add_region(c, data.start.dh_uaddr, data.start.dh_len, REGION_IN);
    if (e == 0) e = add_region(c, data.start.session_uaddr, data.start.session_len, REGION_IN);
    return e;
  case KVM_SEV_LAUNCH_UPDATE_DATA:
    return add_region(c, data.update.uaddr, data.update.len, REGION_IN | REGION_OUT);
  case KVM_SEV_LAUNCH_SECRET:
    e = add_region(c, data.secret.hdr_uaddr, data.secret.hdr_len, REGION_IN);
    if (e == 0) e = add_region(c, data.secret.guest_uaddr, data.secret.guest_len, REGION_IN | REGION_OUT);
    if (e == 0) e = add_region(c, data.secret.trans_uaddr, data.secret.trans_len, REGION_IN);
    return e;
  case KVM_SEV_LAUNCH_MEASURE:
    return add_region(c, data.measure.uaddr, data.measure.len, REGION_OUT);
  case KVM_SEV_DBG_DECRYPT:
  case KVM_SEV_DBG_ENCRYPT:
    e = add_region(c, data.dbg.src_uaddr, data.dbg.len, REGION_IN);
    if (e == 0) e = add_region(c, data.dbg.dst_uaddr, data.dbg.len, REGION_OUT);
    return e;
  case KVM_SEV_GET_ATTESTATION_REPORT:
    return add_region(c, data.report.uaddr, data.report.len, REGION_OUT);
  default:
    return 0;
  }
}

/* The regions of the ioctls whose structs carry pointers (the shim's table in the spec). */
static int marshal_regions(struct ioctl_call *c, struct kvm_object *obj) {
  switch (c->cmd) {
  case KVM_GET_DIRTY_LOG: {
    struct kvm_dirty_log log;
    if (c->in_len < sizeof(log)) return 0;
    memcpy(&log, c->in, sizeof(log));
    uint64_t npages = memslot_size(obj, log.slot) / PAGE_SIZE;
    return add_region(c, log.dirty_bitmap, dirty_bitmap_bytes(npages), REGION_OUT);
  }
  case KVM_CLEAR_DIRTY_LOG: {
    struct kvm_clear_dirty_log log;
    if (c->in_len < sizeof(log)) return 0;
    memcpy(&log, c->in, sizeof(log));
    return add_region(c, log.dirty_bitmap, dirty_bitmap_bytes(log.num_pages), REGION_IN);
  }
  case KVM_X86_SET_MSR_FILTER: {
    struct kvm_msr_filter filter;
    if (c->in_len < sizeof(filter)) return 0;
    memcpy(&filter, c->in, sizeof(filter));
    for (int i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
      const struct kvm_msr_filter_range *r = &filter.ranges[i];
      /* The kernel copies a bitmap only for a range with MSRs and valid, non-zero flags. */
      if (!r->nmsrs || !r->flags || (r->flags & ~KVM_MSR_FILTER_RANGE_VALID_MASK)) continue;
      int e = add_region(c, r->bitmap, ALIGN_UP((uint64_t)r->nmsrs, 64) / 8, REGION_IN);
      if (e < 0) return e;
    }
    return 0;
  }
  case KVM_MEMORY_ENCRYPT_OP:
    return sev_regions(c);
  case KVM_GET_DEVICE_ATTR: {
    /* kvm_device_attr.addr: where the attribute's u64 value is put (put_user). */
    struct kvm_device_attr attr;
    if (c->in_len < sizeof(attr)) return 0;
    memcpy(&attr, c->in, sizeof(attr));
    return add_region(c, attr.addr, sizeof(uint64_t), REGION_OUT);
  }
  default:
    return 0;
  }
}

/* The IOCTL request payload: the fixed part, `in`, the regions (IN bytes inline). */
static uint8_t *encode_ioctl(const struct ioctl_call *c, uint32_t *len) {
  size_t total = sizeof(struct svbx_ioctl) + c->in_len;
  for (uint32_t i = 0; i < c->nregions; i++)
    total += sizeof(struct svbx_region) + ((c->regions[i].flags & REGION_IN) ? c->regions[i].len : 0);
  if (total > MAX_PAYLOAD) return NULL;
  uint8_t *buf = malloc(total), *p = buf;
  if (!buf) return NULL;
  struct svbx_ioctl fixed = {c->cmd, c->nregions, c->arg, c->in_len, 0};
  memcpy(p, &fixed, sizeof(fixed));
  p += sizeof(fixed);
  if (c->in_len) memcpy(p, c->in, c->in_len);
  p += c->in_len;
  for (uint32_t i = 0; i < c->nregions; i++) {
    const struct region *r = &c->regions[i];
    struct svbx_region h = {r->addr, r->len, r->flags};
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    if (r->flags & REGION_IN) {
      memcpy(p, r->bytes, r->len);
      p += r->len;
    }
  }
  *len = (uint32_t)total;
  return buf;
}

/* Does [addr, +len) lie in a region the shim sent as OUT? Only those are written back. */
static bool is_out_region(const struct ioctl_call *c, uint64_t addr, uint64_t len) {
  for (uint32_t i = 0; i < c->nregions; i++) {
    const struct region *r = &c->regions[i];
    if ((r->flags & REGION_OUT) && addr >= r->addr && addr + len <= r->addr + r->len) return true;
  }
  return false;
}

/*
 * Write the reply's `out` over the struct at arg (the client's fds put back where the shim put
 * handles) and each region's bytes at its address. false when the client's memory refused (EFAULT).
 */
static bool write_back(const struct ioctl_call *c, const struct reply *r) {
  uint32_t out_len = 0, nregions = 0;
  if (r->body_len >= 8) {
    memcpy(&out_len, r->body, 4);
    memcpy(&nregions, r->body + 4, 4);
  }
  const uint8_t *p = r->body + 8, *end = r->body + r->body_len;
  if (out_len > (uint64_t)(end - p)) return false;
  if (out_len) {
    uint32_t n = out_len < c->in_size ? out_len : c->in_size;
    uint8_t *out = malloc(n);
    if (!out) return false;
    memcpy(out, p, n);
    for (uint32_t i = 0; i < c->nfixups; i++)
      if (c->fixups[i].offset + c->fixups[i].width <= n)
        memcpy(out + c->fixups[i].offset, &c->fixups[i].client_value, c->fixups[i].width);
    bool ok = write_self(c->arg, out, n);
    free(out);
    if (!ok) return false;
  }
  p += out_len;
  for (uint32_t i = 0; i < nregions; i++) {
    struct svbx_region h;
    if ((size_t)(end - p) < sizeof(h)) return false;
    memcpy(&h, p, sizeof(h));
    p += sizeof(h);
    if (h.len > (uint64_t)(end - p)) return false;
    if (is_out_region(c, h.addr, h.len) && !write_self(h.addr, p, h.len)) return false;
    p += h.len;
  }
  return true;
}

/* The memslot table of VM `vm` after a successful KVM_SET_USER_MEMORY_REGION(2). */
static void update_memslots(struct kvm_object *vm, const struct kvm_userspace_memory_region *m) {
  pthread_mutex_lock(&table_lock);
  size_t i = 0;
  while (i < vm->nslots && vm->slots[i].slot != m->slot) i++;
  if (m->memory_size == 0) {
    if (i < vm->nslots) vm->slots[i] = vm->slots[--vm->nslots];
  } else {
    if (i == vm->nslots) {
      struct memslot *grown = realloc(vm->slots, (vm->nslots + 1) * sizeof(*grown));
      if (grown) {
        vm->slots = grown;
        vm->nslots++;
      }
    }
    if (i < vm->nslots)
      vm->slots[i] = (struct memslot){m->slot, m->guest_phys_addr, m->memory_size, m->userspace_addr};
  }
  pthread_mutex_unlock(&table_lock);
}

static bool creates_fd(uint32_t cmd) {
  return cmd == KVM_CREATE_VM || cmd == KVM_CREATE_VCPU || cmd == KVM_CREATE_GUEST_MEMFD ||
         cmd == KVM_CREATE_DEVICE || cmd == KVM_GET_STATS_FD;
}

/*
 * The local fd for an fd the server created (handle `handle`): the fd the reply carried when there
 * is one (a vCPU's kvm_run memfd: the client's mmap(vcpu_fd) then maps the model's pages), else a
 * placeholder memfd. Close-on-exec as the kernel makes them (all but guest_memfd). fd, or -errno.
 */
static int adopt_created_fd(uint32_t cmd, uint32_t handle, struct reply *r) {
  int fd = r->fd;
  r->fd = -1;
  if (fd < 0) {
    if (cmd == KVM_CREATE_VCPU)
      warn_once(&warned_no_kvm_run, "the server sent no kvm_run memfd with KVM_CREATE_VCPU; mmap(vcpu fd) "
                                    "will not see the model's kvm_run");
    const char *name = cmd == KVM_CREATE_VM     ? "sevbox-vm"
                       : cmd == KVM_CREATE_VCPU ? "sevbox-vcpu"
                                                : "sevbox-fd";
    fd = placeholder_fd(name, cmd != KVM_CREATE_GUEST_MEMFD);
    if (fd < 0) return -errno;
    if (cmd == KVM_CREATE_VCPU && ftruncate(fd, VCPU_MMAP_SIZE) < 0) {
      int e = errno;
      real.close(fd);
      return -e;
    }
  }
  enum object_kind kind = cmd == KVM_CREATE_VM ? KIND_VM : cmd == KVM_CREATE_VCPU ? KIND_VCPU : KIND_OTHER;
  struct kvm_object *o = new_object(handle, kind);
  if (!o || !attach_fd(fd, o)) {
    free(o);
    real.close(fd);
    return -ENOMEM;
  }
  return fd;
}

/*
 * KVM_SET_USER_MEMORY_REGION(2) before it is forwarded: the mapped parts of the range are moved onto
 * memfds the server maps too ("Memory, the shim's side"), so a vCPU thread that runs as soon as the
 * slot exists finds its memory. A NULL or unmapped range is left alone: the kernel refuses or
 * faults on it itself. 0, or -errno.
 */
static int share_memory_region(struct kvm_object *vm, const struct kvm_userspace_memory_region *region) {
  uint64_t uaddr = region->userspace_addr, size = region->memory_size;
  if (size == 0 || (uaddr | size) & (PAGE_SIZE - 1) || uaddr + size < uaddr) return 0;
  return share_guest_memory(vm->handle, uaddr, size);
}

/* The ioctl `cmd` on `obj`, through the server. The ioctl's result (>= 0), or -errno. */
static int64_t forward_ioctl(struct kvm_object *obj, uint32_t cmd, uint64_t arg) {
  struct ioctl_call c = {.cmd = cmd, .arg = arg};
  struct kvm_userspace_memory_region region = {0};
  bool is_memslot = cmd == KVM_SET_USER_MEMORY_REGION || cmd == KVM_SET_USER_MEMORY_REGION2;
  int64_t result = 0;
  uint8_t *payload = NULL;
  struct reply r = {.fd = -1};

  c.in_size = ioctl_in_size(cmd, arg);
  if (c.in_size) {
    c.in = calloc(1, c.in_size);
    if (!c.in) return -ENOMEM;
    /* Memory the client does not have goes short: the server answers EFAULT, as copy_from_user. */
    c.in_len = (uint32_t)read_self(arg, c.in, c.in_size);
  }
  if (is_memslot && c.in_len >= sizeof(region)) {
    memcpy(&region, c.in, sizeof(region));
    result = share_memory_region(obj, &region);
  }
  if (result == 0) {
    translate_fd_arguments(&c);
    result = marshal_regions(&c, obj);
  }
  uint32_t len = 0;
  if (result == 0 && !(payload = encode_ioctl(&c, &len))) result = -ENOMEM;
  if (result == 0) {
    uint32_t kick = obj->handle;
    result = transact(OP_IOCTL, obj->handle, payload, len, -1, cmd == KVM_RUN ? &kick : NULL, &r);
    if (r.payload && !write_back(&c, &r)) result = -EFAULT;
  }
  if (result >= 0 && is_memslot && c.in_len >= sizeof(region)) update_memslots(obj, &region);
  if (result >= 0 && creates_fd(cmd)) {
    if (cmd == KVM_CREATE_DEVICE) {
      /* KVM_CREATE_DEVICE returns 0 and the fd in the struct: there, the server put the handle. */
      struct kvm_create_device dev;
      if (c.in_len >= sizeof(dev) && read_self(arg, &dev, sizeof(dev)) == sizeof(dev) &&
          !(dev.flags & KVM_CREATE_DEVICE_TEST)) {
        int fd = adopt_created_fd(cmd, dev.fd, &r);
        if (fd < 0) result = fd;
        dev.fd = (uint32_t)fd;
        if (fd >= 0 && !write_self(arg + offsetof(struct kvm_create_device, fd), &dev.fd, 4))
          result = -EFAULT;
      }
    } else {
      result = adopt_created_fd(cmd, (uint32_t)result, &r);
    }
  }
  reply_free(&r);
  free(payload);
  ioctl_call_free(&c);
  return result;
}

/* ---------------------------------------------------------------------------------------------
 * open of /dev/kvm, /dev/sev and the KVM module parameters.
 */
enum path_kind { PATH_OTHER, PATH_KVM, PATH_SEV, PATH_PARAM };

static enum path_kind classify_path(int dirfd, const char *path) {
  if (!shim_active || !path || (path[0] != '/' && dirfd != AT_FDCWD)) return PATH_OTHER;
  if (!strcmp(path, "/dev/kvm")) return PATH_KVM;
  if (!strcmp(path, "/dev/sev")) return PATH_SEV;
  if (!fnmatch("/sys/module/kvm*/parameters/*", path, FNM_PATHNAME)) return PATH_PARAM;
  return PATH_OTHER;
}

/* /dev/kvm or /dev/sev: a placeholder fd and an OPEN for the server's handle. fd, or -1 + errno. */
static int open_device(enum path_kind kind, int flags) {
  bool sev = kind == PATH_SEV;
  int fd = placeholder_fd(sev ? "sevbox-sev" : "sevbox-kvm", flags & O_CLOEXEC);
  if (fd < 0) return -1;
  uint32_t which = sev ? OPEN_SEV : OPEN_KVM;
  int64_t handle = transact_simple(OP_OPEN, 0, &which, sizeof(which), -1);
  struct kvm_object *o = handle >= 0 ? new_object((uint32_t)handle, sev ? KIND_SEV : KIND_SYSTEM) : NULL;
  if (handle >= 0 && (!o || !attach_fd(fd, o))) {
    free(o);
    send_close((uint32_t)handle);
    handle = -ENOMEM;
  }
  if (handle < 0) {
    real.close(fd);
    errno = (int)-handle;
    return -1;
  }
  return fd;
}

/* A module parameter the server answers (GETPARAM), as a memfd holding its bytes at offset 0. */
static int open_module_param(const char *path, int flags) {
  struct reply r;
  int64_t n = transact(OP_GETPARAM, 0, path, (uint32_t)strlen(path) + 1, -1, NULL, &r);
  int fd = -1, e = 0;
  if (n < 0) e = (int)-n;
  else if ((fd = memfd_create("sevbox-param", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0)) < 0) e = errno;
  else {
    size_t len = (uint64_t)n < r.body_len ? (size_t)n : r.body_len;
    if (write(fd, r.body, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0) {
      e = errno ? errno : EIO;
      real.close(fd);
      fd = -1;
    }
  }
  reply_free(&r);
  if (fd < 0) errno = e;
  return fd;
}

/* The shim's answer to an open of `path`, or PASS_THROUGH for libc's. */
#define PASS_THROUGH (-2)
static int intercept_open(int dirfd, const char *path, int flags) {
  switch (classify_path(dirfd, path)) {
  case PATH_KVM:
  case PATH_SEV:
    return open_device(classify_path(dirfd, path), flags);
  case PATH_PARAM:
    /* Only reads: a write to a parameter goes to the machine's sysfs, which refuses it. */
    return (flags & O_ACCMODE) == O_RDONLY ? open_module_param(path, flags) : PASS_THROUGH;
  default:
    return PASS_THROUGH;
  }
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

EXPORT int open(const char *path, int flags, ...) {
  resolve_real();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = intercept_open(AT_FDCWD, path, flags);
  return fd != PASS_THROUGH ? fd : real.open(path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...) {
  resolve_real();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = intercept_open(AT_FDCWD, path, flags);
  return fd != PASS_THROUGH ? fd : real.open64(path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  resolve_real();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = intercept_open(dirfd, path, flags);
  return fd != PASS_THROUGH ? fd : real.openat(dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
  resolve_real();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = intercept_open(dirfd, path, flags);
  return fd != PASS_THROUGH ? fd : real.openat64(dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE's open/openat without a mode argument. */
EXPORT int __open_2(const char *path, int flags) {
  resolve_real();
  int fd = intercept_open(AT_FDCWD, path, flags);
  return fd != PASS_THROUGH ? fd : real.open_2(path, flags);
}

EXPORT int __open64_2(const char *path, int flags) {
  resolve_real();
  int fd = intercept_open(AT_FDCWD, path, flags);
  return fd != PASS_THROUGH ? fd : real.open64_2(path, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags) {
  resolve_real();
  int fd = intercept_open(dirfd, path, flags);
  return fd != PASS_THROUGH ? fd : real.openat_2(dirfd, path, flags);
}

/* fopen does not go through open() inside glibc: a parameter read with fopen/fread is caught here. */
static FILE *intercept_fopen(const char *path, const char *mode,
                             FILE *(*libc_fopen)(const char *, const char *)) {
  resolve_real();
  if (mode && mode[0] == 'r' && !strchr(mode, '+') && classify_path(AT_FDCWD, path) == PATH_PARAM) {
    int fd = open_module_param(path, strchr(mode, 'e') ? O_CLOEXEC : 0);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "r");
    if (!f) real.close(fd);
    return f;
  }
  return libc_fopen(path, mode);
}

EXPORT FILE *fopen(const char *path, const char *mode) {
  resolve_real();
  return intercept_fopen(path, mode, real.fopen);
}

EXPORT FILE *fopen64(const char *path, const char *mode) {
  resolve_real();
  return intercept_fopen(path, mode, real.fopen64);
}

/* ---------------------------------------------------------------------------------------------
 * close, dup*, fcntl(F_DUPFD*): keep the table right.
 */
EXPORT int close(int fd) {
  resolve_real();
  if (!shim_active) return real.close(fd);
  struct kvm_object *o = object_get(fd);
  if (!o) return real.close(fd);
  object_put(o);
  int r = real.close(fd);
  int saved = errno;
  detach_fd(fd); /* even on EINTR: Linux has closed the fd by then */
  errno = saved;
  return r;
}

EXPORT int dup(int fd) {
  resolve_real();
  int r = real.dup(fd);
  if (shim_active && r >= 0) note_dup(fd, r);
  return r;
}

/* dup2/dup3 onto `newfd` closes what `newfd` was: it may be a KVM fd's last name. */
static int after_dup2(int oldfd, int newfd, int r) {
  if (!shim_active || r < 0 || oldfd == newfd) return r;
  int saved = errno;
  detach_fd(newfd);
  note_dup(oldfd, newfd);
  errno = saved;
  return r;
}

EXPORT int dup2(int oldfd, int newfd) {
  resolve_real();
  return after_dup2(oldfd, newfd, real.dup2(oldfd, newfd));
}

EXPORT int dup3(int oldfd, int newfd, int flags) {
  resolve_real();
  return after_dup2(oldfd, newfd, real.dup3(oldfd, newfd, flags));
}

static int intercept_fcntl(int (*libc_fcntl)(int, int, ...), int fd, int cmd, unsigned long arg) {
  int r = libc_fcntl(fd, cmd, arg);
  if (shim_active && r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) note_dup(fd, r);
  return r;
}

EXPORT int fcntl(int fd, int cmd, ...) {
  resolve_real();
  va_list ap;
  va_start(ap, cmd);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return intercept_fcntl(real.fcntl, fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...) {
  resolve_real();
  va_list ap;
  va_start(ap, cmd);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return intercept_fcntl(real.fcntl64, fd, cmd, arg);
}

/* ---------------------------------------------------------------------------------------------
 * ioctl and munmap.
 */
EXPORT int ioctl(int fd, unsigned long request, ...) {
  resolve_real();
  va_list ap;
  va_start(ap, request);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  struct kvm_object *o = shim_active ? object_get(fd) : NULL;
  if (!o) return real.ioctl(fd, request, arg);
  int64_t r = forward_ioctl(o, (uint32_t)request, arg);
  object_put(o);
  if (r < 0) {
    errno = (int)-r;
    return -1;
  }
  return (int)r;
}

EXPORT int munmap(void *addr, size_t len) {
  resolve_real();
  int r = real.munmap(addr, len);
  if (!shim_active || r != 0) return r;
  int saved = errno;
  forward_munmap((uint64_t)(uintptr_t)addr, len);
  errno = saved;
  return r;
}

/* ---------------------------------------------------------------------------------------------
 * Native CPUID: with CPUID faulting on, a CPUID instruction is a #GP (SIGSEGV, SI_KERNEL) and the
 * handler answers from the server's host CPUID table (the CPUID op), so the client reads facts about
 * the model's host (the vendor, the C-bit in 0x8000001F) and not the machine's.
 */
#define ARCH_SET_CPUID 0x1012

static struct kvm_cpuid_entry2 *cpuid_table;
static uint32_t cpuid_count;
static bool cpuid_faulting;
/* The client's own SIGSEGV disposition: the shim's handler stays first and chains to it. */
static struct sigaction client_segv;

static const struct kvm_cpuid_entry2 *cpuid_lookup(uint32_t function, uint32_t index) {
  for (uint32_t i = 0; i < cpuid_count; i++) {
    const struct kvm_cpuid_entry2 *e = &cpuid_table[i];
    if (e->function == function && (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
      return e;
  }
  return NULL;
}

/* A SIGSEGV that is not a faulted CPUID: the client's handler, or the default action. */
static void chain_sigsegv(int sig, siginfo_t *info, void *uc) {
  struct sigaction theirs = client_segv;
  bool has_handler = (theirs.sa_flags & SA_SIGINFO)
                         ? theirs.sa_sigaction != NULL
                         : theirs.sa_handler != SIG_DFL && theirs.sa_handler != SIG_IGN;
  if (has_handler) {
    if (theirs.sa_flags & SA_RESETHAND) {
      memset(&client_segv, 0, sizeof(client_segv));
      client_segv.sa_handler = SIG_DFL;
    }
    if (theirs.sa_flags & SA_SIGINFO) theirs.sa_sigaction(sig, info, uc);
    else theirs.sa_handler(sig);
    return;
  }
  /* A SIGSEGV sent with kill() that the client ignores stays ignored. */
  if (info->si_code <= 0 && theirs.sa_handler == SIG_IGN) return;
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  real.sigaction(SIGSEGV, &dfl, NULL);
  /* A fault re-faults on return and now takes the default action; a sent signal is sent again. */
  if (info->si_code <= 0) raise(SIGSEGV);
}

static void on_sigsegv(int sig, siginfo_t *info, void *uc_) {
  ucontext_t *uc = uc_;
  greg_t *regs = uc->uc_mcontext.gregs;
  /* The #GP of a faulting CPUID is SI_KERNEL at a readable RIP; a bad RIP is SEGV_MAPERR, not read. */
  const uint8_t *rip = (const uint8_t *)(uintptr_t)regs[REG_RIP];
  if (cpuid_faulting && info->si_code == SI_KERNEL && rip[0] == 0x0f && rip[1] == 0xa2) {
    const struct kvm_cpuid_entry2 *e = cpuid_lookup((uint32_t)regs[REG_RAX], (uint32_t)regs[REG_RCX]);
    regs[REG_RAX] = e ? e->eax : 0;
    regs[REG_RBX] = e ? e->ebx : 0;
    regs[REG_RCX] = e ? e->ecx : 0;
    regs[REG_RDX] = e ? e->edx : 0;
    regs[REG_RIP] += 2;
    return;
  }
  chain_sigsegv(sig, info, uc_);
}

/* Fetch the host CPUID table, install the handler, then turn CPUID faulting on. */
static void enable_native_cpuid(void) {
  struct reply r;
  int64_t n = transact(OP_CPUID, 0, NULL, 0, -1, NULL, &r);
  if (n < 0 || (uint64_t)n * sizeof(struct kvm_cpuid_entry2) > r.body_len) {
    if (n >= 0) fprintf(stderr, "sevbox shim: the CPUID reply is short; native CPUID is the machine's\n");
    reply_free(&r);
    return;
  }
  cpuid_table = malloc((size_t)n * sizeof(*cpuid_table) + 1);
  if (!cpuid_table) {
    reply_free(&r);
    return;
  }
  memcpy(cpuid_table, r.body, (size_t)n * sizeof(*cpuid_table));
  cpuid_count = (uint32_t)n;
  reply_free(&r);

  /* SA_NODEFER: a fault inside a chained client handler must not find SIGSEGV blocked (that kills). */
  struct sigaction ours = {.sa_sigaction = on_sigsegv,
                           .sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART};
  sigemptyset(&ours.sa_mask);
  if (real.sigaction(SIGSEGV, &ours, &client_segv) < 0) return;
  cpuid_faulting = true;
  if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) < 0) {
    cpuid_faulting = false;
    real.sigaction(SIGSEGV, &client_segv, NULL);
    fprintf(stderr, "sevbox shim: no CPUID faulting here; native CPUID is the machine's\n");
  }
}

/* While the shim answers CPUID, the client's SIGSEGV handler is remembered, not installed. */
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oldact) {
  resolve_real();
  if (sig != SIGSEGV || !cpuid_faulting) return real.sigaction(sig, act, oldact);
  struct sigaction previous = client_segv;
  if (act) client_segv = *act;
  if (oldact) *oldact = previous;
  return 0;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler) {
  resolve_real();
  if (sig != SIGSEGV || !cpuid_faulting) return real.signal(sig, handler);
  sighandler_t previous = client_segv.sa_handler;
  if (client_segv.sa_flags & SA_SIGINFO) previous = (sighandler_t)(void (*)(void))client_segv.sa_sigaction;
  memset(&client_segv, 0, sizeof(client_segv));
  client_segv.sa_handler = handler;
  client_segv.sa_flags = SA_RESTART; /* glibc's signal() has BSD semantics */
  return previous;
}

/* ---------------------------------------------------------------------------------------------
 * Setup.
 */
static void before_fork(void) {
  pthread_mutex_lock(&memory_lock);
  pthread_mutex_lock(&table_lock);
}

static void after_fork(void) {
  pthread_mutex_unlock(&table_lock);
  pthread_mutex_unlock(&memory_lock);
}

__attribute__((constructor)) static void shim_init(void) {
  resolve_real();
  const char *path = getenv("SEVBOX_SOCKET");
  if (!path || !*path) return; /* inert: everything passes through */
  socket_path = strdup(path);
  if (!socket_path) return;
  pthread_key_create(&conn_key, close_connection_at_thread_exit);
  pthread_atfork(before_fork, after_fork, after_fork);
  shim_active = true;
  enable_native_cpuid();
}
