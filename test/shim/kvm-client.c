/*
 * A KVM client for the shim's tests (test/shim/shim.test.ts): plain /dev/kvm calls, run with
 * LD_PRELOAD=libsevbox-kvm.so against the fake server. One scenario per argv[1]; each prints
 * `ok <what>` lines and exits 0, or prints `FAIL <what>` and exits 1. It uses the distribution's
 * <linux/kvm.h>, not the shim's copy of the uapi, so a struct the shim gets wrong shows.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                                  \
  do {                                                                                                    \
    if (!(cond)) {                                                                                        \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                         \
      printf(__VA_ARGS__);                                                                                \
      printf(" (errno %d %s)\n", errno, strerror(errno));                                                 \
      exit(1);                                                                                            \
    }                                                                                                     \
  } while (0)

#define RAM_SIZE (64 << 10)

static int open_kvm(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  CHECK(kvm >= 0, "open /dev/kvm");
  return kvm;
}

/* The fd's target, as /proc shows it: a placeholder is "/memfd:sevbox-kvm (deleted)". */
static const char *fd_target(int fd) {
  static char buf[256];
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, buf, sizeof(buf) - 1);
  buf[n < 0 ? 0 : n] = 0;
  return buf;
}

static uint8_t pattern(size_t i) {
  return (uint8_t)(i * 7 + 3);
}

/* open, API version, VM, memslot over mmap'd RAM, vCPU + kvm_run, supported CPUID, dirty log, close. */
static int scenario_basic(void) {
  int kvm = open_kvm();
  printf("ok kvm fd %s\n", fd_target(kvm));
  CHECK(ioctl(kvm, KVM_GET_API_VERSION, 0) == 12, "KVM_GET_API_VERSION");
  printf("ok api version 12\n");

  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  CHECK(vm >= 0 && vm != kvm, "KVM_CREATE_VM");
  printf("ok vm fd %s\n", fd_target(vm));

  uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(ram != MAP_FAILED, "mmap");
  for (size_t i = 0; i < RAM_SIZE; i++) ram[i] = pattern(i);
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0x100000, .memory_size = RAM_SIZE, .userspace_addr = (uintptr_t)ram};
  CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) == 0, "KVM_SET_USER_MEMORY_REGION");
  printf("ok memslot hva 0x%lx\n", (unsigned long)(uintptr_t)ram);
  /* The fake server wrote 0xab at offset 100 through its mapping of the memfd before replying. */
  CHECK(ram[100] == 0xab, "server write at 100 visible, got 0x%x", ram[100]);
  for (size_t i = 0; i < RAM_SIZE; i++)
    if (i != 100) CHECK(ram[i] == pattern(i), "pattern kept at %zu", i);
  ram[200] = 0xcd; /* the server checks this one at its next request */
  printf("ok shared ram both ways\n");

  /* The same range again (a second slot over it): no second MEMFD. */
  region.slot = 1;
  region.guest_phys_addr = 0x200000;
  CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) == 0, "second memslot");

  uint64_t bitmap[2] = {0, 0x1111};
  struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = bitmap};
  CHECK(ioctl(vm, KVM_GET_DIRTY_LOG, &log) == 0, "KVM_GET_DIRTY_LOG");
  CHECK(bitmap[0] == 0x5a5a5a5a5a5a5a5aull && bitmap[1] == 0x1111, "dirty_bitmap 0x%llx 0x%llx",
        (unsigned long long)bitmap[0], (unsigned long long)bitmap[1]);
  printf("ok dirty log\n");

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  CHECK(vcpu >= 0, "KVM_CREATE_VCPU");
  int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  CHECK(size == 3 * 4096, "KVM_GET_VCPU_MMAP_SIZE %d", size);
  struct kvm_run *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  CHECK(run != MAP_FAILED, "mmap vcpu fd");
  CHECK(run->exit_reason == 0x51 && !memcmp((char *)run + 4096, "pio page", 8), "kvm_run from the server: %u",
        run->exit_reason);
  printf("ok kvm_run shared\n");

  struct {
    struct kvm_cpuid2 head;
    struct kvm_cpuid_entry2 entries[4];
  } cpuid = {.head.nent = 4};
  cpuid.entries[3].function = 0xdeadbeef;
  CHECK(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) == 0, "KVM_GET_SUPPORTED_CPUID");
  CHECK(cpuid.head.nent == 2 && cpuid.entries[1].function == 0x8000001f && cpuid.entries[1].ebx == 0x173,
        "supported cpuid nent %u", cpuid.head.nent);
  CHECK(cpuid.entries[3].function == 0xdeadbeef, "entries past nent untouched");
  printf("ok supported cpuid\n");

  /* CLOSE goes with the last fd of a handle: the marker ioctl shows where. */
  int vm2 = dup(vm);
  int vm3 = fcntl(vm, F_DUPFD_CLOEXEC, 100);
  CHECK(vm2 >= 0 && vm3 >= 100, "dup");
  close(vm);
  close(vm2);
  CHECK(ioctl(kvm, KVM_CHECK_EXTENSION, 4242) == 0, "marker");
  close(vm3);
  printf("ok closed\n");

  CHECK(munmap(ram + 4096, 8192) == 0, "munmap");
  printf("ok munmap\n");
  return 0;
}

