#include "kmod.h"
MODULE(MODULE_CLASS_VFS, noauto, NULL);
PLAIN_MODCMD(noauto)
