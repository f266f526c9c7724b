#include "kmod.h"
MODULE(MODULE_CLASS_MISC, twomods, NULL);
MODULE(MODULE_CLASS_MISC, twomods2, NULL);
PLAIN_MODCMD(twomods)
PLAIN_MODCMD(twomods2)
