/*
 * A KVM client that times two round trips, for `npm run bench`: an ioctl that does nothing
 * (KVM_CHECK_EXTENSION on /dev/kvm) and a KVM_RUN that exits to userspace at once (a real-mode
 * guest looping on OUT to port 0x80). Run as it is against the machine's /dev/kvm, or with
 * LD_PRELOAD=libsevbox-kvm.so against `sevbox serve`: the same binary, the same ioctls.
 *
 * Usage: bench-client IOCTLS RUNS; prints "ioctl_ns <mean>" and "run_ns <mean>", exit 0, or one
 * line on stderr naming the call that failed and exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int fail(const char *what) {
  fprintf(stderr, "bench-client: %s: %s\n", what, strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  long ioctls = argc > 1 ? atol(argv[1]) : 10000;
  long runs = argc > 2 ? atol(argv[2]) : 10000;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return fail("open /dev/kvm");

  double t0 = now_ns();
  for (long i = 0; i < ioctls; i++)
    if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) != 1) return fail("KVM_CHECK_EXTENSION");
  double ioctl_ns = (now_ns() - t0) / ioctls;

  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return fail("KVM_CREATE_VM");
  size_t ram = 0x10000;
  uint8_t *mem = mmap(NULL, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return fail("mmap");
  /* mov dx, 0x80; 1: out dx, al; jmp 1b */
  static const uint8_t code[] = {0xba, 0x80, 0x00, 0xee, 0xeb, 0xfd};
  memcpy(mem, code, sizeof(code));
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = ram, .userspace_addr = (uintptr_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return fail("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return fail("KVM_CREATE_VCPU");
  int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size < 0) return fail("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) return fail("mmap kvm_run");
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return fail("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return fail("KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = 0, .rflags = 2};
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return fail("KVM_SET_REGS");

  /* One run first: the first entry sets up what later ones reuse. */
  if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) return fail("first KVM_RUN");
  t0 = now_ns();
  for (long i = 0; i < runs; i++)
    if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO || run->io.port != 0x80)
      return fail("KVM_RUN");
  double run_ns = (now_ns() - t0) / runs;
  printf("ioctl_ns %.1f\nrun_ns %.1f\n", ioctl_ns, run_ns);
  return 0;
}
