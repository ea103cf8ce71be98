/* SPDX-License-Identifier: MIT */
/*
 * Freestanding basics for the SEV-ES guest library: fixed-width integers with the kernel's names
 * (u8 … u64, s8 … s64), bool, and the attributes the library uses. Nothing here depends on a libc.
 */
#ifndef SEVG_TYPES_H
#define SEVG_TYPES_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long s64;

typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define __packed __attribute__((packed))
#define __aligned(n) __attribute__((aligned(n)))
#define __noreturn __attribute__((noreturn))
#define __section(s) __attribute__((section(s)))
#define __used __attribute__((used))

#define BIT(n) (1UL << (n))
#define offsetof(t, m) __builtin_offsetof(t, m)
#define sizeof_field(t, m) sizeof(((t *)0)->m)

/* The compiler may emit calls to these for struct copies and zeroing (start.c has them). */
void *memset(void *s, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

#endif
