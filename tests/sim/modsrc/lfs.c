#include "kmod.h"
MODULE(MODULE_CLASS_VFS, lfs, "ffs");
extern int ffs_root(void);
int lfs_root(void) { return ffs_root(); }
PLAIN_MODCMD(lfs)
