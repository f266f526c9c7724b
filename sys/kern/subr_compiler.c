/*	kmodbuild stub kernel: subr_compiler.c -- compiler support routines */

/*
 * Code generators call these for operations the CPU lacks: 64-bit
 * division on 32-bit machines (NetBSD libkern's quad support) and the
 * ARM EABI run-time helpers (division, memcpy/memset variants used for
 * structure copies).  A kernel has no libgcc, so it defines them itself
 * and modules may reference them like any other kernel symbol.
 */

#include <sys/param.h>
#include <sys/systm.h>

/* the division helpers are declared in lib/libkern/libkern.h (sys/systm.h) */

#ifndef __LP64__
/* Restoring division, one quotient bit per step (no divide instruction). */
uint64_t
__udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem)
{
	uint64_t q = 0, r = 0;
	int i;

	if (d == 0)
		panic("integer divide by zero");
	for (i = 63; i >= 0; i--) {
		r = (r << 1) | ((n >> i) & 1);
		if (r >= d) {
			r -= d;
			q |= (uint64_t)1 << i;
		}
	}
	if (rem != NULL)
		*rem = r;
	return q;
}

/* Quotient truncates toward zero; the remainder has the dividend's sign. */
int64_t
__divmoddi4(int64_t a, int64_t b, int64_t *rem)
{
	uint64_t ua = a < 0 ? -(uint64_t)a : (uint64_t)a;
	uint64_t ub = b < 0 ? -(uint64_t)b : (uint64_t)b;
	uint64_t uq, ur;

	uq = __udivmoddi4(ua, ub, &ur);
	if (rem != NULL)
		*rem = a < 0 ? -(int64_t)ur : (int64_t)ur;
	return (a < 0) != (b < 0) ? -(int64_t)uq : (int64_t)uq;
}

uint64_t
__udivdi3(uint64_t a, uint64_t b)
{

	return __udivmoddi4(a, b, NULL);
}

uint64_t
__umoddi3(uint64_t a, uint64_t b)
{
	uint64_t r;

	(void)__udivmoddi4(a, b, &r);
	return r;
}

int64_t
__divdi3(int64_t a, int64_t b)
{

	return __divmoddi4(a, b, NULL);
}

int64_t
__moddi3(int64_t a, int64_t b)
{
	int64_t r;

	(void)__divmoddi4(a, b, &r);
	return r;
}
#endif /* !__LP64__ */

#ifdef __arm__
void __aeabi_memcpy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy4(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy8(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memmove(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove4(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove8(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memset(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset4(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset8(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }

static unsigned int
udivmodsi4(unsigned int n, unsigned int d, unsigned int *rem)
{
	unsigned int q = 0, r = 0;
	int i;

	if (d == 0)
		panic("integer divide by zero");
	for (i = 31; i >= 0; i--) {
		r = (r << 1) | ((n >> i) & 1);
		if (r >= d) {
			r -= d;
			q |= 1U << i;
		}
	}
	*rem = r;
	return q;
}

unsigned int
__aeabi_uidiv(unsigned int n, unsigned int d)
{
	unsigned int r;

	return udivmodsi4(n, d, &r);
}

int
__aeabi_idiv(int a, int b)
{
	unsigned int r, q;

	q = udivmodsi4(a < 0 ? -(unsigned int)a : (unsigned int)a,
	    b < 0 ? -(unsigned int)b : (unsigned int)b, &r);
	return (a < 0) != (b < 0) ? -(int)q : (int)q;
}

/* {quotient, remainder} come back in {r0, r1}: a 64-bit return value. */
uint64_t
__aeabi_uidivmod(unsigned int n, unsigned int d)
{
	unsigned int q, r;

	q = udivmodsi4(n, d, &r);
	return ((uint64_t)r << 32) | q;
}

uint64_t
__aeabi_idivmod(int a, int b)
{
	unsigned int q, r;

	q = udivmodsi4(a < 0 ? -(unsigned int)a : (unsigned int)a,
	    b < 0 ? -(unsigned int)b : (unsigned int)b, &r);
	if ((a < 0) != (b < 0))
		q = -q;
	if (a < 0)
		r = -r;
	return ((uint64_t)r << 32) | q;
}

/*
 * 64-bit {quotient, remainder} come back in {r0:r1, r2:r3}, which C
 * cannot express: call the C routine with a stack slot for the remainder.
 * In assembly, as NetBSD's own (a naked C function's debug information
 * says it takes no parameters, and the module check compares prototypes).
 */
#define	AEABI_LDIVMOD(name, helper)					\
	"	.text\n"							\
	"	.globl	" #name "\n"						\
	"	.type	" #name ", %function\n"				\
	"	.p2align 2\n"							\
	#name ":\n"							\
	"	push	{r11, lr}\n"						\
	"	sub	sp, sp, #16\n"						\
	"	add	r12, sp, #8\n"						\
	"	str	r12, [sp]\n"						\
	"	bl	" #helper "\n"						\
	"	ldr	r2, [sp, #8]\n"						\
	"	ldr	r3, [sp, #12]\n"					\
	"	add	sp, sp, #16\n"						\
	"	pop	{r11, pc}\n"						\
	"	.size	" #name ", . - " #name "\n"

__asm(AEABI_LDIVMOD(__aeabi_uldivmod, __udivmoddi4)
    AEABI_LDIVMOD(__aeabi_ldivmod, __divmoddi4));
#endif /* __arm__ */
