/*	kmodbuild stub kernel: init_main.c -- entry point and global data */

/*
 * The stub kernel is never booted: it exists so that a real ELF image
 * defines every symbol the interface headers promise, which gives the
 * build its kernel symbol manifest (netbsd.syms).  `start' is the entry
 * symbol (ld -e start); it runs a plausible boot sequence.
 */

#include <sys/param.h>
#include <sys/lwp.h>
#include <sys/module.h>
#include <sys/mount.h>
#include <sys/proc.h>
#include <sys/syscallvar.h>
#include <sys/systm.h>

#include <secmodel/secmodel.h>

void	start(void) __dead;
void	main(void) __dead;

#define	V_MAJ	(__NetBSD_Version__ / 100000000)
#define	V_MIN	(__NetBSD_Version__ / 1000000 % 100)
#define	V_PAT	(__NetBSD_Version__ / 100 % 100)
#define	V_LEN(n)	((n) >= 10 ? 2 : 1)
#define	V_DIG(n, k)	((char)('0' + (V_LEN(n) == 2 && (k) == 0 ? (n) / 10 : (n) % 10)))
#define	V_P1	V_LEN(V_MAJ)			/* first '.' */
#define	V_P2	(V_P1 + 1 + V_LEN(V_MIN))	/* end of minor */
#define	V_P3	(V_P2 + 1 + V_LEN(V_PAT))	/* end of patch */
/* Character I of "MM.mm" (release) or "MM.99.pp" (-current), spec 3.1. */
#define	V_CH(i)								\
	((i) < V_P1 ? V_DIG(V_MAJ, (i)) :				\
	 (i) == V_P1 ? '.' :						\
	 (i) < V_P2 ? V_DIG(V_MIN, (i) - V_P1 - 1) :			\
	 V_MIN != 99 ? '\0' :						\
	 (i) == V_P2 ? '.' :						\
	 (i) < V_P3 ? V_DIG(V_PAT, (i) - V_P2 - 1) : '\0')

const char osrelease[] = {
	V_CH(0), V_CH(1), V_CH(2), V_CH(3), V_CH(4), V_CH(5), V_CH(6),
	V_CH(7), V_CH(8), '\0'
};
const char ostype[] = "NetBSD";

/*
 * The NetBSD ident note every kernel and binary carries (name "NetBSD",
 * type 1, the version number as its 4-byte descriptor): tools read the
 * kernel's version from it.
 */
struct netbsd_elfnote {
	int32_t	n_namesz;
	int32_t	n_descsz;
	int32_t	n_type;
	char	n_name[8];
	int32_t	n_desc;
};
static const struct netbsd_elfnote netbsd_ident
    __section(".note.netbsd.ident") __used __aligned(4) = {
	.n_namesz = 7,		/* sizeof("NetBSD") */
	.n_descsz = 4,
	.n_type = 1,		/* ELF_NOTE_TYPE_NETBSD_TAG */
	.n_name = "NetBSD",
	.n_desc = __NetBSD_Version__,
};
const char version[] = "NetBSD (kmodbuild stub kernel)";
const char copyright[] =
    "Copyright (c) 1996-2024 The NetBSD Foundation, Inc.  All rights reserved.";

#if defined(__x86_64__)
char machine[] = "amd64";
char machine_arch[] = "x86_64";
#elif defined(__i386__)
char machine[] = "i386";
char machine_arch[] = "i386";
#elif defined(__aarch64__)
char machine[] = "evbarm";
char machine_arch[] = "aarch64";
#elif defined(__arm__)
char machine[] = "evbarm";
char machine_arch[] = "earmv7hf";
#elif defined(__riscv)
char machine[] = "riscv";
char machine_arch[] = "riscv64";
#elif defined(__sparc__)
char machine[] = "sparc64";
char machine_arch[] = "sparc64";
#elif defined(__powerpc__)
char machine[] = "evbppc";
char machine_arch[] = "powerpc";
#elif defined(__mips__)
char machine[] = "evbmips";
char machine_arch[] = "mips64eb";
#else
#error "unsupported architecture"
#endif

int	hz = 100;
int	stathz = 100;
int	profhz = 100;
int	boothowto = 0;
const char *panicstr = NULL;
int	doing_shutdown = 0;

struct proc proc0 = {
	.p_pid = 0,
	.p_emul = &emul_netbsd,
	.p_comm = "swapper",
};
struct lwp lwp0 = {
	.l_proc = &proc0,
	.l_lid = 1,
};

void
main(void)
{
	int error;

	printf("%s\n%s %s (%s)\n", copyright, ostype, osrelease, version);
	secmodel_init();
	syscall_init();
	module_init();
	module_init_class(MODULE_CLASS_SECMODEL);
	module_init_class(MODULE_CLASS_VFS);
	module_init_class(MODULE_CLASS_ANY);
	error = vfs_mountroot();
	if (error != 0)
		printf("cannot mount root, error = %d\n", error);
	for (;;)
		continue;
}

void
start(void)
{

	main();
}

/*
 * NetBSD's locore names the entry point start; linkers look for _start
 * (__start on MIPS) when not given -e.
 */
__strong_alias(_start, start)
#ifdef __mips__
__strong_alias(__start, start)
#endif
