/*	kmodbuild stub kernel: sys_select.c -- select/poll driver support */

#include <sys/param.h>
#include <sys/poll.h>
#include <sys/select.h>
#include <sys/systm.h>

/* Device is always ready for reading and writing. */
int
seltrue(dev_t dev, int events, struct lwp *l)
{

	return events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
}

void
selinit(struct selinfo *sip)
{

	memset(sip, 0, sizeof(*sip));
}

void
seldestroy(struct selinfo *sip)
{

	sip->sel_lwp = NULL;
}

void
selrecord(struct lwp *selector, struct selinfo *sip)
{

	if (sip->sel_lwp == NULL)
		sip->sel_lwp = selector;
	else if (sip->sel_lwp != selector)
		sip->sel_collision = 1;
}

void
selnotify(struct selinfo *sip, int events, long knhint)
{

	sip->sel_lwp = NULL;
	sip->sel_collision = 0;
}
