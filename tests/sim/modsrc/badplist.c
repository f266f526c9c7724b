#include "kmod.h"
MODULE(MODULE_CLASS_MISC, badplist, NULL);
PLAIN_MODCMD(badplist)
