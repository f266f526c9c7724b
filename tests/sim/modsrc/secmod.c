#include "kmod.h"
MODULE(MODULE_CLASS_SECMODEL, secmod, NULL);
PLAIN_MODCMD(secmod)
