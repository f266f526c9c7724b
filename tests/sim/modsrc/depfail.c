#include "kmod.h"
MODULE(MODULE_CLASS_MISC, depfail, "alpha,nosuchmod");
PLAIN_MODCMD(depfail)
