/*	kmodbuild: sys/sys/syscallvar.h -- dynamic system calls (NetBSD sys/syscallvar.h) */

#ifndef _SYS_SYSCALLVAR_H_
#define	_SYS_SYSCALLVAR_H_

#ifndef _KERNEL
#error nothing of interest to userspace here
#endif

#include <sys/types.h>
#include <sys/systm.h>

struct emul;

/* One system call a module provides; arrays end with sp_call == NULL. */
struct syscall_package {
	u_short		sp_code;
	u_short		sp_flags;
	sy_call_t	*sp_call;
};

__BEGIN_DECLS
void	syscall_init(void);
int	syscall_establish(const struct emul *, const struct syscall_package *);
int	syscall_disestablish(const struct emul *, const struct syscall_package *);
__END_DECLS

#endif /* !_SYS_SYSCALLVAR_H_ */
