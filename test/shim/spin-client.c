/*
 * A two-thread KVM client for the server's scheduling (test/shim/threads.test.ts): a vCPU thread
 * runs a guest that spins (`jmp $`, no exits) while the main thread, on its own connection, makes
 * ioctls (answered although the vCPU holds the model: the server preempts the run), then signals
 * the vCPU thread, whose KVM_RUN must return EINTR with KVM_EXIT_INTR, as in KVM. Then it sets
 * immediate_exit and runs again: EINTR at once.
 * Prints "ok <what>" lines; exits 1 with "FAIL: …" on the first failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      printf("FAIL: " __VA_ARGS__);                                                                \
      printf(" (errno %d)\n", errno);                                                              \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

static int kvm, vcpu;
static struct kvm_run *run;
static volatile int run_rc, run_errno, run_done;

static void on_usr1(int sig) { (void)sig; }

static void *vcpu_thread(void *arg) {
  (void)arg;
  run_rc = ioctl(vcpu, KVM_RUN, 0);
  run_errno = errno;
  run_done = 1;
  return NULL;
}

int main(void) {
  kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  CHECK(kvm >= 0, "open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  CHECK(vm >= 0, "KVM_CREATE_VM");
  uint8_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  mem[0] = 0xeb; /* jmp $ */
  mem[1] = 0xfe;
  struct kvm_userspace_memory_region region = {
      .slot = 0, .memory_size = 0x10000, .userspace_addr = (uintptr_t)mem};
  CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) == 0, "KVM_SET_USER_MEMORY_REGION");
  vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  CHECK(vcpu >= 0, "KVM_CREATE_VCPU");
  run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  CHECK(run != MAP_FAILED, "mmap kvm_run");
  struct kvm_sregs sregs;
  CHECK(ioctl(vcpu, KVM_GET_SREGS, &sregs) == 0, "KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  CHECK(ioctl(vcpu, KVM_SET_SREGS, &sregs) == 0, "KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = 0, .rflags = 2};
  CHECK(ioctl(vcpu, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS");

  /* No SA_RESTART: a signal ends KVM_RUN with EINTR whatever the flags, as in KVM. */
  struct sigaction sa = {.sa_handler = on_usr1};
  sigaction(SIGUSR1, &sa, NULL);
  pthread_t t;
  pthread_create(&t, NULL, vcpu_thread, NULL);

  /* The vCPU spins in the model; this thread's ioctls are served meanwhile. */
  struct timespec pause = {0, 50 * 1000 * 1000};
  nanosleep(&pause, NULL);
  for (int i = 0; i < 20; i++)
    CHECK(ioctl(kvm, KVM_GET_API_VERSION, 0) == 12, "KVM_GET_API_VERSION while the vCPU runs");
  CHECK(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) == 1, "a VM ioctl while the vCPU runs");
  CHECK(!run_done, "the guest spins: KVM_RUN has not returned");
  printf("ok served while the vCPU runs\n");

  pthread_kill(t, SIGUSR1);
  pthread_join(t, NULL);
  CHECK(run_rc == -1 && run_errno == EINTR, "KVM_RUN after a signal: rc %d errno %d", run_rc, run_errno);
  CHECK(run->exit_reason == KVM_EXIT_INTR, "exit_reason %u", run->exit_reason);
  printf("ok signal: EINTR, KVM_EXIT_INTR\n");

  run->immediate_exit = 1;
  errno = 0;
  CHECK(ioctl(vcpu, KVM_RUN, 0) == -1 && errno == EINTR, "immediate_exit: EINTR");
  printf("ok immediate_exit: EINTR\n");
  return 0;
}
