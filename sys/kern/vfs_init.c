/*	kmodbuild stub kernel: vfs_init.c -- file system registration */

/*
 * vfs_attach(9)/vfs_detach(9) keep the list of known file system types.
 * vfs_mountroot() asks each in turn to mount the root; when none can, it
 * fails with EFTYPE, the "cannot mount root, error = 79" of spec 5.
 */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/mount.h>
#include <sys/systm.h>

struct vfs_list_head vfs_list = LIST_HEAD_INITIALIZER(vfs_list);

struct vfsops *
vfs_getopsbyname(const char *name)
{
	struct vfsops *v;

	LIST_FOREACH(v, &vfs_list, vfs_list) {
		if (strcmp(v->vfs_name, name) == 0) {
			v->vfs_refcount++;
			return v;
		}
	}
	return NULL;
}

void
vfs_delref(struct vfsops *vfs)
{

	KASSERT(vfs->vfs_refcount > 0);
	vfs->vfs_refcount--;
}

int
vfs_attach(struct vfsops *vfs)
{
	struct vfsops *v;

	LIST_FOREACH(v, &vfs_list, vfs_list) {
		if (strcmp(vfs->vfs_name, v->vfs_name) == 0)
			return EEXIST;
	}
	vfs->vfs_refcount = 0;
	LIST_INSERT_HEAD(&vfs_list, vfs, vfs_list);
	if (vfs->vfs_init != NULL)
		(*vfs->vfs_init)();
	return 0;
}

int
vfs_detach(struct vfsops *vfs)
{
	struct vfsops *v;

	if (vfs->vfs_refcount != 0)
		return EBUSY;
	LIST_FOREACH(v, &vfs_list, vfs_list) {
		if (v == vfs) {
			LIST_REMOVE(v, vfs_list);
			if (v->vfs_done != NULL)
				(*v->vfs_done)();
			return 0;
		}
	}
	return ESRCH;
}

void
vfs_reinit(void)
{
	struct vfsops *v;

	LIST_FOREACH(v, &vfs_list, vfs_list) {
		if (v->vfs_reinit != NULL)
			(*v->vfs_reinit)();
	}
}

int
vfs_mountroot(void)
{
	struct vfsops *v;

	LIST_FOREACH(v, &vfs_list, vfs_list) {
		if (v->vfs_mountroot == NULL)
			continue;
		if ((*v->vfs_mountroot)() == 0) {
			aprint_normal("root file system type: %s\n",
			    v->vfs_name);
			return 0;
		}
	}
	printf("no file system for root\n");
	return EFTYPE;
}
