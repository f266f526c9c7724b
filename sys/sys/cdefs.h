/*	kmodbuild: sys/sys/cdefs.h -- compiler glue (NetBSD sys/cdefs.h, sys/cdefs_elf.h) */

#ifndef _SYS_CDEFS_H_
#define	_SYS_CDEFS_H_

#ifdef __cplusplus
#define	__BEGIN_DECLS	extern "C" {
#define	__END_DECLS	}
#else
#define	__BEGIN_DECLS
#define	__END_DECLS
#endif

#define	__P(protos)	protos
#define	__CONCAT(x, y)	x ## y
#define	__STRING(x)	#x
#define	___STRING(x)	__STRING(x)

#define	__dead		__attribute__((__noreturn__))
#define	__pure		__attribute__((__pure__))
#define	__constfunc	__attribute__((__const__))
#define	__unused	__attribute__((__unused__))
#define	__used		__attribute__((__used__))
#define	__diagused	__unused
#define	__debugused	__unused
#define	__noinline	__attribute__((__noinline__))
#define	__always_inline	__attribute__((__always_inline__))
#define	__packed	__attribute__((__packed__))
#define	__aligned(x)	__attribute__((__aligned__(x)))
#define	__section(x)	__attribute__((__section__(x)))
#define	__weak		__attribute__((__weak__))
#define	__dso_hidden	__attribute__((__visibility__("hidden")))
#define	__dso_public	__attribute__((__visibility__("default")))
#define	__printflike(fmtarg, firstvararg)	\
	__attribute__((__format__(__printf__, fmtarg, firstvararg)))
#define	__returns_twice	__attribute__((__returns_twice__))
#define	__predict_true(exp)	__builtin_expect((exp) != 0, 1)
#define	__predict_false(exp)	__builtin_expect((exp) != 0, 0)
#define	__inline	inline
#define	__restrict	restrict
#define	__UNCONST(a)	((void *)(unsigned long)(const void *)(a))
#define	__UNVOLATILE(a)	((void *)(unsigned long)(volatile void *)(a))
#define	__arraycount(__x)	(sizeof(__x) / sizeof(__x[0]))
#define	__CTASSERT(x)	_Static_assert((x), #x)
#define	__nothing	/* nothing */
#define	__cacheline_aligned	__aligned(64) __section(".data.cacheline_aligned")
#define	__read_mostly		__section(".data.read_mostly")

/*
 * RCS id strings go to .comment through the assembler's .ident directive;
 * the module link script discards .comment (spec section 4.2).
 */
#define	__IDSTRING(_n, _s)	__asm(".ident \"" _s "\"")
#define	__KERNEL_RCSID(_n, _s)	__IDSTRING(_n, _s)
#define	__RCSID(_s)		__IDSTRING(rcsid, _s)
#define	__COPYRIGHT(_s)		__IDSTRING(copyright, _s)

/* Symbol aliases (sys/cdefs_elf.h). */
#define	__strong_alias(alias, sym)					\
	__asm(".global " #alias "\n" #alias " = " #sym);
#define	__weak_alias(alias, sym)					\
	__asm(".weak " #alias "\n" #alias " = " #sym);

/*
 * Link sets (sys/cdefs_elf.h).  An entry is a pointer to SYM placed in the
 * section "link_set_<set>"; a loadable module has exactly one entry in
 * link_set_modules, pointing to its modinfo_t (spec section 1.2).
 */
#define	__link_set_make_entry(set, sym)					\
	static void const * const __link_set_##set##_sym_##sym		\
	    __section("link_set_" #set) __used = (const void *)&sym
#define	__link_set_add_text(set, sym)	__link_set_make_entry(set, sym)
#define	__link_set_add_rodata(set, sym)	__link_set_make_entry(set, sym)
#define	__link_set_add_data(set, sym)	__link_set_make_entry(set, sym)
#define	__link_set_add_bss(set, sym)	__link_set_make_entry(set, sym)

#define	__link_set_decl(set, ptype)					\
	extern ptype * const __start_link_set_##set[] __dso_hidden;	\
	extern ptype * const __stop_link_set_##set[] __dso_hidden
#define	__link_set_start(set)	(__start_link_set_##set)
#define	__link_set_end(set)	(__stop_link_set_##set)
#define	__link_set_count(set)	((size_t)(__link_set_end(set) - __link_set_start(set)))
#define	__link_set_foreach(pvar, set)					\
	for (pvar = __link_set_start(set); pvar < __link_set_end(set); pvar++)
#define	__link_set_entry(set, idx)	(__link_set_start(set)[idx])

#endif /* !_SYS_CDEFS_H_ */