/* KVM_MEMORY_ENCRYPT_OP: LAUNCH_START's regions and sev_fd, an unreadable arg, an unreadable blob. */
static int scenario_sev(void) {
  int sev = open("/dev/sev", O_RDWR);
  CHECK(sev >= 0, "open /dev/sev");
  int kvm = open_kvm();
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  CHECK(vm >= 0, "KVM_CREATE_VM");

  static char dh[10] = "dh-blob-01";
  static char session[7] = "session";
  struct kvm_sev_launch_start start = {
      .policy = 0x5, .dh_uaddr = (uintptr_t)dh, .dh_len = sizeof(dh), .session_uaddr = (uintptr_t)session,
      .session_len = sizeof(session)};
  struct kvm_sev_cmd cmd = {.id = KVM_SEV_LAUNCH_START, .data = (uintptr_t)&start, .sev_fd = (uint32_t)sev};
  CHECK(ioctl(vm, KVM_MEMORY_ENCRYPT_OP, &cmd) == 0, "LAUNCH_START");
  CHECK(cmd.sev_fd == (uint32_t)sev, "sev_fd restored: %u", cmd.sev_fd);
  CHECK(cmd.error == 0x77, "error written: 0x%x", cmd.error);
  CHECK(start.handle == 0x1234, "start.handle written back: 0x%x", start.handle);
  printf("ok launch start sev_fd %d\n", sev);

  errno = 0;
  CHECK(ioctl(vm, KVM_MEMORY_ENCRYPT_OP, (void *)8) == -1 && errno == EFAULT, "unreadable arg is EFAULT");
  printf("ok unreadable arg\n");

  start.dh_uaddr = 16; /* the kernel's copy_from_user of the blob faults: EFAULT, nothing sent */
  errno = 0;
  CHECK(ioctl(vm, KVM_MEMORY_ENCRYPT_OP, &cmd) == -1 && errno == EFAULT, "unreadable blob is EFAULT");
  printf("ok unreadable blob\n");

  /* An open non-KVM fd as sev_fd: HELLO's foreign handle on the wire, the server's EBADF. */
  cmd.sev_fd = 1;
  start.dh_uaddr = (uintptr_t)dh;
  errno = 0;
  CHECK(ioctl(vm, KVM_MEMORY_ENCRYPT_OP, &cmd) == -1 && errno == EBADF, "sev_fd 1 is EBADF");
  printf("ok foreign sev_fd\n");

  /* A closed fd: 0xffffffff on the wire. */
  cmd.sev_fd = 987;
  errno = 0;
  CHECK(ioctl(vm, KVM_MEMORY_ENCRYPT_OP, &cmd) == -1 && errno == EBADF, "sev_fd 987 is EBADF");
  printf("ok closed sev_fd\n");

  /* LAUNCH_UPDATE_DATA of guest RAM: the server sees those pages already, so no region for them. */
  uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(ram != MAP_FAILED, "mmap");
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uintptr_t)ram};
  CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) == 0, "KVM_SET_USER_MEMORY_REGION");
  struct kvm_sev_launch_update_data update = {.uaddr = (uintptr_t)ram + 4096, .len = 4096};
  cmd = (struct kvm_sev_cmd){
      .id = KVM_SEV_LAUNCH_UPDATE_DATA, .data = (uintptr_t)&update, .sev_fd = (uint32_t)sev};
  CHECK(ioctl(vm, KVM_MEMORY_ENCRYPT_OP, &cmd) == 0, "LAUNCH_UPDATE_DATA");
  printf("ok launch update data\n");
  return 0;
}

/* /sys/module/kvm_amd/parameters/sev through open/read and fopen/fgets; a missing one. */
static int scenario_param(void) {
  char buf[16] = {0};
  int fd = open("/sys/module/kvm_amd/parameters/sev", O_RDONLY);
  CHECK(fd >= 0, "open param");
  CHECK(read(fd, buf, sizeof(buf)) == 2 && !strcmp(buf, "Y\n"), "read param: %s", buf);
  close(fd);
  FILE *f = fopen("/sys/module/kvm_amd/parameters/sev", "r");
  CHECK(f && fgets(buf, sizeof(buf), f) && !strcmp(buf, "Y\n"), "fopen param");
  fclose(f);
  errno = 0;
  CHECK(open("/sys/module/kvm_amd/parameters/nope", O_RDONLY) == -1 && errno == ENOENT, "missing param");
  printf("ok params\n");
  return 0;
}

