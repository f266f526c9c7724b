#include "kmod.h"
MODULE(MODULE_CLASS_VFS, xyzfs, NULL);
int xyzfs_mounts;
PLAIN_MODCMD(xyzfs)
