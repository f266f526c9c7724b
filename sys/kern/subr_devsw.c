/*	kmodbuild stub kernel: subr_devsw.c -- device switch tables */

/*
 * devsw_attach(9): a driver (usually a module) publishes its bdevsw and/or
 * cdevsw under a name.  A name seen before keeps its major numbers; a new
 * one gets the first free dynamic major, as in NetBSD's subr_devsw.c.
 */

#include <sys/param.h>
#include <sys/conf.h>
#include <sys/errno.h>
#include <sys/systm.h>

#define	MAXDEVSW	512	/* the maximum of major device number */
#define	DEVSW_DYNAMIC	256	/* first major handed out dynamically */
#define	DEVSW_NCONV	64

struct devsw_conv_entry {
	char		dc_name[32];
	devmajor_t	dc_bmajor;
	devmajor_t	dc_cmajor;
};

static const struct bdevsw *bdevsw[MAXDEVSW];
static const struct cdevsw *cdevsw[MAXDEVSW];
static struct devsw_conv_entry devsw_conv[DEVSW_NCONV];
static int devsw_nconv;

static struct devsw_conv_entry *
devsw_conv_lookup(const char *name)
{
	int i;

	for (i = 0; i < devsw_nconv; i++)
		if (strcmp(devsw_conv[i].dc_name, name) == 0)
			return &devsw_conv[i];
	return NULL;
}

static devmajor_t
devsw_free_major(const void **tab)
{
	devmajor_t m;

	for (m = DEVSW_DYNAMIC; m < MAXDEVSW; m++)
		if (tab[m] == NULL)
			return m;
	return NODEVMAJOR;
}

static int
devsw_pick(const void **tab, const void *sw, devmajor_t known,
    devmajor_t *majorp)
{
	devmajor_t m;

	if (sw == NULL)
		return 0;
	m = *majorp != NODEVMAJOR ? *majorp : known;
	if (m == NODEVMAJOR)
		m = devsw_free_major(tab);
	if (m < 0 || m >= MAXDEVSW)
		return ENOMEM;
	if (tab[m] != NULL && tab[m] != sw)
		return EEXIST;
	*majorp = m;
	return 0;
}

int
devsw_attach(const char *devname, const struct bdevsw *bdev,
    devmajor_t *bmajor, const struct cdevsw *cdev, devmajor_t *cmajor)
{
	struct devsw_conv_entry *conv;
	int error;

	if (devname == NULL || cdev == NULL)
		return EINVAL;
	conv = devsw_conv_lookup(devname);
	error = devsw_pick((const void **)cdevsw, cdev,
	    conv != NULL ? conv->dc_cmajor : NODEVMAJOR, cmajor);
	if (error == 0)
		error = devsw_pick((const void **)bdevsw, bdev,
		    conv != NULL ? conv->dc_bmajor : NODEVMAJOR, bmajor);
	if (error != 0)
		return error;
	if (conv == NULL) {
		if (devsw_nconv == DEVSW_NCONV)
			return ENOMEM;
		conv = &devsw_conv[devsw_nconv++];
		strlcpy(conv->dc_name, devname, sizeof(conv->dc_name));
		conv->dc_bmajor = bdev != NULL ? *bmajor : NODEVMAJOR;
		conv->dc_cmajor = *cmajor;
	}
	cdevsw[*cmajor] = cdev;
	if (bdev != NULL)
		bdevsw[*bmajor] = bdev;
	return 0;
}

void
devsw_detach(const struct bdevsw *bdev, const struct cdevsw *cdev)
{
	int i;

	for (i = 0; i < MAXDEVSW; i++) {
		if (bdev != NULL && bdevsw[i] == bdev)
			bdevsw[i] = NULL;
		if (cdev != NULL && cdevsw[i] == cdev)
			cdevsw[i] = NULL;
	}
}

const struct bdevsw *
bdevsw_lookup(dev_t dev)
{
	devmajor_t bmajor = major(dev);

	return bmajor >= 0 && bmajor < MAXDEVSW ? bdevsw[bmajor] : NULL;
}

const struct cdevsw *
cdevsw_lookup(dev_t dev)
{
	devmajor_t cmajor = major(dev);

	return cmajor >= 0 && cmajor < MAXDEVSW ? cdevsw[cmajor] : NULL;
}

devmajor_t
bdevsw_lookup_major(const struct bdevsw *bdev)
{
	devmajor_t m;

	for (m = 0; m < MAXDEVSW; m++)
		if (bdevsw[m] == bdev)
			return m;
	return NODEVMAJOR;
}

devmajor_t
cdevsw_lookup_major(const struct cdevsw *cdev)
{
	devmajor_t m;

	for (m = 0; m < MAXDEVSW; m++)
		if (cdevsw[m] == cdev)
			return m;
	return NODEVMAJOR;
}

const char *
cdevsw_getname(devmajor_t cmajor)
{
	int i;

	for (i = 0; i < devsw_nconv; i++)
		if (devsw_conv[i].dc_cmajor == cmajor)
			return devsw_conv[i].dc_name;
	return NULL;
}

const char *
bdevsw_getname(devmajor_t bmajor)
{
	int i;

	for (i = 0; i < devsw_nconv; i++)
		if (devsw_conv[i].dc_bmajor == bmajor)
			return devsw_conv[i].dc_name;
	return NULL;
}

static devmajor_t
devsw_name2major(const char *name, char *devname, size_t devnamelen,
    bool blk)
{
	struct devsw_conv_entry *conv;
	size_t len;
	int i;

	for (i = 0; i < devsw_nconv; i++) {
		conv = &devsw_conv[i];
		len = strlen(conv->dc_name);
		if (strncmp(conv->dc_name, name, len) != 0)
			continue;
		if (name[len] != '\0' && (name[len] < '0' || name[len] > '9'))
			continue;
		if (devname != NULL)
			strlcpy(devname, conv->dc_name, devnamelen);
		return blk ? conv->dc_bmajor : conv->dc_cmajor;
	}
	return NODEVMAJOR;
}

devmajor_t
devsw_name2blk(const char *name, char *devname, size_t devnamelen)
{

	return devsw_name2major(name, devname, devnamelen, true);
}

devmajor_t
devsw_name2chr(const char *name, char *devname, size_t devnamelen)
{

	return devsw_name2major(name, devname, devnamelen, false);
}

/* Default entry points for unsupported or no-op device operations. */
int
devenodev(dev_t dev, ...)
{

	return ENODEV;
}

int
deveopnotsupp(dev_t dev, ...)
{

	return EOPNOTSUPP;
}

int
devnullop(dev_t dev, ...)
{

	return 0;
}

int
ttyenodev(struct tty *tp, ...)
{

	return ENODEV;
}

void
ttyvenodev(struct tty *tp, ...)
{
}

void
ttyvnullop(struct tty *tp, ...)
{
}

paddr_t
nommap(dev_t dev, off_t off, int prot)
{

	return (paddr_t)-1;
}

int
seltrue_kqfilter(dev_t dev, struct knote *kn)
{

	return 0;
}