static sigjmp_buf segv_jump;
static void client_segv_handler(int sig) {
  (void)sig;
  siglongjmp(segv_jump, 1);
}

/* Native CPUID answered from the server's table; a real fault still reaches the client's handler. */
static int scenario_cpuid(void) {
  unsigned a, b, c, d;
  __cpuid_count(0x8000001f, 0, a, b, c, d);
  printf("cpuid 0x8000001f %08x %08x %08x %08x\n", a, b, c, d);
  CHECK(a == 0x1000b && b == 0x173 && c == 509 && d == 1, "leaf 0x8000001f");
  __cpuid_count(0, 0, a, b, c, d);
  char vendor[13];
  memcpy(vendor, &b, 4);
  memcpy(vendor + 4, &d, 4);
  memcpy(vendor + 8, &c, 4);
  vendor[12] = 0;
  CHECK(!strcmp(vendor, "AuthenticAMD"), "vendor %s", vendor);
  __cpuid_count(7, 1, a, b, c, d);
  CHECK(a == 0x71, "leaf 7 index 1: %x", a);
  __cpuid_count(7, 0, a, b, c, d);
  CHECK(a == 0x70, "leaf 7 index 0: %x", a);
  __cpuid_count(0x40000000, 0, a, b, c, d);
  CHECK(!a && !b && !c && !d, "a missing leaf is zeros");
  printf("ok native cpuid\n");

  struct sigaction sa = {.sa_handler = client_segv_handler};
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction");
  if (!sigsetjmp(segv_jump, 1)) {
    volatile uintptr_t bad = 16;
    *(volatile int *)bad = 1;
    CHECK(0, "no fault");
  }
  __cpuid_count(0x8000001f, 0, a, b, c, d);
  CHECK(b == 0x173, "cpuid after the client's handler");
  printf("ok client segv handler\n");
  return 0;
}

/* A forked child speaks on its own connection; the parent's handles are not its own (EIO). */
static int scenario_fork(void) {
  int kvm = open_kvm();
  CHECK(ioctl(kvm, KVM_GET_API_VERSION, 0) == 12, "parent before fork");
  pid_t child = fork();
  CHECK(child >= 0, "fork");
  if (child == 0) {
    errno = 0;
    int r = ioctl(kvm, KVM_GET_API_VERSION, 0);
    printf(r == -1 && errno == EIO ? "ok child EIO\n" : "FAIL child got %d errno %d\n", r, errno);
    fflush(stdout);
    _exit(r == -1 && errno == EIO ? 0 : 1);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child");
  CHECK(ioctl(kvm, KVM_GET_API_VERSION, 0) == 12, "parent after fork");
  printf("ok fork\n");
  return 0;
}

static void on_alarm(int sig) {
  (void)sig;
}

/* A signal during KVM_RUN: KICK, then the server's EINTR. */
static int scenario_kick(void) {
  int kvm = open_kvm();
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  CHECK(vcpu >= 0, "vcpu");
  struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval t = {.it_value = {.tv_usec = 100000}};
  setitimer(ITIMER_REAL, &t, NULL);
  errno = 0;
  CHECK(ioctl(vcpu, KVM_RUN, 0) == -1 && errno == EINTR, "KVM_RUN interrupted");
  printf("ok kick\n");
  return 0;
}

static void *thread_main(void *arg) {
  int kvm = *(int *)arg;
  return (void *)(intptr_t)(ioctl(kvm, KVM_GET_API_VERSION, 0) == 12);
}

/* Each thread its own connection. */
static int scenario_threads(void) {
  int kvm = open_kvm();
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread_main, &kvm);
  for (int i = 0; i < 2; i++) {
    void *ok;
    pthread_join(t[i], &ok);
    CHECK(ok, "thread %d", i);
  }
  printf("ok threads\n");
  return 0;
}

/* Without SEVBOX_SOCKET (inert) or with a server that is not there. */
static int scenario_open(void) {
  int kvm = open("/dev/kvm", O_RDWR);
  if (kvm < 0) printf("open /dev/kvm: errno %d\n", errno);
  else printf("open /dev/kvm: %s\n", fd_target(kvm));
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *s = argc > 1 ? argv[1] : "";
  if (!strcmp(s, "basic")) return scenario_basic();
  if (!strcmp(s, "sev")) return scenario_sev();
  if (!strcmp(s, "param")) return scenario_param();
  if (!strcmp(s, "cpuid")) return scenario_cpuid();
  if (!strcmp(s, "fork")) return scenario_fork();
  if (!strcmp(s, "kick")) return scenario_kick();
  if (!strcmp(s, "threads")) return scenario_threads();
  if (!strcmp(s, "open")) return scenario_open();
  printf("FAIL unknown scenario %s\n", s);
  return 2;
}
