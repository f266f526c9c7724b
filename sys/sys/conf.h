/*	kmodbuild: sys/sys/conf.h -- device switch tables (NetBSD sys/conf.h) */

#ifndef _SYS_CONF_H_
#define	_SYS_CONF_H_

#include <sys/queue.h>
#include <sys/types.h>

struct buf;
struct cfdriver;
struct knote;
struct lwp;
struct tty;
struct uio;
struct vnode;

/*
 * Types for d_flag
 */
#define	D_OTHER		0x0000
#define	D_TAPE		0x0001
#define	D_DISK		0x0002
#define	D_TTY		0x0003
#define	D_TYPEMASK	0x00ff
#define	D_MPSAFE	0x0100
#define	D_NEGOFFSAFE	0x0200

/*
 * Block device switch table
 */
struct bdevsw {
	int		(*d_open)(dev_t, int, int, struct lwp *);
	int		(*d_cancel)(dev_t, int, int, struct lwp *);
	int		(*d_close)(dev_t, int, int, struct lwp *);
	void		(*d_strategy)(struct buf *);
	int		(*d_ioctl)(dev_t, u_long, void *, int, struct lwp *);
	int		(*d_dump)(dev_t, daddr_t, void *, size_t);
	int		(*d_psize)(dev_t);
	int		(*d_discard)(dev_t, off_t, off_t);
	int		(*d_devtounit)(dev_t);
	struct cfdriver	*d_cfdriver;
	int		d_flag;
};

/*
 * Character device switch table
 */
struct cdevsw {
	int		(*d_open)(dev_t, int, int, struct lwp *);
	int		(*d_cancel)(dev_t, int, int, struct lwp *);
	int		(*d_close)(dev_t, int, int, struct lwp *);
	int		(*d_read)(dev_t, struct uio *, int);
	int		(*d_write)(dev_t, struct uio *, int);
	int		(*d_ioctl)(dev_t, u_long, void *, int, struct lwp *);
	void		(*d_stop)(struct tty *, int);
	struct tty *	(*d_tty)(dev_t);
	int		(*d_poll)(dev_t, int, struct lwp *);
	paddr_t		(*d_mmap)(dev_t, off_t, int);
	int		(*d_kqfilter)(dev_t, struct knote *);
	int		(*d_discard)(dev_t, off_t, off_t);
	int		(*d_devtounit)(dev_t);
	struct cfdriver	*d_cfdriver;
	int		d_flag;
};

#ifdef _KERNEL

__BEGIN_DECLS
int	devsw_attach(const char *, const struct bdevsw *, devmajor_t *,
	    const struct cdevsw *, devmajor_t *);
void	devsw_detach(const struct bdevsw *, const struct cdevsw *);
const struct bdevsw *bdevsw_lookup(dev_t);
const struct cdevsw *cdevsw_lookup(dev_t);
devmajor_t bdevsw_lookup_major(const struct bdevsw *);
devmajor_t cdevsw_lookup_major(const struct cdevsw *);
__END_DECLS

typedef int dev_open_t(dev_t, int, int, struct lwp *);
typedef int dev_cancel_t(dev_t, int, int, struct lwp *);
typedef int dev_close_t(dev_t, int, int, struct lwp *);
typedef int dev_read_t(dev_t, struct uio *, int);
typedef int dev_write_t(dev_t, struct uio *, int);
typedef int dev_ioctl_t(dev_t, u_long, void *, int, struct lwp *);
typedef void dev_stop_t(struct tty *, int);
typedef struct tty *dev_tty_t(dev_t);
typedef int dev_poll_t(dev_t, int, struct lwp *);
typedef paddr_t dev_mmap_t(dev_t, off_t, int);
typedef void dev_strategy_t(struct buf *);
typedef int dev_dump_t(dev_t, daddr_t, void *, size_t);
typedef int dev_size_t(dev_t);
typedef int dev_kqfilter_t(dev_t, struct knote *);
typedef int dev_discard_t(dev_t, off_t, off_t);

#define	dev_type_open(n)	dev_open_t n
#define	dev_type_cancel(n)	dev_cancel_t n
#define	dev_type_close(n)	dev_close_t n
#define	dev_type_read(n)	dev_read_t n
#define	dev_type_write(n)	dev_write_t n
#define	dev_type_ioctl(n)	dev_ioctl_t n
#define	dev_type_stop(n)	dev_stop_t n
#define	dev_type_tty(n)		dev_tty_t n
#define	dev_type_poll(n)	dev_poll_t n
#define	dev_type_mmap(n)	dev_mmap_t n
#define	dev_type_strategy(n)	dev_strategy_t n
#define	dev_type_dump(n)	dev_dump_t n
#define	dev_type_size(n)	dev_size_t n
#define	dev_type_kqfilter(n)	dev_kqfilter_t n
#define	dev_type_discard(n)	dev_discard_t n

__BEGIN_DECLS
int	devenodev(dev_t, ...);
int	deveopnotsupp(dev_t, ...);
int	devnullop(dev_t, ...);
int	ttyenodev(struct tty *, ...);
void	ttyvenodev(struct tty *, ...);
void	ttyvnullop(struct tty *, ...);
paddr_t	nommap(dev_t, off_t, int);
int	seltrue_kqfilter(dev_t, struct knote *);
__END_DECLS

#define	noopen		((dev_open_t *)devenodev)
#define	noclose		((dev_close_t *)devenodev)
#define	noread		((dev_read_t *)devenodev)
#define	nowrite		((dev_write_t *)devenodev)
#define	noioctl		((dev_ioctl_t *)devenodev)
#define	nostop		((dev_stop_t *)ttyvenodev)
#define	notty		NULL
#define	nopoll		seltrue
#define	nodump		((dev_dump_t *)devenodev)
#define	nosize		NULL
#define	nokqfilter	seltrue_kqfilter
#define	nodiscard	((dev_discard_t *)devenodev)

#define	nullopen	((dev_open_t *)devnullop)
#define	nullclose	((dev_close_t *)devnullop)
#define	nullread	((dev_read_t *)devnullop)
#define	nullwrite	((dev_write_t *)devnullop)
#define	nullioctl	((dev_ioctl_t *)devnullop)
#define	nullstop	((dev_stop_t *)ttyvnullop)
#define	nullpoll	((dev_poll_t *)devnullop)
#define	nulldump	((dev_dump_t *)devnullop)
#define	nullkqfilter	((dev_kqfilter_t *)deveopnotsupp)
#define	nulldiscard	((dev_discard_t *)devnullop)

__BEGIN_DECLS
const char *cdevsw_getname(devmajor_t);
const char *bdevsw_getname(devmajor_t);
devmajor_t devsw_name2blk(const char *, char *, size_t);
devmajor_t devsw_name2chr(const char *, char *, size_t);
__END_DECLS

#define	DEV_MEM		0	/* minor device 0 is physical memory */
#define	DEV_KMEM	1	/* minor device 1 is kernel memory */
#define	DEV_NULL	2	/* minor device 2 is EOF/rathole */
#define	DEV_FULL	11	/* minor device 11 is '\0'/ENOSPC */
#define	DEV_ZERO	12	/* minor device 12 is '\0'/rathole */

#endif /* _KERNEL */

#endif /* !_SYS_CONF_H_ */
