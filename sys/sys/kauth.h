/*	kmodbuild: sys/sys/kauth.h -- kernel authorization (NetBSD sys/kauth.h subset) */

#ifndef _SYS_KAUTH_H_
#define	_SYS_KAUTH_H_

#include <sys/types.h>
#include <secmodel/secmodel.h>

struct lwp;
struct proc;

/* Types. */
typedef struct kauth_scope	*kauth_scope_t;
typedef struct kauth_listener	*kauth_listener_t;
typedef uint32_t		kauth_action_t;
typedef int (*kauth_scope_callback_t)(kauth_cred_t, kauth_action_t,
				      void *, void *, void *, void *, void *);

/* Possible return values for a listener. */
#define	KAUTH_RESULT_ALLOW	0	/* allow access */
#define	KAUTH_RESULT_DENY	1	/* deny access */
#define	KAUTH_RESULT_DEFER	2	/* let others decide */

/* Scopes. */
#define	KAUTH_SCOPE_GENERIC	"org.netbsd.kauth.generic"
#define	KAUTH_SCOPE_SYSTEM	"org.netbsd.kauth.system"
#define	KAUTH_SCOPE_PROCESS	"org.netbsd.kauth.process"
#define	KAUTH_SCOPE_NETWORK	"org.netbsd.kauth.network"
#define	KAUTH_SCOPE_MACHDEP	"org.netbsd.kauth.machdep"
#define	KAUTH_SCOPE_DEVICE	"org.netbsd.kauth.device"
#define	KAUTH_SCOPE_CRED	"org.netbsd.kauth.cred"
#define	KAUTH_SCOPE_VNODE	"org.netbsd.kauth.vnode"

/* Generic scope - actions. */
enum {
	KAUTH_GENERIC_UNUSED1=1,
	KAUTH_GENERIC_ISSUSER,
};

/* System scope - actions. */
enum {
	KAUTH_SYSTEM_ACCOUNTING=1,
	KAUTH_SYSTEM_CHROOT,
	KAUTH_SYSTEM_CHSYSFLAGS,
	KAUTH_SYSTEM_CPU,
	KAUTH_SYSTEM_DEBUG,
	KAUTH_SYSTEM_FILEHANDLE,
	KAUTH_SYSTEM_MKNOD,
	KAUTH_SYSTEM_MOUNT,
	KAUTH_SYSTEM_PSET,
	KAUTH_SYSTEM_REBOOT,
	KAUTH_SYSTEM_SETIDCORE,
	KAUTH_SYSTEM_SWAPCTL,
	KAUTH_SYSTEM_SYSCTL,
	KAUTH_SYSTEM_TIME,
	KAUTH_SYSTEM_MODULE,
	KAUTH_SYSTEM_FS_RESERVEDSPACE,
	KAUTH_SYSTEM_FS_QUOTA,
	KAUTH_SYSTEM_SEMAPHORE,
	KAUTH_SYSTEM_SYSVIPC,
	KAUTH_SYSTEM_MQUEUE,
	KAUTH_SYSTEM_VERIEXEC,
	KAUTH_SYSTEM_DEVMAPPER,
	KAUTH_SYSTEM_MAP_VA_ZERO,
	KAUTH_SYSTEM_LFS,
	KAUTH_SYSTEM_FS_EXTATTR,
	KAUTH_SYSTEM_FS_SNAPSHOT,
	KAUTH_SYSTEM_INTR,
	KAUTH_SYSTEM_KERNADDR,
};

/* System scope - sub-actions. */
enum kauth_system_req {
	KAUTH_REQ_SYSTEM_CHROOT_CHROOT=1,
	KAUTH_REQ_SYSTEM_CHROOT_FCHROOT,
	KAUTH_REQ_SYSTEM_CPU_SETSTATE,
	KAUTH_REQ_SYSTEM_DEBUG_IPKDB,
	KAUTH_REQ_SYSTEM_MOUNT_GET,
	KAUTH_REQ_SYSTEM_MOUNT_NEW,
	KAUTH_REQ_SYSTEM_MOUNT_UNMOUNT,
	KAUTH_REQ_SYSTEM_MOUNT_UPDATE,
};

#define	NOCRED ((kauth_cred_t)-1)	/* no credential available */
#define	FSCRED ((kauth_cred_t)-2)	/* filesystem credential */

__BEGIN_DECLS
kauth_listener_t kauth_listen_scope(const char *, kauth_scope_callback_t,
    void *);
void	kauth_unlisten_scope(kauth_listener_t);
int	kauth_authorize_action(kauth_scope_t, kauth_cred_t, kauth_action_t,
    void *, void *, void *, void *);
int	kauth_authorize_generic(kauth_cred_t, kauth_action_t, void *);
int	kauth_authorize_system(kauth_cred_t, kauth_action_t,
    enum kauth_system_req, void *, void *, void *);
uid_t	kauth_cred_getuid(kauth_cred_t);
uid_t	kauth_cred_geteuid(kauth_cred_t);
gid_t	kauth_cred_getgid(kauth_cred_t);
gid_t	kauth_cred_getegid(kauth_cred_t);
kauth_cred_t kauth_cred_get(void);
__END_DECLS

#endif /* !_SYS_KAUTH_H_ */
