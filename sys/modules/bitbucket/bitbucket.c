/*	kmodbuild example: bitbucket -- a character device like /dev/null */

/*
 * A DRIVER-class module in the style of NetBSD's loadable pseudo-devices:
 * INIT publishes a cdevsw with devsw_attach() and gets a dynamic major
 * number; FINI takes it back.  Reads return end-of-file, writes are
 * counted and thrown away.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: bitbucket.c $");

#include <sys/param.h>
#include <sys/conf.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/mutex.h>
#include <sys/poll.h>
#include <sys/systm.h>
#include <sys/uio.h>

MODULE(MODULE_CLASS_DRIVER, bitbucket, NULL);

static dev_type_open(bitbucket_open);
static dev_type_close(bitbucket_close);
static dev_type_write(bitbucket_write);
static dev_type_poll(bitbucket_poll);

static const struct cdevsw bitbucket_cdevsw = {
	.d_open = bitbucket_open,
	.d_close = bitbucket_close,
	.d_read = nullread,		/* always end-of-file */
	.d_write = bitbucket_write,
	.d_ioctl = noioctl,
	.d_poll = bitbucket_poll,
	.d_mmap = nommap,
	.d_discard = nodiscard,
	.d_flag = D_OTHER | D_MPSAFE,
};

static kmutex_t bitbucket_lock;
static u_int bitbucket_opens;		/* open descriptors */
static uint64_t bitbucket_swallowed;	/* bytes written so far */

static int
bitbucket_open(dev_t dev, int flag, int mode, struct lwp *l)
{

	mutex_enter(&bitbucket_lock);
	bitbucket_opens++;
	mutex_exit(&bitbucket_lock);
	return 0;
}

static int
bitbucket_close(dev_t dev, int flag, int mode, struct lwp *l)
{

	mutex_enter(&bitbucket_lock);
	bitbucket_opens--;
	mutex_exit(&bitbucket_lock);
	return 0;
}

static int
bitbucket_write(dev_t dev, struct uio *uio, int flags)
{

	mutex_enter(&bitbucket_lock);
	bitbucket_swallowed += uio->uio_resid;
	mutex_exit(&bitbucket_lock);
	uio->uio_offset += uio->uio_resid;
	uio->uio_resid = 0;
	return 0;
}

static int
bitbucket_poll(dev_t dev, int events, struct lwp *l)
{

	return events & (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
}

static int
bitbucket_modcmd(modcmd_t cmd, void *arg)
{
	devmajor_t bmajor = NODEVMAJOR, cmajor = NODEVMAJOR;
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		mutex_init(&bitbucket_lock, MUTEX_DEFAULT, IPL_NONE);
		error = devsw_attach("bitbucket", NULL, &bmajor,
		    &bitbucket_cdevsw, &cmajor);
		if (error != 0) {
			mutex_destroy(&bitbucket_lock);
			return error;
		}
		printf("bitbucket: character major %d\n", cmajor);
		return 0;
	case MODULE_CMD_FINI:
		if (bitbucket_opens > 0)
			return EBUSY;
		devsw_detach(NULL, &bitbucket_cdevsw);
		mutex_destroy(&bitbucket_lock);
		printf("bitbucket: detached after %u KiB\n",
		    (u_int)(bitbucket_swallowed >> 10));
		return 0;
	case MODULE_CMD_AUTOUNLOAD:
		return bitbucket_opens > 0 ? EBUSY : 0;
	default:
		return ENOTTY;
	}
}
