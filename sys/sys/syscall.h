/*	kmodbuild: sys/sys/syscall.h -- system call numbers (NetBSD sys/syscall.h subset) */

#ifndef _SYS_SYSCALL_H_
#define	_SYS_SYSCALL_H_

#define	SYS_syscall	0	/* syscall: "syscall" ret: int args: "int" "..." */
#define	SYS_exit	1	/* syscall: "exit" ret: void args: "int" */
#define	SYS_fork	2	/* syscall: "fork" ret: int args: */
#define	SYS_read	3	/* syscall: "read" ret: ssize_t args: "int" "void *" "size_t" */
#define	SYS_write	4	/* syscall: "write" ret: ssize_t args: "int" "const void *" "size_t" */
#define	SYS_open	5	/* syscall: "open" ret: int args: "const char *" "int" "..." */
#define	SYS_close	6	/* syscall: "close" ret: int args: "int" */
#define	SYS_getpid	20	/* syscall: "getpid" ret: pid_t args: */
#define	SYS_modctl	246	/* syscall: "modctl" ret: int args: "int" "void *" */

/*
 * Slots 210-219 are reserved in syscalls.master for dynamically loaded
 * system calls (historically "lkmnosys").
 */
#define	SYS_lkmnosys_first	210
#define	SYS_lkmnosys_last	219

#define	SYS_NSYSENT	512

#endif /* !_SYS_SYSCALL_H_ */
